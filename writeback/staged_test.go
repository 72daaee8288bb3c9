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
