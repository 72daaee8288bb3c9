package fs

import (
	"context"
	"math"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/obsfs/obsfs/obsclient"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
)

// dirNode is a directory: a key prefix, with or without a marker object.
type dirNode struct {
	node
	mu      sync.Mutex
	a       attr                 // guarded by mu
	loaded  bool                 // guarded by mu: a comes from the marker, or its absence was seen
	fetched time.Time            // guarded by mu: when a was loaded
	entries map[string]listEntry // guarded by mu: the last complete listing, with the changes noted since
	listed  time.Time            // guarded by mu: when entries was filled, or last read
	gen     uint64               // guarded by mu: counts the listings stored in entries
	// looking holds the stamps of the listings asking the store now, and
	// changes what this mount changed under a name since the oldest of
	// them began: a listing that began before a change may not show it,
	// so storing the listing applies the changes made since it began
	// (finishLooking). Guarded by mu.
	looking map[uint64]bool
	changes map[string]change
	relist  singleflight.Group // lookups' listings of a small directory (relist.go)
}

// change is a name's entry as this mount last changed it (nil: removed),
// with the stamp of the change.
type change struct {
	seen uint64
	e    *listEntry
}

// listEntry is what a listing says about one name.
type listEntry struct {
	dir   bool
	head  bool  // the object's own attributes are known (from a HEAD)
	mark  bool  // a directory with a marker object (known when head: the probe saw it)
	attr  *attr // those attributes, when the entry comes from a HEAD
	size  int64
	etag  string
	mtime time.Time
	// seen stamps the entry (FS.clock): taken before the store was asked,
	// or once this mount made the change the entry describes. What a node
	// learned later is newer than the entry (fileNode.refresh).
	seen uint64
}

// key is the directory's prefix: "" or the mount prefix for the root,
// "<prefix>a/b/" below it.
func (d *dirNode) key() string {
	if d == d.fsys.root {
		return d.fsys.cfg.Prefix
	}
	return d.fsys.keyFor(d.relPath()) + "/"
}

// cached returns the listing's entry for name if the listing is fresh:
// known=false means the listing is stale and the store must be asked.
func (d *dirNode) cached(name string) (e listEntry, found, known bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries == nil || d.fsys.now().Sub(d.listed) > d.fsys.cfg.StatCacheTTL {
		return listEntry{}, false, false
	}
	e, found = d.entries[name]
	return e, found, true
}

// noteEntry records a change made through this mount (e nil: the name was
// removed) in the listing cache, and for the listings asking the store
// now, and returns the change's stamp. Call it once the change is made.
func (d *dirNode) noteEntry(name string, e *listEntry) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := d.fsys.tick()
	if e != nil {
		c := *e
		c.seen = seen
		e = &c
	}
	if len(d.looking) > 0 {
		if d.changes == nil {
			d.changes = map[string]change{}
		}
		d.changes[name] = change{seen: seen, e: e}
	}
	if d.entries != nil {
		setEntry(d.entries, name, e)
	}
	return seen
}

// setEntry sets name's entry in a listing, or removes it (e nil).
func setEntry(entries map[string]listEntry, name string, e *listEntry) {
	if e != nil {
		entries[name] = *e
		return
	}
	delete(entries, name)
	// An object the name's directory hid is no longer hidden.
	if hidden, ok := entries[name+FileAliasSuffix]; ok {
		delete(entries, name+FileAliasSuffix)
		entries[name] = hidden
	}
}

// beginLooking stamps a listing about to ask the store: the changes noted
// from now on are kept for it until finishLooking.
func (d *dirNode) beginLooking() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := d.fsys.tick()
	if d.looking == nil {
		d.looking = map[uint64]bool{}
	}
	d.looking[seen] = true
	return seen
}

// finishLooking ends the listing stamped begin. A listing that completed
// (entries not nil) becomes the cached one, with the changes this mount
// made since it began applied over what the store answered. It returns
// the number of the cached listing.
func (d *dirNode) finishLooking(begin uint64, entries map[string]listEntry) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.looking, begin)
	if entries != nil {
		for name, c := range d.changes {
			if c.seen > begin { // the store may not have had it when the listing asked
				setEntry(entries, name, c.e)
			}
		}
		d.entries, d.listed = entries, d.fsys.now()
		d.gen++
	}
	// Only the listings still asking need the changes made since they began.
	oldest := uint64(math.MaxUint64)
	for seen := range d.looking {
		oldest = min(oldest, seen)
	}
	for name, c := range d.changes {
		if c.seen < oldest {
			delete(d.changes, name)
		}
	}
	return d.gen
}

var _ = (fusefs.NodeGetattrer)((*dirNode)(nil))

func (d *dirNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if errno := d.revalidate(ctx); errno != 0 { // an operation only if it asks the store
		return errno
	}
	d.fillOut(&out.Attr, out.SetTimeout)
	return 0
}

var _ = (fusefs.NodeLookuper)((*dirNode)(nil))

// Lookup finds name: first among the nodes this mount is writing (they may
// not be in the store yet), then in a fresh listing, then by asking the
// store (HEAD of the key and a one-key listing of the prefix, in parallel).
func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	fsys := d.fsys
	key, alias, errno := d.childKey(name)
	if errno != 0 {
		return nil, errno
	}
	if ch := d.GetChild(name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok && fn.pinned() {
			fn.fill(&out.Attr)
			out.SetEntryTimeout(fsys.cfg.StatCacheTTL)
			out.SetAttrTimeout(fsys.cfg.StatCacheTTL)
			return ch, 0
		}
	}
	e, found, known := d.cached(name)
	if !known {
		e, found, known = d.relisted(ctx, name)
	}
	if !known {
		pctx, opDone := fsys.op(ctx)
		dir, file, err := d.probeBoth(pctx, key)
		opDone()
		if err != nil {
			return nil, fsys.toErrno("lookup", key, err)
		}
		switch {
		case alias: // the object, when a directory hides it
			found = dir != nil && file != nil
			if found {
				e = *file
			}
		case dir != nil: // a directory wins over a file of the same name
			e, found = *dir, true
		case file != nil:
			e, found = *file, true
		}
	}
	if !found {
		return nil, syscall.ENOENT
	}
	return d.childFor(ctx, name, key, e, out)
}

// childKey maps a name in d to its key: the name's own, or for an alias
// (FileAliasSuffix) that of the object it stands for. ENOENT for a name
// the store cannot hold or d hides; a name that is not UTF-8 is EILSEQ,
// whether or not a listing shows it (a store may list such a key; none
// can be read or written); ENAMETOOLONG past the key length limit.
func (d *dirNode) childKey(name string) (key string, alias bool, errno syscall.Errno) {
	base, alias := aliasTarget(name)
	if !alias {
		base = name
	}
	if d.hides(base) {
		return "", false, syscall.ENOENT
	}
	key, errno = d.fsys.checkName(d.key(), base, false)
	switch errno {
	case 0, syscall.EILSEQ, syscall.ENAMETOOLONG:
		return key, alias, errno
	}
	return "", false, syscall.ENOENT // reserved, or not a name at all
}

// probe asks the store whether key is a file or key/ a directory (which
// wins when both are).
func (d *dirNode) probe(ctx context.Context, key string) (listEntry, bool, error) {
	dir, file, err := d.probeBoth(ctx, key)
	switch {
	case err != nil:
		return listEntry{}, false, err
	case dir != nil:
		return *dir, true, nil
	case file != nil:
		return *file, true, nil
	}
	return listEntry{}, false, nil
}

// probeBoth asks the store, in parallel, whether key/ is a directory
// (a one-key listing) and whether key is an object (HEAD). dir is nil
// when key/ is not a directory; it records whether the directory has a
// marker (key/ itself).
func (d *dirNode) probeBoth(ctx context.Context, key string) (dir, file *listEntry, err error) {
	fsys := d.fsys
	var head *obsclient.HeadObjectOutput
	var headErr, listErr error
	var isDir, marker bool
	seen := fsys.tick() // before asking: a change made meanwhile is newer than the answer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		head, headErr = fsys.store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
			SseC: fsys.cfg.SSE.SseC, SseCKey: fsys.cfg.SSE.SseCKey})
	}()
	go func() {
		defer wg.Done()
		out, err := fsys.store.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: fsys.cfg.Bucket, Prefix: key + "/", MaxKeys: 1})
		listErr = err
		isDir = err == nil && (len(out.Contents) > 0 || len(out.CommonPrefixes) > 0)
		// The marker, if any, is the first key under the prefix.
		marker = isDir && len(out.Contents) > 0 && out.Contents[0].Key == key+"/"
	}()
	wg.Wait()
	fsys.afterLook("probe", key)
	if listErr != nil {
		return nil, nil, listErr
	}
	if isDir {
		dir = &listEntry{dir: true, head: true, mark: marker, seen: seen}
	}
	if headErr != nil {
		if obsclient.IsNotFound(headErr) {
			return dir, nil, nil
		}
		return nil, nil, headErr
	}
	a := parseMeta(head.Metadata, fsys.defaultFile(head.LastModified))
	fsys.rememberMeta(key, head.ETag, a)
	return dir, &listEntry{size: head.Size, etag: head.ETag, mtime: head.LastModified, head: true, attr: &a, seen: seen}, nil
}

// childFor returns the inode for name described by e, reusing a live
// inode of the same kind.
func (d *dirNode) childFor(ctx context.Context, name, key string, e listEntry, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	fsys := d.fsys
	ttl := fsys.cfg.StatCacheTTL
	out.SetEntryTimeout(ttl)
	out.SetAttrTimeout(ttl)
	if e.dir {
		if ch := d.GetChild(name); ch != nil {
			if cd, ok := ch.Operations().(*dirNode); ok {
				cd.fillOut(&out.Attr, out.SetAttrTimeout)
				return ch, 0
			}
		}
		cd, errno := fsys.newDirNode(ctx, key+"/", e)
		if errno != 0 {
			return nil, errno
		}
		ch := d.NewInode(ctx, cd, fusefs.StableAttr{Mode: syscall.S_IFDIR})
		cd.fillOut(&out.Attr, out.SetAttrTimeout)
		return ch, 0
	}
	var a attr
	if e.attr != nil {
		a = *e.attr
	} else if known, ok := fsys.knownMeta(key, e.etag); ok {
		a, e.head = known, true
	} else {
		a = fsys.defaultFile(e.mtime)
	}
	if ch := d.GetChild(name); ch != nil {
		switch n := ch.Operations().(type) {
		case *fileNode:
			if a.mode&syscall.S_IFMT == syscall.S_IFREG {
				n.refresh(a, e)
				n.fill(&out.Attr)
				return ch, 0
			}
		case *linkNode:
			if a.mode&syscall.S_IFMT == syscall.S_IFLNK && n.version() == e.etag {
				fillAttr(&out.Attr, a, e.size, ch.StableAttr().Ino)
				return ch, 0
			}
		}
	}
	if a.mode&syscall.S_IFMT == syscall.S_IFLNK {
		ln := &linkNode{node: node{fsys: fsys}, a: a, size: e.size, etag: e.etag}
		ch := d.NewInode(ctx, ln, fusefs.StableAttr{Mode: syscall.S_IFLNK})
		fillAttr(&out.Attr, a, e.size, ch.StableAttr().Ino)
		return ch, 0
	}
	fn := &fileNode{node: node{fsys: fsys}}
	fn.refresh(a, e)
	ch := d.NewInode(ctx, fn, fusefs.StableAttr{Mode: syscall.S_IFREG})
	fn.fill(&out.Attr)
	return ch, 0
}

var _ = (fusefs.NodeReaddirer)((*dirNode)(nil))

// Readdir lists the prefix with delimiter "/" (every page), remembers the
// result for lookups, and adds the files this mount is creating that the
// store does not have yet. What this mount changed while the listing ran
// (a commit, a create or removal) wins over what the listing says.
func (d *dirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	fsys := d.fsys
	prefix := d.key()
	begin := d.beginLooking()
	lctx, done := fsys.longOp(ctx)
	entries, err := d.list(lctx, prefix, begin)
	done()
	fsys.afterLook("list", prefix)
	if err != nil {
		d.finishLooking(begin, nil)
		return nil, fsys.toErrno("readdir", prefix, err)
	}
	for name, ch := range d.Children() {
		if _, ok := entries[name]; ok {
			continue
		}
		if fn, ok := ch.Operations().(*fileNode); ok && fn.pinned() {
			entries[name] = listEntry{size: fn.currentSize(), seen: begin}
		}
	}
	// The entries shown are read before the listing is stored: from then
	// on the map is the cache's, changed under d.mu. (While the listing
	// ran, the kernel kept names from being created or removed here; a
	// commit meanwhile changes no name.)
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]fuse.DirEntry, 0, len(names)+2)
	out = append(out, fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR}, fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR})
	for _, name := range names {
		e := entries[name]
		mode := uint32(syscall.S_IFREG)
		if e.dir {
			mode = syscall.S_IFDIR
		} else if a, ok := fsys.knownMeta(keyIn(prefix, name), e.etag); ok {
			mode = a.mode & syscall.S_IFMT
		}
		out = append(out, fuse.DirEntry{Name: name, Mode: mode})
	}
	gen := d.finishLooking(begin, entries)
	return &listingStream{DirStream: fusefs.NewListDirStream(out), d: d, gen: gen}, 0
}

// listingStream is a listing being read by a program: as long as it
// reads, the listing stays fresh for lookups, so that the lookups of its
// entries (READDIRPLUS, then ls -l's lstat of each) are answered from it
// even when a large directory takes longer than --stat-cache-ttl to
// read (a listing of 100,000 entries would otherwise turn into a HEAD and
// a list request per entry once the TTL passed mid-way). A listing is
// thus trusted for the TTL after its entry was last handed out.
type listingStream struct {
	fusefs.DirStream
	d   *dirNode
	gen uint64
}

func (s *listingStream) Next() (fuse.DirEntry, syscall.Errno) {
	s.d.mu.Lock()
	if s.d.gen == s.gen {
		s.d.listed = s.d.fsys.now()
	}
	s.d.mu.Unlock()
	return s.DirStream.Next()
}

// list reads the whole directory listing of prefix; its entries are
// stamped seen.
func (d *dirNode) list(ctx context.Context, prefix string, seen uint64) (map[string]listEntry, error) {
	fsys := d.fsys
	entries := map[string]listEntry{}
	marker := ""
	for {
		page, err := fsys.store.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: fsys.cfg.Bucket, Prefix: prefix, Delimiter: "/", Marker: marker})
		if err != nil {
			return nil, err
		}
		// A directory wins over a file of the same name (it holds more);
		// the file is then listed under its alias, in whichever order
		// the two come (a page may end between them).
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(cp, prefix), "/")
			if !d.shows(name) {
				continue
			}
			if e, ok := entries[name]; ok && !e.dir {
				d.listHidden(entries, name, e)
			}
			entries[name] = listEntry{dir: true, seen: seen}
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(o.Key, prefix)
			if !d.shows(name) {
				continue // the directory's own marker, or a name Linux cannot show
			}
			e := listEntry{size: o.Size, etag: o.ETag, mtime: o.LastModified, seen: seen}
			if cur, ok := entries[name]; ok && cur.dir {
				d.listHidden(entries, name, e)
				continue
			}
			entries[name] = e
		}
		if !page.IsTruncated {
			return entries, nil
		}
		marker = page.NextMarker
	}
}

// hides reports names the directory does not show: the staging area at
// the root.
func (d *dirNode) hides(name string) bool { return name == StagingDir && d == d.fsys.root }

// shows reports whether a listed name is shown: not hidden, a name Linux
// can have, not a reserved alias name.
func (d *dirNode) shows(name string) bool {
	_, alias := aliasTarget(name)
	return validEntryName(name) && !alias && !d.hides(name)
}

// listHidden lists the object name, which the directory name hides, under
// its alias, if that is a name Linux can have.
func (d *dirNode) listHidden(entries map[string]listEntry, name string, e listEntry) {
	if alias := name + FileAliasSuffix; validEntryName(alias) {
		entries[alias] = e
	}
}

// validEntryName reports whether a listed name can be shown as a
// directory entry.
func validEntryName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") && len(name) <= 255
}

var _ = (fusefs.NodeMkdirer)((*dirNode)(nil))

// Mkdir writes a "name/" marker object carrying the directory's mode.
func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	fsys := d.fsys
	key, errno := fsys.checkName(d.key(), name, true)
	if errno != 0 {
		return nil, errno
	}
	uid, gid := fsys.caller(ctx)
	a := attr{mode: syscall.S_IFDIR | mode&0o7777, uid: uid, gid: gid, mtime: time.Now()}
	pctx, done := fsys.op(ctx)
	defer done()
	_, err := fsys.store.PutObject(pctx, &obsclient.PutObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
		ContentType: "application/x-directory", Metadata: encodeMeta(a), SSE: fsys.cfg.SSE})
	if err != nil {
		return nil, fsys.toErrno("mkdir", key, err)
	}
	d.noteEntry(name, &listEntry{dir: true})
	cd := &dirNode{node: node{fsys: fsys}, a: a, loaded: true, fetched: fsys.now(), entries: map[string]listEntry{}, listed: fsys.now()}
	ch := d.NewInode(ctx, cd, fusefs.StableAttr{Mode: syscall.S_IFDIR})
	fillAttr(&out.Attr, a, 4096, ch.StableAttr().Ino)
	out.SetEntryTimeout(fsys.cfg.StatCacheTTL)
	out.SetAttrTimeout(fsys.cfg.StatCacheTTL)
	return ch, 0
}

var _ = (fusefs.NodeCreater)((*dirNode)(nil))

// Create makes a new file. It exists in the store once the first
// descriptor that may write it is flushed (an empty object if nothing was
// written), or earlier if the write buffer runs short.
func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	fsys := d.fsys
	key, errno := fsys.checkName(d.key(), name, false)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	uid, gid := fsys.caller(ctx)
	fn := &fileNode{node: node{fsys: fsys}}
	fn.a = attr{mode: syscall.S_IFREG | mode&0o7777, uid: uid, gid: gid, mtime: time.Now()}
	fn.fetched, fn.metaLoaded = fsys.now(), true
	ch := d.NewInode(ctx, fn, fusefs.StableAttr{Mode: syscall.S_IFREG})
	fh, errno := fn.open(ctx, key, flags, true)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	fn.mu.Lock()
	fn.seen = d.noteEntry(name, &listEntry{})
	fn.mu.Unlock()
	fn.fill(&out.Attr)
	out.SetEntryTimeout(fsys.cfg.StatCacheTTL)
	out.SetAttrTimeout(fsys.cfg.StatCacheTTL)
	return ch, fh, openFlags(flags, false), 0
}

var _ = (fusefs.NodeUnlinker)((*dirNode)(nil))

// Unlink deletes the object. A file open through this mount keeps its
// data for its descriptors under a hidden key until the last close
// (unlinked.go).
func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	fsys := d.fsys
	ctx, opDone := fsys.op(ctx)
	defer opDone()
	key, _, errno := d.childKey(name)
	if errno != 0 {
		return errno
	}
	if ch := d.GetChild(name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok {
			done, errno := fn.unlinkOpen(ctx, key, true)
			if errno != 0 {
				return errno
			}
			if done {
				d.noteEntry(name, nil)
				return 0
			}
		}
	}
	if _, err := fsys.store.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: fsys.cfg.Bucket, Key: key}); err != nil {
		return fsys.toErrno("unlink", key, err)
	}
	d.noteEntry(name, nil)
	return 0
}

var _ = (fusefs.NodeRmdirer)((*dirNode)(nil))

// Rmdir removes an empty directory's marker; ENOTEMPTY if anything lies
// under the prefix, in the store or being written through this mount.
func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	fsys := d.fsys
	ctx, done := fsys.op(ctx)
	defer done()
	key := d.key() + name + "/"
	if ch := d.GetChild(name); ch != nil {
		if cd, ok := ch.Operations().(*dirNode); ok && cd.hasPinnedChildren() {
			return syscall.ENOTEMPTY
		}
	}
	out, err := fsys.store.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: fsys.cfg.Bucket, Prefix: key, MaxKeys: 2})
	if err != nil {
		return fsys.toErrno("rmdir", key, err)
	}
	for _, o := range out.Contents {
		if o.Key != key {
			return syscall.ENOTEMPTY
		}
	}
	if len(out.CommonPrefixes) > 0 {
		return syscall.ENOTEMPTY
	}
	if _, err := fsys.store.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: fsys.cfg.Bucket, Key: key}); err != nil {
		return fsys.toErrno("rmdir", key, err)
	}
	d.noteEntry(name, nil)
	return 0
}

// hasPinnedChildren reports files being written anywhere below d.
func (d *dirNode) hasPinnedChildren() bool {
	for _, ch := range d.Children() {
		switch n := ch.Operations().(type) {
		case *fileNode:
			if n.pinned() {
				return true
			}
		case *dirNode:
			if n.hasPinnedChildren() {
				return true
			}
		}
	}
	return false
}

var _ = (fusefs.NodeMknoder)((*dirNode)(nil))

// Mknod creates regular files (an empty object); devices, FIFOs and
// sockets cannot live in an object store: EPERM.
func (d *dirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if mode&syscall.S_IFMT != syscall.S_IFREG && mode&syscall.S_IFMT != 0 {
		return nil, syscall.EPERM
	}
	ctx, done := d.fsys.op(ctx) // create and commit: one budget
	defer done()
	ch, fh, _, errno := d.Create(ctx, name, syscall.O_WRONLY, mode, out)
	if errno != 0 {
		return nil, errno
	}
	h := fh.(*handle)
	if errno := h.Flush(ctx); errno != 0 {
		h.Release(ctx)
		return nil, errno
	}
	h.Release(ctx)
	return ch, 0
}

var _ = (fusefs.NodeLinker)((*dirNode)(nil))

// Link: objects cannot share content, so hard links are not supported.
func (d *dirNode) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

var _ = (fusefs.NodeSymlinker)((*dirNode)(nil))

// Symlink stores a link the s3fs way: an object whose body is the target
// and whose mode metadata says S_IFLNK.
func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	fsys := d.fsys
	key, errno := fsys.checkName(d.key(), name, false)
	if errno != 0 {
		return nil, errno
	}
	if len(target) > 4096 {
		return nil, syscall.ENAMETOOLONG
	}
	uid, gid := fsys.caller(ctx)
	a := attr{mode: syscall.S_IFLNK | 0o777, uid: uid, gid: gid, mtime: time.Now()}
	pctx, done := fsys.op(ctx)
	defer done()
	res, err := fsys.store.PutObject(pctx, &obsclient.PutObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
		Body: strings.NewReader(target), Metadata: encodeMeta(a), SSE: fsys.cfg.SSE})
	if err != nil {
		return nil, fsys.toErrno("symlink", key, err)
	}
	fsys.rememberMeta(key, res.ETag, a)
	d.noteEntry(name, &listEntry{size: int64(len(target)), etag: res.ETag, mtime: a.mtime})
	ln := &linkNode{node: node{fsys: fsys}, a: a, size: int64(len(target)), etag: res.ETag, target: target}
	ch := d.NewInode(ctx, ln, fusefs.StableAttr{Mode: syscall.S_IFLNK})
	fillAttr(&out.Attr, a, ln.size, ch.StableAttr().Ino)
	out.SetEntryTimeout(fsys.cfg.StatCacheTTL)
	out.SetAttrTimeout(fsys.cfg.StatCacheTTL)
	return ch, 0
}

var _ = (fusefs.NodeSetattrer)((*dirNode)(nil))

// Setattr on a directory updates its marker's metadata (creating the
// marker of an implicit directory).
func (d *dirNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	fsys := d.fsys
	ctx, done := fsys.op(ctx)
	defer done()
	if errno := d.revalidate(ctx); errno != 0 {
		return errno // the marker's other attributes must survive the rewrite
	}
	d.mu.Lock()
	a := applySetattr(d.a, in)
	d.mu.Unlock()
	if errno := d.writeMarker(ctx, a); errno != 0 {
		return errno
	}
	d.mu.Lock()
	d.a, d.loaded, d.fetched = a, true, fsys.now()
	d.mu.Unlock()
	fillAttr(&out.Attr, a, 4096, d.StableAttr().Ino)
	out.SetTimeout(fsys.cfg.StatCacheTTL)
	return 0
}

// writeMarker stores the directory's attributes in its marker object
// (creating it for an implicit directory). The root has none.
func (d *dirNode) writeMarker(ctx context.Context, a attr) syscall.Errno {
	fsys := d.fsys
	if d == fsys.root {
		return 0
	}
	key := d.key()
	_, err := fsys.store.PutObject(ctx, &obsclient.PutObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
		ContentType: "application/x-directory", Metadata: encodeMeta(a), SSE: fsys.cfg.SSE})
	if err != nil {
		return fsys.toErrno("setattr", key, err)
	}
	return 0
}

// applySetattr returns a with the mode, owner and mtime changes of in.
func applySetattr(a attr, in *fuse.SetAttrIn) attr {
	if m, ok := in.GetMode(); ok {
		a.mode = a.mode&syscall.S_IFMT | m&0o7777
	}
	if uid, ok := in.GetUID(); ok {
		a.uid = uid
	}
	if gid, ok := in.GetGID(); ok {
		a.gid = gid
	}
	if mt, ok := in.GetMTime(); ok {
		a.mtime = mt
	}
	return a
}

// parallelism bounds the requests a directory rename keeps in flight.
const parallelism = 16

// forEachParallel runs fn on every item with bounded parallelism, failing
// fast.
func forEachParallel[T any](ctx context.Context, items []T, fn func(context.Context, T) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for _, it := range items {
		g.Go(func() error { return fn(ctx, it) })
	}
	return g.Wait()
}
