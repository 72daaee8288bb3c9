package integration

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

// TestConformance goes through the operations of the README's namespace,
// metadata and editing sections on the real binary over MinIO, one
// subtest each, checking the bucket out of band; the other tests of this
// package cover listings, renames above the copy threshold, s3fs
// metadata, cp -a, tar, rsync, git and large appends. Attributes,
// extended attributes and links are read again after a remount.
func TestConformance(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	args := []string{"--part-size", "5MiB", "--stat-cache-ttl", "1s"}
	m := mounttest.Start(t, srv, mounttest.Options{Args: args})
	b := &bucketView{m: m}

	t.Run("directories", func(t *testing.T) {
		b.put(t, "implicit/child", []byte("c"), nil) // a prefix without a marker
		if st, err := os.Stat(m.Path("implicit")); err != nil || !st.IsDir() {
			t.Fatalf("implicit directory: %v", err)
		}
		if err := os.Mkdir(m.Path("made"), 0o750); err != nil {
			t.Fatal(err)
		}
		if h := m.Head(t, "made/"); h.Metadata["mode"] != fmt.Sprint(syscall.S_IFDIR|0o750) {
			t.Errorf("marker metadata %v", h.Metadata)
		}
		names := readDirNames(t, m.Path(""))
		if !slices.Contains(names, "implicit") || !slices.Contains(names, "made") {
			t.Errorf("root lists %q, want implicit and made among them", names)
		}
		if err := os.WriteFile(m.Path("made/f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"made", "implicit"} {
			if err := syscall.Rmdir(m.Path(d)); !errors.Is(err, syscall.ENOTEMPTY) {
				t.Errorf("rmdir of non-empty %s: %v, want ENOTEMPTY", d, err)
			}
		}
		if err := os.Remove(m.Path("made/f")); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Rmdir(m.Path("made")); err != nil {
			t.Fatal(err)
		}
		if b.exists(t, "made/") || b.exists(t, "made/f") {
			t.Error("rmdir left the marker or the file")
		}
	})

	t.Run("unlink while writing", func(t *testing.T) {
		f, err := os.Create(m.Path("doomed"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(randomBytes(t, 12<<20)); err != nil { // two parts sent or sending
			t.Fatal(err)
		}
		if err := os.Remove(m.Path("doomed")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("more")); err != nil { // kept until the last close (TestUnlinkWhileOpen)
			t.Errorf("write after unlink: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("close after unlink: %v, want nil", err)
		}
		if b.exists(t, "doomed") {
			t.Error("the unlinked file was committed")
		}
		waitStagingEmpty(t, m) // its hidden copy is deleted at the last release
		m.RequireNoUploads(t)
	})

	t.Run("rename", func(t *testing.T) {
		b.write(t, "a", []byte("A"))
		b.write(t, "b", []byte("B"))
		if err := os.Rename(m.Path("a"), m.Path("b")); err != nil {
			t.Fatal(err)
		}
		b.want(t, "b", []byte("A"))
		b.absent(t, "a")

		f, err := os.Create(m.Path("open"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("before "); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(m.Path("open"), m.Path("moved")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("after"); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		b.want(t, "moved", []byte("before after"))
		b.absent(t, "open")

		tree := []string{"d/a", "d/sub/b", "d/sub/deeper/c"}
		for _, k := range tree {
			if err := os.MkdirAll(filepath.Dir(m.Path(k)), 0o755); err != nil {
				t.Fatal(err)
			}
			b.write(t, k, []byte(k))
		}
		if err := os.Mkdir(m.Path("d/empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(m.Path("d"), m.Path("e")); err != nil {
			t.Fatal(err)
		}
		if left := b.keysUnder(t, "d/"); len(left) != 0 {
			t.Errorf("keys left under the old directory: %q", left)
		}
		for _, k := range tree {
			b.want(t, "e"+k[1:], []byte(k))
		}
		if !b.exists(t, "e/empty/") {
			t.Error("the empty directory's marker did not move")
		}
	})

	t.Run("attributes", func(t *testing.T) {
		p := m.Path("attrs")
		b.write(t, "attrs", []byte("data"))
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 1001, 1002); err != nil {
			t.Fatal(err)
		}
		mt := time.Date(2021, 2, 3, 4, 5, 6, 0, time.UTC)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Setxattr(p, "user.color", []byte("blue"), 0); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Setxattr(p, "user.gone", []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Removexattr(p, "user.gone"); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Setxattr(p, "trusted.x", []byte("x"), 0); !errors.Is(err, syscall.EOPNOTSUPP) {
			t.Errorf("setxattr trusted.x: %v, want EOPNOTSUPP", err)
		}
		if got := listXattrs(t, p); !slices.Equal(got, []string{"user.color"}) {
			t.Errorf("listxattr %q, want [user.color]", got)
		}
		h := m.Head(t, "attrs")
		if h.Metadata["mode"] != fmt.Sprint(syscall.S_IFREG|0o640) || h.Metadata["uid"] != "1001" ||
			h.Metadata["gid"] != "1002" || h.Metadata["mtime"] != fmt.Sprint(mt.Unix()) || h.Metadata["xattr"] == "" {
			t.Errorf("stored metadata %v", h.Metadata)
		}
		b.want(t, "attrs", []byte("data"))

		if err := os.Symlink("../some/target", m.Path("link")); err != nil {
			t.Fatal(err)
		}
		b.want(t, "link", []byte("../some/target"))
		if h := m.Head(t, "link"); h.Metadata["mode"] != fmt.Sprint(syscall.S_IFLNK|0o777) {
			t.Errorf("symlink metadata %v", h.Metadata)
		}
	})

	t.Run("statfs and what is not supported", func(t *testing.T) {
		b.write(t, "plain", []byte("p"))
		for _, p := range []string{m.Path(""), m.Path("plain")} {
			var st syscall.Statfs_t
			if err := syscall.Statfs(p, &st); err != nil {
				t.Fatal(err)
			}
			if st.Bsize <= 0 || st.Blocks == 0 || st.Bavail > st.Blocks || st.Namelen < 255 {
				t.Errorf("statfs %s: %+v", p, st)
			}
		}
		if out, err := exec.Command("df", "-P", m.Path("plain")).CombinedOutput(); err != nil {
			t.Errorf("df: %v: %s", err, out)
		}
		if err := os.Link(m.Path("plain"), m.Path("hard")); !errors.Is(err, syscall.EPERM) {
			t.Errorf("link: %v, want EPERM", err)
		}
		if err := syscall.Mkfifo(m.Path("fifo"), 0o644); !errors.Is(err, syscall.EPERM) {
			t.Errorf("mkfifo: %v, want EPERM", err)
		}
		if err := syscall.Mknod(m.Path("node"), syscall.S_IFREG|0o644, 0); err != nil {
			t.Errorf("mknod of a regular file: %v", err)
		} else {
			b.want(t, "node", nil)
		}
	})

	t.Run("editing existing objects", func(t *testing.T) {
		want := randomBytes(t, 12<<20+12345)
		b.put(t, "edit", want, nil)
		b.waitSeen(t, "edit") // the root's listing is cached for the TTL
		p := m.Path("edit")

		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("appended"); err != nil {
			t.Fatal(err)
		}
		closeOK(t, f)
		want = append(want, "appended"...)
		b.want(t, "edit", want)

		f, err = os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		patch := bytes.Repeat([]byte("P"), 3000)
		off := int64(5<<20 - 1000) // across the first part boundary
		if _, err := f.WriteAt(patch, off); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], patch)
		got := make([]byte, 5000)
		if _, err := f.ReadAt(got, off-1000); err != nil { // before close: the bytes written
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[off-1000:off+4000]) {
			t.Error("a read of a file open for writing does not return what was written")
		}
		closeOK(t, f)
		b.want(t, "edit", want)

		if err := os.Truncate(p, 7<<20+3); err != nil { // shrink, by path
			t.Fatal(err)
		}
		want = want[:7<<20+3]
		b.want(t, "edit", want)

		f, err = os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(11 << 20); err != nil { // grow: zeros
			t.Fatal(err)
		}
		closeOK(t, f)
		want = append(want, make([]byte, 11<<20-len(want))...)
		b.want(t, "edit", want)
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Errorf("reading the edited file through the mount: %d bytes, %v", len(got), err)
		}

		var log []byte // a log appender: open, append a line, close
		for i := range 20 {
			line := fmt.Sprintf("line %d\n", i)
			f, err := os.OpenFile(m.Path("app.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(line); err != nil {
				t.Fatal(err)
			}
			closeOK(t, f)
			log = append(log, line...)
		}
		b.want(t, "app.log", log)
		m.RequireNoUploads(t)
	})

	t.Run("sed -i and unzip", func(t *testing.T) {
		requireTool(t, "sed")
		requireTool(t, "unzip")
		if err := os.Mkdir(m.Path("ed"), 0o755); err != nil {
			t.Fatal(err)
		}
		b.write(t, "ed/conf", []byte("name = foo\nport = 1\n"))
		run(t, m.Path("ed"), "sed", "-i", "s/foo/bar/", "conf") // a temporary file renamed over
		b.want(t, "ed/conf", []byte("name = bar\nport = 1\n"))
		if keys := b.keysUnder(t, "ed/"); !slices.Equal(keys, []string{"ed/", "ed/conf"}) {
			t.Errorf("keys under ed/: %q (a temporary file left?)", keys)
		}

		files := map[string][]byte{"top.txt": []byte("top\n"), "sub/inner.bin": randomBytes(t, 6<<20+7), "sub/deep/empty": nil}
		zipPath := filepath.Join(t.TempDir(), "a.zip")
		writeZip(t, zipPath, files)
		run(t, m.Path(""), "unzip", "-q", zipPath, "-d", "unz")
		for name, data := range files {
			b.want(t, "unz/"+name, data)
		}
	})

	t.Run("lookups cached for the TTL", func(t *testing.T) {
		if _, err := os.Stat(m.Path("later")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stat of a missing name: %v", err)
		}
		b.put(t, "later", []byte("l"), nil) // by another client
		b.waitSeen(t, "later")
		if _, err := os.Stat(m.Path("mine")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stat of a missing name: %v", err)
		}
		b.write(t, "mine", []byte("m")) // this mount's own change: at once
		if _, err := os.Stat(m.Path("mine")); err != nil {
			t.Fatalf("a file just created is not seen: %v", err)
		}
	})

	// A remount reads attributes, extended attributes and links back from
	// the bucket.
	m.Unmount(t)
	m = mounttest.Start(t, srv, mounttest.Options{Bucket: m.Bucket, Args: args})
	var st syscall.Stat_t
	if err := syscall.Stat(m.Path("attrs"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode != syscall.S_IFREG|0o640 || st.Uid != 1001 || st.Gid != 1002 || st.Mtim.Sec != time.Date(2021, 2, 3, 4, 5, 6, 0, time.UTC).Unix() {
		t.Errorf("after a remount: mode %o uid %d gid %d mtime %d", st.Mode, st.Uid, st.Gid, st.Mtim.Sec)
	}
	val := make([]byte, 64)
	if n, err := syscall.Getxattr(m.Path("attrs"), "user.color", val); err != nil || string(val[:n]) != "blue" {
		t.Errorf("after a remount: user.color %q, %v", val[:max(n, 0)], err)
	}
	if got, err := os.Readlink(m.Path("link")); err != nil || got != "../some/target" {
		t.Errorf("after a remount: readlink %q, %v", got, err)
	}
}

// bucketView checks a mount's bucket out of band.
type bucketView struct{ m *mounttest.Mount }

// put writes an object as another client would.
func (b *bucketView) put(t *testing.T, rel string, data []byte, meta map[string]string) {
	t.Helper()
	putObjects(t, b.m, []string{rel}, func(string) []byte { return data }, meta)
}

// waitSeen waits until the mount sees rel, which another client put:
// once the cached lookups and listings expire (--stat-cache-ttl 1s); the
// deadline only bounds a failure.
func (b *bucketView) waitSeen(t *testing.T, rel string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := os.Stat(b.m.Path(rel))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s, put by another client, is still not seen: %v", rel, err)
		}
	}
}

// write writes a file through the mount.
func (b *bucketView) write(t *testing.T, rel string, data []byte) {
	t.Helper()
	if err := os.WriteFile(b.m.Path(rel), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// want fails t unless rel's object holds exactly data.
func (b *bucketView) want(t *testing.T, rel string, data []byte) {
	t.Helper()
	if got := b.m.Object(t, rel); !bytes.Equal(got, data) {
		t.Errorf("object %s: %d bytes, want %d (%s)", rel, len(got), len(data), firstDifference(got, data))
	}
}

// absent fails t if rel's object exists.
func (b *bucketView) absent(t *testing.T, rel string) {
	t.Helper()
	if b.exists(t, rel) {
		t.Errorf("object %s exists", rel)
	}
}

func (b *bucketView) exists(t *testing.T, rel string) bool {
	t.Helper()
	_, err := b.m.Client.HeadObject(context.Background(), &obsclient.HeadObjectInput{Bucket: b.m.Bucket, Key: b.m.Key(rel)})
	if obsclient.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// keysUnder lists every key under prefix (relative to the mount).
func (b *bucketView) keysUnder(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	in := &obsclient.ListObjectsInput{Bucket: b.m.Bucket, Prefix: b.m.Key(prefix)}
	for {
		out, err := b.m.Client.ListObjects(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			keys = append(keys, strings.TrimPrefix(o.Key, b.m.Prefix))
		}
		if !out.IsTruncated {
			return keys
		}
		in.Marker = out.NextMarker
	}
}

func firstDifference(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at %d", i)
		}
	}
	return "one is a prefix of the other"
}

func closeOK(t *testing.T, f *os.File) {
	t.Helper()
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", f.Name(), err)
	}
}

func readDirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func listXattrs(t *testing.T, p string) []string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := syscall.Listxattr(p, buf)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	slices.Sort(names)
	return names
}

func writeZip(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
