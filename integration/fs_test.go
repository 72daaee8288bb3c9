package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/fsmodel"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
	"golang.org/x/sync/errgroup"
)

// proxied mounts through a pass-through fault proxy, so the test can count
// the requests obsfs makes.
func proxied(t *testing.T, srv *miniotest.Server, opts mounttest.Options) (*mounttest.Mount, *faultproxy.Proxy) {
	t.Helper()
	p, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	opts.Endpoint = p.URL()
	return mounttest.Start(t, srv, opts), p
}

func putObjects(t *testing.T, m *mounttest.Mount, keys []string, body func(string) []byte, meta map[string]string) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(16)
	for _, k := range keys {
		g.Go(func() error {
			_, err := m.Client.PutObject(context.Background(), &obsclient.PutObjectInput{Bucket: m.Bucket, Key: m.Key(k),
				Body: bytes.NewReader(body(k)), Metadata: meta})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func countRequests(p *faultproxy.Proxy, method string) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Method == method {
			n++
		}
	}
	return n
}

// TestLsLargeDirectoryWithoutHeads: ls -l of 5,000 entries takes size,
// mtime and type from the listing; no HEAD per entry.
func TestLsLargeDirectoryWithoutHeads(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m, p := proxied(t, srv, mounttest.Options{})
	var keys []string
	for i := 0; i < 5000; i++ {
		keys = append(keys, fmt.Sprintf("big-dir/entry-%05d", i))
	}
	putObjects(t, m, keys, func(k string) []byte { return []byte(k) }, nil)
	p.ClearRequests()
	out := run(t, m.Dir, "ls", "-l", "big-dir")
	lines := strings.Count(out, "\n")
	if lines != 5001 { // "total" line + entries
		t.Fatalf("ls -l printed %d lines, want 5001", lines)
	}
	heads, gets := countRequests(p, "HEAD"), countRequests(p, "GET")
	t.Logf("ls -l of 5000 entries: %d HEAD, %d GET (list) requests", heads, gets)
	if heads > 2 {
		t.Errorf("ls -l of 5000 entries made %d HEAD requests", heads)
	}
	if gets > 8 {
		t.Errorf("ls -l of 5000 entries made %d listing requests (5 pages expected)", gets)
	}
	if !strings.Contains(out, "entry-04999") || !regexp.MustCompile(`-rw-r--r-- .* 19 .* entry-00000`).MatchString(out) {
		t.Errorf("ls -l output lacks the expected entries:\n%.500s", out)
	}
}

// TestRenameAboveCopyThreshold renames an object larger than
// --copy-threshold: a multipart UploadPartCopy, no bytes re-sent.
func TestRenameAboveCopyThreshold(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m, p := proxied(t, srv, mounttest.Options{Args: []string{"--copy-threshold", "5MiB"}})
	local := filepath.Join(t.TempDir(), "src")
	writeLocal(t, local, 31, 3*partSize+1234)
	run(t, m.Dir, "cp", local, m.Path("before"))
	p.ClearRequests()
	run(t, m.Dir, "mv", m.Path("before"), m.Path("after"))
	want, _ := os.ReadFile(local)
	if got := m.Object(t, "after"); !bytes.Equal(got, want) {
		t.Fatal("renamed object differs")
	}
	if h := m.Head(t, "before"); h != nil {
		t.Fatal("source object still exists")
	}
	var copyParts int
	var sent int64
	for _, r := range p.Requests() {
		if r.Method == "PUT" && strings.Contains(r.RawQuery, "partNumber") && r.BodyBytes == 0 {
			copyParts++
		}
		sent += r.BodyBytes
	}
	if copyParts == 0 {
		t.Error("no UploadPartCopy request: the rename did not use a multipart copy")
	}
	if sent > 64<<10 {
		t.Errorf("the rename sent %d bytes of payload; a server-side copy sends none", sent)
	}
	m.RequireNoUploads(t)
}

// TestMetadataInterop: an object written by another tool with s3fs-style
// metadata shows its mode, owner and mtime; attributes set through the
// mount are stored the same way.
func TestMetadataInterop(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{})
	putObjects(t, m, []string{"from-s3fs"}, func(string) []byte { return []byte("payload") },
		map[string]string{"mode": "33216", "uid": "1234", "gid": "4321", "mtime": "1500000000"}) // 0100700
	var st syscall.Stat_t
	if err := syscall.Stat(m.Path("from-s3fs"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode != 0o100700 || st.Uid != 1234 || st.Gid != 4321 || st.Mtim.Sec != 1500000000 {
		t.Errorf("stat: mode %o uid %d gid %d mtime %d; want 100700 1234 4321 1500000000", st.Mode, st.Uid, st.Gid, st.Mtim.Sec)
	}
	if err := os.WriteFile(m.Path("mine"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(1600000000, 0)
	if err := os.Chtimes(m.Path("mine"), mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(m.Path("mine"), 777, 888); err != nil {
		t.Fatal(err)
	}
	h := m.Head(t, "mine")
	if h.Metadata["mode"] != "33152" || h.Metadata["uid"] != "777" || h.Metadata["gid"] != "888" || h.Metadata["mtime"] != "1600000000" {
		t.Errorf("stored metadata %v", h.Metadata)
	}
}

// statTree describes every entry of a tree: mode, size, mtime (files and
// symlinks), so two trees can be compared.
func statTree(t *testing.T, root string, withDirTimes bool, prec time.Duration) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %v %d", rel, fi.Mode(), fi.Size())
		if fi.IsDir() {
			line = fmt.Sprintf("%s %v", rel, fi.Mode())
			if withDirTimes && rel != "." {
				line += " " + strconv.FormatInt(fi.ModTime().Unix(), 10)
			}
		} else {
			line += " " + fi.ModTime().UTC().Truncate(prec).Format(time.RFC3339Nano)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestCpArchiveAndTar: cp -a keeps modes and mtimes, also across a
// remount; tar -c of the mounted tree equals the source.
func TestCpArchiveAndTar(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	local := t.TempDir()
	tree := makeTree(t, filepath.Join(local, "tree"))
	_ = os.Chmod(filepath.Join(tree, "a/small.txt"), 0o600)
	_ = os.Chmod(filepath.Join(tree, "big.bin"), 0o755)
	old := time.Date(2015, 3, 4, 5, 6, 7, 0, time.UTC)
	_ = os.Chtimes(filepath.Join(tree, "dots.in.name.tar.gz"), old, old)
	if err := os.Symlink("a/small.txt", filepath.Join(tree, "link-to-small")); err != nil {
		t.Fatal(err)
	}
	bucket := srv.Bucket(t, "cpa")
	m := mounttest.Start(t, srv, mounttest.Options{Bucket: bucket})
	run(t, local, "cp", "-a", tree, m.Path("copy"))
	want := statTree(t, tree, true, time.Nanosecond)
	if got := statTree(t, m.Path("copy"), true, time.Nanosecond); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cp -a: tree differs in the mount\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// tar -c of the mounted tree, extracted, equals the source.
	run(t, local, "tar", "-cf", "from-mount.tar", "-C", m.Path("copy"), ".")
	if err := os.Mkdir(filepath.Join(local, "untar"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, local, "tar", "-xpf", "from-mount.tar", "-C", "untar")
	run(t, local, "diff", "-r", "--no-dereference", tree, filepath.Join(local, "untar"))
	// (tar keeps whole seconds)
	if got, want := statTree(t, filepath.Join(local, "untar"), false, time.Second), statTree(t, tree, false, time.Second); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tar -c of the mount differs from the source\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// After a remount, files keep their modes and mtimes (stored in the
	// objects' metadata); directories show the defaults unless marked.
	m.Unmount(t)
	m2 := mounttest.Start(t, srv, mounttest.Options{Bucket: bucket})
	for _, rel := range []string{"a/small.txt", "big.bin", "dots.in.name.tar.gz", "a/b/c/deep.bin"} {
		lst, _ := os.Lstat(filepath.Join(tree, rel))
		mst, err := os.Lstat(m2.Path("copy/" + rel))
		if err != nil {
			t.Fatal(err)
		}
		if mst.Mode() != lst.Mode() || !mst.ModTime().Equal(lst.ModTime()) {
			t.Errorf("%s after remount: %v %v, want %v %v", rel, mst.Mode(), mst.ModTime(), lst.Mode(), lst.ModTime())
		}
	}
	if target, err := os.Readlink(m2.Path("copy/link-to-small")); err != nil || target != "a/small.txt" {
		t.Errorf("symlink after remount: %q %v", target, err)
	}
}

// TestRsyncTwice: the second rsync -a of the same tree transfers nothing.
func TestRsyncTwice(t *testing.T) {
	requireTool(t, "rsync")
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{})
	local := t.TempDir()
	tree := makeTree(t, filepath.Join(local, "tree"))
	run(t, local, "rsync", "-a", tree+"/", m.Path("dst")+"/")
	checkTreeOutOfBand(t, m, tree, "dst")
	out := run(t, local, "rsync", "-a", "--stats", tree+"/", m.Path("dst")+"/")
	if !regexp.MustCompile(`Number of regular files transferred: 0\b`).MatchString(out) {
		t.Errorf("second rsync transferred files:\n%s", out)
	}
}

// TestGitCloneFsck clones a local repository into the mount and checks it.
func TestGitCloneFsck(t *testing.T) {
	requireTool(t, "git")
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{})
	src := filepath.Join(t.TempDir(), "repo")
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	git(src, "init", "-q", "-b", "main")
	for i := 0; i < 5; i++ {
		writeLocal(t, filepath.Join(src, fmt.Sprintf("file%d.bin", i)), uint64(200+i), int64(50000*(i+1)))
		if err := os.WriteFile(filepath.Join(src, "notes.txt"), []byte(strings.Repeat(fmt.Sprintf("line %d\n", i), 100*(i+1))), 0o644); err != nil {
			t.Fatal(err)
		}
		git(src, "add", "-A")
		git(src, "commit", "-q", "-m", fmt.Sprintf("commit %d", i))
	}
	git(src, "gc", "-q") // a pack file too
	writeLocal(t, filepath.Join(src, "loose.bin"), 300, 12345)
	git(src, "add", "-A")
	git(src, "commit", "-q", "-m", "loose objects")
	git(m.Dir, "clone", "-q", src, "clone")
	git(m.Path("clone"), "fsck", "--full", "--strict")
	if got := strings.TrimSpace(git(m.Path("clone"), "log", "--oneline")); strings.Count(got, "\n") != 5 {
		t.Errorf("clone has history:\n%s", got)
	}
	git(m.Path("clone"), "status", "--porcelain")
	run(t, src, "diff", "-r", "-x", ".git", src, m.Path("clone"))
}

// TestModelThroughRealMount runs the random-operation model test on the
// real binary over MinIO, checking every closed file out of band.
func TestModelThroughRealMount(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{Args: []string{"--part-size", "5MiB", "--stat-cache-ttl", "1s"}})
	if err := os.Mkdir(m.Path("model"), 0o755); err != nil {
		t.Fatal(err)
	}
	ops := 3000
	if testing.Short() {
		ops = 300
	}
	for _, seed := range fsmodel.Seeds(7) {
		local := t.TempDir()
		fsmodel.Run(t, seed, m.Path("model"), local, fsmodel.Options{Ops: ops, MaxSize: 16 << 20,
			Verify: func(name string, want []byte) error {
				got := m.Object(t, "model/"+name)
				if !bytes.Equal(got, want) {
					return fmt.Errorf("the bucket holds %d bytes, want %d", len(got), len(want))
				}
				return nil
			}})
	}
	m.RequireNoUploads(t)
}

// TestAppendToLargeObject appends 1 MiB to a 1 GiB object and measures
// the payload obsfs sends: the appended bytes plus at most one part, the
// rest is copied server-side in one request.
func TestAppendToLargeObject(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: writes 1 GiB")
	}
	srv := miniotest.Shared(t, miniotest.Options{})
	m, p := proxied(t, srv, mounttest.Options{})
	const size = 1<<30 + 5<<20 // the last part is partial: it is fetched and re-sent
	writeStream(t, m.Path("big"), 41, size)
	// A fresh mount: nothing of the object is cached.
	m.Unmount(t)
	m2, p2 := proxied(t, srv, mounttest.Options{Bucket: m.Bucket})
	_ = p
	p2.ClearRequests()
	extra := make([]byte, 1<<20)
	if _, err := io.ReadFull(stream(42), extra); err != nil {
		t.Fatal(err)
	}
	af, err := os.OpenFile(m2.Path("big"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.Write(extra); err != nil {
		t.Fatal(err)
	}
	if err := af.Close(); err != nil {
		t.Fatal(err)
	}
	var sent, fetched int64
	for _, r := range p2.Requests() {
		sent += r.BodyBytes
		if r.Method == "GET" && !strings.Contains(r.RawQuery, "prefix") {
			fetched++
		}
	}
	t.Logf("appending 1 MiB to 1 GiB sent %d bytes of payload (%.1f MiB) in %d requests, %d GETs",
		sent, float64(sent)/(1<<20), len(p2.Requests()), fetched)
	if limit := int64(len(extra)) + partSize + 64<<10; sent > limit {
		t.Errorf("append sent %d bytes, want at most the appended %d + one part", sent, len(extra))
	}
	// Lookup, Initiate, one copy of the unchanged GiB, the GET of the
	// partial last part, the part, Complete: a few more allow for the
	// open's own lookups.
	if n := len(p2.Requests()); n > 10 {
		t.Errorf("append took %d requests, want at most 10: unchanged parts are copied as one", n)
	}
	want := md5Of(t, io.MultiReader(io.LimitReader(stream(41), size), bytes.NewReader(extra)))
	if got, n := objectMD5(t, m2, "big"); got != want || n != size+int64(len(extra)) {
		t.Fatalf("object after append: %d bytes md5 %x, want %d bytes md5 %x", n, got, size+len(extra), want)
	}
	m2.RequireNoUploads(t)
}
