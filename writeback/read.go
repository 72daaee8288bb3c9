package writeback

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/obsfs/obsfs/obsclient"
)

// readBase reads [off, off+len(dst)) of the committed version ver of key
// into dst (see readBaseTo).
func (m *Manager) readBase(ctx context.Context, key string, ver Version, off int64, dst []byte) error {
	return m.readBaseTo(ctx, key, ver, off, len(dst), &pieces{buf: dst}, 0)
}

// readBaseTo delivers [off, off+n) of the committed version ver of key to
// sink, starting at sink index at: page by page from the clean cache,
// fetching missing runs of pages with one ranged GET each (conditional on
// the version's ETag) and offering the fetched pages to the cache. A
// version that no longer matches the store yields ErrConflict.
func (m *Manager) readBaseTo(ctx context.Context, key string, ver Version, off int64, n int, sink *pieces, at int) error {
	if n == 0 {
		return nil
	}
	end := off + int64(n)
	if !ver.Exists || off < 0 || end > ver.Size {
		return fmt.Errorf("internal error: read [%d,%d) of %q outside its committed %d bytes", off, end, key, ver.Size)
	}
	first, last := off/pageSize, (end-1)/pageSize
	pages := make([]*Page, last-first+1)
	defer func() { // on failure: the references not delivered
		for _, pg := range pages {
			if pg != nil {
				pg.Release()
			}
		}
	}()
	for idx := first; idx <= last; idx++ {
		if pg := m.cfg.Cache.Get(objectPageKey(key, ver.ETag, idx)); pg != nil {
			if int64(len(pg.Bytes())) == pageLen(idx, ver.Size) {
				pages[idx-first] = pg
			} else {
				pg.Release()
			}
		}
	}
	for idx := first; idx <= last; {
		if pages[idx-first] != nil {
			idx++
			continue
		}
		run := idx
		for run+1 <= last && pages[run+1-first] == nil {
			run++
		}
		var err error
		for attempt := 1; ; attempt++ {
			// GetObject retries until the response starts, within its own
			// time bound; only a body cut short afterwards is fetched
			// again here, within the same context (the operation's one
			// budget): retries are never stacked on the client's.
			err = m.fetchPages(ctx, key, ver, idx, run, pages[idx-first:run+1-first], true)
			if err == nil || !errors.Is(err, errBodyCut) || ctx.Err() != nil || attempt == maxBodyAttempts {
				break
			}
			m.log.WithField("key", key).WithField("attempt", attempt).WithError(err).Warn("response body cut short, reading again")
		}
		if err != nil {
			return err
		}
		idx = run + 1
	}
	for idx := first; idx <= last; idx++ {
		pg := pages[idx-first]
		pages[idx-first] = nil
		b, ps := pg.Bytes(), idx*pageSize
		lo, hi := max(off, ps), min(end, ps+int64(len(b)))
		sink.put(at+int(lo-off), b[lo-ps:hi-ps], pg)
	}
	return nil
}

// maxBodyAttempts is how many times a read fetches a range whose
// response body was cut short.
const maxBodyAttempts = 3

// errBodyCut marks a response that started but whose body did not arrive
// whole (a connection reset or a stall mid-body).
var errBodyCut = errors.New("response body cut short")

// pageLen is the length of page idx of an object of the given size.
func pageLen(idx, size int64) int64 { return min(pageSize, size-idx*pageSize) }

// fetchPages GETs pages first..last of ver into out (one reference each,
// the caller's), and into the cache if cache is set. On failure out holds
// nothing.
func (m *Manager) fetchPages(ctx context.Context, key string, ver Version, first, last int64, out []*Page, cache bool) error {
	rs, re := first*pageSize, min((last+1)*pageSize, ver.Size)
	o, err := m.store.GetObject(ctx, &obsclient.GetObjectInput{
		Bucket: m.cfg.Bucket, Key: key, Range: &obsclient.Range{Start: rs, End: re - 1}, IfMatch: ver.ETag,
		SseC: m.cfg.SSE.SseC, SseCKey: m.cfg.SSE.SseCKey})
	if err != nil {
		if obsclient.IsPreconditionFailed(err) || obsclient.IsNotFound(err) {
			return fmt.Errorf("%w: reading %q: %v", ErrConflict, key, err)
		}
		return fmt.Errorf("reading %q bytes %d-%d: %w", key, rs, re-1, err)
	}
	defer o.Body.Close()
	for idx := first; idx <= last; idx++ {
		buf := m.pages.getLen(pageLen(idx, ver.Size))
		if _, err := io.ReadFull(o.Body, buf); err != nil {
			m.pages.put(buf)
			for i := range out[:idx-first] {
				out[i].Release()
				out[i] = nil
			}
			return fmt.Errorf("reading %q bytes %d-%d: %w: %w", key, rs, re-1, errBodyCut, err)
		}
		pg := m.pages.newPage(buf)
		if cache {
			m.cfg.Cache.Set(objectPageKey(key, ver.ETag, idx), pg)
		}
		out[idx-first] = pg
	}
	return nil
}
