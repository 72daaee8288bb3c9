package fs

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// OpObserver is told about every FUSE request served, once it has been
// answered, and about the bytes programs read and write (cmd/obsfs feeds
// Prometheus collectors from it). Calls come from many goroutines at once,
// on the request's path: they must be cheap and must not block.
type OpObserver interface {
	// ObserveOp reports one request of kind op that took d; ok is false
	// when it was answered with an error.
	ObserveOp(op Op, d time.Duration, ok bool)
	// ObserveRead reports the bytes returned by one READ.
	ObserveRead(n int)
	// ObserveWrite reports the bytes accepted by one WRITE.
	ObserveWrite(n int)
}

// Op is a kind of FUSE request.
type Op uint8

// The FUSE requests, as go-fuse's RawFileSystem receives them (READDIR
// and READDIRPLUS are distinct; WRITE covers both of go-fuse's write
// calls).
const (
	OpLookup Op = iota
	OpForget
	OpGetattr
	OpSetattr
	OpMknod
	OpMkdir
	OpUnlink
	OpRmdir
	OpRename
	OpLink
	OpSymlink
	OpReadlink
	OpAccess
	OpGetxattr
	OpListxattr
	OpSetxattr
	OpRemovexattr
	OpCreate
	OpTmpfile
	OpOpen
	OpRead
	OpLseek
	OpGetlk
	OpSetlk
	OpSetlkw
	OpRelease
	OpWrite
	OpCopyFileRange
	OpIoctl
	OpFlush
	OpFsync
	OpFallocate
	OpOpendir
	OpReaddir
	OpReaddirplus
	OpReleasedir
	OpFsyncdir
	OpStatfs
	OpStatx
	NumOps // the number of kinds
)

var opNames = [NumOps]string{
	"lookup", "forget", "getattr", "setattr", "mknod", "mkdir", "unlink", "rmdir", "rename", "link",
	"symlink", "readlink", "access", "getxattr", "listxattr", "setxattr", "removexattr", "create",
	"tmpfile", "open", "read", "lseek", "getlk", "setlk", "setlkw", "release", "write",
	"copy_file_range", "ioctl", "flush", "fsync", "fallocate", "opendir", "readdir", "readdirplus",
	"releasedir", "fsyncdir", "statfs", "statx",
}

// String is the request's name in lower case ("getattr", "write").
func (o Op) String() string {
	if o < NumOps {
		return opNames[o]
	}
	return "unknown"
}

// Instrument returns raw (the node tree's RawFileSystem, from
// fusefs.NewNodeFS) with every request timed and reported to obs. It
// costs two clock reads and one call of obs per request.
func Instrument(raw fuse.RawFileSystem, obs OpObserver) fuse.RawFileSystem {
	return &instrumented{RawFileSystem: raw, obs: obs}
}

// instrumented wraps every request method of a RawFileSystem; the others
// (String, SetDebug, Init, OnUnmount) pass through.
type instrumented struct {
	fuse.RawFileSystem
	obs OpObserver
}

func (r *instrumented) done(op Op, t0 time.Time, st fuse.Status) {
	r.obs.ObserveOp(op, time.Since(t0), st == fuse.OK)
}

func (r *instrumented) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Lookup(c, h, name, out)
	r.done(OpLookup, t0, st)
	return st
}

func (r *instrumented) Forget(nodeid, nlookup uint64) {
	t0 := time.Now()
	r.RawFileSystem.Forget(nodeid, nlookup)
	r.done(OpForget, t0, fuse.OK)
}

func (r *instrumented) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.GetAttr(c, in, out)
	r.done(OpGetattr, t0, st)
	return st
}

func (r *instrumented) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.SetAttr(c, in, out)
	r.done(OpSetattr, t0, st)
	return st
}

func (r *instrumented) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Mknod(c, in, name, out)
	r.done(OpMknod, t0, st)
	return st
}

func (r *instrumented) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Mkdir(c, in, name, out)
	r.done(OpMkdir, t0, st)
	return st
}

func (r *instrumented) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Unlink(c, h, name)
	r.done(OpUnlink, t0, st)
	return st
}

func (r *instrumented) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Rmdir(c, h, name)
	r.done(OpRmdir, t0, st)
	return st
}

func (r *instrumented) Rename(c <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Rename(c, in, oldName, newName)
	r.done(OpRename, t0, st)
	return st
}

func (r *instrumented) Link(c <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Link(c, in, name, out)
	r.done(OpLink, t0, st)
	return st
}

func (r *instrumented) Symlink(c <-chan struct{}, h *fuse.InHeader, to, name string, out *fuse.EntryOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Symlink(c, h, to, name, out)
	r.done(OpSymlink, t0, st)
	return st
}

func (r *instrumented) Readlink(c <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	t0 := time.Now()
	out, st := r.RawFileSystem.Readlink(c, h)
	r.done(OpReadlink, t0, st)
	return out, st
}

func (r *instrumented) Access(c <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Access(c, in)
	r.done(OpAccess, t0, st)
	return st
}

func (r *instrumented) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	t0 := time.Now()
	n, st := r.RawFileSystem.GetXAttr(c, h, attr, dest)
	r.done(OpGetxattr, t0, st)
	return n, st
}

func (r *instrumented) ListXAttr(c <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	t0 := time.Now()
	n, st := r.RawFileSystem.ListXAttr(c, h, dest)
	r.done(OpListxattr, t0, st)
	return n, st
}

func (r *instrumented) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.SetXAttr(c, in, attr, data)
	r.done(OpSetxattr, t0, st)
	return st
}

func (r *instrumented) RemoveXAttr(c <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.RemoveXAttr(c, h, attr)
	r.done(OpRemovexattr, t0, st)
	return st
}

func (r *instrumented) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Create(c, in, name, out)
	r.done(OpCreate, t0, st)
	return st
}

func (r *instrumented) Tmpfile(c <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Tmpfile(c, in, out)
	r.done(OpTmpfile, t0, st)
	return st
}

func (r *instrumented) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Open(c, in, out)
	r.done(OpOpen, t0, st)
	return st
}

func (r *instrumented) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	t0 := time.Now()
	res, st := r.RawFileSystem.Read(c, in, buf)
	r.done(OpRead, t0, st)
	if st == fuse.OK && res != nil {
		r.obs.ObserveRead(res.Size())
	}
	return res, st
}

func (r *instrumented) Lseek(c <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Lseek(c, in, out)
	r.done(OpLseek, t0, st)
	return st
}

func (r *instrumented) GetLk(c <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.GetLk(c, in, out)
	r.done(OpGetlk, t0, st)
	return st
}

func (r *instrumented) SetLk(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.SetLk(c, in)
	r.done(OpSetlk, t0, st)
	return st
}

func (r *instrumented) SetLkw(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.SetLkw(c, in)
	r.done(OpSetlkw, t0, st)
	return st
}

func (r *instrumented) Release(c <-chan struct{}, in *fuse.ReleaseIn) {
	t0 := time.Now()
	r.RawFileSystem.Release(c, in)
	r.done(OpRelease, t0, fuse.OK)
}

func (r *instrumented) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	t0 := time.Now()
	n, st := r.RawFileSystem.Write(c, in, data)
	r.done(OpWrite, t0, st)
	r.obs.ObserveWrite(int(n))
	return n, st
}

func (r *instrumented) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	t0 := time.Now()
	n, st := r.RawFileSystem.Writev(c, in, data)
	if st == fuse.ENOSYS { // go-fuse calls Write next
		return n, st
	}
	r.done(OpWrite, t0, st)
	r.obs.ObserveWrite(int(n))
	return n, st
}

func (r *instrumented) CopyFileRange(c <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	t0 := time.Now()
	n, st := r.RawFileSystem.CopyFileRange(c, in)
	r.done(OpCopyFileRange, t0, st)
	return n, st
}

func (r *instrumented) Ioctl(c <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Ioctl(c, in, inbuf, out, outbuf)
	r.done(OpIoctl, t0, st)
	return st
}

func (r *instrumented) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Flush(c, in)
	r.done(OpFlush, t0, st)
	return st
}

func (r *instrumented) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Fsync(c, in)
	r.done(OpFsync, t0, st)
	return st
}

func (r *instrumented) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Fallocate(c, in)
	r.done(OpFallocate, t0, st)
	return st
}

func (r *instrumented) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.OpenDir(c, in, out)
	r.done(OpOpendir, t0, st)
	return st
}

func (r *instrumented) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.ReadDir(c, in, out)
	r.done(OpReaddir, t0, st)
	return st
}

func (r *instrumented) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.ReadDirPlus(c, in, out)
	r.done(OpReaddirplus, t0, st)
	return st
}

func (r *instrumented) ReleaseDir(in *fuse.ReleaseIn) {
	t0 := time.Now()
	r.RawFileSystem.ReleaseDir(in)
	r.done(OpReleasedir, t0, fuse.OK)
}

func (r *instrumented) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.FsyncDir(c, in)
	r.done(OpFsyncdir, t0, st)
	return st
}

func (r *instrumented) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.StatFs(c, h, out)
	r.done(OpStatfs, t0, st)
	return st
}

func (r *instrumented) Statx(c <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	t0 := time.Now()
	st := r.RawFileSystem.Statx(c, in, out)
	r.done(OpStatx, t0, st)
	return st
}
