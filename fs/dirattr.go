package fs

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/obsfs/obsfs/obsclient"
)

// A directory's attributes are those stored in its marker object ("dir/",
// written by mkdir, chmod, chown, touch, setxattr), or the --dir-mode,
// --uid, --gid defaults for an implicit directory (a prefix without a
// marker). A lookup that asks the store learns whether the marker exists
// from the one-key listing it makes anyway and reads the marker (HEAD)
// only then. A directory seen only in its parent's listing, which says
// nothing of markers, is given to the kernel with an attribute timeout of
// 0: the kernel asks again (Getattr, which reads the marker) before it
// relies on them, for a stat or a permission check; so a plain ls of many
// directories makes no request per directory, while no permission is
// checked against defaults standing in for a marker's mode. Like a file's,
// the attributes are read again once older than the stat-cache TTL.

// newDirNode returns the node of directory key ("…/") described by e.
func (fsys *FS) newDirNode(ctx context.Context, key string, e listEntry) (*dirNode, syscall.Errno) {
	cd := &dirNode{node: node{fsys: fsys}, a: fsys.defaultDir(time.Now())}
	if !e.head {
		return cd, 0 // from a listing: read on the first Getattr
	}
	if !e.mark {
		cd.loaded, cd.fetched = true, fsys.now() // implicit: the defaults are its attributes
		return cd, 0
	}
	a, err := fsys.loadMarker(ctx, key, cd.a)
	if err != nil {
		return nil, fsys.toErrno("lookup", key, err)
	}
	cd.a, cd.loaded, cd.fetched = a, true, fsys.now()
	return cd, 0
}

// loadMarker reads directory key's attributes from its marker; def is
// what an implicit directory (no marker) has.
func (fsys *FS) loadMarker(ctx context.Context, key string, def attr) (attr, error) {
	ctx, done := fsys.op(ctx)
	defer done()
	head, err := fsys.store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
		SseC: fsys.cfg.SSE.SseC, SseCKey: fsys.cfg.SSE.SseCKey})
	if obsclient.IsNotFound(err) {
		return def, nil
	}
	if err != nil {
		return attr{}, err
	}
	return parseMeta(head.Metadata, fsys.defaultDir(head.LastModified)), nil
}

// revalidate reads the directory's marker again if its attributes were
// never read or are older than the stat-cache TTL. The root has no
// marker: its attributes are the mount's.
func (d *dirNode) revalidate(ctx context.Context) syscall.Errno {
	fsys := d.fsys
	if d == fsys.root {
		return 0
	}
	d.mu.Lock()
	fresh := d.loaded && fsys.now().Sub(d.fetched) <= fsys.cfg.StatCacheTTL
	mtime := d.a.mtime
	d.mu.Unlock()
	if fresh {
		return 0
	}
	key := d.key()
	a, err := fsys.loadMarker(ctx, key, fsys.defaultDir(mtime))
	if err != nil {
		return fsys.toErrno("getattr", key, err)
	}
	d.mu.Lock()
	d.a, d.loaded, d.fetched = a, true, fsys.now()
	d.mu.Unlock()
	return 0
}

// fillOut fills a reply with the directory's attributes and their
// timeout: the TTL, or 0 while they are defaults standing in for a
// marker not read yet.
func (d *dirNode) fillOut(out *fuse.Attr, setTimeout func(time.Duration)) {
	d.mu.Lock()
	a, loaded := d.a, d.loaded || d == d.fsys.root
	d.mu.Unlock()
	fillAttr(out, a, 4096, d.StableAttr().Ino)
	if loaded {
		setTimeout(d.fsys.cfg.StatCacheTTL)
	} else {
		setTimeout(0)
	}
}
