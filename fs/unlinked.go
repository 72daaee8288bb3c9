package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"syscall"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
)

// Files unlinked while open.
//
// POSIX keeps an unlinked file usable through its open descriptors until
// the last one is closed; programs rely on it for temporary files (open,
// unlink, then write and read). The name goes at once: at unlink (or when
// a rename replaces the file) the committed object is moved server-side
// to a hidden key under the reserved staging directory,
// <prefix>.obsfs-staging/<random>/unlinked, and the file's open content
// (writeback.File.Relocate) keeps every change not yet committed and reads
// the rest from there. Writes go on into the write buffer; close and
// fsync commit nothing (nobody can see the file); only memory pressure may
// commit it, to the hidden key. When the last descriptor is released, the
// uncommitted changes are dropped (an upload in progress is aborted) and
// the hidden object is deleted. The hidden key is journaled (writeback
// Journal) before the object can exist and until it is deleted, so after
// a crash the next mount deletes it, like a staged part.
//
// Costs: moving an open file is a server-side copy of it (a multipart copy
// above --copy-threshold); a file with parts already uploaded is committed
// first, to its old key, since uploaded parts cannot move to another
// upload. A file that has failed (a sticky upload error), or whose object
// another client replaced or deleted meanwhile, is discarded instead, as
// before: its descriptors then fail with EIO.

// hiddenKey names a fresh hidden object for an unlinked file.
func (fsys *FS) hiddenKey() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fsys.cfg.Prefix + StagingDir + "/" + hex.EncodeToString(b[:]) + "/unlinked"
}

// unlinkOpen removes the file's name key when the file is open, keeping
// its data for its descriptors. With del false (a rename replacing the
// file), the object at key is left for the rename to overwrite.
// done=false: the file is not open (or was discarded), and the caller
// deletes the object as for any file.
func (n *fileNode) unlinkOpen(ctx context.Context, key string, del bool) (done bool, errno syscall.Errno) {
	fsys := n.fsys
	ctx, release := fsys.op(ctx)
	defer release()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.wf == nil {
		if del {
			n.unlinked, n.exists = true, false
		}
		return false, 0
	}
	hidden := fsys.hiddenKey()
	if err := fsys.wb.Journal().BeginObject(hidden); err != nil {
		return false, fsys.toErrno("unlink", key, err)
	}
	var tried, moved bool // move ran; move succeeded
	err := n.wf.Relocate(ctx, hidden, func(base writeback.Version) (writeback.Version, error) {
		tried = true
		ver := base
		if base.Exists {
			etag, err := fsys.copyObject(ctx, key, hidden, base)
			if err != nil {
				return base, err
			}
			ver.ETag = etag
		}
		if del {
			if _, err := fsys.store.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: fsys.cfg.Bucket, Key: key}); err != nil {
				return base, err // the copy is deleted below
			}
		}
		moved = true
		return ver, nil
	})
	switch {
	case err != nil && tried && !moved:
		fsys.deleteHidden(ctx, hidden) // made, or a failed copy may have made it
	case err != nil && !tried:
		fsys.wb.Journal().EndObject(hidden) // never made
	}
	switch {
	case err == nil:
		n.hidden.Store(&hidden)
		n.unlinked, n.exists = true, false
		return true, 0
	case n.wf.Err() != nil || errors.Is(err, writeback.ErrConflict) || obsclient.IsPreconditionFailed(err) || obsclient.IsNotFound(err):
		// Failed already, or the version its descriptors read is gone:
		// nothing left to keep.
		n.wf.Discard()
		n.wf = nil
		n.unlinked, n.exists = true, false
		return false, 0
	default:
		return false, fsys.toErrno("unlink", key, err)
	}
}

// releaseUnlinkedLocked ends an unlinked file at its last release: what
// it holds is dropped, the hidden object deleted. With mu held.
func (n *fileNode) releaseUnlinkedLocked(ctx context.Context) {
	n.wf.Discard()
	n.wf = nil
	if p := n.hidden.Load(); p != nil {
		ctx, done := n.fsys.op(ctx)
		defer done()
		n.fsys.deleteHidden(ctx, *p)
	}
}

// deleteHidden deletes a hidden object and takes it off the journal, or
// logs the failure (the object is then left under the staging directory,
// still journaled: the next mount deletes it).
func (fsys *FS) deleteHidden(ctx context.Context, key string) {
	if _, err := fsys.store.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: fsys.cfg.Bucket, Key: key}); err != nil {
		fsys.toErrno("delete unlinked file", key, err)
		return
	}
	fsys.wb.Journal().EndObject(key)
}

// relink undoes unlinkOpen(key, false) after the rename that replaced the
// file failed: its data moves back to key (a server-side copy, since
// memory pressure may have committed changes to the hidden object). If
// that fails too, the file stays unlinked, the error is logged, and it
// returns false.
func (n *fileNode) relink(ctx context.Context, key string) bool {
	fsys := n.fsys
	ctx, done := fsys.op(ctx)
	defer done()
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.hidden.Load()
	if p == nil || n.wf == nil {
		return true // was not open: nothing was moved
	}
	hidden := *p
	var ver writeback.Version
	err := n.wf.Relocate(ctx, key, func(base writeback.Version) (writeback.Version, error) {
		ver = base
		if base.Exists {
			etag, err := fsys.copyObject(ctx, hidden, key, base)
			if err != nil {
				return base, err
			}
			ver.ETag = etag
		}
		return ver, nil
	})
	if err != nil {
		fsys.toErrno("rename", key, err)
		return false
	}
	fsys.deleteHidden(ctx, hidden)
	n.hidden.Store(nil)
	n.unlinked, n.exists, n.size, n.etag = false, ver.Exists, ver.Size, ver.ETag
	n.changedLocked(key)
	return true
}
