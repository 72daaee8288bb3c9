package integration

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/obsfs/obsfs/integration/mounttest"
)

// This file tests what a user sees of obsfs from outside: its version,
// its mount in findmnt, its refusals, its logs and how it stops.

// gitOutput runs git in the repository and returns its trimmed output.
func gitOutput(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = mounttest.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// TestVersion builds obsfs as `make build` does and checks that
// obsfs --version names the tree's version (git describe) and commit.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "obsfs")
	cmd := exec.Command("make", "-s", "build", "BIN="+bin)
	cmd.Dir = mounttest.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("obsfs --version: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	describe, head := gitOutput(t, "describe", "--always", "--dirty"), gitOutput(t, "rev-parse", "HEAD")
	want := regexp.MustCompile(`^obsfs ` + regexp.QuoteMeta(describe) + ` \(commit ` + head + `, go[0-9.]+\S*\)$`)
	if !want.MatchString(got) {
		t.Errorf("obsfs --version printed %q, want %q", got, want)
	}
}
