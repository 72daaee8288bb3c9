package writeback

import (
	"sync"
	"sync/atomic"
)

// Page memory.
//
// Every full page (pageSize bytes) the layer buffers — of a part being
// written, a block read from the store, a prefetched chunk — comes from
// the manager's pagePool and goes back to it when nothing uses it any
// more, so that streaming gigabytes through the mount reuses the same
// memory instead of producing garbage: no zeroing of fresh allocations, no
// page faults for memory the runtime gave back to the kernel, no garbage
// collector racing the budgets (which would let the process grow past
// them until the next collection).
//
// A buffer has exactly one owner at a time. While a part is being written
// it belongs to its partBuf (under File.mu). Clean data is shared: it is
// wrapped in a Page, an immutable, reference-counted value held by the
// cache, by read-ahead chunks and by read replies in flight, each holding
// one reference. The last Release returns the buffer to the pool; a
// reference can only be taken from a holder that still has one (acquire
// fails on a released page, so a lookup racing an eviction misses
// instead of reading reused memory). Forgetting a Release only costs the
// reuse: the garbage collector frees the buffer as before.

// Page is a block of clean, immutable bytes shared by reference.
type Page struct {
	b    []byte
	refs atomic.Int32
	pool *pagePool // where the buffer goes back to; nil: left to the GC
}

// newPage wraps b with one reference, the caller's. b must not be written
// again by anyone.
func (pp *pagePool) newPage(b []byte) *Page {
	p := &Page{b: b, pool: pp}
	p.refs.Store(1)
	return p
}

// Bytes returns the page's content: valid, and never modified, while the
// caller holds its reference.
func (p *Page) Bytes() []byte { return p.b }

// acquire takes one more reference for the caller; false if the page was
// released already (then its memory may be in use for other data).
func (p *Page) acquire() bool {
	for {
		n := p.refs.Load()
		if n <= 0 {
			return false
		}
		if p.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops the caller's reference; the last one returns the buffer
// to its pool. The caller must not use the bytes afterwards.
func (p *Page) Release() {
	switch n := p.refs.Add(-1); {
	case n == 0:
		if p.pool != nil {
			p.pool.put(p.b)
		}
	case n < 0:
		// A bug: counted, never recycled twice (tests check the count).
		if p.pool != nil {
			p.pool.misreleased.Add(1)
		}
	}
}

// pagePool recycles page buffers of exactly size bytes. sync.Pool keeps
// them per CPU and lets the garbage collector have them back when idle.
type pagePool struct {
	size   int
	pool   sync.Pool
	poison bool // Config.PoisonFreedPages

	misreleased atomic.Int64 // Release calls beyond the last reference (bugs)
}

func newPagePool(size int64, poison bool) *pagePool {
	return &pagePool{size: int(size), poison: poison}
}

// get returns an empty buffer of capacity size. Its bytes are garbage:
// the caller writes before it exposes them.
func (pp *pagePool) get() []byte {
	if v := pp.pool.Get(); v != nil {
		return (*v.(*[]byte))[:0]
	}
	return make([]byte, 0, pp.size)
}

// getLen returns a buffer of length n (≤ size) with garbage bytes: a
// pooled page when n is a whole page, otherwise an allocation of exactly
// n bytes — a short page (an object's tail, a small file) must not pin a
// whole page while the cache counts only its length.
func (pp *pagePool) getLen(n int64) []byte {
	if n == int64(pp.size) {
		return pp.get()[:n]
	}
	return make([]byte, n)
}

// put returns a buffer the caller owns exclusively; buffers of another
// capacity (small first pages, short copies) are left to the GC.
func (pp *pagePool) put(b []byte) {
	if cap(b) != pp.size {
		return
	}
	b = b[:pp.size]
	if pp.poison {
		for i := range b {
			b[i] = 0xA5
		}
	}
	pp.pool.Put(&b)
}

// putAll returns every page of a buffer that is dropped without being
// shared (its bytes were never handed to a Page).
func (pp *pagePool) putAll(pages [][]byte) {
	for i, pg := range pages {
		pp.put(pg)
		pages[i] = nil
	}
}
