package fs

import (
	"context"
)

// relistMax is the largest directory (entries of its last listing) whose
// lookups, once the listing expired, list the directory again instead of
// probing the name: a listing (one request per 1,000 entries) answers
// every name for another --stat-cache-ttl, where a probe costs a HEAD and
// a listing per name. A program creating many files in a directory (cp
// -r, tar -x, a build) thus pays a few listings per TTL for all its
// negative lookups. A larger directory keeps the per-name probe: its
// listing would take long enough to stall the lookup waiting for it.
const relistMax = 10000

// relisted answers the lookup of name in d from a new listing of d, when
// the cached one expired and held at most relistMax entries. known is
// false when it did not list (a larger or never listed directory, or the
// listing failed: the caller then probes the name, which reports the
// store's error if there is one). Concurrent lookups in d share one
// listing.
func (d *dirNode) relisted(ctx context.Context, name string) (e listEntry, found, known bool) {
	d.mu.Lock()
	small := d.entries != nil && len(d.entries) <= relistMax
	d.mu.Unlock()
	if !small {
		return listEntry{}, false, false
	}
	fsys := d.fsys
	_, err, _ := d.relist.Do("", func() (any, error) {
		prefix := d.key()
		begin := d.beginLooking()
		lctx, done := fsys.op(ctx)
		entries, err := d.list(lctx, prefix, begin)
		done()
		fsys.afterLook("list", prefix)
		d.finishLooking(begin, entries) // nil on failure: nothing stored
		return nil, err
	})
	if err != nil {
		return listEntry{}, false, false
	}
	return d.cached(name)
}
