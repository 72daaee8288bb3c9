package writeback

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"
)

// Commits: Flush runs one commit at a time per file, in a goroutine of
// its own (wait.go), which makes the store hold the file's content: a
// single PutObject for a file smaller than one part (commitSingleLocked),
// else the parts not yet uploaded, copied or zero-filled in parallel and
// the upload completed (commitMultipartLocked, runCommitJobs, runJob).
// A failure aborts the upload and is sticky (failLocked, cleanupLocked).

// Flush commits the file if it has changes: on nil return the store holds
// exactly the file's bytes. It returns the sticky error of an earlier
// failure. When ctx ends first, Flush returns ctx's error at once and the
// commit goes on in the background to its end (a commit is never left
// half done; see wait.go); its outcome is logged, and a failure is sticky.
func (f *File) Flush(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.run != nil {
		if err := f.waitLocked(ctx); err != nil {
			return err
		}
	}
	if f.err != nil {
		f.waitIdleLocked() // every part settled (cancelled: setErrLocked), so the abort is final
		f.cleanupLocked()
		return f.err
	}
	if !f.dirty {
		return nil
	}
	return f.commitWaitLocked(ctx)
}

// commitRunLocked makes the store hold the file's content. Called with mu
// held by the commit's own goroutine (startCommitLocked); it releases mu
// during I/O. It fails with ErrStalled once its store work has made no
// progress for Config.CommitTimeout; on failure the multipart upload is
// aborted.
func (f *File) commitRunLocked() error {
	ctx, stop := f.stallGuard(f.ctx)
	defer stop()
	// A read of the committed version that runs without mu must finish
	// first: the commit replaces that version, and the read's conditional
	// GETs would fail (ESTALE for a change this mount made itself). Parts
	// in flight are waited for (a failed one fails the commit at once).
	for f.err == nil && (f.parts.uploading > 0 || f.stagedBusy > 0 || f.baseReads > 0) {
		if err := f.waitLocked(ctx); err != nil {
			return f.failLocked(explain(ctx, err))
		}
	}
	if f.err != nil {
		return f.failLocked(f.err)
	}
	var err error
	if f.size == 0 || f.size < f.lay.partSize(0) && !f.forceMultipart {
		err = f.commitSingleLocked(ctx)
	} else {
		err = f.commitMultipartLocked(ctx)
	}
	if err != nil {
		return f.failLocked(explain(ctx, err))
	}
	return nil
}

// failLocked ends a failed commit: the error becomes sticky, the parts
// still in flight are cancelled and waited for (promptly: they were
// cancelled), and the upload is aborted. Returns the sticky error.
func (f *File) failLocked(err error) error {
	f.setErrLocked(err)
	for f.parts.uploading > 0 {
		f.cond.Wait()
	}
	f.cleanupLocked()
	return f.err
}

// cleanupLocked, after a failure, aborts the multipart upload and drops
// every buffer. Called with mu held and nothing in flight.
func (f *File) cleanupLocked() {
	if f.parts.uploading > 0 {
		return // runUpload will finish; the next Flush cleans up
	}
	if f.up != nil {
		up := f.up
		f.dropUploadLocked()
		if up.id != "" {
			f.m.abort(up.key, up.id)
		}
	}
	for _, i := range f.parts.indexes(partFilling) {
		f.dropLocked(i)
	}
	if f.stagedBusy == 0 {
		f.dropAllStagedLocked()
	}
	f.dirty = false
}

// fillGapsUnlocked fills the bytes of b's first n bytes that are neither
// valid nor above baseLimit, from the committed version. It runs while a
// commit runs, so b is not written concurrently.
func (f *File) fillGapsUnlocked(ctx context.Context, b *partBuf, n int64, src source, baseLimit int64) error {
	limit := min(n, baseLimit-b.start)
	for _, g := range b.valid.gaps(0, max(limit, 0)) {
		pos := src.off + b.start + g.s
		for _, dst := range b.window(g.s, g.e-g.s) {
			if err := f.m.readBase(ctx, src.key, src.obj, pos, dst); err != nil {
				return err
			}
			f.noteProgress()
			pos += int64(len(dst))
		}
	}
	return nil
}

// commitSingleLocked writes a file smaller than one part with PutObject.
func (f *File) commitSingleLocked(ctx context.Context) error {
	size, key, meta := f.size, f.key, f.meta
	src, baseLimit := f.src, f.baseLimit
	b := f.parts.filling(0)
	var fillCharge int64
	if b == nil {
		b = newPartBuf(0, 0, f.lay.partSize(0), f.m.pages)
		fillCharge = min(size, baseLimit)
	}
	up := f.up
	f.mu.Unlock()
	out, err := func() (*obsclient.PutObjectOutput, error) {
		if fillCharge > 0 {
			if err := f.m.fill.Acquire(ctx, fillCharge); err != nil {
				return nil, err
			}
			defer f.m.fill.Release(fillCharge)
		}
		if err := f.fillGapsUnlocked(ctx, b, size, src, baseLimit); err != nil {
			return nil, err
		}
		body := &pagesReader{b.pages, size}
		return f.m.store.PutObject(ctx, &obsclient.PutObjectInput{
			Bucket: f.m.cfg.Bucket, Key: key, Body: io.NewSectionReader(progressBody{body, f}, 0, size),
			ContentMD5: body.contentMD5(), Metadata: meta, SSE: f.m.cfg.SSE})
	}()
	if err == nil && up != nil && up.id != "" {
		f.m.abort(up.key, up.id) // parts uploaded before a shrink below one part
	}
	f.mu.Lock()
	if err != nil {
		if f.parts.filling(0) != b {
			b.free()
		}
		return fmt.Errorf("put object %q: %w", key, err)
	}
	f.finishCommitLocked(key, Version{Exists: true, Size: size, ETag: out.ETag}, []*partBuf{b})
	f.recordCommitLocked(key, Version{Exists: true, Size: size, ETag: out.ETag}, out.RequestID)
	f.committedMeta = meta
	f.m.noteCommitted(size, logrus.Fields{"key": key, "bytes": size, "req_id": out.RequestID})
	return nil
}

// partJob is one part of a multipart commit.
type partJob struct {
	idx        int
	start, end int64
	kind       int // jobUpload, jobKeep, jobCopy, jobZeros, jobFill
	buf        *partBuf
	staged     *stagedPart
	etag       string
}

const (
	jobUpload = iota // a held buffer (gaps filled from base first)
	jobKeep          // already uploaded, unchanged
	jobCopy          // unchanged range of the committed version: copy server-side
	jobZeros         // a hole: zeros
	jobFill          // straddles the end of the committed range: base bytes then zeros
	jobStaged        // a staged part: commit its temporary object, copy it in
)

// commitMultipartLocked uploads what is missing and completes the upload.
func (f *File) commitMultipartLocked(ctx context.Context) error {
	size, key, meta := f.size, f.key, f.meta
	src, baseLimit := f.src, f.baseLimit
	if f.up == nil {
		f.newUploadLocked(key)
	}
	up := f.up
	if up.key != key {
		return fmt.Errorf("internal error: upload for %q but file is now %q", up.key, key)
	}
	n := f.lay.numParts(size)
	jobs := make([]*partJob, n)
	for i := 0; i < n; i++ {
		start, end := f.lay.partRange(i, size)
		j := &partJob{idx: i, start: start, end: end}
		pt := f.parts.get(i)
		switch st := f.parts.state(i); {
		case st == partStaged:
			j.kind, j.staged = jobStaged, pt.sp
		case st == partFilling:
			j.kind, j.buf = jobUpload, pt.buf
		case st == partUploaded && pt.done.size == end-start:
			j.kind, j.etag = jobKeep, pt.done.etag
		case st == partUploaded:
			return fmt.Errorf("internal error: part %d uploaded with %d bytes, file now needs %d", i+1, pt.done.size, end-start)
		case st != partBase: // the commit waited for parts uploading or copied
			return fmt.Errorf("internal error: part %d %s during a commit", i+1, st)
		case end <= baseLimit:
			j.kind = jobCopy
		case start >= baseLimit:
			j.kind = jobZeros
		case f.isStaged(i):
			sp, err := f.openStagedLocked(i) // too large to fill in memory
			if err != nil {
				return err
			}
			j.kind, j.staged = jobStaged, sp
		default:
			j.kind = jobFill
		}
		jobs[i] = j
	}
	f.mu.Unlock()
	etag, reqID, err := f.runCommitJobs(ctx, up, jobs, meta, src, baseLimit)
	f.mu.Lock()
	if err != nil {
		return err
	}
	var bufs []*partBuf
	for _, j := range jobs {
		if j.buf != nil {
			bufs = append(bufs, j.buf)
		}
	}
	// Pages of parts uploaded earlier move from the upload's name to the
	// object version's, if the cache still has them.
	newVer := Version{Exists: true, Size: size, ETag: etag}
	for _, j := range jobs {
		if j.kind != jobKeep {
			continue
		}
		for off := j.start; off < j.end; off += pageSize {
			if pg := f.m.cfg.Cache.Get(uploadPageKey(up.id, off/pageSize)); pg != nil {
				f.m.cfg.Cache.Set(objectPageKey(key, etag, off/pageSize), pg)
				f.m.cfg.Cache.Del(uploadPageKey(up.id, off/pageSize))
				pg.Release()
			}
		}
	}
	f.finishCommitLocked(key, newVer, bufs)
	f.recordCommitLocked(key, newVer, reqID)
	f.committedMeta = up.meta
	f.m.noteCommitted(size, logrus.Fields{"key": key, "bytes": size, "parts": n, "req_id": reqID})
	return nil
}

// runCommitJobs uploads, copies and fills the parts in parallel (bounded
// by the mount-wide upload limit) and completes the upload, under the
// commit's context cctx. It runs without mu while the commit runs.
func (f *File) runCommitJobs(cctx context.Context, up *upload, jobs []*partJob, meta map[string]string, src source, baseLimit int64) (etag, reqID string, err error) {
	if err := f.initUpload(up, meta); err != nil {
		return "", "", err
	}
	g, ctx := errgroup.WithContext(cctx)
	for _, j := range jobs {
		if j.kind == jobKeep {
			continue
		}
		g.Go(func() error {
			if j.kind == jobStaged { // takes its slots itself
				etag, err := f.copyStaged(ctx, up, meta, j.idx, j.staged, j.end-j.start)
				j.etag = etag
				f.noteProgress()
				if err == nil {
					f.prog.partDone(j.end - j.start)
				}
				return err
			}
			if err := f.m.uploads.Acquire(ctx, 1); err != nil {
				return err
			}
			defer f.m.uploads.Release(1)
			err := f.runJob(ctx, up, j, src, baseLimit)
			if err == nil {
				f.noteProgress()
				f.prog.partDone(j.end - j.start)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return "", "", err
	}
	parts := make([]obsclient.CompletedPart, len(jobs))
	var total int64
	for i, j := range jobs {
		if j.idx != i || j.etag == "" {
			return "", "", fmt.Errorf("internal error: part %d missing before complete", i+1)
		}
		parts[i] = obsclient.CompletedPart{PartNumber: j.idx + 1, ETag: j.etag}
		total += j.end - j.start
	}
	if n := len(jobs); n > 0 && total != jobs[n-1].end {
		return "", "", fmt.Errorf("internal error: parts hold %d bytes, file has %d", total, jobs[n-1].end)
	}
	sort.Slice(parts, func(a, b int) bool { return parts[a].PartNumber < parts[b].PartNumber })
	out, err := f.m.store.CompleteMultipartUpload(cctx, &obsclient.CompleteMultipartUploadInput{
		Bucket: f.m.cfg.Bucket, Key: up.key, UploadID: up.id, Parts: parts})
	if err != nil {
		return "", "", err
	}
	f.m.cfg.Journal.EndUpload(up.id)
	return out.ETag, out.RequestID, nil
}

// runJob produces one part of a multipart commit.
func (f *File) runJob(ctx context.Context, up *upload, j *partJob, src source, baseLimit int64) error {
	n := j.end - j.start
	var body md5ReaderAt
	switch j.kind {
	case jobUpload:
		if err := f.fillGapsUnlocked(ctx, j.buf, n, src, baseLimit); err != nil {
			return err
		}
		body = &pagesReader{j.buf.pages, n}
	case jobZeros:
		body = zeroReader{n}
	case jobFill:
		if err := f.m.fill.Acquire(ctx, n); err != nil {
			return err
		}
		defer f.m.fill.Release(n)
		b := newPartBuf(j.idx, j.start, n, f.m.pages)
		defer b.free() // after the upload returned: the store reads bodies only until then
		if err := f.fillGapsUnlocked(ctx, b, n, src, baseLimit); err != nil {
			return err
		}
		body = &pagesReader{b.pages, n}
	case jobCopy:
		out, err := f.m.store.UploadPartCopy(ctx, &obsclient.UploadPartCopyInput{
			Bucket: f.m.cfg.Bucket, Key: up.key, UploadID: up.id, PartNumber: j.idx + 1,
			SourceBucket: f.m.cfg.Bucket, SourceKey: src.key,
			SourceRange: &obsclient.Range{Start: src.off + j.start, End: src.off + j.end - 1}, SourceIfMatch: src.obj.ETag,
			SseC: f.m.cfg.SSE.SseC, SseCKey: f.m.cfg.SSE.SseCKey,
			SourceSseC: f.m.cfg.SSE.SseC, SourceSseCKey: f.m.cfg.SSE.SseCKey,
		})
		if err != nil {
			if obsclient.IsPreconditionFailed(err) || obsclient.IsNotFound(err) {
				return fmt.Errorf("%w: copying part %d from %q: %v", ErrConflict, j.idx+1, src.key, err)
			}
			return err
		}
		j.etag = out.ETag
		return nil
	}
	out, err := f.m.store.UploadPart(ctx, f.partInput(up, j.idx, body, n))
	if err != nil {
		return err
	}
	j.etag = out.ETag
	return nil
}

// finishCommitLocked records a successful commit: the new version becomes
// the base, buffers move to the clean cache and release their budget.
func (f *File) finishCommitLocked(key string, ver Version, bufs []*partBuf) {
	f.committedLocked(key, ver, bufs)
}
