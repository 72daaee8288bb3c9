package fs

import (
	"context"
	"strconv"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Permission checks and privilege clearing that obsfs makes itself.
//
// The kernel checks permissions (the mount uses default_permissions)
// against the attributes obsfs last gave it. Those are right except for
// an object seen only in a listing, which carries no metadata: its
// attributes are the --file-mode/--uid/--gid defaults until obsfs reads
// the object's own (README, "Metadata"). Opening such a file, by a user
// other than root and obsfs's own, reads them first and, if they differ
// from what the kernel saw, checks the open against them here
// (mayAccess); the kernel is then told to drop what it holds. A write without CAP_FSETID clears setuid/setgid like ext4 does,
// including writes that bypass the kernel's page cache (FOPEN_DIRECT_IO),
// for which the kernel does not.

// cred is what a FUSE request says of its caller, completed from
// /proc/<pid>/status: supplementary groups and effective capabilities.
type cred struct {
	uid, gid uint32   // filesystem uid and gid (the request's)
	groups   []uint32 // supplementary groups
	caps     uint64   // effective capabilities
}

// Capability bits (linux/capability.h).
const (
	capDacOverride   = 1
	capDacReadSearch = 2
	capFsetid        = 4
)

func (c cred) has(capBit uint) bool { return c.caps&(1<<capBit) != 0 }

func (c cred) inGroup(gid uint32) bool {
	if c.gid == gid {
		return true
	}
	for _, g := range c.groups {
		if g == gid {
			return true
		}
	}
	return false
}

// callerCred returns the credentials of the process making the request.
// Without a caller (an internal call) it is the mount's owner with no
// capabilities; when /proc cannot say more (the process is gone, or in
// another PID namespace), uid 0 is taken to hold every capability and
// others none, and the only group is the request's.
func (fsys *FS) callerCred(ctx context.Context) cred {
	c, ok := fuse.FromContext(ctx)
	if !ok {
		return cred{uid: fsys.cfg.UID, gid: fsys.cfg.GID}
	}
	out := cred{uid: c.Uid, gid: c.Gid}
	if c.Uid == 0 {
		out.caps = ^uint64(0)
	}
	if c.Pid == 0 {
		return out
	}
	status, err := readProcStatus(c.Pid)
	if err != nil {
		return out
	}
	if st, ok := parseProcStatus(status); ok && st.uid == c.Uid && st.gid == c.Gid {
		return st // the same process (a PID reused meanwhile would differ)
	}
	return out
}

// parseProcStatus reads the filesystem uid and gid, the supplementary
// groups and the effective capabilities from /proc/<pid>/status.
func parseProcStatus(status string) (cred, bool) {
	var c cred
	fields := statusFields(status)
	for _, name := range []string{"Uid", "Gid"} { // real, effective, saved, filesystem
		f := strings.Fields(fields[name])
		if len(f) != 4 {
			return cred{}, false
		}
		n, err := strconv.ParseUint(f[3], 10, 32)
		if err != nil {
			return cred{}, false
		}
		if name == "Uid" {
			c.uid = uint32(n)
		} else {
			c.gid = uint32(n)
		}
	}
	groups, ok := fields["Groups"]
	if !ok {
		return cred{}, false
	}
	for _, g := range strings.Fields(groups) {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return cred{}, false
		}
		c.groups = append(c.groups, uint32(n))
	}
	caps, err := strconv.ParseUint(fields["CapEff"], 16, 64)
	if err != nil {
		return cred{}, false
	}
	c.caps = caps
	return c, true
}

// Access bits, as in access(2).
const (
	mayRead  = 4
	mayWrite = 2
	mayExec  = 1
)

// mayAccess reports whether c may access an object with attributes a
// for want (mayRead|mayWrite|mayExec), as the kernel's
// generic_permission decides it without ACLs: the owner's bits for the
// owner, else the group's for a member, else the others'; then
// CAP_DAC_OVERRIDE grants everything but executing a file that no one may
// execute, and CAP_DAC_READ_SEARCH reading files and reading and
// searching directories.
func mayAccess(a attr, c cred, want uint32) bool {
	perm := a.mode & 0o7
	switch {
	case c.uid == a.uid:
		perm = a.mode >> 6 & 0o7
	case c.inGroup(a.gid):
		perm = a.mode >> 3 & 0o7
	}
	if perm&want == want {
		return true
	}
	dir := a.mode&syscall.S_IFMT == syscall.S_IFDIR
	if c.has(capDacOverride) && (want&mayExec == 0 || dir || a.mode&0o111 != 0) {
		return true
	}
	if c.has(capDacReadSearch) && want&mayWrite == 0 && (want&mayExec == 0 || dir) {
		return true
	}
	return false
}

// accessFor is what opening with flags asks for.
func accessFor(flags uint32) uint32 {
	var want uint32
	switch flags & syscall.O_ACCMODE {
	case syscall.O_RDONLY:
		want = mayRead
	case syscall.O_WRONLY:
		want = mayWrite
	default:
		want = mayRead | mayWrite
	}
	if flags&syscall.O_TRUNC != 0 {
		want |= mayWrite
	}
	const fmodeExec = 0o40 // __FMODE_EXEC: the open of execve
	if flags&fmodeExec != 0 {
		want |= mayExec
	}
	return want
}

// privsToKill returns the setuid/setgid bits a write (or truncate) by c
// clears from a regular file's mode, as the kernel's should_remove_suid
// does: setuid always, setgid when group-executable (else it marks
// mandatory locking) or when the writer is not in the file's group;
// nothing for a writer with CAP_FSETID.
func privsToKill(a attr, c cred) uint32 {
	if a.mode&syscall.S_IFMT != syscall.S_IFREG || c.has(capFsetid) {
		return 0
	}
	var kill uint32
	if a.mode&syscall.S_ISUID != 0 {
		kill |= syscall.S_ISUID
	}
	if a.mode&syscall.S_ISGID != 0 && (a.mode&syscall.S_IXGRP != 0 || !c.inGroup(a.gid)) {
		kill |= syscall.S_ISGID
	}
	return kill
}

// samePerms reports whether a and b grant the same access.
func samePerms(a, b attr) bool {
	return a.mode == b.mode && a.uid == b.uid && a.gid == b.gid
}

// checkUnseenLocked: a file whose attributes came from a listing (the
// defaults) has its own read first (HEAD), and if they differ from what
// the kernel checked want against, want is checked here against them and
// the kernel is told to drop its copy. Opens by root (who may read and
// write anything) and by the user obsfs runs as (who holds the bucket's
// keys) are not checked: they cost no request. With mu held.
func (n *fileNode) checkUnseenLocked(ctx context.Context, want uint32) syscall.Errno {
	if n.metaLoaded || !n.exists || n.wf != nil {
		return 0 // an open file's attributes were read at its first open
	}
	if c, ok := fuse.FromContext(ctx); !ok || c.Uid == 0 || c.Uid == n.fsys.self {
		return 0
	}
	shown := n.a
	if errno := n.headLocked(ctx, n.key()); errno != 0 {
		return errno
	}
	if samePerms(shown, n.a) {
		return 0
	}
	n.NotifyContent(-1, 0) // attributes only
	if !mayAccess(n.a, n.fsys.callerCred(ctx), want) {
		return syscall.EACCES
	}
	return 0
}

// killPrivsLocked clears setuid/setgid after a write by a caller without
// CAP_FSETID; the commit that stores the write stores the mode. The
// kernel clears them itself (a SETATTR of the mode) for writes through
// its page cache, truncates and chowns, but not for writes of a
// FOPEN_DIRECT_IO descriptor (obsfs's write-only ones). With mu held.
func (n *fileNode) killPrivsLocked(ctx context.Context) syscall.Errno {
	if n.a.mode&(syscall.S_ISUID|syscall.S_ISGID) == 0 {
		return 0 // the common case costs nothing
	}
	kill := privsToKill(n.a, n.fsys.callerCred(ctx))
	if kill == 0 {
		return 0
	}
	n.a.mode &^= kill
	n.NotifyContent(-1, 0)
	ctx, done := n.fsys.op(ctx)
	defer done()
	return n.metaChangedLocked(ctx)
}
