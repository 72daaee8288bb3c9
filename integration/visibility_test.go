package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/obsfs/obsfs/integration/miniotest"
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

// TestNonEmptyMountpoint: -o nonempty mounts over a directory that holds
// a file (TestCLIFailures checks the refusal without it); the file is
// hidden while mounted, not uploaded, and there again after the unmount.
func TestNonEmptyMountpoint(t *testing.T) {
	mounttest.RequireFUSE(t)
	srv := miniotest.Shared(t, miniotest.Options{})
	bucket := srv.Bucket(t, "nonempty")
	dir := mountDir(t)
	kept := filepath.Join(dir, "kept")
	if err := os.WriteFile(kept, []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "obsfs.log")
	pid := daemonMount(t, mounttest.Environ(srv), dir, logPath, bucket, dir, "--endpoint", srv.Endpoint,
		"--log-file", logPath, "--state-dir", t.TempDir(), "-o", "nonempty")
	if _, err := os.Stat(kept); !os.IsNotExist(err) {
		t.Errorf("the local file shows through the mount: stat: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "remote"), []byte("remote"), 0o644); err != nil {
		t.Fatal(err)
	}
	unmountDaemon(t, dir, pid, logPath)
	oob := outOfBand(t, srv, bucket)
	if got := oob.Object(t, "remote"); string(got) != "remote" {
		t.Errorf("object remote is %q", got)
	}
	if got, err := os.ReadFile(kept); err != nil || string(got) != "local" {
		t.Errorf("after the unmount, the local file reads %q, %v", got, err)
	}
}

// mountSource returns the source and type /proc/self/mountinfo gives the
// mount on dir (what findmnt shows).
func mountSource(t *testing.T, dir string) (source, fstype string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	for _, line := range strings.Split(string(data), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
		f := strings.Fields(line)
		if len(f) < 5 || unescape.Replace(f[4]) != dir {
			continue
		}
		_, rest, ok := strings.Cut(line, " - ")
		g := strings.Fields(rest)
		if !ok || len(g) < 2 {
			t.Fatalf("mountinfo line without type and source: %q", line)
		}
		return unescape.Replace(g[1]), g[0]
	}
	t.Fatalf("%s is not in /proc/self/mountinfo", dir)
	return "", ""
}

// TestMountSource: findmnt shows BUCKET or BUCKET:PREFIX as the source of
// a mount of type fuse.obsfs, even with a space and a comma in the prefix.
func TestMountSource(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	for _, c := range []struct{ prefix, suffix string }{
		{"", ""},
		{"top/with space,comma", ":top/with space,comma"},
	} {
		m := mounttest.Start(t, srv, mounttest.Options{Prefix: c.prefix})
		source, fstype := mountSource(t, m.Dir)
		if want := m.Bucket + c.suffix; source != want || fstype != "fuse.obsfs" {
			t.Errorf("mount of %q: source %q of type %q, want %q of type fuse.obsfs", c.prefix, source, fstype, want)
		}
		m.Unmount(t)
	}
}
