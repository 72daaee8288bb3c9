package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/obsfs/obsfs/integration/fsmodel"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/obsclient/obsfake"
	"github.com/obsfs/obsfs/writeback"
	"github.com/sirupsen/logrus"
)

// These tests mount the filesystem in-process over the in-memory store,
// so the whole node tree runs under the race detector with hostile
// caches. The real binary against MinIO is tested in integration/.

const bucket = "test-bucket"

// mountStall is how long a mount may have FUSE requests waiting without a
// break before it counts as hung (mounttest.Guard prints every stack and
// aborts it). The longest request here, the first READDIRPLUS of
// TestDirectoryOf100kEntries (it lists all 100,000 entries), took about
// 30 s under the race detector on 2 cores with a load average of 25.
const mountStall = 5 * time.Minute

// hostileCache drops every Set.
type hostileCache struct{}

func (hostileCache) Get(string) *writeback.Page  { return nil }
func (hostileCache) Set(string, *writeback.Page) {}
func (hostileCache) Del(string)                  {}

type testMount struct {
	dir   string
	store *obsfake.Store
	fsys  *FS
}

func mount(t *testing.T, cache writeback.Cache, mod func(*Config)) *testMount {
	t.Helper()
	store := obsfake.New()
	store.MinPartSize = 1 << 20
	return mountStore(t, store, cache, mod)
}

// mountStore mounts store (whose Fault, if any, is set already).
func mountStore(t *testing.T, store *obsfake.Store, cache writeback.Cache, mod func(*Config)) *testMount {
	t.Helper()
	mounttest.RequireFUSE(t) // fails under CI, skips elsewhere
	var log *logrus.Entry
	if os.Getenv("OBSFS_TEST_DEBUG") != "" {
		l := logrus.New()
		l.SetLevel(logrus.DebugLevel)
		log = logrus.NewEntry(l)
	}
	wb, err := writeback.New(store, writeback.Config{Bucket: bucket, PartSize: 1 << 20, Concurrency: 4,
		WriteBuffer: 16 << 20, Cache: cache, Logger: log, PoisonFreedPages: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Bucket, cfg.UID, cfg.GID, cfg.StatCacheTTL, cfg.Logger = bucket, uint32(os.Getuid()), uint32(os.Getgid()), time.Second, log
	if mod != nil {
		mod(&cfg)
	}
	fsys, err := New(store, wb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	server, err := fusefs.Mount(dir, fsys.Root(), fsys.MountOptions())
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(mounttest.Guard(t, dir, mounttest.GuardOptions{Stall: mountStall})) // runs after the unmount below
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		wb.Close()
		fsys.Close()
		if n := wb.MisreleasedPages(); n != 0 {
			t.Errorf("%d page references released that were not held", n)
		}
		if store.Uploads() != 0 {
			t.Errorf("%d multipart uploads left", store.Uploads())
		}
	})
	return &testMount{dir: dir, store: store, fsys: fsys}
}

func (m *testMount) path(rel string) string { return filepath.Join(m.dir, rel) }

func (m *testMount) put(t *testing.T, key string, data []byte, meta map[string]string) {
	t.Helper()
	_, err := m.store.PutObject(context.Background(), &obsclient.PutObjectInput{Bucket: bucket, Key: key,
		Body: bytes.NewReader(data), Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
}

func (m *testMount) head(t *testing.T, key string) *obsclient.HeadObjectOutput {
	t.Helper()
	h, err := m.store.HeadObject(context.Background(), &obsclient.HeadObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	return h
}

func TestModelThroughMount(t *testing.T) {
	for name, cache := range map[string]func(*testing.T) writeback.Cache{
		"hostile": func(*testing.T) writeback.Cache { return hostileCache{} },
		"ristretto": func(t *testing.T) writeback.Cache {
			c, err := writeback.NewBlockCache(32 << 20)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			return c
		},
	} {
		for _, seed := range fsmodel.Seeds(1, 2) {
			t.Run(fmt.Sprintf("%s/seed=%d", name, seed), func(t *testing.T) {
				m := mount(t, cache(t), nil)
				local := t.TempDir()
				ops := 1500
				if testing.Short() {
					ops = 300
				}
				fsmodel.Run(t, seed, m.dir, local, fsmodel.Options{Ops: ops, MaxSize: 6 << 20,
					Verify: func(name string, want []byte) error {
						got, ok := m.store.Object(name)
						if !ok || !bytes.Equal(got, want) {
							return fmt.Errorf("store holds %d bytes (exists %v), want %d", len(got), ok, len(want))
						}
						return nil
					}})
			})
		}
	}
}

func TestListingNeedsNoHeadPerEntry(t *testing.T) {
	// A TTL longer than the test: the directory's own attributes, read
	// again (its marker) once older than the TTL, are not what is counted.
	m := mount(t, hostileCache{}, func(c *Config) { c.StatCacheTTL = time.Minute })
	for i := 0; i < 1500; i++ {
		m.put(t, fmt.Sprintf("many/f%04d", i), []byte("x"), nil)
	}
	heads, lists := m.store.Calls("HeadObject"), m.store.Calls("ListObjects")
	ents, err := os.ReadDir(m.path("many"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents { // what ls -l does
		if _, err := os.Lstat(m.path("many/" + e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if len(ents) != 1500 {
		t.Fatalf("%d entries", len(ents))
	}
	// The lookup of "many" itself may HEAD once; the entries must not.
	if n := m.store.Calls("HeadObject") - heads; n > 1 {
		t.Errorf("ls -l of 1500 entries made %d HEAD requests", n)
	}
	if n := m.store.Calls("ListObjects") - lists; n > 4 {
		t.Errorf("ls -l of 1500 entries made %d list requests (want 2 pages and the lookup's probe)", n)
	}
}

// A directory of 100,000 entries lists completely, in pages, with no HEAD
// per entry, although reading it takes longer than --stat-cache-ttl (1 s
// here; under the race detector the listing alone takes longer): the
// kernel's lookups of the entries it reads (READDIRPLUS) are answered from
// the listing being read. (It made a HEAD and a list request per entry
// once the TTL had passed: 78,000 of each.)
func TestDirectoryOf100kEntries(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	const n = 100_000
	for i := range n {
		m.put(t, fmt.Sprintf("huge/e%06d", i), nil, nil)
	}
	if st, err := os.Stat(m.path("huge")); err != nil || !st.IsDir() { // the lookup of huge itself probes
		t.Fatalf("huge: %v", err)
	}
	heads, lists := m.store.Calls("HeadObject"), m.store.Calls("ListObjects")
	start := time.Now()
	ents, err := os.ReadDir(m.path("huge"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d entries in %v", len(ents), time.Since(start))
	if len(ents) != n {
		t.Fatalf("%d entries, want %d", len(ents), n)
	}
	for i, e := range ents {
		if want := fmt.Sprintf("e%06d", i); e.Name() != want || !e.Type().IsRegular() {
			t.Fatalf("entry %d is %q (%v), want the file %q", i, e.Name(), e.Type(), want)
		}
	}
	if n := m.store.Calls("HeadObject") - heads; n > 0 {
		t.Errorf("reading the directory made %d HEAD requests", n)
	}
	if got := m.store.Calls("ListObjects") - lists; got > n/1000 {
		t.Errorf("reading the directory made %d list requests, want %d pages", got, n/1000)
	}
}

func TestMetadataFromOtherTools(t *testing.T) {
	m := mount(t, hostileCache{}, func(c *Config) { c.UID, c.GID, c.FileMode = 42, 43, 0o640 })
	// Written by s3fs: mode with type bits, uid, gid, mtime in seconds.
	m.put(t, "s3fs-file", []byte("hello"), map[string]string{"mode": "33152", "uid": "1234", "gid": "5678", "mtime": "1600000000"})
	m.put(t, "plain-file", []byte("hello"), nil)
	var st syscall.Stat_t
	if err := syscall.Stat(m.path("s3fs-file"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode != 0o100600 || st.Uid != 1234 || st.Gid != 5678 || st.Mtim.Sec != 1600000000 {
		t.Errorf("s3fs metadata: mode %o uid %d gid %d mtime %d", st.Mode, st.Uid, st.Gid, st.Mtim.Sec)
	}
	if err := syscall.Stat(m.path("plain-file"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode != 0o100640 || st.Uid != 42 || st.Gid != 43 {
		t.Errorf("defaults: mode %o uid %d gid %d", st.Mode, st.Uid, st.Gid)
	}
}

func TestAttributesPersist(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	p := m.path("attrs")
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setxattr(p, "user.color", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	h := m.head(t, "attrs")
	if h.Metadata["mode"] != "33152" || h.Metadata["mtime"] != "1577934245.123456789" {
		t.Errorf("metadata %v", h.Metadata)
	}
	if got := parseXattrs(h.Metadata["xattr"]); string(got["user.color"]) != "blue" {
		t.Errorf("xattr metadata %q", h.Metadata["xattr"])
	}
	if got, _ := m.store.Object("attrs"); string(got) != "data" {
		t.Errorf("content changed by a metadata update: %q", got)
	}
	// A write replaces the explicit mtime with the time of the write.
	if err := os.WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if h := m.head(t, "attrs"); h.Metadata["mtime"] != "" || h.Metadata["mode"] != "33152" {
		t.Errorf("after a write: metadata %v", h.Metadata)
	}
}

func TestRename(t *testing.T) {
	m := mount(t, hostileCache{}, func(c *Config) { c.CopyThreshold = 1 << 20 })
	big := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16) // above the copy threshold
	if err := os.WriteFile(m.path("big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	copies := m.store.Calls("UploadPartCopy")
	if err := os.Rename(m.path("big"), m.path("big2")); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.store.Object("big2"); !bytes.Equal(got, big) {
		t.Fatal("renamed object differs")
	}
	if _, ok := m.store.Object("big"); ok {
		t.Fatal("source still exists")
	}
	if m.store.Calls("UploadPartCopy") == copies {
		t.Error("object above the copy threshold was not copied with UploadPartCopy")
	}
	// Replace an existing target.
	if err := os.WriteFile(m.path("small"), []byte("small"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(m.path("small"), m.path("big2")); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.store.Object("big2"); string(got) != "small" {
		t.Fatalf("target holds %q", got)
	}
	// A file open for writing follows its rename.
	f, err := os.Create(m.path("open"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("before ")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(m.path("open"), m.path("moved")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.store.Object("moved"); string(got) != "before after" {
		t.Fatalf("renamed open file holds %q", got)
	}
	if _, ok := m.store.Object("open"); ok {
		t.Fatal("old name of the renamed open file still exists")
	}
	// Directory rename moves everything under it.
	for _, k := range []string{"d/a", "d/sub/b", "d/sub/deeper/c"} {
		if err := os.MkdirAll(filepath.Dir(m.path(k)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(m.path(k), []byte(k), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(m.path("d"), m.path("e")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"d/a", "d/sub/b", "d/sub/deeper/c"} {
		nk := "e" + k[1:]
		if got, _ := m.store.Object(nk); string(got) != k {
			t.Errorf("%s holds %q", nk, got)
		}
		if _, ok := m.store.Object(k); ok {
			t.Errorf("%s still exists", k)
		}
		if got, err := os.ReadFile(m.path(nk)); err != nil || string(got) != k {
			t.Errorf("reading %s through the mount: %q %v", nk, got, err)
		}
	}
}

// A file unlinked while open stays usable through its descriptors until
// the last close (kept under a hidden key), then is gone: nothing
// committed, no upload or hidden object left.
func TestUnlinkWhileOpen(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	m.put(t, "old", bytes.Repeat([]byte("o"), 3<<20+7), nil) // read back after the unlink from the hidden copy
	f, err := os.OpenFile(m.path("old"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.Create(m.path("doomed"))
	if err != nil {
		t.Fatal(err)
	}
	doomed := bytes.Repeat([]byte("x"), 3<<20+5) // parts uploaded before the unlink
	if _, err := w.Write(doomed); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"old", "doomed"} {
		if err := os.Remove(m.path(name)); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(m.path(name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stat of %s after unlink: %v", name, err)
		}
		if _, ok := m.store.Object(name); ok {
			t.Errorf("%s still in the store after unlink", name)
		}
	}
	if _, err := w.Write([]byte("more")); err != nil {
		t.Errorf("write after unlink: %v", err)
	}
	if _, err := f.WriteAt([]byte("new"), 1); err != nil {
		t.Errorf("write after unlink: %v", err)
	}
	want := bytes.Repeat([]byte("o"), 3<<20+7)
	copy(want[1:], "new")
	if got, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("read after unlink: %d bytes, %v; want %d", len(got), err, len(want))
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(w.Fd()), &st); err != nil || st.Nlink != 0 || st.Size != int64(len(doomed)+4) {
		t.Errorf("fstat after unlink: nlink %d size %d, %v; want 0 and %d", st.Nlink, st.Size, err, len(doomed)+4)
	}
	if err := w.Sync(); err != nil {
		t.Errorf("fsync after unlink: %v", err)
	}
	for _, c := range []*os.File{w, f} {
		if err := c.Close(); err != nil {
			t.Errorf("close after unlink: %v, want nil", err)
		}
	}
	// The last close's RELEASE reaches obsfs after close(2) returned.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		keys, uploads := m.store.Keys(), m.store.Uploads()
		if len(keys) == 0 && uploads == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last close: keys %q and %d uploads left", keys, uploads)
		}
	}
}

// A file replaced by a rename while open keeps its content for its
// descriptors (the pattern of atomic replacement: write a temporary file,
// rename it over the old one while readers have it open).
func TestRenameOverOpenFile(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	m.put(t, "target", []byte("old content"), nil)
	r, err := os.Open(m.path("target"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.path("tmp"), []byte("new content, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(m.path("tmp"), m.path("target")); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "old content" {
		t.Errorf("the replaced file's descriptor reads %q, %v", got, err)
	}
	if got, err := os.ReadFile(m.path("target")); err != nil || string(got) != "new content, longer" {
		t.Errorf("the new file reads %q, %v", got, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		keys := m.store.Keys()
		if len(keys) == 1 && keys[0] == "target" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last close: keys %q, want only target", keys)
		}
	}
	if got, _ := m.store.Object("target"); string(got) != "new content, longer" {
		t.Errorf("target holds %q", got)
	}
}

func TestDirectories(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	m.put(t, "implicit/child", []byte("c"), nil) // no marker
	if st, err := os.Stat(m.path("implicit")); err != nil || !st.IsDir() {
		t.Fatalf("implicit directory: %v", err)
	}
	if err := os.Mkdir(m.path("made"), 0o750); err != nil {
		t.Fatal(err)
	}
	if h := m.head(t, "made/"); h.Metadata["mode"] != fmt.Sprint(syscall.S_IFDIR|0o750) {
		t.Errorf("marker metadata %v", h.Metadata)
	}
	if err := os.WriteFile(m.path("made/f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Rmdir(m.path("made")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a non-empty directory: %v", err)
	}
	if err := syscall.Rmdir(m.path("implicit")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a non-empty implicit directory: %v", err)
	}
	os.Remove(m.path("made/f"))
	if err := os.Remove(m.path("made")); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.store.Object("made/"); ok {
		t.Fatal("marker left")
	}
}

// TestDirectoryHidesObject: an object "d" next to keys "d/…" (which S3
// lists both of) shows as the directory d, and the object stays
// reachable as d.obsfs-file — read, written, renamed, unlinked — until
// the directory goes away.
func TestDirectoryHidesObject(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	for key, data := range map[string]string{"d": "object d", "d/x": "x", "e": "object e", "e/y": "y", "f": "object f", "f/": "",
		"z" + FileAliasSuffix: "a key with the reserved suffix"} {
		m.put(t, key, []byte(data), nil)
	}
	const alias = "d" + FileAliasSuffix
	read := func(rel string) string {
		t.Helper()
		data, err := os.ReadFile(m.path(rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	listing := func(rel string) string {
		t.Helper()
		ents, err := os.ReadDir(m.path(rel))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			kind := "f"
			if e.IsDir() {
				kind = "d"
			}
			names = append(names, e.Name()+":"+kind)
		}
		return strings.Join(names, " ")
	}
	// Asked of the store one name at a time (no listing yet)...
	if st, err := os.Stat(m.path("d")); err != nil || !st.IsDir() {
		t.Fatalf("stat d: %v, want a directory", err)
	}
	if got := read(alias); got != "object d" {
		t.Errorf("%s holds %q", alias, got)
	}
	if got := read("d/x"); got != "x" {
		t.Errorf("d/x holds %q", got)
	}
	// ... and listed.
	if got, want := listing(""), "d:d "+alias+":f e:d e"+FileAliasSuffix+":f f:d f"+FileAliasSuffix+":f"; got != want {
		t.Errorf("listing %q, want %q", got, want)
	}
	if _, err := os.Stat(m.path("z" + FileAliasSuffix)); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("stat of a listed key with the reserved suffix: %v, want ENOENT", err)
	}
	// Written through the alias.
	if err := os.WriteFile(m.path(alias), []byte("new d"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.store.Object("d"); string(got) != "new d" {
		t.Errorf("object d is %q after a write to %s", got, alias)
	}
	// Reserved names cannot be made.
	for _, mk := range []func(string) error{
		func(p string) error { return os.WriteFile(p, nil, 0o644) },
		func(p string) error { return os.Mkdir(p, 0o755) },
		func(p string) error { return os.Rename(m.path("d/x"), p) },
	} {
		if err := mk(m.path("new" + FileAliasSuffix)); !errors.Is(err, syscall.EACCES) {
			t.Errorf("making new%s: %v, want EACCES", FileAliasSuffix, err)
		}
	}
	// Renamed away: the object moves, the directory stays.
	if err := os.Rename(m.path(alias), m.path("d-object")); err != nil {
		t.Fatal(err)
	}
	if got, ok := m.store.Object("d"); ok {
		t.Errorf("object d still there (%q) after renaming %s", got, alias)
	}
	if got, want := listing(""), "d:d d-object:f e:d e"+FileAliasSuffix+":f f:d f"+FileAliasSuffix+":f"; got != want {
		t.Errorf("listing after the rename %q, want %q", got, want)
	}
	if got := read("d-object"); got != "new d" {
		t.Errorf("d-object holds %q", got)
	}
	// Unlinked: the object goes, the directory stays.
	if err := os.Remove(m.path("e" + FileAliasSuffix)); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.store.Object("e"); ok {
		t.Errorf("object e still there after unlinking its alias")
	}
	if got, _ := m.store.Object("e/y"); string(got) != "y" {
		t.Errorf("e/y is %q", got)
	}
	// Once the directory goes, the object is shown under its own name.
	if got, want := listing(""), "d:d d-object:f e:d f:d f"+FileAliasSuffix+":f"; got != want {
		t.Errorf("listing %q, want %q", got, want)
	}
	if err := syscall.Rmdir(m.path("f")); err != nil {
		t.Fatal(err)
	}
	if got, want := listing(""), "d:d d-object:f e:d f:f"; got != want {
		t.Errorf("listing after rmdir f %q, want %q", got, want)
	}
	if got := read("f"); got != "object f" {
		t.Errorf("f holds %q", got)
	}

	// The object and the directory's keys on two pages of a listing.
	t.Run("page boundary", func(t *testing.T) {
		m := mount(t, hostileCache{}, nil)
		// Listings are in key order, where "p" comes before "p/": the
		// object ends page 1, its directory starts page 2. On page 2 the
		// directory q/ is taken before the object q (prefixes first).
		for i := range 999 {
			m.put(t, fmt.Sprintf("a%03d", i), nil, nil)
		}
		m.put(t, "p", []byte("object p"), nil)
		m.put(t, "p/k", []byte("under p"), nil)
		m.put(t, "q", []byte("object q"), nil)
		m.put(t, "q/k", nil, nil)
		ents, err := os.ReadDir(m.dir)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]bool{}
		for _, e := range ents {
			kinds[e.Name()] = e.IsDir()
		}
		for name, dir := range map[string]bool{"p": true, "p" + FileAliasSuffix: false, "q": true, "q" + FileAliasSuffix: false} {
			if got, ok := kinds[name]; !ok || got != dir {
				t.Errorf("%s: listed %v, directory %v; want listed, directory %v", name, ok, got, dir)
			}
		}
		if got := read2(t, m.path("p"+FileAliasSuffix)); got != "object p" {
			t.Errorf("p%s holds %q", FileAliasSuffix, got)
		}
	})
}

func TestKeyFor(t *testing.T) {
	fsys := &FS{cfg: Config{Prefix: "pre/"}}
	for rel, want := range map[string]string{
		"":                             "pre/",
		"a":                            "pre/a",
		"a/b":                          "pre/a/b",
		"d" + FileAliasSuffix:          "pre/d",
		"a/d" + FileAliasSuffix:        "pre/a/d",
		FileAliasSuffix:                "pre/" + FileAliasSuffix, // no name before the suffix: not an alias
		"a/" + FileAliasSuffix:         "pre/a/" + FileAliasSuffix,
		"x" + FileAliasSuffix + "/y":   "pre/x" + FileAliasSuffix + "/y", // only the last component
		"d" + FileAliasSuffix + "-not": "pre/d" + FileAliasSuffix + "-not",
	} {
		if got := fsys.keyFor(rel); got != want {
			t.Errorf("keyFor(%q) = %q, want %q", rel, got, want)
		}
	}
}

func read2(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestNameErrors(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	long := strings.Repeat("n", 200)
	p := m.dir
	key := ""
	for len(key)+201 <= obsclient.MaxKeyLength {
		p = filepath.Join(p, long)
		key += long + "/"
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(p, long), nil, 0o644); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("creating a key over 1024 bytes: %v, want ENAMETOOLONG", err)
	}
	if err := os.WriteFile(m.path("bad\xff\xfename"), nil, 0o644); !errors.Is(err, syscall.EILSEQ) {
		t.Errorf("creating a non-UTF-8 name: %v, want EILSEQ", err)
	}
	for _, name := range []string{"with space", "new\nline", "ünïcødé 文件", "-dash", "tab\there"} {
		if err := os.WriteFile(m.path(name), []byte(name), 0o644); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if got, ok := m.store.Object(name); !ok || string(got) != name {
			t.Errorf("%q not stored under its exact name", name)
		}
	}
	if err := os.Link(m.path("-dash"), m.path("hard")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("link: %v, want EPERM", err)
	}
	if err := syscall.Mkfifo(m.path("fifo"), 0o644); !errors.Is(err, syscall.EPERM) {
		t.Errorf("mkfifo: %v, want EPERM", err)
	}
}

// TestListedNonUTF8Name: a key that is not UTF-8, which a store may list,
// shows in the listing, and every access to it fails with EILSEQ, as for
// a name the program makes up.
func TestListedNonUTF8Name(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	const bad = "caf\xe9"
	m.put(t, bad, []byte("latin-1"), nil)
	m.put(t, "ok", []byte("ok"), nil)
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, "|") != bad+"|ok" {
		t.Errorf("readdir %q, want %q and ok", names, bad)
	}
	for _, name := range []string{bad, "never-listed-\xff"} {
		if _, err := os.Lstat(m.path(name)); !errors.Is(err, syscall.EILSEQ) {
			t.Errorf("lstat %q: %v, want EILSEQ", name, err)
		}
		if _, err := os.ReadFile(m.path(name)); !errors.Is(err, syscall.EILSEQ) {
			t.Errorf("read %q: %v, want EILSEQ", name, err)
		}
		if err := os.Remove(m.path(name)); !errors.Is(err, syscall.EILSEQ) {
			t.Errorf("remove %q: %v, want EILSEQ", name, err)
		}
	}
	if got, ok := m.store.Object(bad); !ok || string(got) != "latin-1" {
		t.Errorf("the object %q is %q (exists %v)", bad, got, ok)
	}
}

func TestSymlink(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	if err := os.Symlink("../some/target", m.path("link")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(m.path("link")); err != nil || got != "../some/target" {
		t.Fatalf("readlink %q %v", got, err)
	}
	h := m.head(t, "link")
	if h.Metadata["mode"] != fmt.Sprint(syscall.S_IFLNK|0o777) {
		t.Errorf("symlink metadata %v", h.Metadata)
	}
	// A link written by s3fs is seen as a link on lookup.
	m.put(t, "s3fs-link", []byte("dest"), map[string]string{"mode": fmt.Sprint(syscall.S_IFLNK | 0o777)})
	if got, err := os.Readlink(m.path("s3fs-link")); err != nil || got != "dest" {
		t.Fatalf("readlink of an s3fs link %q %v", got, err)
	}
}

// fakeClock is a mount's clock (Config.now) that moves only when told.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Unix(1_000_000, 0).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestExternalChangeIsNotServedStale: a change made by another client is
// seen once the stat-cache TTL has passed on the mount's clock, and not
// before: the listing and the node's attributes are both trusted for the
// TTL. The kernel keeps entries and attributes for the same TTL in real
// time; the test drops them (as memory pressure may) so that each stat
// reaches the mount, whose own cache is what is checked.
func TestExternalChangeIsNotServedStale(t *testing.T) {
	clock := newFakeClock()
	m := mount(t, nil, func(c *Config) { c.StatCacheTTL = time.Hour; c.now = clock.Now })
	m.put(t, "ext", []byte("version one"), nil)
	if _, err := os.ReadDir(m.dir); err != nil { // a listing, which lookups then trust
		t.Fatal(err)
	}
	if got, err := os.ReadFile(m.path("ext")); err != nil || string(got) != "version one" {
		t.Fatalf("%q %v", got, err)
	}
	// An open file is served as it is open, TTL or not: wait for the
	// RELEASE that follows close(2).
	waitReleased(t, m.fileNodeOf(t, "ext"))
	m.put(t, "ext", []byte("version two, longer"), nil)
	forget := func() {
		t.Helper()
		if n := m.fsys.root.GetChild("ext"); n != nil { // else the kernel forgot the inode already
			if errno := n.NotifyContent(-1, 0); errno != 0 { // attributes only
				t.Fatalf("invalidating the kernel's attributes: %v", errno)
			}
		}
		if errno := m.fsys.root.NotifyEntry("ext"); errno != 0 && errno != syscall.ENOENT { // ENOENT: not cached
			t.Fatalf("invalidating the kernel's entry: %v", errno)
		}
	}
	forget()
	clock.Advance(time.Hour - time.Second)
	if st, err := os.Stat(m.path("ext")); err != nil || st.Size() != int64(len("version one")) {
		t.Fatalf("within the TTL: stat %v, %v; want the cached size %d", st, err, len("version one"))
	}
	forget()
	clock.Advance(2 * time.Second)
	if st, err := os.Stat(m.path("ext")); err != nil || st.Size() != int64(len("version two, longer")) {
		t.Fatalf("past the TTL: stat %v, %v; want the new size %d", st, err, len("version two, longer"))
	}
	if got, err := os.ReadFile(m.path("ext")); err != nil || string(got) != "version two, longer" {
		t.Fatalf("after an external change: %q %v", got, err)
	}
}

func TestReadOnlyHandleFlushAndDupedWriters(t *testing.T) {
	m := mount(t, hostileCache{}, nil)
	w, err := os.Create(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 3)
	if n, _ := r.Read(got); string(got[:n]) != "abc" {
		t.Fatalf("reader of a file being written sees %q", got[:n])
	}
	if err := r.Close(); err != nil { // a read-only close commits nothing
		t.Fatal(err)
	}
	// A dup'd descriptor closing commits what was written so far.
	fd, err := syscall.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Close(fd); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.store.Object("f"); string(got) != "abc" {
		t.Fatalf("after the dup'd close the store holds %q", got)
	}
	if _, err := w.Write([]byte("def")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.store.Object("f"); string(got) != "abcdef" {
		t.Fatalf("store holds %q", got)
	}
}

// Write-only descriptors bypass the page cache (FOPEN_DIRECT_IO). A
// descriptor reading the same file through the cache, and a shared
// mapping of it, must still see every write at once.
func TestWriteOnlyDescriptorsAndCachedReaders(t *testing.T) {
	m := mount(t, nil, nil)
	const size = 3<<20 + 123
	old := bytes.Repeat([]byte{'o'}, size)
	if err := os.WriteFile(m.path("f"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, size)
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, old) { // now in the page cache
		t.Fatalf("first read: %v", err)
	}
	mapped, err := syscall.Mmap(int(r.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mapped)
	_ = mapped[size-1] // fault it in

	w, err := os.OpenFile(m.path("f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), old...)
	for _, off := range []int{0, 4096 + 17, 1 << 20, size - 5} {
		patch := []byte(fmt.Sprintf("<w%d>", off))[:min(5, size-off)]
		if _, err := w.WriteAt(patch, int64(off)); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], patch)
		if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("after a write at %d the cached reader sees stale bytes (first difference at %d), err %v", off, firstDiff(got, want), err)
		}
		if !bytes.Equal(mapped, want) {
			t.Fatalf("after a write at %d the mapping shows stale bytes (first difference at %d)", off, firstDiff(mapped, want))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if stored, _ := m.store.Object("f"); !bytes.Equal(stored, want) {
		t.Fatalf("store holds other bytes (first difference at %d)", firstDiff(stored, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// guardLog is a test whose failures are recorded instead of reported.
type guardLog struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (g *guardLog) Errorf(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = append(g.errs, fmt.Sprintf(format, args...))
}

func (g *guardLog) failures() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.errs...)
}

// A mount whose server never answers is aborted by its guard
// (mounttest.Guard, which mount arms): the thread blocked in close(2)
// gets an error instead of waiting for ever — which, with the server in
// the test process, left a process that could not exit and a go test
// waiting for it.
func TestGuardAbortsHungMount(t *testing.T) {
	store := obsfake.New()
	entered, release := make(chan struct{}), make(chan struct{})
	var enter, unblock sync.Once
	store.Fault = func(op string, in any) error {
		if op == "PutObject" {
			enter.Do(func() { close(entered) })
			<-release
		}
		return nil
	}
	m := mountStore(t, store, hostileCache{}, nil)
	t.Cleanup(func() { unblock.Do(func() { close(release) }) }) // before the unmount
	f, err := os.Create(m.path("stuck"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	select {
	case <-entered: // FLUSH is committing, and the store never answers
	case err := <-closed:
		t.Fatalf("close returned %v before the commit reached the store", err)
	case <-time.After(time.Minute):
		t.Fatal("the commit did not reach the store within a minute")
	}
	log := &guardLog{TB: t}
	var stacks bytes.Buffer
	t.Cleanup(mounttest.Guard(log, m.dir, mounttest.GuardOptions{Stall: time.Millisecond, Stacks: &stacks}))
	select {
	case err := <-closed:
		if !errors.Is(err, syscall.ECONNABORTED) && !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("close on the aborted mount: %v, want ECONNABORTED or ENOTCONN", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("close still blocked a minute after the guard was armed")
	}
	unblock.Do(func() { close(release) })
	errs := log.failures()
	for deadline := time.Now().Add(time.Minute); len(errs) == 0 && time.Now().Before(deadline); errs = log.failures() {
		time.Sleep(10 * time.Millisecond) // the guard reports after the abort that released close
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "aborted its connection") {
		t.Errorf("the guard reported %q, want one failure saying it aborted the connection", errs)
	}
	if !strings.Contains(stacks.String(), "fs.(*handle).Flush") {
		t.Errorf("the stacks printed do not show the FLUSH that hung:\n%s", stacks.String())
	}
	if _, err := os.Stat(m.path("stuck")); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("stat on the aborted mount: %v, want ENOTCONN", err)
	}
}
