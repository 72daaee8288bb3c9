package writeback

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestPageReferences(t *testing.T) {
	pool := newPagePool(pageSize, true)
	buf := pool.get()[:pageSize]
	p := pool.newPage(buf)
	if !p.acquire() {
		t.Fatal("acquire of a live page failed")
	}
	p.Release()
	p.Release() // the last reference: the buffer goes back, poisoned
	if buf[0] != 0xA5 {
		t.Fatalf("released buffer not poisoned: %#x", buf[0])
	}
	if p.acquire() {
		t.Fatal("acquire of a released page succeeded: its memory may be reused already")
	}
	p.Release()
	if n := pool.misreleased.Load(); n != 1 {
		t.Fatalf("misreleased = %d, want 1", n)
	}
	if got := pool.get(); cap(got) != int(pageSize) {
		t.Fatalf("pool handed out a buffer of capacity %d", cap(got))
	}
	pool.put(make([]byte, 10)) // not a page: left to the GC
	if b := pool.getLen(10); len(b) != 10 || cap(b) != 10 {
		t.Fatalf("getLen(10): len %d cap %d, want an exact allocation", len(b), cap(b))
	}
}

// BlockCache keeps one reference per entry and gives it back whenever
// ristretto lets the entry go; readers get their own.
func TestBlockCacheReferences(t *testing.T) {
	c, err := NewBlockCache(4 * pageSize)
	if err != nil {
		t.Fatal(err)
	}
	pool := newPagePool(pageSize, true)
	var pages []*Page
	for i := range 64 {
		p := pool.newPage(pool.get()[:pageSize])
		c.Set(string(rune('a'+i%26))+string(rune('A'+i/26)), p)
		pages = append(pages, p)
	}
	c.Wait() // ristretto applies sets in the background
	var held []*Page
	for i := range 64 {
		if p := c.Get(string(rune('a'+i%26)) + string(rune('A'+i/26))); p != nil {
			held = append(held, p)
		}
	}
	// The cache holds 4 pages: some were admitted (else nothing below
	// checks a reference the cache held), and no more than fit.
	if len(held) == 0 || len(held) > 4 {
		t.Fatalf("the cache holds %d of the 64 pages set, want 1..4", len(held))
	}
	for _, p := range pages {
		p.Release() // the writers' references
	}
	c.Close()
	for _, p := range held { // readers keep theirs past eviction
		if p.refs.Load() != 1 {
			t.Fatalf("a page a reader holds has %d references", p.refs.Load())
		}
		p.Release()
	}
	for i, p := range pages {
		if n := p.refs.Load(); n != 0 {
			t.Fatalf("page %d has %d references after everyone let go", i, n)
		}
	}
	if n := pool.misreleased.Load(); n != 0 {
		t.Fatalf("%d references released that were not held", n)
	}
}

// recordingCache records what is offered to it (and keeps nothing).
type recordingCache struct {
	mu   sync.Mutex
	sets []*Page
}

func (r *recordingCache) Get(string) *Page { return nil }
func (r *recordingCache) Set(_ string, p *Page) {
	r.mu.Lock()
	r.sets = append(r.sets, p)
	r.mu.Unlock()
}
func (r *recordingCache) Del(string) {}

// The cache counts what it holds, so a page offered to it must not pin
// much more memory than its bytes: the tail of a file in a whole page is
// copied to its size.
func TestCachedPagesPinTheirSize(t *testing.T) {
	rc := &recordingCache{}
	m := newTestManager(t, newFake(), rc, nil)
	r := rand.New(rand.NewPCG(7, 8))
	for _, size := range []int{1, 100, int(pageSize) + 1, 3*int(pageSize) - 7, 5 * int(pageSize)} {
		commitObject(t, m, "pin/"+string(rune('a'+size%26)), randBytes(r, size))
	}
	if len(rc.sets) == 0 {
		t.Fatal("nothing was offered to the cache")
	}
	for _, p := range rc.sets {
		if n, c := len(p.Bytes()), cap(p.Bytes()); c > 2*n && int64(n) != pageSize {
			t.Errorf("a cached page of %d bytes pins %d", n, c)
		}
	}
}

// Reading a file while the cache drops everything and every page is
// poisoned on release returns exactly the bytes written, however the
// references travel (ReadData keeps them until released).
func TestReadDataReferences(t *testing.T) {
	ctx := context.Background()
	for name, mk := range caches(t) {
		t.Run(name, func(t *testing.T) {
			m := newTestManager(t, newFake(), mk(), nil)
			r := rand.New(rand.NewPCG(9, 10))
			data := randBytes(r, 9*int(pageSize)+333)
			f := m.Open("rd", commitObject(t, m, "rd", data))
			defer f.Close()
			var pending []*Data
			for off := 0; off < len(data); {
				n := 1 + r.IntN(2*int(pageSize))
				buf := make([]byte, n)
				d, err := f.ReadData(ctx, nil, buf, int64(off))
				if err != nil && err != io.EOF {
					t.Fatal(err)
				}
				got := make([]byte, 0, n)
				for _, v := range d.Vec {
					got = append(got, v...)
				}
				want := data[off:min(off+n, len(data))]
				if string(got) != string(want) {
					t.Fatalf("read at %d: %d bytes differ from the %d written", off, len(got), len(want))
				}
				pending = append(pending, d)
				if len(pending) > 3 { // replies released out of order, later
					pending[0].Release()
					pending = pending[1:]
				}
				off += len(got)
			}
			for _, d := range pending {
				d.Release()
				d.Release() // harmless
			}
		})
	}
}
