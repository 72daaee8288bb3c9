package fs

import (
	"context"
	"errors"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
)

// Flags of renameat2(2).
const (
	renameNoReplace = 1 << 0
	renameExchange  = 1 << 1
)

var _ = (fusefs.NodeRenamer)((*dirNode)(nil))

// Rename moves a file (server-side copy, then delete of the source) or a
// directory (every key under its prefix, the same way, in parallel). It
// is not atomic: a crash part way leaves both copies of what was being
// moved — never neither. Files open through this mount are committed first
// and follow the rename.
func (d *dirNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	fsys := d.fsys
	if flags&renameExchange != 0 {
		return syscall.EINVAL
	}
	nd, ok := newParent.(*dirNode)
	if !ok {
		return syscall.ENOTDIR
	}
	ctx, done := fsys.longOp(ctx)
	defer done()
	fsys.renameMu.Lock()
	defer fsys.renameMu.Unlock()

	srcKey, _, errno := d.childKey(name)
	if errno != 0 {
		return errno
	}
	dstKey, errno := fsys.checkName(nd.key(), newName, false)
	if errno != 0 {
		return errno
	}
	src := d.GetChild(name)
	if src == nil {
		var out fuse.EntryOut
		if _, errno := d.Lookup(ctx, name, &out); errno != 0 {
			return errno
		}
		if src = d.GetChild(name); src == nil {
			return syscall.ENOENT
		}
	}
	// What is at the destination?
	dst, dstFound, err := nd.probe(ctx, dstKey)
	if err != nil {
		return fsys.toErrno("rename", dstKey, err)
	}
	if dstFound && flags&renameNoReplace != 0 {
		return syscall.EEXIST
	}
	switch s := src.Operations().(type) {
	case *dirNode:
		if dstFound && !dst.dir {
			return syscall.ENOTDIR
		}
		if dstFound {
			if errno := nd.Rmdir(ctx, newName); errno != 0 {
				return errno // ENOTEMPTY: Linux refuses to replace a non-empty directory
			}
		}
		if err := fsys.renameDir(ctx, s, srcKey+"/", dstKey+"/"); err != nil {
			return fsys.toErrno("rename", srcKey, err)
		}
		d.noteEntry(name, nil)
		nd.noteEntry(newName, &listEntry{dir: true})
	case *fileNode:
		if dstFound && dst.dir {
			return syscall.EISDIR
		}
		undo, errno := nd.detachReplaced(ctx, newName, src, dstKey)
		if errno != 0 {
			return errno
		}
		if errno := s.renameTo(ctx, srcKey, dstKey); errno != 0 {
			undo()
			return errno
		}
		d.noteEntry(name, nil)
		s.mu.Lock()
		e := s.entryLocked()
		s.seen = nd.noteEntry(newName, &e)
		s.mu.Unlock()
	case *linkNode:
		if dstFound && dst.dir {
			return syscall.EISDIR
		}
		undo, errno := nd.detachReplaced(ctx, newName, src, dstKey)
		if errno != 0 {
			return errno
		}
		s.mu.Lock()
		ver := writeback.Version{Exists: true, Size: s.size, ETag: s.etag}
		s.mu.Unlock()
		etag, err := fsys.moveObject(ctx, srcKey, dstKey, ver)
		if err != nil {
			undo()
			return fsys.toErrno("rename", srcKey, err)
		}
		s.mu.Lock()
		s.etag = etag
		fsys.rememberMeta(dstKey, etag, s.a)
		e := listEntry{size: s.size, etag: etag, mtime: s.a.mtime}
		s.mu.Unlock()
		d.noteEntry(name, nil)
		nd.noteEntry(newName, &e)
	default:
		return syscall.EINVAL
	}
	return 0
}

// detachReplaced: a file open through this mount at the destination keeps
// its data for its descriptors, as if unlinked (unlinked.go), before the
// rename overwrites its object; what it holds must never be committed over
// the renamed object later. undo puts it back if the rename then fails.
func (nd *dirNode) detachReplaced(ctx context.Context, name string, src *fusefs.Inode, key string) (undo func(), errno syscall.Errno) {
	old := nd.GetChild(name)
	if old == nil || old == src {
		return func() {}, 0
	}
	fn, ok := old.Operations().(*fileNode)
	if !ok {
		return func() {}, 0
	}
	if _, errno := fn.unlinkOpen(ctx, key, false); errno != 0 {
		return nil, errno
	}
	return func() {
		if !fn.relink(ctx, key) {
			nd.RmChild(name) // lookups ask the store again
		}
	}, 0
}

// renameTo moves a file's object; an open file is committed first and
// keeps working under its new key.
func (n *fileNode) renameTo(ctx context.Context, srcKey, dstKey string) syscall.Errno {
	fsys := n.fsys
	n.mu.Lock()
	defer n.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if errno := n.flushLocked(ctx, srcKey); errno != 0 {
			return errno
		}
		if !n.exists {
			return syscall.ENOENT
		}
		etag, err := fsys.moveObject(ctx, srcKey, dstKey, writeback.Version{Exists: true, Size: n.size, ETag: n.etag})
		if err != nil {
			return fsys.toErrno("rename", srcKey, err)
		}
		n.etag, n.fetched, n.seen = etag, fsys.now(), fsys.tick()
		fsys.rememberMeta(dstKey, etag, n.a)
		if n.wf == nil {
			return 0
		}
		err = n.wf.Rebase(dstKey, writeback.Version{Exists: true, Size: n.size, ETag: etag})
		if err == nil {
			return 0
		}
		if !errors.Is(err, writeback.ErrDirty) || attempt > 3 {
			return fsys.toErrno("rename", dstKey, err)
		}
		// Written to while the copy ran: the new bytes are still in the
		// file; commit them to the new key on the next round.
		srcKey = dstKey
	}
}

// moveObject copies srcKey (at version ver) to dstKey, keeping its
// metadata, then deletes srcKey. Objects above the copy threshold are
// copied with a multipart upload of UploadPartCopy parts. It returns the
// ETag of the copy.
func (fsys *FS) moveObject(ctx context.Context, srcKey, dstKey string, ver writeback.Version) (string, error) {
	if srcKey == dstKey {
		return ver.ETag, nil
	}
	etag, err := fsys.copyObject(ctx, srcKey, dstKey, ver)
	if err != nil {
		return "", err
	}
	if _, err := fsys.store.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: fsys.cfg.Bucket, Key: srcKey}); err != nil {
		return "", err
	}
	return etag, nil
}

func (fsys *FS) copyObject(ctx context.Context, srcKey, dstKey string, ver writeback.Version) (string, error) {
	if ver.Size <= fsys.cfg.CopyThreshold {
		out, err := fsys.store.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: fsys.cfg.Bucket, Key: dstKey,
			SourceBucket: fsys.cfg.Bucket, SourceKey: srcKey, SourceIfMatch: ver.ETag,
			SSE: fsys.cfg.SSE, SourceSseC: fsys.cfg.SSE.SseC, SourceSseCKey: fsys.cfg.SSE.SseCKey})
		if err != nil {
			return "", err
		}
		return out.ETag, nil
	}
	// The multipart copy must carry the source's metadata itself.
	head, err := fsys.store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: fsys.cfg.Bucket, Key: srcKey,
		SseC: fsys.cfg.SSE.SseC, SseCKey: fsys.cfg.SSE.SseCKey})
	if err != nil {
		return "", err
	}
	if head.ETag != ver.ETag {
		return "", writeback.ErrConflict
	}
	wf := fsys.wb.OpenCopy(dstKey, srcKey, ver)
	wf.SetMeta(head.Metadata)
	if err := wf.Close(); err != nil {
		return "", err
	}
	return wf.Version().ETag, nil
}

// renameDir moves every key under srcPrefix to dstPrefix: open files below
// are committed first, keys are copied with bounded parallelism, then the
// sources are deleted in batches, then open files follow their new keys.
func (fsys *FS) renameDir(ctx context.Context, dir *dirNode, srcPrefix, dstPrefix string) error {
	open := dir.openFiles("")
	for _, of := range open {
		of.n.mu.Lock()
		errno := of.n.flushLocked(ctx, srcPrefix+of.rel)
		of.n.mu.Unlock()
		if errno != 0 {
			return errno
		}
	}
	var objs []obsclient.ObjectInfo
	marker := ""
	for {
		page, err := fsys.store.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: fsys.cfg.Bucket, Prefix: srcPrefix, Marker: marker})
		if err != nil {
			return err
		}
		objs = append(objs, page.Contents...)
		if !page.IsTruncated {
			break
		}
		marker = page.NextMarker
	}
	etags := make([]string, len(objs))
	idx := make([]int, len(objs))
	for i := range idx {
		idx[i] = i
	}
	err := forEachParallel(ctx, idx, func(ctx context.Context, i int) error {
		o := objs[i]
		etag, err := fsys.copyObject(ctx, o.Key, dstPrefix+strings.TrimPrefix(o.Key, srcPrefix),
			writeback.Version{Exists: true, Size: o.Size, ETag: o.ETag})
		etags[i] = etag
		return err
	})
	if err != nil {
		return err
	}
	for start := 0; start < len(objs); start += obsclient.MaxDeleteObjects {
		batch := objs[start:min(start+obsclient.MaxDeleteObjects, len(objs))]
		if err := fsys.deleteKeys(ctx, batch); err != nil {
			return err
		}
	}
	byKey := map[string]int{}
	for i, o := range objs {
		byKey[o.Key] = i
	}
	for _, of := range open {
		of.n.mu.Lock()
		i, ok := byKey[srcPrefix+of.rel]
		if ok && of.n.wf != nil {
			ver := writeback.Version{Exists: true, Size: objs[i].Size, ETag: etags[i]}
			of.n.etag, of.n.seen = etags[i], fsys.tick()
			if err := of.n.wf.Rebase(dstPrefix+of.rel, ver); err != nil {
				fsys.log.WithField("key", dstPrefix+of.rel).WithError(err).Error("open file did not follow the directory rename")
			}
		}
		of.n.mu.Unlock()
	}
	return nil
}

// deleteKeys deletes a batch of keys, one by one for keys XML cannot carry.
func (fsys *FS) deleteKeys(ctx context.Context, objs []obsclient.ObjectInfo) error {
	ids := make([]obsclient.ObjectID, 0, len(objs))
	for _, o := range objs {
		ids = append(ids, obsclient.ObjectID{Key: o.Key})
	}
	out, err := fsys.store.DeleteObjects(ctx, &obsclient.DeleteObjectsInput{Bucket: fsys.cfg.Bucket, Objects: ids, Quiet: true})
	if errors.Is(err, obsclient.ErrInvalidArgument) {
		return forEachParallel(ctx, ids, func(ctx context.Context, id obsclient.ObjectID) error {
			_, err := fsys.store.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: fsys.cfg.Bucket, Key: id.Key})
			return err
		})
	}
	if err != nil {
		return err
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		return &obsclient.Error{Status: 500, Code: e.Code, Message: "deleting " + e.Key + ": " + e.Message}
	}
	return nil
}

// openFile is a file open below a directory, by path relative to it.
type openFile struct {
	rel string
	n   *fileNode
}

func (d *dirNode) openFiles(rel string) []openFile {
	var out []openFile
	for name, ch := range d.Children() {
		switch n := ch.Operations().(type) {
		case *fileNode:
			if n.pinned() {
				out = append(out, openFile{rel + name, n})
			}
		case *dirNode:
			out = append(out, n.openFiles(rel+name+"/")...)
		}
	}
	return out
}
