package writeback

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestStagedPartsStream streams a file into parts too large for the write
// buffer: they are assembled as temporary objects, copied into the upload,
// and the temporary objects are deleted; memory stays within the budget.
func TestStagedPartsStream(t *testing.T) {
	store := newFake()
	// Budget of 4 pages: parts above one page are staged.
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.WriteBuffer = 4 * pageSize })
	data := randBytes(rand.New(rand.NewPCG(51, 52)), 40*int(pageSize)+777) // parts 1,1,2,2,4,4,8,8,16 pages
	f := m.Open("staged/obj", Version{})
	writeAll(t, f, data, int(pageSize)/3)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Object("staged/obj"); !bytes.Equal(got, data) {
		t.Fatalf("object differs (%d bytes, want %d)", len(got), len(data))
	}
	if store.Calls("UploadPartCopy") == 0 {
		t.Error("no staged part was copied in")
	}
	if store.Uploads() != 0 {
		t.Fatalf("%d uploads left", store.Uploads())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		for _, k := range store.Keys() {
			if strings.HasPrefix(k, DefaultStagingPrefix) {
				left = append(left, k)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("temporary objects left: %v", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Read back through a new File (from the store) and patch a staged part.
	g := m.Open("staged/obj", f.Version())
	patch := []byte("patched in the middle of a staged part")
	off := int64(20*pageSize + 5)
	if _, err := g.WriteAt(t.Context(), patch, off); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	copy(data[off:], patch)
	if got, _ := store.Object("staged/obj"); !bytes.Equal(got, data) {
		t.Fatal("patched object differs")
	}
}

// A write into a staged part that must wait for write-buffer space while
// every byte of the buffer is held by partly written parts of the same
// file: the early commit that makes room must not wait for that write
// (it did, and both waited forever).
func TestStagedWriteUnderMemoryPressure(t *testing.T) {
	store := newFake()
	// Two pages of budget: parts 0 and 1 (a page each) fit, parts from 2
	// on (two pages and more) are staged.
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.WriteBuffer = 2 * pageSize })
	f := m.Open("pressure/obj", Version{})
	want := make([]byte, 2*pageSize+100)
	write := func(off int64, n int) { t.Helper(); writeOrDeadlock(t, f, want, off, n) }
	write(pageSize-100, 90)  // part 0: a page of budget
	write(pageSize+10, 100)  // part 1: the other page
	write(2*pageSize+10, 90) // staged part 2: needs a page, none free
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Object("pressure/obj"); !bytes.Equal(got, want) {
		t.Fatalf("object differs (%d bytes, want %d)", len(got), len(want))
	}
}

// writeOrDeadlock writes n bytes of byte(off) at off into f and into
// want, failing the test if the write does not return within 20 s.
func writeOrDeadlock(t *testing.T, f *File, want []byte, off int64, n int) {
	t.Helper()
	p := bytes.Repeat([]byte{byte(off)}, n)
	if err := writeWithin(t, f, p, off); err != nil {
		t.Fatal(err)
	}
	copy(want[off:], p)
}

// writeWithin writes p at off into f and returns the write's error,
// failing the test if the write does not return within 20 s.
func writeWithin(t *testing.T, f *File, p []byte, off int64) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := f.WriteAt(t.Context(), p, off); done <- err }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("write of %d bytes at %d never returned: deadlock", len(p), off)
		return nil
	}
}

// The same with the staged part inside the object's committed bytes: the
// early commit finds the part opened but not written yet, and must still
// copy its bytes in (it copied from a temporary object never created).
func TestStagedPartOpenedButUnwrittenAtCommit(t *testing.T) {
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.WriteBuffer = 2 * pageSize })
	want := randBytes(rand.New(rand.NewPCG(61, 62)), 5*int(pageSize))
	f := m.Open("pressure/existing", commitObject(t, m, "pressure/existing", want))
	write := func(off int64, n int) { t.Helper(); writeOrDeadlock(t, f, want, off, n) }
	write(10, 100)           // part 0, below the committed end: the whole part is reserved
	write(pageSize+10, 100)  // part 1: the rest of the budget
	write(2*pageSize+10, 90) // staged part 2: must wait for an early commit
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Object("pressure/existing"); !bytes.Equal(got, want) {
		t.Fatalf("object differs (%d bytes, want %d)", len(got), len(want))
	}
}
