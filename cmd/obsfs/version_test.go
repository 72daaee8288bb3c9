package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionInfo(t *testing.T) {
	stamped := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"}}}
	clean := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "4567def"}, {Key: "vcs.modified", Value: "false"}}}
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		wantV, wantC    string
	}{
		{"ldflags win", "v0.1-3-gabc", "abcdef", stamped, "v0.1-3-gabc", "abcdef"},
		{"plain go build, dirty tree", "dev", "", stamped, "dev", "0123abc+dirty"},
		{"go install of a version", "dev", "", clean, "v1.2.3", "4567def"},
		{"no vcs stamp", "dev", "", &debug.BuildInfo{}, "dev", "unknown"},
		{"no build info", "dev", "", nil, "dev", "unknown"},
	} {
		v, c := versionInfo(tc.version, tc.commit, tc.bi)
		if v != tc.wantV || c != tc.wantC {
			t.Errorf("%s: got %q, %q; want %q, %q", tc.name, v, c, tc.wantV, tc.wantC)
		}
	}
}
