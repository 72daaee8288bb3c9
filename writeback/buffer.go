package writeback

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"sort"
)

// span is a half-open byte range [s, e).
type span struct{ s, e int64 }

// spans is a sorted set of disjoint, non-adjacent ranges.
type spans []span

// add inserts [s, e), merging overlapping and adjacent ranges.
func (r spans) add(s, e int64) spans {
	if s >= e {
		return r
	}
	i := sort.Search(len(r), func(i int) bool { return r[i].e >= s })
	j := i
	for j < len(r) && r[j].s <= e {
		s = min(s, r[j].s)
		e = max(e, r[j].e)
		j++
	}
	out := append(r[:i:i], span{s, e})
	return append(out, r[j:]...)
}

// cut removes everything at or after off.
func (r spans) cut(off int64) spans {
	out := r[:0]
	for _, x := range r {
		if x.s >= off {
			break
		}
		if x.e > off {
			x.e = off
		}
		out = append(out, x)
	}
	return out
}

// covers reports whether [s, e) lies inside one range.
func (r spans) covers(s, e int64) bool {
	if s >= e {
		return true
	}
	i := sort.Search(len(r), func(i int) bool { return r[i].e > s })
	return i < len(r) && r[i].s <= s && r[i].e >= e
}

// gaps returns the parts of [s, e) that no range covers.
func (r spans) gaps(s, e int64) spans {
	var out spans
	cur := s
	for _, x := range r {
		if x.e <= cur {
			continue
		}
		if x.s >= e {
			break
		}
		if x.s > cur {
			out = append(out, span{cur, x.s})
		}
		cur = max(cur, x.e)
		if cur >= e {
			break
		}
	}
	if cur < e {
		out = append(out, span{cur, e})
	}
	return out
}

// partBuf holds the bytes of one part that are not durable yet.
//
// Offsets inside a partBuf are relative to the part's start. Pages are
// pageSize windows; a nil page was never written, and a page may be shorter
// than pageSize: bytes past its length read as zeros. valid lists the bytes
// that are authoritative (written by the application or filled from the
// committed version); everything else reads from the committed version
// below File.baseLimit and as zeros above it.
//
// A partBuf is owned by its File and guarded by File.mu while it is held;
// once sealed for upload its pages are immutable.
//
// Whole pages come from pool (nil: plain allocations) and are owned by the
// partBuf until it hands them on (retire) or returns them (free).
type partBuf struct {
	idx      int   // part index (part number idx+1)
	start    int64 // file offset of the part
	size     int64 // layout size of the part
	pages    [][]byte
	valid    spans
	reserved int64 // write-buffer bytes charged to this buffer
	lastUse  int64 // File.clock value of the last write, for eviction order
	pool     *pagePool
	sealed   bool   // handed to the uploader: the pages no longer change
	sum      uint32 // checksum of the pages when sealed (invariant checks on)
}

func newPartBuf(idx int, start, size int64, pool *pagePool) *partBuf {
	n := (size + pageSize - 1) / pageSize
	return &partBuf{idx: idx, start: start, size: size, pages: make([][]byte, n), pool: pool}
}

// free returns the buffer's pages to the pool: nothing else may refer to
// them (the buffer is dropped, and no upload of it is running).
func (b *partBuf) free() {
	if b.pool != nil {
		b.pool.putAll(b.pages)
	}
}

// full reports whether every byte of the part's layout size is valid.
func (b *partBuf) full() bool { return b.valid.covers(0, b.size) }

// pageCap is the capacity a page needs to hold bytes up to rel end 'end'
// (relative to the page): small first pages grow by doubling from 4 KiB so
// small files cost little; any other page is allocated whole.
func pageCap(pageIdx int, partStart int64, cur int, end int64) int {
	if end <= int64(cur) {
		return cur
	}
	if pageIdx != 0 || partStart != 0 {
		return int(pageSize)
	}
	c := max(cur, 4096)
	for int64(c) < end {
		c *= 2
	}
	return min(c, int(pageSize))
}

// growth returns how many more bytes of capacity writing [rel, rel+n)
// needs.
func (b *partBuf) growth(rel, n int64) int64 {
	var need int64
	for p := rel / pageSize; p*pageSize < rel+n; p++ {
		pe := min(rel+n-p*pageSize, pageSize)
		cur := cap(b.pages[p])
		need += int64(pageCap(int(p), b.start, cur, pe) - cur)
	}
	return need
}

// writeAt copies data to [rel, rel+len(data)); the capacity must have been
// charged (growth) already.
func (b *partBuf) writeAt(data []byte, rel int64) {
	b.mustNotBeSealed()
	b.ensure(rel, int64(len(data)))
	for len(data) > 0 {
		p := rel / pageSize
		po := rel - p*pageSize
		n := copy(b.pages[p][po:], data)
		data = data[n:]
		rel += int64(n)
	}
}

// ensure makes pages long enough to address [rel, rel+n), allocating or
// growing as pageCap says; new bytes are zero.
func (b *partBuf) ensure(rel, n int64) {
	for p := rel / pageSize; p*pageSize < rel+n; p++ {
		pe := min(rel+n-p*pageSize, pageSize)
		pg := b.pages[p]
		if int64(len(pg)) >= pe {
			continue
		}
		if c := pageCap(int(p), b.start, cap(pg), pe); c > cap(pg) {
			var np []byte
			if int64(c) == pageSize && b.pool != nil {
				np = b.pool.get()[:len(pg)]
			} else {
				np = make([]byte, len(pg), c)
			}
			copy(np, pg)
			pg = np
		}
		// Bytes between the length and the capacity are garbage (a pooled
		// page, or left from before a truncate): what is newly exposed must
		// read as zeros.
		clear(pg[len(pg):pe])
		b.pages[p] = pg[:pe]
	}
}

// window returns the pages' bytes [rel, rel+n) as slices, one per page,
// allocating them as ensure does; the capacity must have been charged.
// Filling them fills the buffer without a copy.
func (b *partBuf) window(rel, n int64) [][]byte {
	b.ensure(rel, n)
	var out [][]byte
	for n > 0 {
		p := rel / pageSize
		po := rel - p*pageSize
		k := min(n, pageSize-po)
		out = append(out, b.pages[p][po:po+k])
		rel += k
		n -= k
	}
	return out
}

// readAt copies [rel, rel+len(dst)) from the pages (zeros where nothing is
// stored). Validity is the caller's concern.
func (b *partBuf) readAt(dst []byte, rel int64) {
	for len(dst) > 0 {
		p := rel / pageSize
		po := rel - p*pageSize
		n := min(int64(len(dst)), pageSize-po)
		pg := b.pages[p]
		var c int
		if po < int64(len(pg)) {
			c = copy(dst[:n], pg[po:])
		}
		clear(dst[c:n])
		dst = dst[n:]
		rel += n
	}
}

// truncate drops everything at or after rel: valid ranges are cut and the
// stored bytes zeroed, so a later extension reads zeros.
func (b *partBuf) truncate(rel int64) {
	b.mustNotBeSealed()
	b.valid = b.valid.cut(rel)
	for p := range b.pages {
		ps := int64(p) * pageSize
		pg := b.pages[p]
		switch {
		case ps >= rel:
			b.pages[p] = pg[:0]
		case ps+int64(len(pg)) > rel:
			clear(pg[rel-ps:])
			b.pages[p] = pg[:rel-ps]
		}
	}
}

// mustNotBeSealed panics, with invariant checks on, on a change to a
// sealed buffer.
func (b *partBuf) mustNotBeSealed() {
	if checkInvariants && b.sealed {
		panic(fmt.Sprintf("writeback: part %d changed after it was sealed", b.idx+1))
	}
}

// capacity is the bytes of memory the pages hold.
func (b *partBuf) capacity() int64 {
	var n int64
	for _, pg := range b.pages {
		n += int64(cap(pg))
	}
	return n
}

// pagesReader reads the first n bytes of a part's pages as one stream,
// zeros where a page is missing or short. It implements io.ReaderAt; the
// pages must not change while it is in use.
type pagesReader struct {
	pages [][]byte
	n     int64
}

func (r *pagesReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.n {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > r.n-off {
		p = p[:r.n-off]
	}
	b := partBuf{pages: r.pages}
	b.readAt(p, off)
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// zeros is a block of zero bytes to hash holes from.
var zeros = make([]byte, 64<<10)

// writeZeros writes n zero bytes to h.
func writeZeros(h hash.Hash, n int64) {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		h.Write(zeros[:k])
		n -= k
	}
}

// contentMD5 hashes the n bytes straight from the pages (no copy) and
// returns the base64 Content-MD5, so the client need not read them again.
func (r *pagesReader) contentMD5() string {
	h := md5.New()
	for p := int64(0); p*pageSize < r.n; p++ {
		want := min(pageSize, r.n-p*pageSize)
		var pg []byte
		if p < int64(len(r.pages)) {
			pg = r.pages[p]
		}
		have := min(int64(len(pg)), want)
		h.Write(pg[:have])
		writeZeros(h, want-have)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func (z zeroReader) contentMD5() string {
	h := md5.New()
	writeZeros(h, z.n)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// zeroReader is an io.ReaderAt of n zero bytes.
type zeroReader struct{ n int64 }

func (z zeroReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= z.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n-off)
	clear(p[:k])
	if k < int64(len(p)) {
		return int(k), io.EOF
	}
	return int(k), nil
}
