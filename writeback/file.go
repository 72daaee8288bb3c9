package writeback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/sirupsen/logrus"
)

// File is the content of one object while a mount has it open: the
// committed version in the store (base) plus the changes not yet committed.
//
// Writes are cut into parts of the manager's layout. A part whose every
// byte has been written is sealed and uploaded at once, as part number
// idx+1 of the file's multipart upload, while the application keeps
// writing; the budget bytes it holds are released when the upload
// succeeds and its pages move to the clean cache. Flush commits: it uploads
// the remaining parts (copying unchanged ranges of the committed version
// server-side, filling holes with zeros) and completes the upload, or, for
// a file smaller than one part, makes a single PutObject. Flush returning
// nil means the store holds exactly the file's bytes.
//
// A write into a part that was already uploaded re-uploads that part
// number, with the part's bytes taken from the clean cache. If the cache
// dropped them, the bytes exist only inside the incomplete upload, so the
// upload is committed first and the part is then patched like any part of
// an existing object.
//
// Errors are sticky: after a failed upload every later operation returns
// the error, the multipart upload is aborted, and the store keeps the
// previous version of the object.
//
// A File is safe for concurrent use. Locking: mu guards all mutable fields;
// store I/O runs without mu, either on sealed (immutable) buffers or while
// a commit runs (run set), during which writers and readers wait on cond.
// Every wait of an operation ends with the operation's context (wait.go).
type File struct {
	m   *Manager
	lay layout

	mu   sync.Mutex
	cond *sync.Cond

	key            string            // guarded by mu: where commits go
	base           Version           // guarded by mu: committed content
	src            source            // guarded by mu: where base's bytes live
	baseLimit      int64             // guarded by mu: bytes of parts in partBase below it come from base, above it are zeros
	size           int64             // guarded by mu
	dirty          bool              // guarded by mu: content differs from base
	parts          parts             // guarded by mu: the state of each part (parts.go)
	up             *upload           // guarded by mu: the multipart upload, if any
	run            *commitRun        // guarded by mu: the commit running, if any (wait.go)
	err            error             // guarded by mu: sticky failure
	meta           map[string]string // guarded by mu: user metadata for the next commit
	committedMeta  map[string]string // guarded by mu: metadata of the last commit
	forceMultipart bool              // guarded by mu: commit with a multipart upload even when small
	lastUse        int64             // guarded by mu

	// Parts too large for the write buffer are staged (see staged.go).
	stagedBusy int  // guarded by mu: operations on staged parts running without mu, and copies
	baseReads  int  // guarded by mu: reads of the committed version running without mu
	nested     bool // a staged part's own File: never stages

	ctx    context.Context // store I/O; cancelled by Discard
	cancel context.CancelFunc
	// lastProgress is when the file's store work last moved (a request
	// completed, or a part's body was read to be sent), in Unix
	// nanoseconds: commits fail after Config.CommitTimeout without any.
	lastProgress atomic.Int64
	prog         fileProgress // for Manager.Progress (progress.go)

	def *Stream // the reader of ReadAt, and of ReadData without a stream of its own
}

// upload is a multipart upload in progress.
type upload struct {
	key string
	// ctx is the upload's requests'; cancelled (cancel) when the upload is
	// no longer wanted: the file failed, or the upload was completed or
	// aborted.
	ctx    context.Context
	cancel context.CancelFunc
	meta   map[string]string // metadata sent with Initiate (set by init)
	once   sync.Once
	id     string // set by init
	err    error  // set by init
}

// newUploadLocked starts f's multipart upload state for key (the upload
// itself is initiated by its first part, initUpload).
func (f *File) newUploadLocked(key string) *upload {
	ctx, cancel := context.WithCancel(f.ctx)
	f.up = &upload{key: key, ctx: ctx, cancel: cancel}
	return f.up
}

// donePart is a part uploaded into the current upload.
type donePart struct {
	etag string
	size int64
}

// Open returns the File for key whose committed content is base
// (base.Exists false for a new object). The caller owns the File until
// Close or Discard.
func (m *Manager) Open(key string, base Version) *File {
	return m.openWithLayout(key, base, m.lay, nil)
}

// openWithLayout opens a File with layout lay; parent, if not nil, is the
// source of a staged part's File: its base is bytes [parent.off,
// parent.off+base.Size) of parent.key's version parent.obj.
func (m *Manager) openWithLayout(key string, base Version, lay layout, parent *source) *File {
	ctx, cancel := context.WithCancel(m.ctx)
	f := &File{
		m: m, lay: lay, key: key, base: base, src: source{key: key, obj: base},
		parts: newParts(),
		ctx:   ctx, cancel: cancel,
	}
	if base.Exists {
		f.size, f.baseLimit = base.Size, base.Size
	} else {
		f.dirty = true // a new object: committing creates it, even empty
	}
	if parent != nil {
		// A staged part's File: its base is the parent's bytes, not an
		// object of its own, so the temporary object is created by its
		// first commit even if nothing was written into the part
		// (copyStaged copies from it).
		f.nested, f.src, f.dirty = true, *parent, true
	}
	f.cond = sync.NewCond(&f.mu)
	f.def = f.NewStream()
	m.register(f)
	return f
}

func (f *File) log() *logrus.Entry {
	f.mu.Lock()
	key := f.key
	f.mu.Unlock()
	return f.m.log.WithField("key", key)
}

// Key returns the key the next commit writes.
func (f *File) Key() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.key
}

// Size returns the current length of the file.
func (f *File) Size() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size
}

// Dirty reports whether the file has changes not yet committed.
func (f *File) Dirty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dirty
}

// Version returns the committed version this file is based on.
func (f *File) Version() Version {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.base
}

// Err returns the sticky error, if any.
func (f *File) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// SetMeta sets the user metadata the next commit writes.
func (f *File) SetMeta(meta map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meta = meta
}

// heldState returns the budget bytes held by buffers being written, the
// time of the last write, and whether the file has failed (for
// Manager.relieve).
func (f *File) heldState() (held int64, lastUse int64, failed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.run != nil {
		return 0, 0, false
	}
	for _, pt := range f.parts.m {
		if pt.state == partFilling {
			held += pt.buf.reserved
		}
	}
	return held, f.lastUse, f.err != nil
}

// setErrLocked records the first failure. The parts of the upload still
// in flight are cancelled: the upload will be aborted.
func (f *File) setErrLocked(err error) {
	if f.err == nil {
		f.err = err
		f.recordFailureLocked(err, obsclient.RequestID(err))
		f.m.log.WithFields(logrus.Fields{"key": f.key, "req_id": obsclient.RequestID(err)}).
			WithError(err).Error("upload failed")
	}
	if f.up != nil {
		f.up.cancel()
	}
}

// noteProgress records that the file's store work moved (see
// lastProgress).
func (f *File) noteProgress() { f.lastProgress.Store(time.Now().UnixNano()) }

// waitIdleLocked waits until no commit runs and no part uploads. It does
// not end with a context: callers use it where what runs has been
// cancelled or failed already, so it ends promptly.
func (f *File) waitIdleLocked() {
	for f.run != nil || f.parts.uploading > 0 || f.stagedBusy > 0 {
		f.cond.Wait()
	}
}

// maxMemPart is the largest part the write buffer may hold whole.
func (f *File) maxMemPart() int64 { return max(f.m.cfg.WriteBuffer/4, f.m.cfg.PartSize) }

// WriteAt writes data at off. It returns only when the bytes are in the
// file's buffers (not yet durable: see Flush). It waits for write-buffer
// space if the budget is exhausted. ctx bounds only that wait.
func (f *File) WriteAt(ctx context.Context, data []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	if len(data) == 0 {
		return 0, nil
	}
	end := off + int64(len(data))
	if end > f.lay.maxSize() {
		return 0, ErrFileTooLarge
	}
	f.prog.noteWrite()
	// Cut the write at the boundaries of staged parts.
	written := 0
	for written < len(data) {
		pos := off + int64(written)
		i := f.lay.partIndex(pos)
		j := i // one staged part, or a run of parts held in memory
		for !f.isStaged(i) && f.lay.partOffset(j+1) < end && !f.isStaged(j+1) {
			j++
		}
		segEnd := min(end, f.lay.partOffset(j)+f.lay.partSize(j))
		seg := data[written : segEnd-off]
		var err error
		if f.isStaged(i) {
			err = f.writeStaged(ctx, i, seg, pos)
		} else {
			var spare int64
			err = f.writeMem(ctx, seg, pos, &spare)
			f.m.budget.release(spare)
		}
		if err != nil {
			return written, err
		}
		written += len(seg)
	}
	return written, nil
}

// writeMem writes data at off into parts held in memory. *spare is budget
// acquired for the write and not yet charged: the write charges what it
// uses from it, takes more as needed (see payLocked), and leaves the rest
// for the caller to release.
func (f *File) writeMem(ctx context.Context, data []byte, off int64, spare *int64) error {
	end := off + int64(len(data))
	f.mu.Lock()
	defer f.mu.Unlock()
	first, last := f.lay.partIndex(off), f.lay.partIndex(end-1)
	for {
		if f.err != nil {
			return f.err
		}
		if f.run != nil {
			if err := f.waitLocked(ctx); err != nil {
				return err
			}
			continue
		}
		retry, err := f.makeWritableLocked(ctx, first, last, spare)
		if err != nil {
			return err
		}
		if retry {
			continue
		}
		// Every part first..last is filling or base now. Budget the new
		// memory this write needs.
		var need int64
		for i := first; i <= last; i++ {
			start, psize := f.lay.partOffset(i), f.lay.partSize(i)
			rel, n := max(off, start)-start, min(end, start+psize)-max(off, start)
			if b := f.parts.filling(i); b != nil {
				need += max(0, b.capacity()+b.growth(rel, n)-b.reserved)
			} else if start < f.baseLimit {
				need += psize // reserve the whole part: commit fills it from base
			} else {
				need += newPartBuf(i, start, psize, nil).growth(rel, n)
			}
		}
		if need > *spare {
			if err := f.payLocked(ctx, need, spare); err != nil {
				return err
			}
			continue // the state may have changed while unlocked
		}
		// Apply.
		f.lastUse = f.m.clock.Add(1)
		f.size = max(f.size, end)
		f.dirty = true
		for i := first; i <= last; i++ {
			start, psize := f.lay.partOffset(i), f.lay.partSize(i)
			b := f.parts.filling(i)
			if b == nil {
				var reserve int64
				if start < f.baseLimit {
					reserve = psize
				}
				b = f.fillLocked(i, reserve, spare)
			}
			lo, hi := max(off, start), min(end, start+psize)
			rel := lo - start
			f.chargeLocked(b, b.capacity()+b.growth(rel, hi-lo)-b.reserved, spare)
			b.writeAt(data[lo-off:hi-off], rel)
			b.valid = b.valid.add(rel, hi-start)
			b.lastUse = f.lastUse
			if b.full() {
				f.sealLocked(i)
			}
		}
		f.afterLocked("write")
		return nil
	}
}

// needBudget is what a staged part's File returns instead of waiting for
// write-buffer space: n bytes are needed.
type needBudget struct{ n int64 }

func (e *needBudget) Error() string {
	return fmt.Sprintf("internal error: %d bytes of write buffer needed", e.n)
}

// payLocked makes *spare n bytes of budget (releasing what it held),
// waiting for the write buffer with mu released; the caller retries, since
// the state may have changed meanwhile. A staged part's File does not
// wait: it returns *needBudget, and its parent, which has marked the part
// busy for the operation (stagedBusy), lets go of it, waits itself and
// retries — waiting while the part is marked busy would block the commit
// that makes room when the buffer is full of the parent's own parts.
func (f *File) payLocked(ctx context.Context, n int64, spare *int64) error {
	if f.nested {
		return &needBudget{n}
	}
	f.m.budget.release(*spare)
	*spare = 0
	f.mu.Unlock()
	err := f.m.budget.acquire(ctx, n)
	f.mu.Lock()
	if err != nil {
		return err
	}
	*spare = n
	return nil
}

// makeWritableLocked prepares parts first..last for writing: it waits for
// their uploads in flight and turns uploaded parts back into buffers (from
// the clean cache, or by committing first when the cache lost them). It
// returns retry=true whenever it released mu.
func (f *File) makeWritableLocked(ctx context.Context, first, last int, spare *int64) (retry bool, err error) {
	for i := first; i <= last; i++ {
		switch f.parts.state(i) {
		case partUploading:
			return true, f.waitLocked(ctx)
		case partUploaded:
			return f.reloadLocked(ctx, i, spare)
		}
	}
	return false, nil
}

// reloadLocked turns uploaded part i back into a held buffer, charging its
// whole size to the budget. Always returns retry=true.
func (f *File) reloadLocked(ctx context.Context, i int, spare *int64) (bool, error) {
	d := f.parts.get(i).done
	if *spare < d.size {
		if err := f.payLocked(ctx, d.size, spare); err != nil {
			return false, err
		}
		return true, nil
	}
	start := f.lay.partOffset(i)
	b := newPartBuf(i, start, f.lay.partSize(i), f.m.pages)
	for p := range b.pages {
		off := start + int64(p)*pageSize
		if off >= start+d.size {
			break
		}
		pg := f.m.cfg.Cache.Get(uploadPageKey(f.up.id, off/pageSize))
		if pg == nil || int64(len(pg.Bytes())) != min(pageSize, start+d.size-off) {
			if pg != nil {
				pg.Release()
			}
			b.free()
			f.m.log.WithFields(logrus.Fields{"key": f.key, "part": i + 1}).Debug("uploaded part no longer cached: committing so it can be patched")
			if err := f.commitWaitLocked(ctx); err != nil {
				return false, err
			}
			return true, nil
		}
		b.pages[p] = append(f.m.pages.get(), pg.Bytes()...)
		pg.Release()
	}
	b.valid = spans{{0, d.size}}
	f.reloadedLocked(i, b, spare)
	return true, nil
}

// initUpload initiates the multipart upload once.
func (f *File) initUpload(up *upload, meta map[string]string) error {
	up.once.Do(func() {
		out, err := f.m.store.InitiateMultipartUpload(up.ctx, &obsclient.InitiateMultipartUploadInput{
			Bucket: f.m.cfg.Bucket, Key: up.key, Metadata: meta, SSE: f.m.cfg.SSE})
		if err != nil {
			up.err = err
			return
		}
		if err := f.m.cfg.Journal.BeginUpload(up.key, out.UploadID); err != nil {
			f.m.abort(up.key, out.UploadID)
			up.err = fmt.Errorf("journaling the upload of %q: %w", up.key, err)
			return
		}
		up.id, up.meta = out.UploadID, meta
		f.noteProgress()
		f.m.log.WithFields(logrus.Fields{"key": up.key, "upload_id": up.id}).Debug("initiated multipart upload")
	})
	return up.err
}

// partInput is the UploadPart of part idx from body, whose reads count
// as the file's progress; SSE-C applies to parts (KMS is fixed at
// Initiate).
func (f *File) partInput(up *upload, idx int, body md5ReaderAt, n int64) *obsclient.UploadPartInput {
	return &obsclient.UploadPartInput{
		Bucket: f.m.cfg.Bucket, Key: up.key, PartNumber: idx + 1, UploadID: up.id,
		Body: io.NewSectionReader(progressBody{body, f}, 0, n), ContentMD5: body.contentMD5(),
		SseC: f.m.cfg.SSE.SseC, SseCKey: f.m.cfg.SSE.SseCKey,
	}
}

// md5ReaderAt is a body that hashes itself without copying.
type md5ReaderAt interface {
	io.ReaderAt
	contentMD5() string
}

// progressBody is a request body whose reads (the bytes leaving for the
// store) count as the file's progress.
type progressBody struct {
	md5ReaderAt
	f *File
}

func (b progressBody) ReadAt(p []byte, off int64) (int, error) {
	b.f.noteProgress()
	return b.md5ReaderAt.ReadAt(p, off)
}

// runUpload uploads a sealed full buffer in the background, under the
// upload's context.
func (f *File) runUpload(up *upload, b *partBuf) {
	defer f.m.inflight.Add(-1)
	f.mu.Lock()
	meta, failed := f.meta, f.err != nil
	f.mu.Unlock()
	var etag string
	err := f.initUpload(up, meta)
	if err == nil && !failed {
		if err = f.m.uploads.Acquire(up.ctx, 1); err == nil {
			f.mu.Lock()
			failed = f.err != nil
			f.mu.Unlock()
			if !failed {
				var out *obsclient.UploadPartOutput
				out, err = f.m.store.UploadPart(up.ctx, f.partInput(up, b.idx, &pagesReader{b.pages, b.size}, b.size))
				if err == nil {
					etag = out.ETag
					f.noteProgress()
				}
			}
			f.m.uploads.Release(1)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploadedLocked(up, b, etag, err, failed)
	f.cond.Broadcast()
}

// retirePages ends b's life after its bytes became durable: the first n
// bytes are offered to the clean cache, one page each, and every page
// goes back to the pool once nothing uses it. Full pages are handed over
// as they are; a page with fewer bytes than it should have (bytes past
// its length are zeros) or much more memory than bytes (the tail of a
// file in a whole page) is copied into one of its exact size, so that
// what the cache holds is what it counts. b has no pages afterwards.
func (f *File) retirePages(b *partBuf, n int64, name func(pageIdx int64) string) {
	pool := f.m.pages
	for p, pg := range b.pages {
		rel := int64(p) * pageSize
		if rel >= n {
			break
		}
		want := min(pageSize, n-rel)
		if int64(len(pg)) < want || int64(cap(pg)) > 2*want {
			exact := pool.getLen(want)
			clear(exact[copy(exact, pg[:min(int64(len(pg)), want)]):])
			pool.put(pg)
			pg = exact
		}
		page := pool.newPage(pg[:want])
		f.m.cfg.Cache.Set(name((b.start+rel)/pageSize), page)
		page.Release()
		b.pages[p] = nil
	}
	b.free()
}

// Truncate sets the file's length. Bytes beyond the old length read as
// zeros.
func (f *File) Truncate(ctx context.Context, size int64) error {
	if size < 0 {
		return fmt.Errorf("negative size %d", size)
	}
	if size > f.lay.maxSize() {
		return ErrFileTooLarge
	}
	var spare int64
	defer func() { f.m.budget.release(spare) }()
	return f.truncate(ctx, size, &spare)
}

// truncate is Truncate with *spare budget acquired already (see writeMem).
func (f *File) truncate(ctx context.Context, size int64, spare *int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.err != nil {
			return f.err
		}
		if f.run != nil || f.parts.uploading > 0 || f.stagedBusy > 0 {
			if err := f.waitLocked(ctx); err != nil {
				return err
			}
			continue
		}
		// Nothing uploads or is copied now: every part is base, filling,
		// uploaded or staged.
		if size >= f.size {
			for _, i := range f.parts.indexes(partStaged) { // the part that held the end grows too
				sp := f.parts.get(i).sp
				if start := f.lay.partOffset(i); size > start && sp.f.Size() < min(size-start, f.lay.partSize(i)) {
					if err := sp.f.Truncate(ctx, min(size-start, f.lay.partSize(i))); err != nil {
						return err
					}
				}
			}
			if size > f.size {
				f.size, f.dirty = size, true
			}
			f.afterLocked("truncate")
			return nil
		}
		// Shrink. The part containing the new end keeps its head; if its
		// bytes are only in the upload they are made available first —
		// before anything is dropped, since that may commit the file as it
		// is now.
		i := f.lay.partIndex(size)
		start := f.lay.partOffset(i)
		if size > start && f.parts.state(i) == partUploaded {
			if f.isStaged(i) {
				// A sealed staged part: commit, then cut it from the object.
				if err := f.commitWaitLocked(ctx); err != nil {
					return err
				}
			} else if _, err := f.reloadLocked(ctx, i, spare); err != nil {
				return err
			}
			continue
		}
		if retry, err := f.truncateStagedLocked(ctx, size, spare); err != nil || retry {
			if nb := (*needBudget)(nil); errors.As(err, &nb) {
				err = f.payLocked(ctx, nb.n, spare)
			}
			if err != nil {
				return err
			}
			continue
		}
		for _, j := range f.parts.indexes(partFilling, partUploaded) {
			if f.lay.partOffset(j) >= size {
				f.dropLocked(j)
			}
		}
		if b := f.parts.filling(i); b != nil {
			f.cutLocked(b, size-start)
		}
		f.baseLimit = min(f.baseLimit, size)
		f.size, f.dirty = size, true
		f.afterLocked("truncate")
		return nil
	}
}

// ReadAt reads up to len(p) bytes at off: the file's current content,
// including what is not yet committed. It returns io.EOF at or past the
// end.
func (f *File) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	return f.read(ctx, f.def, p, off, &pieces{buf: p})
}

// read is ReadAt by reader st, delivering the bytes of the committed
// version to sink (whose buffer is p) and assembling the rest in p: the
// bytes held in memory are copied under mu (planReadLocked); staged parts
// and the committed version are read without it, pinned meanwhile.
func (f *File) read(ctx context.Context, st *Stream, p []byte, off int64, sink *pieces) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	f.mu.Lock()
	r, err := f.planReadLocked(ctx, p, off)
	if err != nil {
		f.mu.Unlock()
		return 0, err
	}
	for _, s := range r.staged {
		s.sp.refs++
		f.stagedBusy++
	}
	if len(r.base) > 0 {
		f.baseReads++
	}
	f.mu.Unlock()
	if len(r.staged) > 0 {
		err = r.readStaged(ctx)
		f.mu.Lock()
		for _, s := range r.staged {
			s.sp.refs--
			f.stagedBusy--
		}
		f.cond.Broadcast()
		f.mu.Unlock()
	}
	if len(r.base) > 0 {
		for _, seg := range r.base {
			if err == nil {
				err = st.readBaseAhead(ctx, r.src.key, r.src.obj, r.src.off+seg.s, int(seg.e-seg.s), sink, int(seg.s-off))
			}
		}
		f.mu.Lock()
		f.baseReads--
		f.cond.Broadcast()
		f.mu.Unlock()
	}
	if err != nil {
		return 0, err
	}
	if r.n < int64(len(p)) {
		return int(r.n), io.EOF
	}
	return int(r.n), nil
}

// readPlan is a read of n bytes into p at file offset off: what is left
// to read without mu once the bytes held in memory were copied.
type readPlan struct {
	p         []byte
	off, n    int64
	src       source // where the committed version's bytes are
	baseLimit int64
	base      []span // file ranges of the committed version, in order
	staged    []stagedRead
}

// stagedRead is a piece of a read from a staged part.
type stagedRead struct {
	sp  *stagedPart
	off int64 // within the part
	dst []byte
}

// planReadLocked copies into p what memory holds of [off, off+len(p)) and
// plans the rest; it waits for a commit running first, and commits
// first when an uploaded part's pages are no longer in the clean cache.
// It returns io.EOF at or past the end.
func (f *File) planReadLocked(ctx context.Context, p []byte, off int64) (*readPlan, error) {
	for {
		if f.err != nil {
			return nil, f.err
		}
		if f.run != nil {
			if err := f.waitLocked(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if off >= f.size {
			return nil, io.EOF
		}
		r := &readPlan{p: p, off: off, n: min(int64(len(p)), f.size-off), src: f.src, baseLimit: f.baseLimit}
		lost := false
		for pos := off; pos < off+r.n && !lost; {
			i := f.lay.partIndex(pos)
			start := f.lay.partOffset(i)
			end := min(off+r.n, start+f.lay.partSize(i))
			dst := p[pos-off : end-off]
			switch pt := f.parts.get(i); f.parts.state(i) {
			case partBase:
				r.fromBase(pos, end)
			case partFilling:
				pt.buf.readAt(dst, pos-start)
				for _, g := range pt.buf.valid.gaps(pos-start, end-start) {
					r.fromBase(start+g.s, start+g.e)
				}
			case partUploading:
				pt.buf.readAt(dst, pos-start)
			case partUploaded:
				if lost = !f.readUploadedLocked(dst, pos); lost {
					f.m.log.WithFields(logrus.Fields{"key": f.key, "part": i + 1}).Debug("uploaded part no longer cached: committing so it can be read")
				}
			case partStaged, partCopying:
				r.staged = append(r.staged, stagedRead{sp: pt.sp, off: pos - start, dst: dst})
			}
			pos = end
		}
		if !lost {
			return r, nil
		}
		if err := f.commitWaitLocked(ctx); err != nil {
			return nil, err
		}
	}
}

// fromBase plans file bytes [s, e) as the committed version's below
// baseLimit and fills them with zeros above it.
func (r *readPlan) fromBase(s, e int64) {
	if s < r.baseLimit {
		be := min(e, r.baseLimit)
		r.base = append(r.base, span{s, be})
		s = be
	}
	if s < e {
		clear(r.p[s-r.off : e-r.off])
	}
}

// readStaged reads the pieces from staged parts, without mu (the parts
// are pinned).
func (r *readPlan) readStaged(ctx context.Context) error {
	for _, s := range r.staged {
		k, err := s.sp.f.ReadAt(ctx, s.dst, s.off)
		if err == io.EOF { // the part is shorter than the file says: a hole
			clear(s.dst[k:])
			err = nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readUploadedLocked copies bytes of an uploaded (not yet completed) part
// from the clean cache; false if the cache lost a page.
func (f *File) readUploadedLocked(dst []byte, off int64) bool {
	for len(dst) > 0 {
		idx := off / pageSize
		pg := f.m.cfg.Cache.Get(uploadPageKey(f.up.id, idx))
		if pg == nil {
			return false
		}
		po := off - idx*pageSize
		c := 0
		if po < int64(len(pg.Bytes())) {
			c = copy(dst, pg.Bytes()[po:])
		}
		pg.Release()
		if c == 0 {
			return false
		}
		dst = dst[c:]
		off += int64(c)
	}
	return true
}

// CommittedMeta returns the metadata the last commit stored (nil before the
// first). It can differ from what SetMeta last set if the multipart upload
// was initiated before the change.
func (f *File) CommittedMeta() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.committedMeta
}

// ErrDirty is returned by Rebase on a file with uncommitted changes.
var ErrDirty = errors.New("writeback: file has uncommitted changes")

// Rebase points a clean file at another committed version, possibly under
// another key (after the object was renamed or its metadata rewritten by a
// server-side copy). It fails with ErrDirty if there are changes to commit
// first.
func (f *File) Rebase(key string, ver Version) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waitIdleLocked()
	if f.err != nil {
		return f.err
	}
	if f.dirty || f.up != nil || len(f.parts.m) > 0 {
		return ErrDirty
	}
	f.key, f.src, f.base = key, source{key: key, obj: ver}, ver
	f.size, f.baseLimit = ver.Size, ver.Size
	return nil
}

// Relocate points the file at another key while keeping every change
// not yet committed: for a file unlinked while open, whose content must
// stay readable and writable through its descriptors under a key no one
// sees. move moves the committed version it is given (Exists false for a
// file never committed) to key — a server-side copy, then the deletion of
// the old object — and returns the version at key; it runs while the
// file's writers, readers and commits wait, so the committed version
// cannot change under it. Later reads of committed bytes read key, and
// later commits (a Flush, or one under memory pressure) write key.
//
// Parts already uploaded cannot move from one multipart upload to
// another, so a file with parts sealed or staged is committed first, to
// its current key. If that commit fails, Relocate returns the file's
// sticky error; if move fails, its error, and nothing changed. The waits
// end with ctx (then its error is returned and nothing changed); move
// should use ctx too.
func (f *File) Relocate(ctx context.Context, key string, move func(base Version) (Version, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.err != nil {
			return f.err
		}
		if f.run != nil || f.parts.uploading > 0 || f.stagedBusy > 0 || f.baseReads > 0 {
			if err := f.waitLocked(ctx); err != nil {
				return err
			}
			continue
		}
		if f.up != nil || f.parts.any(partStaged, partCopying) {
			if err := f.commitWaitLocked(ctx); err != nil {
				return err
			}
			continue
		}
		break
	}
	f.run = &commitRun{} // writers, readers and commits wait, as for a commit
	base := f.base
	f.mu.Unlock()
	ver, err := move(base)
	f.mu.Lock()
	f.run = nil
	f.cond.Broadcast()
	if err != nil {
		return err
	}
	if ver.Exists != base.Exists || ver.Size != base.Size {
		return fmt.Errorf("internal error: relocated version %+v of %+v", ver, base)
	}
	f.key, f.base, f.src = key, ver, source{key: key, obj: ver}
	return nil
}

// OpenCopy returns a File for key whose content is the committed version
// base of srcKey; committing it copies that object server-side with a
// multipart upload of UploadPartCopy parts, whatever its size (renames of
// large objects, metadata rewrites beyond the 5 GiB CopyObject limit).
func (m *Manager) OpenCopy(key, srcKey string, base Version) *File {
	f := m.Open(key, base)
	f.mu.Lock()
	f.src, f.dirty, f.forceMultipart = source{key: srcKey, obj: base}, true, true
	f.mu.Unlock()
	return f
}

// Close flushes the file if it is dirty and releases it. The error is the
// flush's. The File must not be used afterwards.
func (f *File) Close() error {
	err := f.Flush(f.ctx)
	f.mu.Lock()
	if err != nil {
		f.cleanupLocked()
	}
	f.mu.Unlock()
	f.def.Close()
	f.m.unregister(f)
	f.cancel()
	return err
}

// ErrDiscarded is the sticky error of a discarded file.
var ErrDiscarded = errors.New("writeback: file discarded")

// Discard drops every change not yet committed, aborts the multipart
// upload and releases the File (unlink of a file being written). The
// store keeps whatever version was last committed.
func (f *File) Discard() {
	f.mu.Lock()
	if f.err == nil {
		f.err = ErrDiscarded
	}
	f.cancel() // stop uploads in flight
	f.waitIdleLocked()
	f.cleanupLocked()
	f.mu.Unlock()
	f.def.Close()
	f.m.unregister(f)
}
