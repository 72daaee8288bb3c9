//go:build !linux

package faultproxy_test

import "os/exec"

func killWithParent(*exec.Cmd) {}
