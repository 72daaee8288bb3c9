package fs

import (
	"context"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
)

// fileNode is a regular file: one object.
//
// While any descriptor is open the node holds a writeback.File (wf), which
// is the authority on the content and size; otherwise size and etag
// describe the committed object as last seen in the store.
type fileNode struct {
	node
	mu       sync.Mutex
	a        attr            // guarded by mu
	size     int64           // guarded by mu: committed size
	etag     string          // guarded by mu: committed version
	exists   bool            // guarded by mu: the store has the object
	fetched  time.Time       // guarded by mu: when size/etag were confirmed
	mtimeSet bool            // guarded by mu: mtime set explicitly, stored in metadata
	wf       *writeback.File // guarded by mu: open content
	opens    int             // guarded by mu: open descriptors
	unlinked bool            // guarded by mu
	cached   string          // guarded by mu: version whose pages the kernel may keep
	// metaLoaded: a (including xattrs) comes from the object's own
	// metadata, not a listing's defaults. Guarded by mu.
	metaLoaded bool
	// hidden is the key holding an unlinked open file's data
	// (unlinked.go); written with mu held, read without.
	hidden atomic.Pointer[string]
	// seen stamps what the node knows (FS.clock): the stamp of the
	// listing or HEAD it was last refreshed from, or of this mount's last
	// change to it. An answer stamped earlier is older than the node's
	// state and is not adopted. Guarded by mu.
	seen uint64
}

// pinned reports whether the node must be served from memory: it is open,
// so its content may differ from the store's.
func (n *fileNode) pinned() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.wf != nil
}

func (n *fileNode) currentSize() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sizeLocked()
}

func (n *fileNode) sizeLocked() int64 {
	if n.wf != nil {
		return n.wf.Size()
	}
	return n.size
}

// key is the object key of the node's current path, or of the hidden
// object holding an unlinked open file.
func (n *fileNode) key() string {
	if p := n.hidden.Load(); p != nil {
		return *p
	}
	return n.fsys.keyFor(n.relPath())
}

// refresh adopts attributes learned from the store, unless the node is
// open (then memory is the authority) or knows something newer than e:
// a listing or HEAD that asked the store before this mount's last change
// to the file (a commit) may describe the version the change replaced.
func (n *fileNode) refresh(a attr, e listEntry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.wf != nil || e.seen <= n.seen {
		return
	}
	n.seen = e.seen
	if n.metaLoaded && !e.head && n.etag == e.etag {
		// A listing says nothing of the metadata the node already knows
		// for this very version: keep it.
		n.fetched = n.fsys.now()
		return
	}
	n.a, n.size, n.etag, n.exists, n.fetched = a, e.size, e.etag, true, n.fsys.now()
	n.mtimeSet = a.mtime != e.mtime
	n.metaLoaded = e.head
}

// entryLocked describes the committed object as a listing entry, with the
// attributes the node knows. Its mtime (the object's Last-Modified, which
// the node does not keep) is the node's when the mtime was not set
// explicitly, and unknown (zero) when it was: refresh derives mtimeSet
// from the difference.
func (n *fileNode) entryLocked() listEntry {
	a := n.a
	e := listEntry{size: n.size, etag: n.etag, head: n.metaLoaded, attr: &a}
	if !n.mtimeSet {
		e.mtime = a.mtime
	}
	return e
}

// changedLocked records a change this mount made to the committed object
// stored at key (a commit, new metadata): from now on the node knows more
// than any listing or HEAD that asked the store earlier, and the cached
// listing of its directory shows the new version. With mu held; takes the
// directory's (lock order in doc.go).
func (n *fileNode) changedLocked(key string) {
	n.seen = n.fsys.tick()
	if !n.exists || n.unlinked || n.wf != nil && n.wf.Key() != key {
		return // the content moved (a rename in progress notes its new name)
	}
	name, parent := n.Parent()
	if parent == nil {
		return
	}
	d, ok := parent.Operations().(*dirNode)
	if !ok || keyIn(d.key(), name) != key {
		return // a rename moved it and go-fuse has not moved the node yet
	}
	e := n.entryLocked()
	n.seen = d.noteEntry(name, &e)
}

func (n *fileNode) fill(out *fuse.Attr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fillLocked(out)
}

// fillLocked fills in the attributes: an unlinked file has no link.
func (n *fileNode) fillLocked(out *fuse.Attr) {
	fillAttr(out, n.a, n.sizeLocked(), n.StableAttr().Ino)
	if n.unlinked {
		out.Nlink = 0
	}
}

// metaLocked is the metadata stored with the object: mode and owner
// always, mtime only when it was set explicitly (otherwise the object's
// Last-Modified, the time of the commit, is the mtime).
func (n *fileNode) metaLocked() map[string]string {
	m := encodeMeta(n.a)
	if !n.mtimeSet {
		delete(m, metaMtime)
	}
	return m
}

// revalidateLocked re-reads the object's version from the store if what
// the node knows is older than the stat-cache TTL.
func (n *fileNode) revalidateLocked(ctx context.Context, key string) syscall.Errno {
	fsys := n.fsys
	if !n.exists || n.wf != nil || fsys.now().Sub(n.fetched) <= fsys.cfg.StatCacheTTL {
		return 0
	}
	return n.headLocked(ctx, key)
}

// headLocked reads the object's version and attributes from the store.
func (n *fileNode) headLocked(ctx context.Context, key string) syscall.Errno {
	fsys := n.fsys
	ctx, done := fsys.op(ctx) // here, where the store is asked: stat is frequent
	defer done()
	seen := fsys.tick()
	head, err := fsys.store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
		SseC: fsys.cfg.SSE.SseC, SseCKey: fsys.cfg.SSE.SseCKey})
	if err != nil {
		return fsys.toErrno("getattr", key, err)
	}
	if head.ETag != n.etag || !n.metaLoaded {
		n.a = parseMeta(head.Metadata, fsys.defaultFile(head.LastModified))
		n.mtimeSet = head.Metadata[metaMtime] != ""
	}
	n.size, n.etag, n.fetched, n.metaLoaded = head.Size, head.ETag, fsys.now(), true
	n.seen = seen // mu was held all along: nothing changed the node meanwhile
	fsys.rememberMeta(key, head.ETag, n.a)
	return 0
}

var _ = (fusefs.NodeOpener)((*fileNode)(nil))

func (n *fileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	n.mu.Lock()
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	keep := !write && n.wf == nil && n.etag != "" && n.etag == n.cached
	n.mu.Unlock()
	fh, errno := n.open(ctx, n.key(), flags, false)
	if errno != 0 {
		return nil, 0, errno
	}
	n.mu.Lock()
	keep = keep && n.etag == n.cached
	n.cached = n.etag
	n.mu.Unlock()
	return fh, openFlags(flags, keep), 0
}

// openFlags are the FOPEN_* flags of a new descriptor. A descriptor opened
// write-only bypasses the kernel's page cache (FOPEN_DIRECT_IO): its
// writes reach obsfs straight from the program's buffer instead of being
// copied into cache pages first, which nothing would read through it (a
// write-only descriptor cannot be read or mmapped). The kernel still
// invalidates cached pages of the range written, for other descriptors.
// keep lets the kernel keep cached pages of a version it has seen before.
func openFlags(flags uint32, keep bool) uint32 {
	var out uint32
	if flags&syscall.O_ACCMODE == syscall.O_WRONLY {
		out |= fuse.FOPEN_DIRECT_IO
	}
	if keep {
		out |= fuse.FOPEN_KEEP_CACHE
	}
	return out
}

// open attaches a descriptor, creating the writeback.File on the first.
func (n *fileNode) open(ctx context.Context, key string, flags uint32, create bool) (*handle, syscall.Errno) {
	fsys := n.fsys
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.unlinked && n.wf == nil {
		return nil, syscall.ENOENT
	}
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if !create {
		if errno := n.checkUnseenLocked(ctx, accessFor(flags)); errno != 0 {
			return nil, errno
		}
	}
	if n.wf == nil {
		if !create {
			if errno := n.revalidateLocked(ctx, key); errno != 0 {
				return nil, errno
			}
		}
		n.wf = fsys.wb.Open(key, writeback.Version{Exists: n.exists, Size: n.size, ETag: n.etag})
		n.wf.SetMeta(n.metaLocked())
	}
	if write && flags&syscall.O_TRUNC != 0 && n.wf.Size() != 0 {
		ctx, done := fsys.op(ctx)
		defer done()
		if err := n.wf.Truncate(ctx, 0); err != nil {
			return nil, fsys.toErrno("open", key, err)
		}
		n.touchLocked()
	}
	n.opens++
	h := &handle{n: n, wf: n.wf, write: write}
	if flags&syscall.O_ACCMODE != syscall.O_WRONLY {
		h.rs = n.wf.NewStream()
	}
	return h, 0
}

// touchLocked records a content change: mtime is now, no longer explicit.
func (n *fileNode) touchLocked() {
	n.a.mtime = time.Now()
	n.mtimeSet = false
}

// flushLocked commits the open content and adopts the new version. With
// mu held: other operations on this node wait for the commit.
func (n *fileNode) flushLocked(ctx context.Context, key string) syscall.Errno {
	fsys := n.fsys
	wf := n.wf
	if wf == nil {
		return 0
	}
	meta := n.metaLocked()
	wf.SetMeta(meta)
	if err := wf.Flush(ctx); err != nil {
		return fsys.toErrno("flush", key, err)
	}
	ver := wf.Version()
	n.size, n.etag, n.exists, n.fetched = ver.Size, ver.ETag, ver.Exists, fsys.now()
	n.changedLocked(key)
	if !maps.Equal(wf.CommittedMeta(), meta) {
		// The upload began before the attributes last changed.
		if errno := n.persistMetaLocked(ctx, key); errno != 0 {
			return errno
		}
	}
	fsys.rememberMeta(key, n.etag, n.a)
	return 0
}

// persistMetaLocked rewrites the committed object's metadata: a
// server-side copy onto itself (a multipart copy beyond 5 GiB).
func (n *fileNode) persistMetaLocked(ctx context.Context, key string) syscall.Errno {
	fsys := n.fsys
	meta := n.metaLocked()
	if n.size <= obsclient.MaxPartSize {
		out, err := fsys.store.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
			SourceBucket: fsys.cfg.Bucket, SourceKey: key, SourceIfMatch: n.etag,
			MetadataDirective: obsclient.MetadataReplace, Metadata: meta, SSE: fsys.cfg.SSE,
			SourceSseC: fsys.cfg.SSE.SseC, SourceSseCKey: fsys.cfg.SSE.SseCKey})
		if err != nil {
			return fsys.toErrno("setattr", key, err)
		}
		n.etag = out.ETag
	} else {
		wf := fsys.wb.OpenCopy(key, key, writeback.Version{Exists: true, Size: n.size, ETag: n.etag})
		wf.SetMeta(meta)
		err := wf.Close()
		if err != nil {
			return fsys.toErrno("setattr", key, err)
		}
		n.etag = wf.Version().ETag
	}
	if n.wf != nil {
		if err := n.wf.Rebase(key, writeback.Version{Exists: true, Size: n.size, ETag: n.etag}); err != nil {
			return fsys.toErrno("setattr", key, err)
		}
	}
	n.fetched = fsys.now()
	n.changedLocked(key)
	fsys.rememberMeta(key, n.etag, n.a)
	return 0
}

// metaChangedLocked persists changed attributes: with the next commit if
// the file has changes to commit, else at once.
func (n *fileNode) metaChangedLocked(ctx context.Context) syscall.Errno {
	if n.wf != nil && n.wf.Dirty() {
		n.wf.SetMeta(n.metaLocked()) // written with the commit (or fixed after it)
		return 0
	}
	if !n.exists {
		return 0
	}
	return n.persistMetaLocked(ctx, n.key())
}

var _ = (fusefs.NodeGetattrer)((*fileNode)(nil))

func (n *fileNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.unlinked {
		if errno := n.revalidateLocked(ctx, n.key()); errno != 0 {
			return errno
		}
	}
	n.fillLocked(&out.Attr)
	out.SetTimeout(n.fsys.cfg.StatCacheTTL)
	return 0
}

var _ = (fusefs.NodeSetattrer)((*fileNode)(nil))

// Setattr truncates (through the open content, or by committing a new
// version at once when the file is closed) and changes mode, owner and
// mtime, which are persisted in the object's metadata. A truncate waits
// for a commit, so it is bounded like close (longOp).
func (n *fileNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	fsys := n.fsys
	caller := ctx
	var done context.CancelFunc
	if _, ok := in.GetSize(); ok {
		ctx, done = fsys.longOp(ctx)
	} else {
		ctx, done = fsys.op(ctx)
	}
	defer done()
	key := n.key()
	n.mu.Lock()
	defer n.mu.Unlock()
	if size, ok := in.GetSize(); ok {
		if n.unlinked && n.wf == nil {
			return syscall.ENOENT
		}
		if fh == nil {
			if errno := n.checkUnseenLocked(caller, mayWrite); errno != 0 {
				return errno
			}
		}
		wf := n.wf
		if wf == nil {
			wf = fsys.wb.Open(key, writeback.Version{Exists: n.exists, Size: n.size, ETag: n.etag})
		}
		// A temporary File (wf != n.wf) is committed by Close, which waits
		// for the commit whatever ctx says: it is bounded by the commit's
		// deadline, and the node is not open, so nothing else waits on it
		// but this truncate.
		if err := wf.Truncate(ctx, int64(size)); err != nil {
			if wf != n.wf {
				wf.Discard()
			}
			return fsys.toErrno("truncate", key, err)
		}
		n.touchLocked()
		if wf == n.wf && fh == nil && !n.unlinked {
			// truncate(2) by path: no descriptor will commit it, so it is
			// committed now (ftruncate is committed by its descriptor's close).
			if errno := n.flushLocked(ctx, key); errno != 0 {
				return errno
			}
		}
		if wf != n.wf {
			wf.SetMeta(n.metaLocked())
			err := wf.Close()
			if err != nil {
				return fsys.toErrno("truncate", key, err)
			}
			ver := wf.Version()
			n.size, n.etag, n.exists, n.fetched = ver.Size, ver.ETag, true, fsys.now()
			n.changedLocked(key)
			fsys.rememberMeta(key, n.etag, n.a)
		}
	}
	_, modeSet := in.GetMode()
	_, uidSet := in.GetUID()
	_, gidSet := in.GetGID()
	_, mtimeSet := in.GetMTime()
	if modeSet || uidSet || gidSet || mtimeSet {
		if errno := n.loadMetaLocked(ctx); errno != 0 {
			return errno // the xattrs must survive the rewrite
		}
		n.a = applySetattr(n.a, in)
		n.seen = fsys.tick() // a listing that asked before shows the old attributes
		if mtimeSet {
			n.mtimeSet = true
		}
		if errno := n.metaChangedLocked(ctx); errno != 0 {
			return errno
		}
	}
	n.fillLocked(&out.Attr)
	out.SetTimeout(fsys.cfg.StatCacheTTL)
	return 0
}

// handle is one open file description. Descriptors dup'd from it (dup,
// fork, shell redirection) share it and each close sends a FLUSH.
type handle struct {
	n     *fileNode
	wf    *writeback.File
	write bool              // opened for writing
	rs    *writeback.Stream // its reads' read-ahead; nil if write-only

	mu     sync.Mutex
	failed []readFailure // guarded by mu: reads failed within readFailureMemory
}

// readFailure is a read that failed: [off, end) at time at, with errno.
type readFailure struct {
	at       time.Time
	off, end int64
	errno    syscall.Errno
}

// readFailureMemory is how long a failed read's error is returned at once
// to reads of the same range through the same handle. When a read-ahead
// request fails, the kernel at once reads the page the program waits for
// again, synchronously; without this, that read would start a second
// full operation budget (and the program would wait twice as long to see
// the error).
const readFailureMemory = 2 * time.Second

// recentFailure returns the errno of a failed read overlapping [off,
// off+n) less than readFailureMemory ago, or 0.
func (h *handle) recentFailure(off int64, n int) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.n.fsys.now()
	for _, f := range h.failed {
		if off < f.end && off+int64(n) > f.off && now.Sub(f.at) < readFailureMemory {
			return f.errno
		}
	}
	return 0
}

// readFailed remembers a failed read (the kernel reads ahead in several
// requests at once: each is remembered).
func (h *handle) readFailed(off int64, n int, errno syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.n.fsys.now()
	kept := h.failed[:0]
	for _, f := range h.failed {
		if now.Sub(f.at) < readFailureMemory {
			kept = append(kept, f)
		}
	}
	h.failed = append(kept, readFailure{at: now, off: off, end: off + int64(n), errno: errno})
}

var (
	_ = (fusefs.FileReader)((*handle)(nil))
	_ = (fusefs.FileWriter)((*handle)(nil))
	_ = (fusefs.FileFlusher)((*handle)(nil))
	_ = (fusefs.FileFsyncer)((*handle)(nil))
	_ = (fusefs.FileReleaser)((*handle)(nil))
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	fsys := h.n.fsys
	if errno := h.recentFailure(off, len(dest)); errno != 0 {
		return nil, errno
	}
	ctx, done := fsys.op(ctx)
	defer done()
	d, err := h.wf.ReadData(ctx, h.rs, dest, off)
	if err != nil && err != io.EOF {
		errno := fsys.toErrno("read", h.n.key(), err)
		if errno != syscall.EINTR { // EINTR: the caller is dying, not the store
			h.readFailed(off, len(dest), errno)
		}
		return nil, errno
	}
	return &readReply{d: d}, 0
}

// readReply hands go-fuse the bytes of a read as a vector (go-fuse's
// vectored replies: writev straight from obsfs's clean pages, no copy in
// between) and releases the pages once the reply is written (Done).
type readReply struct{ d *writeback.Data }

var _ fuse.ReadResult = (*readReply)(nil)

func (r *readReply) Size() int { return r.d.Len() }

// Slices is go-fuse's vectored-reply method.
func (r *readReply) Slices() ([][]byte, fuse.Status) { return r.d.Vec, fuse.OK }

// Bytes is the fallback that concatenates; buf may be the read's own
// buffer, in which the vector's pieces of it already stand where the
// concatenation puts them.
func (r *readReply) Bytes(buf []byte) ([]byte, fuse.Status) {
	buf = buf[:0]
	for _, v := range r.d.Vec {
		buf = append(buf, v...)
	}
	return buf, fuse.OK
}

func (r *readReply) Done() { r.d.Release() }

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.write {
		return 0, syscall.EBADF
	}
	ctx, done := h.n.fsys.op(ctx)
	defer done()
	k, err := h.wf.WriteAt(ctx, data, off)
	if err != nil {
		return 0, h.n.fsys.toErrno("write", h.n.key(), err)
	}
	h.n.mu.Lock()
	h.n.touchLocked()
	errno := h.n.killPrivsLocked(ctx)
	h.n.mu.Unlock()
	return uint32(k), errno
}

// Flush runs on every close(2) of every descriptor of this handle. A
// handle opened for writing commits: close returns 0 only when the object
// is durable (or when there was nothing to commit), and the error of a
// failed upload otherwise, on every close. A read-only handle returns 0 at
// once: it wrote nothing, and the writer's own close reports its result.
// A caller killed while it waits is released at once (EINTR, which it
// never sees); the commit goes on in the background (writeback.File.Flush).
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if !h.write {
		return 0
	}
	return h.commit(ctx)
}

// Fsync commits like Flush, for any handle: fsync(2) on a read-only
// descriptor still makes the file's pending writes durable.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.commit(ctx)
}

func (h *handle) commit(ctx context.Context) syscall.Errno {
	n := h.n
	ctx, done := n.fsys.longOp(ctx)
	defer done()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.wf != h.wf {
		// Discarded under this handle (unlinked after it failed): there
		// is nothing to make durable.
		return 0
	}
	if n.unlinked {
		// No one can see it: nothing to commit (unlinked.go). An upload
		// that failed under memory pressure still shows.
		if err := n.wf.Err(); err != nil {
			return n.fsys.toErrno("flush", n.key(), err)
		}
		return 0
	}
	return n.flushLocked(ctx, n.key())
}

// Release runs when the last descriptor of the handle is gone. When the
// node's last handle goes, anything still uncommitted (writes through a
// shared mapping after the last close, or a commit that failed) is
// committed or aborted, and the content is released. If a commit whose
// caller stopped waiting (a killed writer) is still running, that is done
// once it ends, in the background: waiting for it here would hold the
// node, and every lookup and listing that touches it, meanwhile.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	if h.rs != nil {
		h.rs.Close()
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	n.opens--
	if n.opens > 0 || n.wf != h.wf || n.wf == nil {
		return 0
	}
	if wf := n.wf; wf.Committing() {
		go func() {
			wf.WaitCommit()
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.opens == 0 && n.wf == wf { // not reopened or replaced meanwhile
				n.releaseLocked(context.Background())
			}
		}()
		return 0
	}
	n.releaseLocked(ctx)
	return 0
}

// releaseLocked ends the node's open content after its last descriptor:
// what is still pending is committed (or aborted), or dropped if the file
// was unlinked.
func (n *fileNode) releaseLocked(ctx context.Context) {
	if n.unlinked {
		n.releaseUnlinkedLocked(ctx)
		return
	}
	key := n.key()
	n.wf.SetMeta(n.metaLocked())
	if err := n.wf.Close(); err != nil {
		n.fsys.toErrno("release", key, err)
	} else if ver := n.wf.Version(); ver.Exists {
		n.size, n.etag, n.exists, n.fetched = ver.Size, ver.ETag, true, n.fsys.now()
		n.changedLocked(key)
		n.fsys.rememberMeta(key, n.etag, n.a)
	}
	n.wf = nil
}

// linkNode is a symbolic link: an object whose body is the target.
type linkNode struct {
	node
	mu     sync.Mutex // guards the fields below (Setattr and a rename change them)
	a      attr
	size   int64
	etag   string
	target string // read lazily
}

var _ = (fusefs.NodeReadlinker)((*linkNode)(nil))

// version returns the ETag of the link's object (a rename changes it).
func (l *linkNode) version() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.etag
}

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.target != "" || l.size == 0 {
		return []byte(l.target), 0
	}
	fsys := l.fsys
	key := fsys.keyFor(l.relPath())
	ctx, done := fsys.op(ctx)
	defer done()
	out, err := fsys.store.GetObject(ctx, &obsclient.GetObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
		IfMatch: l.etag, SseC: fsys.cfg.SSE.SseC, SseCKey: fsys.cfg.SSE.SseCKey})
	if err != nil {
		return nil, fsys.toErrno("readlink", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, 4097))
	if err != nil {
		return nil, fsys.toErrno("readlink", key, err)
	}
	l.target = string(data)
	return data, 0
}

var _ = (fusefs.NodeSetattrer)((*linkNode)(nil))

// Setattr on a link: owner and mtime (lchown, lutimes) are stored in its
// metadata; a link's mode is always 0777, as on Linux.
func (l *linkNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	fsys := l.fsys
	l.mu.Lock()
	defer l.mu.Unlock()
	a := applySetattr(l.a, in)
	a.mode = syscall.S_IFLNK | 0o777
	if a.uid != l.a.uid || a.gid != l.a.gid || !a.mtime.Equal(l.a.mtime) {
		key := fsys.keyFor(l.relPath())
		ctx, done := fsys.op(ctx)
		defer done()
		res, err := fsys.store.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
			SourceBucket: fsys.cfg.Bucket, SourceKey: key, SourceIfMatch: l.etag,
			MetadataDirective: obsclient.MetadataReplace, Metadata: encodeMeta(a), SSE: fsys.cfg.SSE,
			SourceSseC: fsys.cfg.SSE.SseC, SourceSseCKey: fsys.cfg.SSE.SseCKey})
		if err != nil {
			return fsys.toErrno("setattr", key, err)
		}
		l.etag = res.ETag
		fsys.rememberMeta(key, l.etag, a)
	}
	l.a = a
	fillAttr(&out.Attr, l.a, l.size, l.StableAttr().Ino)
	out.SetTimeout(fsys.cfg.StatCacheTTL)
	return 0
}

var _ = (fusefs.NodeGetattrer)((*linkNode)(nil))

func (l *linkNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.mu.Lock()
	defer l.mu.Unlock()
	fillAttr(&out.Attr, l.a, l.size, l.StableAttr().Ino)
	out.SetTimeout(l.fsys.cfg.StatCacheTTL)
	return 0
}
