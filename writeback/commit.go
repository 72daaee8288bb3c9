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
//
// Gaps separated by at most a page of valid bytes are fetched with one
// ranged GET (the valid bytes between them are read and dropped), so the
// usual edit — a few bytes written somewhere in a part — costs one GET for
// the part, not one per gap or per page.
func (f *File) fillGapsUnlocked(ctx context.Context, b *partBuf, n int64, src source, baseLimit int64) error {
	limit := min(n, baseLimit-b.start)
	var gaps spans
	for _, g := range b.valid.gaps(0, max(limit, 0)) {
		for ; g.e-g.s > maxFillRead; g.s += maxFillRead {
			gaps = append(gaps, span{g.s, g.s + maxFillRead})
		}
		gaps = append(gaps, g)
	}
	for i := 0; i < len(gaps); {
		k := i + 1
		for k < len(gaps) && gaps[k].s-gaps[k-1].e <= pageSize && gaps[k].e-gaps[i].s <= maxFillRead {
			k++
		}
		group := gaps[i:k]
		hs, he := group[0].s, group[len(group)-1].e
		for _, g := range group {
			b.ensure(g.s, g.e-g.s)
		}
		sink := &pieces{scatter: func(at int, p []byte) {
			ps, pe := hs+int64(at), hs+int64(at)+int64(len(p))
			for _, g := range group {
				if s, e := max(ps, g.s), min(pe, g.e); s < e {
					b.writeAt(p[s-ps:e-ps], s)
				}
			}
		}}
		if err := f.m.readBaseTo(ctx, src.key, src.obj, src.off+b.start+hs, int(he-hs), sink, 0); err != nil {
			return err
		}
		f.noteProgress()
		i = k
	}
	return nil
}

// maxFillRead bounds one GET of fillGapsUnlocked: the pages of a GET are
// held until all have arrived.
const maxFillRead = 8 << 20

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
	guard := f.guardLocked()
	ifMatch, ifNoneMatch := guard.headers()
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
		if err := guard.check(ctx, f.m, key); err != nil {
			return nil, err
		}
		body := &pagesReader{b.pages, size}
		out, err := f.m.store.PutObject(ctx, &obsclient.PutObjectInput{
			Bucket: f.m.cfg.Bucket, Key: key, Body: io.NewSectionReader(progressBody{body, f}, 0, size),
			ContentMD5: body.contentMD5(), Metadata: meta, SSE: f.m.cfg.SSE, IfMatch: ifMatch, IfNoneMatch: ifNoneMatch})
		return out, guard.refused(f.m, key, err)
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
	guard := f.guardLocked()
	f.mu.Unlock()
	etag, reqID, err := f.runCommitJobs(ctx, up, jobs, meta, src, baseLimit, size, guard)
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
func (f *File) runCommitJobs(cctx context.Context, up *upload, jobs []*partJob, meta map[string]string, src source, baseLimit, size int64, guard commitGuard) (etag, reqID string, err error) {
	if err := f.initUpload(up, meta); err != nil {
		return "", "", err
	}
	jobs = f.planParts(jobs, size, baseLimit)
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
	var end int64
	for i, j := range jobs {
		if j.start != end || j.end <= j.start || j.etag == "" || (i > 0 && j.idx <= jobs[i-1].idx) {
			return "", "", fmt.Errorf("internal error: part %d (bytes %d-%d) missing or out of place before complete", j.idx+1, j.start, j.end)
		}
		parts[i] = obsclient.CompletedPart{PartNumber: j.idx + 1, ETag: j.etag}
		end = j.end
	}
	if end != size {
		return "", "", fmt.Errorf("internal error: parts hold %d bytes, file has %d", end, size)
	}
	sort.Slice(parts, func(a, b int) bool { return parts[a].PartNumber < parts[b].PartNumber })
	if err := guard.check(cctx, f.m, up.key); err != nil {
		return "", "", err
	}
	ifMatch, ifNoneMatch := guard.headers()
	out, err := f.m.store.CompleteMultipartUpload(cctx, &obsclient.CompleteMultipartUploadInput{
		Bucket: f.m.cfg.Bucket, Key: up.key, UploadID: up.id, Parts: parts, IfMatch: ifMatch, IfNoneMatch: ifNoneMatch})
	if err != nil {
		return "", "", guard.refused(f.m, up.key, err)
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
		// planParts may have given the part's leading or trailing pages of
		// zeros to a neighbouring hole: the part starts and ends on pages.
		rel := j.start - j.buf.start
		if err := f.fillGapsUnlocked(ctx, j.buf, j.end-j.buf.start, src, baseLimit); err != nil {
			return err
		}
		body = &pagesReader{j.buf.pages[rel/pageSize:], n}
	case jobZeros:
		if n > pageSize {
			done, err := f.copyZeros(ctx, up, j)
			if done || err != nil {
				return err
			}
		}
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
		out, err := f.m.copyPart(ctx, up.key, up.id, j.idx+1, src.key, src.obj.ETag, src.off+j.start, src.off+j.end)
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

// copyZeros makes hole part j a copy of the zero object. done is false
// when the zero object went missing or changed under the copy (someone
// emptied the staging directory): then the caller uploads the zeros, and
// the next hole makes the zero object again.
func (f *File) copyZeros(ctx context.Context, up *upload, j *partJob) (done bool, err error) {
	n := j.end - j.start
	z, err := f.m.zeroSource(ctx, n)
	if err != nil {
		return false, err
	}
	out, err := f.m.copyPart(ctx, up.key, up.id, j.idx+1, z.key, z.obj.ETag, 0, n)
	if err != nil {
		if obsclient.IsPreconditionFailed(err) || obsclient.IsNotFound(err) {
			f.m.log.WithField("key", z.key).WithError(err).Warn("the zero object for holes is gone: uploading this hole's zeros")
			f.m.forgetZeros()
			return false, nil
		}
		return false, err
	}
	j.etag = out.ETag
	return true, nil
}

// finishCommitLocked records a successful commit: the new version becomes
// the base, buffers move to the clean cache and release their budget.
func (f *File) finishCommitLocked(key string, ver Version, bufs []*partBuf) {
	f.committedLocked(key, ver, bufs)
}
