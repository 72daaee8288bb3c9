package writeback

import (
	"errors"
	"fmt"
	"hash/crc32"
	"sort"

	"github.com/sirupsen/logrus"
)

// Parts: the state of each part of a File, and every transition between
// states, in one place.
//
// Part i of a File is in exactly one state:
//
//	partBase       no entry: its bytes are the committed version's below
//	               File.baseLimit and zeros above it (a hole)
//	partFilling    a buffer being written (buf); bytes it does not hold
//	               (buf.valid) read as in partBase
//	partUploading  a sealed, full, immutable buffer (buf) being uploaded
//	               as part number i+1 of the file's upload
//	partUploaded   part number i+1 of the current upload (done: ETag and
//	               size); its bytes are in the upload, and maybe in the
//	               clean cache under the upload's ID
//	partStaged     assembled in a temporary object (sp, staged.go)
//	partCopying    a staged part, fully written, being copied into the
//	               upload (sp)
//
// Transitions, each a method below:
//
//	base      → filling    fillLocked (writeMem)
//	uploaded  → filling    reloadedLocked (a write or truncate into an
//	                       uploaded part whose pages the cache still has)
//	filling   → uploading  sealLocked (every byte written)
//	uploading → uploaded   uploadedLocked (the part's upload succeeded)
//	uploading → base       uploadedLocked (it failed: the file's error is
//	                       sticky and its content lost)
//	base      → staged     stageLocked (openStagedLocked)
//	staged    → copying    sealStagedLocked
//	copying   → uploaded   copiedLocked, or → base when the copy failed
//	filling, uploaded, staged → base   dropLocked (truncate, cleanup),
//	                       dropUploadLocked (every uploaded part, with the
//	                       upload), committedLocked (after a commit)
//
// and, without a change of state, chargeLocked (a filling buffer takes
// budget) and cutLocked (truncate cuts a filling buffer).
//
// With checkInvariants on (tests, and builds with -tags obsfscheck),
// checkLocked runs after every transition and panics when an invariant
// does not hold (listed at checkLocked).

// checkInvariants runs File.checkLocked after every transition of a part.
// On in tests (TestMain) and in builds with -tags obsfscheck; off in
// production, where the check's cost (a walk over every part) is not
// wanted.
var checkInvariants = false

// partState is the state of one part of a File (see above).
type partState uint8

const (
	partBase partState = iota
	partFilling
	partUploading
	partUploaded
	partStaged
	partCopying
)

func (s partState) String() string {
	switch s {
	case partBase:
		return "base"
	case partFilling:
		return "filling"
	case partUploading:
		return "uploading"
	case partUploaded:
		return "uploaded"
	case partStaged:
		return "staged"
	case partCopying:
		return "copying"
	}
	return fmt.Sprintf("partState(%d)", uint8(s))
}

// part is the entry of a part that is not in partBase.
type part struct {
	state partState
	buf   *partBuf    // filling, uploading
	done  donePart    // uploaded
	sp    *stagedPart // staged, copying
}

// parts holds a File's parts that are not in partBase, by index. Guarded
// by File.mu; changed only by the transitions in this file.
type parts struct {
	m         map[int]*part
	uploading int   // parts in partUploading
	reserved  int64 // budget bytes charged to the buffers of filling and uploading parts
}

func newParts() parts { return parts{m: map[int]*part{}} }

// state returns part i's state.
func (p *parts) state(i int) partState {
	if pt := p.m[i]; pt != nil {
		return pt.state
	}
	return partBase
}

// get returns part i's entry, nil for partBase.
func (p *parts) get(i int) *part { return p.m[i] }

// filling returns part i's buffer if it is being written, else nil.
func (p *parts) filling(i int) *partBuf {
	if pt := p.m[i]; pt != nil && pt.state == partFilling {
		return pt.buf
	}
	return nil
}

// indexes returns the indexes of the parts in any of the states given, in
// order.
func (p *parts) indexes(states ...partState) []int {
	var out []int
	for i, pt := range p.m {
		for _, s := range states {
			if pt.state == s {
				out = append(out, i)
				break
			}
		}
	}
	sort.Ints(out)
	return out
}

// any reports whether some part is in one of the states given.
func (p *parts) any(states ...partState) bool {
	for _, pt := range p.m {
		for _, s := range states {
			if pt.state == s {
				return true
			}
		}
	}
	return false
}

// afterLocked runs the invariant check after a transition (when on).
func (f *File) afterLocked(what string) {
	if !checkInvariants {
		return
	}
	if err := f.checkLocked(); err != nil {
		panic(fmt.Sprintf("writeback: %q after %s: %v", f.key, what, err))
	}
}

// fillLocked makes part i, in partBase, a buffer to be written (filling),
// charging reserve bytes of *spare to it.
func (f *File) fillLocked(i int, reserve int64, spare *int64) *partBuf {
	if st := f.parts.state(i); st != partBase {
		panic(fmt.Sprintf("writeback: fill part %d in state %s", i+1, st))
	}
	b := newPartBuf(i, f.lay.partOffset(i), f.lay.partSize(i), f.m.pages)
	f.parts.m[i] = &part{state: partFilling, buf: b}
	f.chargeLocked(b, reserve, spare)
	f.afterLocked("fill")
	return b
}

// chargeLocked moves n bytes of budget from *spare to the buffer b.
func (f *File) chargeLocked(b *partBuf, n int64, spare *int64) {
	if n <= 0 {
		return
	}
	b.reserved += n
	f.parts.reserved += n
	*spare -= n
}

// reloadedLocked makes uploaded part i the filling buffer b (its bytes
// read back from the clean cache), charging b.size bytes of *spare to it.
func (f *File) reloadedLocked(i int, b *partBuf, spare *int64) {
	if st := f.parts.state(i); st != partUploaded {
		panic(fmt.Sprintf("writeback: reload part %d in state %s", i+1, st))
	}
	f.parts.m[i] = &part{state: partFilling, buf: b}
	f.chargeLocked(b, b.size, spare)
	f.afterLocked("reload")
}

// cutLocked drops the bytes of filling buffer b from rel on (truncate).
func (f *File) cutLocked(b *partBuf, rel int64) {
	b.truncate(rel)
	f.afterLocked("cut")
}

// sealLocked hands part i's full buffer to the uploader (filling →
// uploading), starting the file's upload if there is none yet.
func (f *File) sealLocked(i int) {
	pt := f.parts.get(i)
	if pt == nil || pt.state != partFilling {
		panic(fmt.Sprintf("writeback: seal part %d in state %s", i+1, f.parts.state(i)))
	}
	b := pt.buf
	b.sealed = true
	if checkInvariants {
		b.sum = b.checksum()
	}
	pt.state = partUploading
	f.parts.uploading++
	if f.up == nil {
		f.newUploadLocked(f.key)
	}
	f.afterLocked("seal")
	up := f.up
	f.m.inflight.Add(1)
	go f.runUpload(up, b)
}

// uploadedLocked ends the upload of buffer b under up: on success (err nil
// and the file not failed) the part becomes uploaded with etag and its
// pages move to the clean cache; otherwise it goes back to base (the
// file has failed: its content is lost). The buffer's budget is released.
func (f *File) uploadedLocked(up *upload, b *partBuf, etag string, err error, failed bool) {
	pt := f.parts.get(b.idx)
	if pt == nil || pt.state != partUploading || pt.buf != b {
		panic(fmt.Sprintf("writeback: part %d uploaded in state %s", b.idx+1, f.parts.state(b.idx)))
	}
	if checkInvariants && b.sum != b.checksum() {
		panic(fmt.Sprintf("writeback: part %d changed while it was uploading", b.idx+1))
	}
	f.parts.uploading--
	if err == nil && !failed && f.up != up {
		err = errors.New("internal error: the upload changed while a part was uploading")
	}
	switch {
	case err != nil:
		f.setErrLocked(fmt.Errorf("upload part %d of %q: %w", b.idx+1, up.key, err))
		delete(f.parts.m, b.idx)
		b.free()
	case !failed:
		f.parts.m[b.idx] = &part{state: partUploaded, done: donePart{etag: etag, size: b.size}}
		f.retirePages(b, b.size, func(idx int64) string { return uploadPageKey(up.id, idx) })
		f.m.log.WithFields(logrus.Fields{"key": up.key, "part": b.idx + 1, "bytes": b.size}).Debug("uploaded part")
	default:
		delete(f.parts.m, b.idx)
		b.free()
	}
	f.releaseLocked(b)
	f.afterLocked("upload")
}

// releaseLocked gives b's budget back.
func (f *File) releaseLocked(b *partBuf) {
	f.m.budget.release(b.reserved)
	f.parts.reserved -= b.reserved
	b.reserved = 0
}

// stageLocked makes part i, in partBase, the staged part sp.
func (f *File) stageLocked(i int, sp *stagedPart) {
	if st := f.parts.state(i); st != partBase {
		panic(fmt.Sprintf("writeback: stage part %d in state %s", i+1, st))
	}
	f.parts.m[i] = &part{state: partStaged, sp: sp}
	f.afterLocked("stage")
}

// copyingLocked marks staged part i as being copied into the upload
// (staged → copying); it counts as a staged operation (stagedBusy) until
// copiedLocked.
func (f *File) copyingLocked(i int) *stagedPart {
	pt := f.parts.get(i)
	if pt == nil || pt.state != partStaged {
		panic(fmt.Sprintf("writeback: copy part %d in state %s", i+1, f.parts.state(i)))
	}
	pt.state = partCopying
	f.stagedBusy++
	if f.up == nil {
		f.newUploadLocked(f.key)
	}
	f.afterLocked("seal staged")
	return pt.sp
}

// copiedLocked ends the copy of staged part i into up: uploaded with etag,
// or base with the file failed. The temporary object is dropped. Called
// once nothing uses the part (sp.refs == 0).
func (f *File) copiedLocked(i int, up *upload, etag string, err error) {
	pt := f.parts.get(i)
	if pt == nil || pt.state != partCopying {
		panic(fmt.Sprintf("writeback: part %d copied in state %s", i+1, f.parts.state(i)))
	}
	f.stagedBusy--
	if err == nil && f.up != up {
		err = errors.New("internal error: the upload changed while a part was copied")
	}
	if err != nil {
		f.setErrLocked(fmt.Errorf("part %d of %q: %w", i+1, up.key, err))
		delete(f.parts.m, i)
	} else {
		f.parts.m[i] = &part{state: partUploaded, done: donePart{etag: etag, size: f.lay.partSize(i)}}
	}
	f.dropStaged(pt.sp)
	f.afterLocked("copy staged")
}

// dropLocked returns part i to base, dropping what it held: a filling
// buffer (its budget released), an uploaded part (left out of the next
// commit) or a staged part (its temporary object deleted). A part
// uploading or being copied cannot be dropped.
func (f *File) dropLocked(i int) {
	pt := f.parts.get(i)
	if pt == nil {
		return
	}
	switch pt.state {
	case partFilling:
		f.releaseLocked(pt.buf)
		pt.buf.free()
	case partStaged:
		f.dropStaged(pt.sp)
	case partUploaded:
	default:
		panic(fmt.Sprintf("writeback: drop part %d in state %s", i+1, pt.state))
	}
	delete(f.parts.m, i)
	f.afterLocked("drop")
}

// dropUploadLocked forgets the multipart upload state (after it was
// completed or aborted), with the parts uploaded into it, and cancels
// what may still run under it.
func (f *File) dropUploadLocked() {
	if f.up == nil {
		return
	}
	f.up.cancel()
	f.up = nil
	for i, pt := range f.parts.m {
		if pt.state == partUploaded {
			delete(f.parts.m, i)
		}
	}
	f.afterLocked("drop upload")
}

// committedLocked records a successful commit of ver to key: the buffers
// bufs the commit uploaded move to the clean cache and release their
// budget, ver becomes the base, and every part returns to base.
func (f *File) committedLocked(key string, ver Version, bufs []*partBuf) {
	for _, b := range bufs {
		f.retirePages(b, min(b.size, ver.Size-b.start), func(idx int64) string { return objectPageKey(key, ver.ETag, idx) })
		if pt := f.parts.get(b.idx); pt != nil && pt.buf == b {
			delete(f.parts.m, b.idx)
			f.releaseLocked(b)
		}
	}
	f.base, f.src, f.baseLimit = ver, source{key: key, obj: ver}, ver.Size
	f.dirty = false
	f.dropUploadLocked()
	f.dropAllStagedLocked()
	f.afterLocked("commit")
}

// checkLocked checks the invariants of the parts, with mu held:
//   - every entry is in one state other than base, with the fields of
//     that state and no others;
//   - parts.reserved, the budget charged, equals the bytes reserved by the
//     buffers of filling and uploading parts, and (no commit running)
//     every buffer's memory is charged to it;
//   - an uploading buffer is sealed and full, a filling one is not sealed;
//   - an uploaded part has its layout size and lies inside the file (else
//     the commit would refuse it), and belongs to a started upload;
//   - nothing lies at or beyond the file's size, but a staged part that
//     was opened for a write not yet done (its temporary file empty); no
//     buffer holds valid bytes past the size, no staged part's file is
//     longer than its part of the file (but while a write through it
//     runs);
//   - staged and copying parts only where isStaged(i), buffers only where
//     not; parts uploading or copying only with an upload;
//   - the counters parts.uploading and stagedBusy match the entries.
func (f *File) checkLocked() error {
	var reserved, refs int64
	uploading, copying := 0, 0
	for i, pt := range f.parts.m {
		start, psize := f.lay.partOffset(i), f.lay.partSize(i)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("part %d (%s): %s", i+1, pt.state, fmt.Sprintf(format, args...))
		}
		switch pt.state {
		case partFilling, partUploading:
			b := pt.buf
			if b == nil || pt.sp != nil || pt.done != (donePart{}) {
				return bad("fields of another state")
			}
			if b.idx != i || b.start != start || b.size != psize {
				return bad("buffer of part %d at %d, %d bytes", b.idx+1, b.start, b.size)
			}
			if f.isStaged(i) {
				return bad("a buffer in a staged part")
			}
			if start >= f.size {
				return bad("starts at %d, at or past the file's %d bytes", start, f.size)
			}
			reserved += b.reserved
			if f.run == nil && b.capacity() > b.reserved {
				return bad("buffer holds %d bytes of memory, %d charged", b.capacity(), b.reserved)
			}
			if len(b.valid) > 0 && b.valid[len(b.valid)-1].e > f.size-start {
				return bad("valid bytes up to %d, past the file's end at %d", b.valid[len(b.valid)-1].e, f.size-start)
			}
			if pt.state == partFilling && b.sealed {
				return bad("a sealed buffer being written")
			}
			if pt.state == partUploading {
				uploading++
				if !b.sealed || !b.full() {
					return bad("uploading a buffer not sealed (%v) or not full (%v)", b.sealed, b.full())
				}
				if f.up == nil {
					return bad("no upload")
				}
			}
		case partUploaded:
			if pt.buf != nil || pt.sp != nil {
				return bad("fields of another state")
			}
			if f.up == nil || f.up.id == "" {
				return bad("no upload started")
			}
			if pt.done.etag == "" || pt.done.size != psize {
				return bad("%d bytes (ETag %q), the layout says %d", pt.done.size, pt.done.etag, psize)
			}
			if start+psize > f.size {
				return bad("ends at %d, past the file's %d bytes", start+psize, f.size)
			}
		case partStaged, partCopying:
			sp := pt.sp
			if sp == nil || pt.buf != nil || pt.done != (donePart{}) {
				return bad("fields of another state")
			}
			if !f.isStaged(i) {
				return bad("staged, but small enough to be held")
			}
			refs += int64(sp.refs)
			if pt.state == partCopying {
				copying++
				if f.up == nil {
					return bad("no upload")
				}
			}
			// A write through the part (refs) grows it before the file.
			if n := sp.f.Size(); sp.refs == 0 && n > max(0, min(psize, f.size-start)) {
				return bad("temporary file of %d bytes, the part has %d in the file", n, max(0, min(psize, f.size-start)))
			}
		default:
			return bad("no such state")
		}
	}
	if reserved != f.parts.reserved {
		return fmt.Errorf("buffers reserve %d bytes of budget, %d charged", reserved, f.parts.reserved)
	}
	if uploading != f.parts.uploading {
		return fmt.Errorf("%d parts uploading, counted %d", uploading, f.parts.uploading)
	}
	if int64(f.stagedBusy) != refs+int64(copying) {
		return fmt.Errorf("stagedBusy %d, but %d references to staged parts and %d copying", f.stagedBusy, refs, copying)
	}
	return nil
}

// checksum hashes the buffer's pages (sealed buffers, when checks are on).
func (b *partBuf) checksum() uint32 {
	var h uint32
	for _, pg := range b.pages {
		h = crc32.Update(h, crc32.IEEETable, pg)
	}
	return h
}
