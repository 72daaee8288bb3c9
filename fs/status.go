package fs

import "syscall"

// KeyFor returns the object key of rel, a path relative to the mount's
// root ("a/b.txt"), for `obsfs status PATH`.
func (fsys *FS) KeyFor(rel string) string { return fsys.keyFor(rel) }

// Errno returns the errno a file operation failing with err returns (the
// mapping of toErrno, without its logging), for `obsfs status`.
func Errno(err error) syscall.Errno { return errno(err) }
