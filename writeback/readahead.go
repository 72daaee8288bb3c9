package writeback

import (
	"context"
	"sync"
)

// Read-ahead: a File that is read sequentially fetches the committed
// version ahead of the reader, in chunks of up to chunkPages pages, several
// ranged GETs in parallel. The window starts at two pages when a
// sequential pattern is seen, doubles with every sequential read up to
// maxWindow, and shrinks to a quarter on a random read (so random access
// fetches only what it reads).
//
// Each reader has its own state (a Stream: a FUSE file handle), so that
// two programs reading one file sequentially do not look random to each
// other. Prefetched chunks are held by the stream until the reader passes
// them. Their memory is charged to the manager's read-ahead budget, taken
// without waiting: when it is exhausted, reads simply fetch what they need
// when they need it.
//
// Prefetched pages are not offered to the clean cache: a sequential reader
// passes each page once and the kernel's page cache keeps what it read, so
// caching them would only churn fresh pages through ristretto and evict
// what random readers and recent writes put there (a scan pollutes no
// cache). Demand reads (readBaseTo) and uploaded parts are cached.
const (
	chunkPages = 8  // pages per prefetch GET
	maxWindowP = 64 // pages of the largest window
)

// Stream is one reader of a File: its read-ahead state.
type Stream struct {
	f  *File
	mu sync.Mutex // guards ra (lock order: File.mu, then Stream.mu, then readAhead.mu)
	ra *readAhead
}

// NewStream returns a new reader of f, for ReadData. Close it when done.
func (f *File) NewStream() *Stream { return &Stream{f: f} }

// Close drops what the stream prefetched.
func (s *Stream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropLocked()
}

// dropLocked forgets the read-ahead state and releases its chunks. Called
// with s.mu held.
func (s *Stream) dropLocked() {
	if s.ra != nil {
		s.ra.mu.Lock()
		s.ra.dropBefore(s.f.m, 1<<62)
		s.ra.mu.Unlock()
		s.ra = nil
	}
}

type readAhead struct {
	mu     sync.Mutex
	key    string
	etag   string
	next   int64            // where a sequential read would start
	window int64            // pages to keep fetched ahead
	chunks map[int64]*chunk // by first page
}

// chunk is one prefetch: pages first..last of a version, holding one
// reference to each until it is dropped.
type chunk struct {
	first, last int64
	done        chan struct{}
	pages       []*Page // set before done is closed
	err         error
	charge      int64
}

// readBaseAhead is readBaseTo for application reads: it serves pages from
// chunks already fetched (waiting for ones in flight), and schedules the
// next chunks when the access is sequential.
func (s *Stream) readBaseAhead(ctx context.Context, key string, ver Version, off int64, n int, sink *pieces, at int) error {
	f, m := s.f, s.f.m
	end := off + int64(n)
	ra := s.readAheadFor(key, ver)

	ra.mu.Lock()
	sequential := off == ra.next || (off < ra.next && off >= ra.next-pageSize)
	if sequential {
		ra.window = min(max(2*ra.window, 2), maxWindowP)
	} else {
		ra.window /= 4
	}
	ra.next = end
	first, last := off/pageSize, (end-1)/pageSize
	var have []*chunk
	for _, c := range ra.chunks {
		if c.last >= first && c.first <= last {
			have = append(have, c)
		}
	}
	ra.dropBefore(m, first)
	if sequential {
		ra.schedule(f, key, ver, last+1)
	}
	ra.mu.Unlock()

	// Take what the chunks hold (a chunk dropped meanwhile by another
	// reader may have let its pages go: then they are fetched again);
	// readBaseTo does the rest (cache, or a GET).
	covered := spans{}
	for _, c := range have {
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if c.err != nil {
			continue
		}
		for idx := max(c.first, first); idx <= min(c.last, last); idx++ {
			pg := c.pages[idx-c.first]
			if !pg.acquire() {
				continue
			}
			b, ps := pg.Bytes(), idx*pageSize
			lo, hi := max(off, ps), min(end, ps+int64(len(b)))
			if lo >= hi {
				pg.Release()
				continue
			}
			sink.put(at+int(lo-off), b[lo-ps:hi-ps], pg)
			covered = covered.add(lo, hi)
		}
	}
	for _, g := range covered.gaps(off, end) {
		if err := m.readBaseTo(ctx, key, ver, g.s, int(g.e-g.s), sink, at+int(g.s-off)); err != nil {
			return err
		}
	}
	return nil
}

// readAheadFor returns the stream's read-ahead state for a version,
// resetting it when the version changed.
func (s *Stream) readAheadFor(key string, ver Version) *readAhead {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ra == nil || s.ra.key != key || s.ra.etag != ver.ETag {
		s.dropLocked()
		s.ra = &readAhead{key: key, etag: ver.ETag, next: -1, chunks: map[int64]*chunk{}}
	}
	return s.ra
}

// dropBefore forgets chunks that end before page idx and releases their
// budget. Called with ra.mu held.
func (ra *readAhead) dropBefore(m *Manager, idx int64) {
	for k, c := range ra.chunks {
		if c.last < idx {
			delete(ra.chunks, k)
			go func() {
				<-c.done // a GET in flight still owns its memory
				for _, pg := range c.pages {
					if pg != nil {
						pg.Release()
					}
				}
				m.raBudget.Release(c.charge)
			}()
		}
	}
}

// schedule starts the chunks of [from, from+window) not yet fetched or
// cached. Called with ra.mu held.
func (ra *readAhead) schedule(f *File, key string, ver Version, from int64) {
	m := f.m
	lastPage := (ver.Size - 1) / pageSize
	limit := min(from+ra.window-1, lastPage)
	for idx := from; idx <= limit; {
		if c := ra.covering(idx); c != nil {
			idx = c.last + 1
			continue
		}
		if pg := m.cfg.Cache.Get(objectPageKey(key, ver.ETag, idx)); pg != nil {
			pg.Release()
			idx++
			continue
		}
		cl := min(idx+chunkPages-1, lastPage)
		for p := idx + 1; p <= cl; p++ { // stop at a chunk already there
			if ra.covering(p) != nil {
				cl = p - 1
				break
			}
		}
		charge := (cl-idx)*pageSize + pageLen(cl, ver.Size)
		if !m.raBudget.TryAcquire(charge) {
			return
		}
		c := &chunk{first: idx, last: cl, done: make(chan struct{}), charge: charge}
		ra.chunks[idx] = c
		go func() {
			defer close(c.done)
			if err := m.gets.Acquire(f.ctx, 1); err != nil {
				c.err = err
				return
			}
			defer m.gets.Release(1)
			pages := make([]*Page, c.last-c.first+1)
			c.err = m.fetchPages(f.ctx, key, ver, c.first, c.last, pages, false)
			c.pages = pages
		}()
		idx = cl + 1
	}
}

func (ra *readAhead) covering(idx int64) *chunk {
	for _, c := range ra.chunks {
		if c.first <= idx && idx <= c.last {
			return c
		}
	}
	return nil
}
