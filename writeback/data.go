package writeback

import (
	"context"
	"io"
	"sort"
)

// Data is the result of File.ReadData: the bytes read, in order, as a
// vector of slices — pieces of the caller's buffer and pieces of shared
// clean pages — plus the references that keep those pages from being
// reused. Release it once the bytes have been consumed.
type Data struct {
	Vec  [][]byte
	refs []*Page
}

// Len is the number of bytes in d.
func (d *Data) Len() int {
	n := 0
	for _, v := range d.Vec {
		n += len(v)
	}
	return n
}

// Release drops the references to shared pages; d's slices must not be
// used afterwards. Releasing twice is harmless.
func (d *Data) Release() {
	for _, r := range d.refs {
		r.Release()
	}
	d.refs, d.Vec = nil, nil
}

// ReadData reads like ReadAt, as reader s (nil: the File's own, that of
// ReadAt), into p where the bytes must be assembled (uncommitted writes,
// zeros), but returns bytes that live in shared clean pages (the committed
// version: prefetched or cached blocks) by reference instead of copying
// them: a read served from memory costs no copy until its consumer (the
// FUSE reply) makes one. At the end of the file it returns io.EOF with the
// bytes read.
func (f *File) ReadData(ctx context.Context, s *Stream, p []byte, off int64) (*Data, error) {
	if s == nil {
		s = f.def
	}
	sink := &pieces{buf: p, keep: true}
	n, err := f.read(ctx, s, p, off, sink)
	if err != nil && err != io.EOF {
		sink.release()
		return nil, err
	}
	return sink.data(n), err
}

// pieces receives the page-backed bytes of a read: copied into buf at
// once, or kept as references (keep) for Data, or handed to scatter (then
// buf is unused).
type pieces struct {
	buf     []byte
	keep    bool
	list    []piece
	scatter func(at int, b []byte) // if set: receives each piece, which it must copy
}

// piece is b, a slice of page ref, standing at buf[at:].
type piece struct {
	at  int
	b   []byte
	ref *Page
}

// put delivers b, part of ref, whose reference it takes over, for
// buf[at:at+len(b)].
func (s *pieces) put(at int, b []byte, ref *Page) {
	if s.scatter != nil {
		s.scatter(at, b)
		ref.Release()
		return
	}
	if !s.keep {
		copy(s.buf[at:], b)
		ref.Release()
		return
	}
	s.list = append(s.list, piece{at: at, b: b, ref: ref})
}

func (s *pieces) release() {
	for _, pc := range s.list {
		pc.ref.Release()
	}
	s.list = nil
}

// data assembles the first n bytes: the kept pieces where they stand, buf
// in between (pieces never overlap).
func (s *pieces) data(n int) *Data {
	sort.Slice(s.list, func(a, b int) bool { return s.list[a].at < s.list[b].at })
	d := &Data{refs: make([]*Page, 0, len(s.list))}
	cur := 0
	for _, pc := range s.list {
		if pc.at > cur {
			d.Vec = append(d.Vec, s.buf[cur:pc.at])
		}
		d.Vec = append(d.Vec, pc.b)
		d.refs = append(d.refs, pc.ref)
		cur = pc.at + len(pc.b)
	}
	if cur < n {
		d.Vec = append(d.Vec, s.buf[cur:n])
	}
	s.list = nil
	return d
}
