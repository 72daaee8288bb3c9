package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
)

func TestErrno(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("op on %q: %w", "k", err) }
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{syscall.ENOTDIR, syscall.ENOTDIR},
		{wrap(syscall.EEXIST), syscall.EEXIST},
		{wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), syscall.EIO},
		{wrap(&url.Error{Op: "Put", URL: "http://127.0.0.1:9000/b/k", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}), syscall.EIO},
		{wrap(&os.PathError{Op: "write", Path: "/var/lib/obsfs/j", Err: syscall.ENOSPC}), syscall.ENOSPC},
		{wrap(writeback.ErrFileTooLarge), syscall.EFBIG},
		{wrap(writeback.ErrConflict), syscall.ESTALE},
		{wrap(writeback.ErrExists), syscall.EEXIST},
		{wrap(fmt.Errorf("%w: %w", writeback.ErrExists, &obsclient.Error{Status: 412, Code: "PreconditionFailed"})), syscall.EEXIST},
		{wrap(writeback.ErrDiscarded), syscall.EIO},
		{wrap(context.Canceled), syscall.EINTR},
		{wrap(context.DeadlineExceeded), syscall.EIO},
		{wrap(writeback.ErrStalled), syscall.EIO},
		{wrap(fmt.Errorf("%w: bad", obsclient.ErrInvalidArgument)), syscall.EINVAL},
		{wrap(&obsclient.Error{Status: 404, Code: "NoSuchKey"}), syscall.ENOENT},
		{wrap(&obsclient.Error{Status: 404, Code: "NoSuchUpload"}), syscall.ENOENT},
		{wrap(&obsclient.Error{Status: 404, Code: "NoSuchBucket"}), syscall.EIO},
		{wrap(&obsclient.Error{Status: 403, Code: "AccessDenied"}), syscall.EACCES},
		{wrap(&obsclient.Error{Status: 409, Code: "BucketNotEmpty"}), syscall.ENOTEMPTY},
		{wrap(&obsclient.Error{Status: 400, Code: "EntityTooLarge"}), syscall.EFBIG},
		{wrap(&obsclient.Error{Status: 400, Code: "KeyTooLongError"}), syscall.ENAMETOOLONG},
		{wrap(&obsclient.Error{Status: 507, Code: "XMinioStorageFull"}), syscall.ENOSPC},
		{wrap(&obsclient.Error{Status: 412, Code: "PreconditionFailed"}), syscall.ESTALE},
		{wrap(&obsclient.Error{Status: 500, Code: "InternalError"}), syscall.EIO},
		{wrap(&obsclient.Error{Status: 400, Code: "BadDigest"}), syscall.EIO},
		{wrap(io.ErrUnexpectedEOF), syscall.EIO},
		{errors.New("anything else"), syscall.EIO},
	}
	for _, c := range cases {
		if got := errno(c.err); got != c.want {
			t.Errorf("errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
