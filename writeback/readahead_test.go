package writeback

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
)

// commitObject writes data as a committed object and returns its version.
func commitObject(t *testing.T, m *Manager, key string, data []byte) Version {
	t.Helper()
	f := m.Open(key, Version{})
	writeAll(t, f, data, int(pageSize))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Version()
}

func TestSequentialReadPrefetches(t *testing.T) {
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.TierParts = 1000 })
	data := randBytes(rand.New(rand.NewPCG(21, 22)), 100*int(pageSize)+123)
	ver := commitObject(t, m, "ra/obj", data)
	f := m.Open("ra/obj", ver)
	defer f.Close()
	gets := store.Calls("GetObject")
	var got bytes.Buffer
	buf := make([]byte, pageSize/4) // small reads, like the kernel's
	for off := int64(0); ; {
		n, err := f.ReadAt(context.Background(), buf, off)
		got.Write(buf[:n])
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("sequential read differs")
	}
	// One GET per chunk of pages, not one per read or per page (the first
	// reads, before the pattern is seen, fetch on their own).
	if n := store.Calls("GetObject") - gets; n > 100/chunkPages+8 {
		t.Errorf("sequential read of 100 pages made %d GETs", n)
	}
}

func TestRandomReadDoesNotOverfetch(t *testing.T) {
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.TierParts = 1000 })
	data := randBytes(rand.New(rand.NewPCG(23, 24)), 100*int(pageSize))
	ver := commitObject(t, m, "ra/rand", data)
	f := m.Open("ra/rand", ver)
	defer f.Close()
	r := rand.New(rand.NewPCG(25, 26))
	gets := store.Calls("GetObject")
	const reads = 40
	for i := 0; i < reads; i++ {
		off := int64(r.IntN(len(data) - 100))
		buf := make([]byte, 100)
		if _, err := f.ReadAt(context.Background(), buf, off); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, data[off:off+100]) {
			t.Fatalf("random read at %d differs", off)
		}
	}
	if n := store.Calls("GetObject") - gets; n > reads+2 {
		t.Errorf("%d random reads made %d GETs: read-ahead fetched for a random pattern", reads, n)
	}
}
