package main

import (
	"fmt"
	"runtime/debug"
)

// version and commit are set at build time by the Makefile:
//
//	-ldflags "-X main.version=$(git describe --always --dirty) -X main.commit=$(git rev-parse HEAD)"
//
// A plain `go build` leaves them unset; versionLine then takes the commit
// from what the Go toolchain stamped into the binary (vcs.revision), when
// it did (not in a git worktree, nor with -buildvcs=false).
var (
	version = "dev"
	commit  = ""
)

// versionLine is what obsfs --version prints: "obsfs VERSION (commit
// HASH, goX.Y)"; the commit is "unknown" when neither the build flags nor
// the build info name it.
func versionLine() string {
	bi, _ := debug.ReadBuildInfo()
	v, c := versionInfo(version, commit, bi)
	goVersion := "unknown go"
	if bi != nil {
		goVersion = bi.GoVersion
	}
	return fmt.Sprintf("obsfs %s (commit %s, %s)", v, c, goVersion)
}

// versionInfo returns the version and commit to show: those set at build
// time, else what bi says (the module version if it has one, the VCS
// revision, "+dirty" when the tree had changes).
func versionInfo(version, commit string, bi *debug.BuildInfo) (string, string) {
	if bi != nil && version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	if commit == "" && bi != nil {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			commit = rev
			if modified == "true" {
				commit += "+dirty"
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return version, commit
}
