package writeback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/sirupsen/logrus"
)

// Staged parts.
//
// Part sizes grow with the file (layout.go) so that 10,000 parts reach
// several TiB, and the largest parts (up to 4 GiB) exceed what the write
// buffer may hold: holding a whole part in memory is allowed only up to a
// quarter of the buffer. A larger part is "staged": its bytes are written to
// a File of its own — a temporary object under Config.StagingPrefix, built
// by a multipart upload of first-tier parts, so memory stays bounded by the
// same budget — and, once complete, the temporary object is copied
// server-side (UploadPartCopy) into the file's upload as that part number,
// then deleted. A staged part is sealed as soon as every byte of it has
// been written, so a streaming writer pays the copy while it keeps
// writing, not at close.
//
// The temporary objects of a mount that crashed are named in its journal
// (Config.Journal), so the next mount deletes them; obsfs hides the
// staging prefix from listings.

// source is where a File's committed bytes live: bytes [0, n) of the file
// are bytes [off, off+n) of object key at version obj (obj.Size is the
// whole object's size).
type source struct {
	key string
	off int64
	obj Version
}

// stagedPart is a part being assembled in a temporary object.
type stagedPart struct {
	f       *File // the temporary object's content
	written spans // bytes written through the parent, relative to the part
	refs    int   // operations using f without the parent's mu
}

// isStaged reports whether part i is too large to be held in memory.
func (f *File) isStaged(i int) bool {
	return !f.nested && f.lay.partSize(i) > f.maxMemPart()
}

// stagingKey names the temporary object of part i.
func (f *File) stagingKey(i int) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return f.m.cfg.StagingPrefix + hex.EncodeToString(b[:]) + "/part-" + strconv.Itoa(i+1)
}

// openStagedLocked returns part i's stagedPart, creating it with the
// committed bytes of the part as its base and the file's current length
// within the part as its length.
func (f *File) openStagedLocked(i int) (*stagedPart, error) {
	if pt := f.parts.get(i); pt != nil && pt.state == partStaged {
		return pt.sp, nil
	}
	start, psize := f.lay.partOffset(i), f.lay.partSize(i)
	baseLen := max(0, min(psize, f.baseLimit-start))
	base := Version{Exists: baseLen > 0, Size: baseLen, ETag: f.src.obj.ETag}
	nl, err := newLayout(f.m.cfg.PartSize, f.lay.maxParts)
	if err != nil {
		return nil, err
	}
	key := f.stagingKey(i)
	if err := f.m.cfg.Journal.BeginObject(key); err != nil {
		return nil, fmt.Errorf("journaling staged part %d of %q: %w", i+1, f.key, err)
	}
	n := f.m.openWithLayout(key, base, nl, &source{key: f.src.key, off: f.src.off + start, obj: f.src.obj})
	if cur := max(0, min(psize, f.size-start)); cur != baseLen {
		if err := n.Truncate(f.ctx, cur); err != nil {
			n.Discard()
			f.m.cfg.Journal.EndObject(key) // never committed: no object
			return nil, err
		}
	}
	sp := &stagedPart{f: n}
	f.stageLocked(i, sp)
	return sp, nil
}

// writeStaged writes data at off, inside staged part i.
func (f *File) writeStaged(ctx context.Context, i int, data []byte, off int64) error {
	start, psize := f.lay.partOffset(i), f.lay.partSize(i)
	var spare int64 // budget for the part's File (it never waits for any itself)
	defer func() { f.m.budget.release(spare) }()
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.err != nil {
			return f.err
		}
		if f.run != nil || f.parts.state(i) == partCopying {
			if err := f.waitLocked(ctx); err != nil {
				return err
			}
			continue
		}
		if f.parts.state(i) == partUploaded {
			// Sealed already, and its bytes are only in the upload: commit,
			// then patch the part from the committed object.
			if err := f.commitWaitLocked(ctx); err != nil {
				return err
			}
			continue
		}
		sp, err := f.openStagedLocked(i)
		if err != nil {
			return err
		}
		sp.refs++
		f.stagedBusy++
		f.mu.Unlock()
		err = sp.f.writeMem(ctx, data, off-start, &spare)
		f.mu.Lock()
		sp.refs--
		f.stagedBusy--
		f.cond.Broadcast()
		if nb := (*needBudget)(nil); errors.As(err, &nb) {
			// Wait for the space with the part no longer busy.
			if err := f.payLocked(ctx, nb.n, &spare); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		f.lastUse = f.m.clock.Add(1)
		f.size = max(f.size, off+int64(len(data)))
		f.dirty = true
		sp.written = sp.written.add(off-start, off-start+int64(len(data)))
		if pt := f.parts.get(i); sp.written.covers(0, psize) && pt != nil && pt.state == partStaged && pt.sp == sp {
			f.sealStagedLocked(i)
		}
		f.afterLocked("write staged")
		return nil
	}
}

// sealStagedLocked copies a fully written staged part into the upload in
// the background.
func (f *File) sealStagedLocked(i int) {
	sp := f.copyingLocked(i)
	up, meta := f.up, f.meta
	f.m.inflight.Add(1)
	go func() {
		defer f.m.inflight.Add(-1)
		etag, err := f.copyStaged(up.ctx, up, meta, i, sp, f.lay.partSize(i))
		if err == nil {
			f.noteProgress()
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for sp.refs > 0 {
			f.cond.Wait()
		}
		f.copiedLocked(i, up, etag, err)
		f.cond.Broadcast()
	}()
}

// copyStaged commits the part's temporary object with exactly n bytes and
// copies it into part i of up.
func (f *File) copyStaged(ctx context.Context, up *upload, meta map[string]string, i int, sp *stagedPart, n int64) (string, error) {
	if err := sp.f.Truncate(ctx, n); err != nil {
		return "", err
	}
	if err := sp.f.Flush(ctx); err != nil {
		return "", err
	}
	tmp := sp.f.Version()
	if err := f.initUpload(up, meta); err != nil {
		return "", err
	}
	// Only the copy holds an upload slot: the temporary object's own
	// commit above takes slots for its parts.
	if err := f.m.uploads.Acquire(ctx, 1); err != nil {
		return "", err
	}
	defer f.m.uploads.Release(1)
	var rng *obsclient.Range
	if tmp.Size > 0 {
		rng = &obsclient.Range{Start: 0, End: tmp.Size - 1}
	}
	out, err := f.m.store.UploadPartCopy(ctx, &obsclient.UploadPartCopyInput{
		Bucket: f.m.cfg.Bucket, Key: up.key, UploadID: up.id, PartNumber: i + 1,
		SourceBucket: f.m.cfg.Bucket, SourceKey: sp.f.Key(), SourceRange: rng, SourceIfMatch: tmp.ETag,
		SseC: f.m.cfg.SSE.SseC, SseCKey: f.m.cfg.SSE.SseCKey,
		SourceSseC: f.m.cfg.SSE.SseC, SourceSseCKey: f.m.cfg.SSE.SseCKey,
	})
	if err != nil {
		return "", err
	}
	f.m.log.WithFields(logrus.Fields{"key": up.key, "part": i + 1, "bytes": tmp.Size}).Debug("copied staged part")
	return out.ETag, nil
}

// dropStaged releases a staged part's File, aborting its upload at once
// (no part is left billed once the parent's operation returns), and
// deletes its temporary object in the background — also when no commit
// succeeded, since a failed one may still have created it — then takes it
// off the journal.
func (f *File) dropStaged(sp *stagedPart) {
	n := sp.f
	key := n.Key()
	n.Discard()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), f.m.cfg.AbortTimeout)
		defer cancel()
		if _, err := f.m.store.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: f.m.cfg.Bucket, Key: key}); err != nil {
			f.m.log.WithField("key", key).WithError(err).Error("deleting a staged part's temporary object failed")
			return
		}
		f.m.cfg.Journal.EndObject(key)
	}()
}

// dropAllStagedLocked drops every staged part (after a commit or a
// failure). Nothing may be using them.
func (f *File) dropAllStagedLocked() {
	for _, i := range f.parts.indexes(partStaged) {
		f.dropLocked(i)
	}
}

// truncateStagedLocked applies a shrink to size to the staged parts:
// those wholly past it are dropped, the one containing it is cut (with
// *spare budget: a *needBudget error asks the caller for more, see
// payLocked). Returns retry=true when it released mu.
func (f *File) truncateStagedLocked(ctx context.Context, size int64, spare *int64) (bool, error) {
	for _, i := range f.parts.indexes(partStaged) {
		sp, start := f.parts.get(i).sp, f.lay.partOffset(i)
		switch {
		case start >= size:
			f.dropLocked(i)
		case size < start+f.lay.partSize(i) && sp.f.Size() > size-start:
			sp.refs++
			f.stagedBusy++
			f.mu.Unlock()
			err := sp.f.truncate(ctx, size-start, spare)
			f.mu.Lock()
			sp.refs--
			f.stagedBusy--
			f.cond.Broadcast()
			sp.written = sp.written.cut(size - start)
			f.afterLocked("cut staged")
			return true, err
		}
	}
	return false, nil
}
