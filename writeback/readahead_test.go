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

// Two readers of one file, each sequential, interleaved: each stream sees
// its own pattern, so both are prefetched (one File-wide state would see
// random reads and fetch page by page).
func TestTwoSequentialStreams(t *testing.T) {
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.TierParts = 1000 })
	data := randBytes(rand.New(rand.NewPCG(27, 28)), 100*int(pageSize))
	ver := commitObject(t, m, "ra/two", data)
	f := m.Open("ra/two", ver)
	defer f.Close()
	streams := []*Stream{f.NewStream(), f.NewStream()}
	defer streams[0].Close()
	defer streams[1].Close()
	offs := []int64{0, 50 * pageSize}
	gets := store.Calls("GetObject")
	buf := make([]byte, pageSize/4)
	for done := 0; done < 2; {
		done = 0
		for i, s := range streams {
			if offs[i] >= int64(len(data)) || (i == 0 && offs[0] >= 50*pageSize) {
				done++
				continue
			}
			d, err := f.ReadData(context.Background(), s, buf, offs[i])
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			var got []byte
			for _, v := range d.Vec {
				got = append(got, v...)
			}
			if !bytes.Equal(got, data[offs[i]:offs[i]+int64(len(got))]) {
				t.Fatalf("stream %d: read at %d differs", i, offs[i])
			}
			d.Release()
			offs[i] += int64(len(got))
		}
	}
	if n := store.Calls("GetObject") - gets; n > 100/chunkPages+16 {
		t.Errorf("two interleaved sequential readers of 50 pages each made %d GETs", n)
	}
}
