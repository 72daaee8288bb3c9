package faultproxy_test

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill MinIO if the test binary dies
// without cleaning up (a panic, a -timeout).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
