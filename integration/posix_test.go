package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
)

// The POSIX behaviours of issue 9, on the real binary over MinIO, checked
// out of band; where permissions matter, as another user (uid 65534) on a
// mount with --allow-other (the tests run as root).

const otherUID = 65534 // nobody

// openToOthers lets other users reach the mount point: the test's
// temporary directories above it are created 0700.
func openToOthers(t *testing.T, m *mounttest.Mount) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Dir(m.Dir); d != tmp && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
}

// asOther runs a shell script as uid/gid otherUID, without supplementary
// groups, and returns its combined output.
func asOther(script string) (string, error) {
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C") // error messages in English
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustDeny runs script as the other user and fails t unless it fails with
// "Permission denied".
func mustDeny(t *testing.T, what, script string) {
	t.Helper()
	out, err := asOther(script)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("%s as uid %d: %v, output %q; want Permission denied", what, otherUID, err, out)
	}
}

func statT(t *testing.T, path string) syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// stagingKeys lists what is under the mount's hidden staging directory.
func stagingKeys(t *testing.T, m *mounttest.Mount) []string {
	t.Helper()
	return (&bucketView{m: m}).keysUnder(t, ".obsfs-staging/")
}

// waitStagingEmpty waits until nothing is left under the staging
// directory: the last close's RELEASE, which deletes an unlinked file's
// hidden copy, reaches obsfs after close(2) returned. The deadline only
// bounds a failure.
func waitStagingEmpty(t *testing.T, m *mounttest.Mount) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		keys := stagingKeys(t, m)
		if len(keys) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still under .obsfs-staging/ after the last close: %q", keys)
		}
	}
}

// TestPermissionBitsOfZero: a mode of 0000 (chmod 000, open(O_CREAT, 0),
// mkdir(d, 0)), an owner of uid 0 and an mtime of 0 survive a remount
// as such, and another user can read none of those files; nor a 0600
// file or a 0700 directory seen first in a listing (whose attributes are
// the defaults until read).
func TestPermissionBitsOfZero(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	// Defaults that differ from what the objects hold: the mount's owner is
	// not root, files default to readable by all.
	args := []string{"--allow-other", "--uid", "4242", "--gid", "4242", "--file-mode", "0644", "--dir-mode", "0755"}
	m := mounttest.Start(t, srv, mounttest.Options{Args: args})
	b := &bucketView{m: m}
	for _, name := range []string{"s", "later-000", "later-600"} {
		b.write(t, name, []byte("secret\n"))
	}
	for name, mode := range map[string]os.FileMode{"s": 0, "later-000": 0, "later-600": 0o600} {
		if err := os.Chmod(m.Path(name), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(m.Path("s"), time.Unix(0, 0), time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(m.Path("c0"), syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := syscall.Write(fd, []byte("secret\n")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Close(fd); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]uint32{"d0": 0, "later-700": 0o700} {
		if err := syscall.Mkdir(m.Path(name), mode); err != nil {
			t.Fatal(err)
		}
		b.write(t, name+"/inside", []byte("secret\n"))
	}
	// Stored out of band as they are (the test runs as root: owner 0).
	for rel, mode := range map[string]uint32{"s": syscall.S_IFREG, "c0": syscall.S_IFREG, "later-600": syscall.S_IFREG | 0o600,
		"d0/": syscall.S_IFDIR, "later-700/": syscall.S_IFDIR | 0o700} {
		h := m.Head(t, rel)
		if h == nil || h.Metadata["mode"] != fmt.Sprint(mode) || h.Metadata["uid"] != "0" || h.Metadata["gid"] != "0" {
			t.Errorf("%s: metadata %v, want mode %d owner 0:0", rel, h, mode)
		}
	}
	if h := m.Head(t, "s"); h.Metadata["mtime"] != "0" {
		t.Errorf("s: mtime metadata %q, want 0", h.Metadata["mtime"])
	}

	// A fresh mount: every attribute is read from the store again.
	m.Unmount(t)
	m = mounttest.Start(t, srv, mounttest.Options{Bucket: m.Bucket, Args: args})
	openToOthers(t, m)
	for rel, mode := range map[string]uint32{"s": syscall.S_IFREG, "c0": syscall.S_IFREG, "d0": syscall.S_IFDIR} {
		st := statT(t, m.Path(rel))
		if st.Mode != mode || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s after a remount: mode %o owner %d:%d, want %o 0:0", rel, st.Mode, st.Uid, st.Gid, mode)
		}
	}
	if st := statT(t, m.Path("s")); st.Mtim.Sec != 0 {
		t.Errorf("s after a remount: mtime %d, want 0", st.Mtim.Sec)
	}
	mustDeny(t, "cat of a 0000 file", "cat "+shellQuote(m.Path("s")))
	mustDeny(t, "cat of a file created with mode 0", "cat "+shellQuote(m.Path("c0")))
	mustDeny(t, "ls of a directory made with mode 0", "ls "+shellQuote(m.Path("d0")))
	mustDeny(t, "cat in a directory made with mode 0", "cat "+shellQuote(m.Path("d0/inside")))
	if got, err := os.ReadFile(m.Path("s")); err != nil || string(got) != "secret\n" {
		t.Errorf("root reads the 0000 file: %q, %v", got, err) // CAP_DAC_OVERRIDE
	}
	// Seen first in a listing, whose entries carry the defaults.
	if _, err := os.ReadDir(m.Dir); err != nil {
		t.Fatal(err)
	}
	mustDeny(t, "cat of a 0000 file seen in a listing", "cat "+shellQuote(m.Path("later-000")))
	mustDeny(t, "cat of a 0600 file seen in a listing", "cat "+shellQuote(m.Path("later-600")))
	mustDeny(t, "cat in a 0700 directory seen in a listing", "cat "+shellQuote(m.Path("later-700/inside")))
	if st := statT(t, m.Path("later-700")); st.Mode != syscall.S_IFDIR|0o700 || st.Uid != 0 {
		t.Errorf("later-700: mode %o uid %d, want 40700 0", st.Mode, st.Uid)
	}
	// A file others may read stays readable by them.
	if err := os.Chmod(m.Path("later-600"), 0o604); err != nil {
		t.Fatal(err)
	}
	if out, err := asOther("cat " + shellQuote(m.Path("later-600"))); err != nil || out != "secret\n" {
		t.Errorf("cat of a 0604 file as uid %d: %q, %v", otherUID, out, err)
	}
}

// TestStatCacheTTLZero: --stat-cache-ttl 0s caches nothing, so objects
// another client writes or replaces are seen at once (0 was taken for
// "unset" and became 5 s).
func TestStatCacheTTLZero(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{Args: []string{"--stat-cache-ttl", "0s"}})
	b := &bucketView{m: m}
	b.put(t, "v", []byte("short"), nil)
	if _, err := os.Stat(m.Path("late")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat of an absent name: %v", err)
	}
	if st, err := os.Stat(m.Path("v")); err != nil || st.Size() != 5 {
		t.Fatalf("stat: %v, %v", st, err)
	}
	names := readDirNames(t, m.Dir)
	b.put(t, "late", []byte("seen at once"), nil)
	b.put(t, "v", []byte("replaced, longer"), nil)
	if st, err := os.Stat(m.Path("late")); err != nil || st.Size() != 12 {
		t.Errorf("a name put by another client right after a negative lookup: %v, %v", st, err)
	}
	if st, err := os.Stat(m.Path("v")); err != nil || st.Size() != 16 {
		t.Errorf("an object replaced by another client right after a stat: %v, %v; want 16 bytes", st, err)
	}
	if got, err := os.ReadFile(m.Path("v")); err != nil || string(got) != "replaced, longer" {
		t.Errorf("read of the replaced object: %q, %v", got, err)
	}
	if now := readDirNames(t, m.Dir); len(now) != len(names)+1 {
		t.Errorf("listing right after a put: %q, before %q", now, names)
	}
}

// TestUnlinkWhileOpen: a file unlinked while open stays usable through
// its descriptors until the last close — reads of what it held, writes,
// reads of what was written, fstat with nlink 0 — while its name is gone
// from the bucket; then nothing is left: no object, no hidden copy, no
// upload.
func TestUnlinkWhileOpen(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m, p := proxied(t, srv, mounttest.Options{Args: []string{"--part-size", "5MiB"}})
	b := &bucketView{m: m}

	t.Run("shell", func(t *testing.T) {
		out := sh(t, m.Dir, `printf 'hello\n' > g; exec 3<g; rm g; cat <&3`)
		if out != "hello\n" {
			t.Errorf("cat of an unlinked file's descriptor: %q", out)
		}
		out = sh(t, m.Dir, `printf 'old content\n' > h; exec 5<>h; rm h; echo hello >&5; cat /proc/self/fd/5; echo; exec 5>&-`)
		if out != "hello\nntent\n\n" { // "hello\n" written over the first 6 bytes of "old content\n"
			t.Errorf("write and re-read through an unlinked file's descriptor: %q", out)
		}
		b.absent(t, "g")
		b.absent(t, "h")
		waitStagingEmpty(t, m)
	})

	t.Run("read-write", func(t *testing.T) {
		const size = 6 << 20 // two parts
		local := filepath.Join(t.TempDir(), "src")
		writeLocal(t, local, 11, size)
		want, _ := os.ReadFile(local)
		run(t, m.Dir, "cp", local, m.Path("big"))
		f, err := os.OpenFile(m.Path("big"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := os.Remove(m.Path("big")); err != nil {
			t.Fatal(err)
		}
		b.absent(t, "big")
		if keys := stagingKeys(t, m); len(keys) != 1 || !strings.HasSuffix(keys[0], "/unlinked") {
			t.Errorf("while open after the unlink, the staging directory holds %q, want one hidden copy", keys)
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil || st.Nlink != 0 || st.Size != size {
			t.Errorf("fstat after unlink: nlink %d size %d, %v; want 0, %d", st.Nlink, st.Size, err, size)
		}
		// pread of what nothing buffers: from the hidden copy.
		buf := make([]byte, 1<<20)
		if n, err := f.ReadAt(buf, 4<<20); err != nil || !bytes.Equal(buf[:n], want[4<<20:5<<20]) {
			t.Errorf("pread after unlink: %d bytes, %v (%s)", n, err, firstDifference(buf[:n], want[4<<20:5<<20]))
		}
		// Overwrite the whole second part and beyond (a full part: uploaded
		// into a multipart upload of the hidden key) and patch the first,
		// then read everything back.
		more := randomBytes(t, 6<<20)
		if _, err := f.WriteAt(more, 5<<20); err != nil {
			t.Fatalf("write after unlink: %v", err)
		}
		if _, err := f.WriteAt([]byte("patched"), 1<<20); err != nil {
			t.Fatalf("write after unlink: %v", err)
		}
		want = append(want[:5<<20], more...)
		copy(want[1<<20:], "patched")
		if err := f.Sync(); err != nil {
			t.Errorf("fsync after unlink: %v", err)
		}
		got, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<40))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("read back after unlink: %d bytes, %v; want %d (%s)", len(got), err, len(want), firstDifference(got, want))
		}
		if err := f.Close(); err != nil {
			t.Errorf("close after unlink: %v", err)
		}
		b.absent(t, "big")
		waitStagingEmpty(t, m)
		m.RequireNoUploads(t)
	})

	t.Run("unlink while writing", func(t *testing.T) {
		f, err := os.Create(m.Path("doomed"))
		if err != nil {
			t.Fatal(err)
		}
		data := randomBytes(t, 6<<20) // a part uploaded or uploading
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(m.Path("doomed")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("more")); err != nil {
			t.Errorf("write after unlink: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("close after unlink: %v, want nil", err)
		}
		b.absent(t, "doomed")
		waitStagingEmpty(t, m)
		m.RequireNoUploads(t)
	})

	t.Run("replaced by a rename", func(t *testing.T) {
		b.write(t, "target", []byte("old content"))
		r, err := os.Open(m.Path("target"))
		if err != nil {
			t.Fatal(err)
		}
		b.write(t, "tmp", []byte("new content, longer"))
		if err := os.Rename(m.Path("tmp"), m.Path("target")); err != nil {
			t.Fatal(err)
		}
		b.want(t, "target", []byte("new content, longer"))
		if got, err := io.ReadAll(r); err != nil || string(got) != "old content" {
			t.Errorf("the replaced file's descriptor reads %q, %v", got, err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		waitStagingEmpty(t, m)
		b.want(t, "target", []byte("new content, longer"))
		b.absent(t, "tmp")
	})

	t.Run("rename over it fails", func(t *testing.T) {
		// The file moved aside for the rename moves back: its descriptor's
		// writes are committed under its name as usual.
		b.write(t, "kept", []byte("old content"))
		f, err := os.OpenFile(m.Path("kept"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b.write(t, "tmp2", []byte("new content"))
		p.AddRule(faultproxy.Rule{Method: "PUT", PathContains: "/kept", Action: faultproxy.ActionStatus,
			Status: 403, Code: "AccessDenied", Times: 1}) // the rename's copy, not retried
		if err := os.Rename(m.Path("tmp2"), m.Path("kept")); !errors.Is(err, syscall.EACCES) {
			t.Fatalf("rename with its copy refused: %v, want EACCES", err)
		}
		p.ClearRules()
		b.want(t, "kept", []byte("old content"))
		b.want(t, "tmp2", []byte("new content"))
		if keys := stagingKeys(t, m); len(keys) != 0 {
			t.Errorf("staging directory after the failed rename: %q", keys)
		}
		if _, err := f.WriteAt([]byte("OLD"), 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		b.want(t, "kept", []byte("OLD content"))
	})
}

// TestSetuidClearedOnWrite: a write by a user without CAP_FSETID clears
// setuid and setgid, through a write-only descriptor (which bypasses the
// kernel's page cache) as through a read-write one, and by truncate; the
// cleared mode is stored. root's writes keep them, as on ext4.
func TestSetuidClearedOnWrite(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{Args: []string{"--allow-other"}})
	openToOthers(t, m)
	b := &bucketView{m: m}
	const privileged = syscall.S_ISUID | syscall.S_ISGID | 0o777
	for _, name := range []string{"append", "rdwr", "truncate", "root"} {
		b.write(t, name, []byte("data\n"))
		if err := syscall.Chmod(m.Path(name), privileged); err != nil {
			t.Fatal(err)
		}
		if st := statT(t, m.Path(name)); st.Mode != syscall.S_IFREG|privileged {
			t.Fatalf("%s: mode %o after chmod 6777", name, st.Mode)
		}
	}
	for name, script := range map[string]string{
		"append":   "echo more >> %s",           // O_WRONLY: FOPEN_DIRECT_IO
		"rdwr":     "exec 3<>%s; echo more >&3", // O_RDWR: through the page cache
		"truncate": "truncate -s 2 %s",          // SETATTR of the size
	} {
		if out, err := asOther(fmt.Sprintf(script, shellQuote(m.Path(name)))); err != nil {
			t.Fatalf("%s as uid %d: %v: %s", name, otherUID, err, out)
		}
	}
	sh(t, m.Dir, "echo more >> root")
	for name, want := range map[string]uint32{"append": 0o777, "rdwr": 0o777, "truncate": 0o777, "root": privileged} {
		if st := statT(t, m.Path(name)); st.Mode != syscall.S_IFREG|want {
			t.Errorf("%s: mode %o, want %o", name, st.Mode, syscall.S_IFREG|want)
		}
		if h := m.Head(t, name); h.Metadata["mode"] != fmt.Sprint(syscall.S_IFREG|want) {
			t.Errorf("%s: stored mode %s, want %d", name, h.Metadata["mode"], syscall.S_IFREG|want)
		}
	}
	b.want(t, "append", []byte("data\nmore\n"))
	b.want(t, "truncate", []byte("da"))
	b.want(t, "root", []byte("data\nmore\n"))
}
