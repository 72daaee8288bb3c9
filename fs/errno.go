package fs

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
	"github.com/sirupsen/logrus"
)

// errno maps an error to the errno a file operation returns. It is pure;
// toErrno adds logging. The order matters: the most specific cause first.
func errno(err error) syscall.Errno {
	var en syscall.Errno
	var netErr *net.OpError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &netErr):
		// The connection to the store failed (a reset, a refused dial):
		// a store failure, whatever errno the socket had.
		return syscall.EIO
	case errors.As(err, &en):
		return en
	case errors.Is(err, writeback.ErrFileTooLarge):
		return syscall.EFBIG
	case errors.Is(err, writeback.ErrConflict):
		return syscall.ESTALE
	case errors.Is(err, writeback.ErrExists):
		return syscall.EEXIST // another writer created the file first
	case errors.Is(err, writeback.ErrDiscarded):
		return syscall.EIO
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, context.DeadlineExceeded):
		return syscall.EIO // the operation's time budget (or a commit's) ran out: a store failure
	case errors.Is(err, obsclient.ErrInvalidArgument):
		return syscall.EINVAL
	}
	if e := obsclient.AsError(err); e != nil {
		switch e.Code {
		case "NoSuchBucket":
			// The bucket went away under the mount: no name in it can be
			// said to exist or not. A store failure, not an absence.
			return syscall.EIO
		case "NoSuchKey", "NotFound":
			return syscall.ENOENT
		case "BucketNotEmpty":
			return syscall.ENOTEMPTY
		case "EntityTooLarge":
			return syscall.EFBIG
		case "KeyTooLongError", "XMinioInvalidObjectName":
			return syscall.ENAMETOOLONG
		case "InsufficientStorageSpace", "QuotaExceeded", "XMinioStorageFull":
			return syscall.ENOSPC
		case "PreconditionFailed":
			return syscall.ESTALE
		}
		switch e.Status {
		case 403:
			return syscall.EACCES
		case 404:
			return syscall.ENOENT
		case 412:
			return syscall.ESTALE
		}
	}
	return syscall.EIO
}

// toErrno maps err for operation op on key and logs it once: expected
// outcomes (not found) at debug level, everything else as an error with
// the request ID.
func (fsys *FS) toErrno(op, key string, err error) syscall.Errno {
	e := errno(err)
	if e == 0 {
		return 0
	}
	log := fsys.log.WithFields(logrus.Fields{"op": op, "key": key, "errno": e.Error()})
	if id := obsclient.RequestID(err); id != "" {
		log = log.WithField("req_id", id)
	}
	if bucketGone(err) {
		// One line says it, not one per operation.
		if fsys.bucketGone.CompareAndSwap(false, true) {
			log.WithError(err).Errorf("bucket %s does not exist any more (deleted?): every operation fails with EIO", fsys.cfg.Bucket)
		} else {
			log.WithError(err).Debug("operation failed")
		}
		return e
	}
	switch {
	case e == syscall.ENOENT || e == syscall.EEXIST || e == syscall.ENOTEMPTY || e == syscall.ENAMETOOLONG || e == syscall.EINTR:
		log.WithError(err).Debug("operation failed")
	case errors.Is(err, context.DeadlineExceeded):
		log.WithError(err).Error("operation failed: the store did not answer within the operation's time budget (--op-timeout)")
	default:
		log.WithError(err).Error("operation failed")
	}
	return e
}

// bucketGone reports a store error saying that the bucket does not exist.
func bucketGone(err error) bool {
	e := obsclient.AsError(err)
	return e != nil && e.Code == "NoSuchBucket"
}
