package fs

import (
	"bytes"
	"context"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// These tests force the interleavings of a listing or a lookup with a
// commit made through the mount: the store answers the listing or the
// lookup's HEAD with the file's old version, the file is committed, and
// only then is the answer used. The old answer must not undo the commit
// (the model test once read a file as empty through the mount under load).

// lookGate is an afterLook hook that, once armed, holds the first listing
// or probe of key after the store answered it, until opened.
type lookGate struct {
	op, key  string
	armed    atomic.Bool
	reached  chan struct{}
	release  chan struct{}
	openOnce sync.Once
}

func newLookGate(op, key string) *lookGate {
	return &lookGate{op: op, key: key, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *lookGate) hook(op, key string) {
	if op == g.op && key == g.key && g.armed.CompareAndSwap(true, false) {
		close(g.reached)
		<-g.release
	}
}

// waitHeld waits until the armed gate holds a listing or probe.
func (g *lookGate) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-g.reached:
	case <-time.After(time.Minute):
		t.Fatalf("no %s of %q reached the store", g.op, g.key)
	}
}

func (g *lookGate) open() { g.openOnce.Do(func() { close(g.release) }) }

// mountGated mounts with gate as the afterLook hook and a TTL far longer
// than the test, so what a listing or lookup stored stays in use.
func mountGated(t *testing.T, gate *lookGate) *testMount {
	t.Helper()
	m := mount(t, hostileCache{}, func(c *Config) {
		c.StatCacheTTL = time.Hour
		c.afterLook = gate.hook
	})
	t.Cleanup(gate.open) // before the unmount: never leave a request held
	return m
}

// fileNodeOf returns the node of name in the root.
func (m *testMount) fileNodeOf(t *testing.T, name string) *fileNode {
	t.Helper()
	ch := m.fsys.root.GetChild(name)
	if ch == nil {
		t.Fatalf("no node for %s", name)
	}
	fn, ok := ch.Operations().(*fileNode)
	if !ok {
		t.Fatalf("%s is a %T", name, ch.Operations())
	}
	return fn
}

// listAsync lists the mount's root in the background; the channel gets
// the listing's error.
func (m *testMount) listAsync() <-chan error {
	listed := make(chan error, 1)
	go func() {
		_, err := os.ReadDir(m.dir)
		listed <- err
	}()
	return listed
}

// waitListed waits for a listing started by listAsync.
func waitListed(t *testing.T, listed <-chan error) {
	t.Helper()
	select {
	case err := <-listed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the listing never finished")
	}
}

// forget makes the kernel drop its entry of name in the root and waits
// until it forgot the inode, so the next lookup asks obsfs.
func (m *testMount) forget(t *testing.T, name string) {
	t.Helper()
	if errno := m.fsys.root.NotifyEntry(name); errno != 0 {
		t.Fatalf("invalidating the kernel's entry: %v", errno)
	}
	for deadline := time.Now().Add(time.Minute); m.fsys.root.GetChild(name) != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the kernel never forgot %s", name)
		}
	}
}

// waitReleased waits for the kernel's RELEASE of n's last descriptor,
// which it sends after close(2) has returned.
func waitReleased(t *testing.T, n *fileNode) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); n.pinned(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the file's last descriptor was never released")
		}
	}
}

// commitOver writes data over the committed empty file at p and closes it.
func commitOver(t *testing.T, p string, data []byte) {
	t.Helper()
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkContent checks f through the mount and the store's version out of
// band.
func (m *testMount) checkContent(t *testing.T, name string, want []byte) {
	t.Helper()
	if got, ok := m.store.Object(name); !ok || !bytes.Equal(got, want) {
		t.Fatalf("the store holds %d bytes of %s, want %d", len(got), name, len(want))
	}
	got, err := os.ReadFile(m.path(name))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes of %s through the mount (%v), want the %d committed", len(got), name, err, len(want))
	}
	if st, err := os.Stat(m.path(name)); err != nil || st.Size() != int64(len(want)) {
		t.Fatalf("stat %s: %v, want size %d", name, err, len(want))
	}
}

// A listing that asked the store before a commit and is stored after it:
// neither the file's node (looked up by the kernel's READDIRPLUS from that
// listing) nor the cached listing may go back to the old version.
func TestListingBegunBeforeCommit(t *testing.T) {
	gate := newLookGate("list", "") // the root's prefix
	m := mountGated(t, gate)
	p := m.path("f")
	if err := os.WriteFile(p, nil, 0o644); err != nil { // committed empty
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	gate.armed.Store(true)
	listed := m.listAsync()
	gate.waitHeld(t) // the listing holds the empty version
	commitOver(t, p, data)
	waitReleased(t, m.fileNodeOf(t, "f"))
	gate.open()
	waitListed(t, listed)
	// A node the kernel forgets is rebuilt from the cached listing. (Checked
	// first: closing a descriptor notes the node's version in it.)
	e, found, known := m.fsys.root.cached("f")
	if etag := m.head(t, "f").ETag; !known || !found || e.size != int64(len(data)) || e.etag != etag {
		t.Fatalf("the cached listing has f as %+v (found %v, fresh %v), want size %d etag %s", e, found, known, len(data), etag)
	}
	m.checkContent(t, "f", data)
}

// A lookup whose HEAD was answered before a commit and is used after it
// (as the kernel looks a name up again once its entry expires) must not
// take the node back to the old version.
func TestLookupBegunBeforeCommit(t *testing.T) {
	gate := newLookGate("probe", "f")
	m := mountGated(t, gate)
	p := m.path("f")
	if err := os.WriteFile(p, nil, 0o644); err != nil { // committed empty; no listing is cached
		t.Fatal(err)
	}
	waitReleased(t, m.fileNodeOf(t, "f")) // a lookup of an open file asks nothing
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	gate.armed.Store(true)
	type answer struct {
		size  uint64
		errno syscall.Errno
	}
	looked := make(chan answer, 1)
	go func() {
		var out fuse.EntryOut
		_, errno := m.fsys.root.Lookup(context.Background(), "f", &out)
		looked <- answer{out.Attr.Size, errno}
	}()
	gate.waitHeld(t) // the HEAD answered the empty version
	commitOver(t, p, data)
	waitReleased(t, m.fileNodeOf(t, "f"))
	gate.open()
	select {
	case a := <-looked:
		if a.errno != 0 || a.size != uint64(len(data)) {
			t.Fatalf("lookup answered size %d (%v), want the %d committed", a.size, a.errno, len(data))
		}
	case <-time.After(time.Minute):
		t.Fatal("the lookup never finished")
	}
	m.checkContent(t, "f", data)
}

// A file created, written and committed while a listing of its directory
// is cached, whose inode the kernel then forgets (it drops unused entries
// under memory pressure; here the mount asks it to), is looked up again
// from the cached listing: it must show the commit, not the empty file
// the create noted there.
func TestForgottenFileLookedUpFromListing(t *testing.T) {
	m := mount(t, hostileCache{}, func(c *Config) { c.StatCacheTTL = time.Hour })
	if _, err := os.ReadDir(m.dir); err != nil { // the cached listing
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	if err := os.WriteFile(m.path("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	waitReleased(t, m.fileNodeOf(t, "f"))
	m.forget(t, "f")
	m.checkContent(t, "f", data)
}

// A file created before a listing began and committed (closed) while the
// store's answer, which lacks it, is held: the stored listing must still
// have the file, or a lookup from it (once the kernel forgets the inode)
// says ENOENT right after close (found by the soak test).
func TestListingBegunBeforeCreateCommitted(t *testing.T) {
	gate := newLookGate("list", "")
	m := mountGated(t, gate)
	f, err := os.Create(m.path("g"))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("fedcba9876543210"), 200)
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	gate.armed.Store(true)
	listed := m.listAsync()
	gate.waitHeld(t) // the store's answer lacks g
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitReleased(t, m.fileNodeOf(t, "g"))
	gate.open()
	waitListed(t, listed)
	m.forget(t, "g")
	m.checkContent(t, "g", data)
}
