package fs

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Zeros are values: a mode of 0000, an owner of uid 0 (root) and an mtime
// of 0 stored in metadata show as such, never as the defaults (go-fuse
// replaced a mode of 0 with 0644 and uid 0 with the mount's owner).
func TestZeroAttributes(t *testing.T) {
	m := mount(t, hostileCache{}, func(c *Config) { c.UID, c.GID = 4242, 4343 })
	zero := map[string]string{"mode": "32768", "uid": "0", "gid": "0", "mtime": "0"} // 0100000
	m.put(t, "zero", []byte("secret"), zero)
	m.put(t, "dir0/", nil, map[string]string{"mode": "16384", "uid": "0", "gid": "0", "mtime": "0"}) // 040000
	m.put(t, "dir0/child", []byte("c"), nil)
	check := func(rel string, mode uint32) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Lstat(m.path(rel), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode != mode || st.Uid != 0 || st.Gid != 0 || st.Mtim.Sec != 0 {
			t.Errorf("%s: mode %o uid %d gid %d mtime %d; want %o 0 0 0", rel, st.Mode, st.Uid, st.Gid, st.Mtim.Sec, mode)
		}
	}
	check("zero", syscall.S_IFREG)
	check("dir0", syscall.S_IFDIR)

	// Made through the mount with mode 0 (umask cannot add bits).
	fd, err := syscall.Open(m.path("made0"), syscall.O_CREAT|syscall.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode != syscall.S_IFREG {
		t.Errorf("open(O_CREAT, 0): mode %o, %v; want 100000", st.Mode, err)
	}
	syscall.Close(fd)
	if err := syscall.Mkdir(m.path("mkdir0"), 0); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(m.path("mkdir0"), &st); err != nil || st.Mode != syscall.S_IFDIR {
		t.Errorf("mkdir(0): mode %o, %v; want 40000", st.Mode, err)
	}
	if h := m.head(t, "made0"); h.Metadata["mode"] != "32768" {
		t.Errorf("made0 stored with %v", h.Metadata)
	}
	if h := m.head(t, "mkdir0/"); h.Metadata["mode"] != "16384" {
		t.Errorf("mkdir0/ stored with %v", h.Metadata)
	}
}

// A directory's attributes come from its marker: at a lookup that asks the
// store, and — for a directory seen first in a listing — before the
// kernel uses them (the listing shows the defaults with a timeout of 0).
func TestDirectoryAttributesFromMarker(t *testing.T) {
	// A TTL longer than the test: the lookups after the listing are
	// answered from it however slow the machine, so the HEADs counted are
	// the markers'.
	m := mount(t, hostileCache{}, func(c *Config) { c.StatCacheTTL = time.Minute })
	m.put(t, "probed/", nil, map[string]string{"mode": "16832", "uid": "7", "gid": "8"})  // 040700
	m.put(t, "listed/", nil, map[string]string{"mode": "16872", "uid": "9", "gid": "10"}) // 040750
	m.put(t, "listed/f", []byte("f"), nil)
	m.put(t, "implicit/f", []byte("f"), nil)
	var st syscall.Stat_t
	if err := syscall.Stat(m.path("probed"), &st); err != nil || st.Mode != 0o40700 || st.Uid != 7 || st.Gid != 8 {
		t.Errorf("probed: mode %o uid %d gid %d, %v; want 40700 7 8", st.Mode, st.Uid, st.Gid, err)
	}
	if _, err := os.ReadDir(m.path("")); err != nil { // READDIRPLUS: listed and implicit from the listing
		t.Fatal(err)
	}
	heads := m.store.Calls("HeadObject")
	if err := syscall.Stat(m.path("listed"), &st); err != nil || st.Mode != 0o40750 || st.Uid != 9 || st.Gid != 10 {
		t.Errorf("listed: mode %o uid %d gid %d, %v; want 40750 9 10", st.Mode, st.Uid, st.Gid, err)
	}
	if err := syscall.Stat(m.path("implicit"), &st); err != nil || st.Mode != syscall.S_IFDIR|DefaultDirMode || st.Uid != uint32(os.Getuid()) {
		t.Errorf("implicit: mode %o uid %d, %v; want the defaults", st.Mode, st.Uid, err)
	}
	if n := m.store.Calls("HeadObject") - heads; n != 2 {
		t.Errorf("%d HEAD requests for the two directories seen in a listing, want 2 (their markers)", n)
	}
	// chmod keeps what the marker holds besides the mode.
	if err := os.Chmod(m.path("listed"), 0o705); err != nil {
		t.Fatal(err)
	}
	if h := m.head(t, "listed/"); h.Metadata["mode"] != "16837" || h.Metadata["uid"] != "9" || h.Metadata["gid"] != "10" {
		t.Errorf("after chmod the marker holds %v", h.Metadata)
	}
}

// A stat-cache TTL of 0 caches nothing: an object written by another
// client is seen at once (0 was taken for "unset" and became 5 s).
func TestStatCacheTTLZero(t *testing.T) {
	m := mount(t, hostileCache{}, func(c *Config) { c.StatCacheTTL = 0 })
	if got := m.fsys.cfg.StatCacheTTL; got != 0 {
		t.Fatalf("StatCacheTTL %v after New, want 0", got)
	}
	if o := m.fsys.MountOptions(); *o.EntryTimeout != 0 || *o.NegativeTimeout != 0 {
		t.Fatalf("kernel timeouts: entry %v, negative %v; want 0", *o.EntryTimeout, *o.NegativeTimeout)
	}
	if _, err := os.Stat(m.path("late")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat before the put: %v", err)
	}
	m.put(t, "late", []byte("v1"), nil)
	if got, err := os.ReadFile(m.path("late")); err != nil || string(got) != "v1" {
		t.Fatalf("right after the put: %q, %v", got, err)
	}
	m.put(t, "mine", []byte("short"), nil)
	if st, err := os.Stat(m.path("mine")); err != nil || st.Size() != 5 {
		t.Fatalf("stat: %v, %v", st, err)
	}
	m.put(t, "mine", []byte("replaced, longer"), nil)
	if st, err := os.Stat(m.path("mine")); err != nil || st.Size() != 16 {
		t.Fatalf("stat right after another client replaced it: %v, %v; want 16 bytes", st, err)
	}
	if got, err := os.ReadFile(m.path("mine")); err != nil || string(got) != "replaced, longer" {
		t.Fatalf("read right after another client replaced it: %q, %v", got, err)
	}
	names, err := os.ReadDir(m.path(""))
	if err != nil || len(names) != 2 {
		t.Fatalf("listing: %v, %v", names, err)
	}
	m.put(t, "third", nil, nil)
	if names, err := os.ReadDir(m.path("")); err != nil || len(names) != 3 {
		t.Fatalf("listing right after a put: %d names, %v; want 3", len(names), err)
	}
}

// DefaultConfig holds the defaults; a Config keeps its zeros.
func TestConfigZerosMeanZero(t *testing.T) {
	def := DefaultConfig()
	if def.StatCacheTTL != 5*time.Second || def.FileMode != 0o644 || def.DirMode != 0o755 || def.CopyThreshold != DefaultCopyThreshold ||
		def.OpTimeout != 2*time.Minute {
		t.Errorf("DefaultConfig() = %+v", def)
	}
	// An operation budget of 0 is refused, not taken for "unset": every
	// operation is bounded.
	if err := (Config{Bucket: "bucket"}).Validate(); err == nil || !strings.Contains(err.Error(), "operation timeout") {
		t.Errorf("a zero operation timeout: %v, want it refused", err)
	}
	cfg := Config{Bucket: "bucket", OpTimeout: time.Minute}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	fsys, err := New(nil, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if c := fsys.cfg; c.StatCacheTTL != 0 || c.FileMode != 0 || c.DirMode != 0 || c.CopyThreshold != 0 || c.Logger == nil {
		t.Errorf("New kept %+v, want every zero kept and a logger", c)
	}
}
