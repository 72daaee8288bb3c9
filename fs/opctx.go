package fs

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Operation contexts.
//
// A FUSE operation's request context is cancelled by go-fuse when the
// kernel sends INTERRUPT, which it does for any signal the caller
// receives — including the SIGURG preemption signals every Go program
// sends itself. Store work must not fail for that: an interrupted read
// or close would return EINTR to programs that never asked for it, and
// most do not retry. So store work runs under a context of its own (op):
//
//   - it keeps the request's values (the caller's credentials);
//   - it ends after Config.OpTimeout (the operation's one time budget:
//     context.DeadlineExceeded, which toErrno maps to EIO), except for
//     operations whose work grows with the data (commits, renames,
//     listings: longOp), which are bounded per request and per commit
//     progress instead (see README, "Semantics");
//   - it is cancelled as soon as the caller is dying: killed, or gone.
//     When the request context is cancelled, the caller is checked
//     (/proc/PID/status: SIGKILL pending, or the process gone); a caller
//     still alive is checked again every dyingPoll, since the kernel
//     sends INTERRUPT only once per request and a later kill -9 would go
//     unnoticed. The kernel does not release a killed process blocked in
//     a request the daemon has received until the daemon answers, so
//     this is what makes a program blocked on the store killable.
//     A running operation has its caller checked every slowOpCheck even
//     without an interrupt: requests the kernel sends on its own
//     (read-ahead) get none, yet the pages they fill stay locked — and
//     every other reader of them waits — until they end, long after the
//     program that caused them was killed. The watch starts watchAfter
//     into the operation: most operations end well before, at the cost
//     of a timer.
//
// Operations nest (a rename looks its source up, a mknod creates and
// flushes): the inner operation shares the outer one's context and
// budget, so retries never stack.

// dyingPoll is how often a caller whose request was interrupted is
// checked again; slowOpCheck, how often the caller of a long operation
// is checked without an interrupt; watchAfter, when the watch starts.
const (
	dyingPoll   = 100 * time.Millisecond
	slowOpCheck = time.Second
	watchAfter  = 50 * time.Millisecond
)

// opKey marks a context made by op: an operation nested in another
// shares it.
type opKey struct{}

// errCallerDying is the cause of an operation context cancelled because
// its caller is being killed or is gone.
var errCallerDying = errors.New("the calling process is being killed")

// op returns the context for the store work of a FUSE operation bounded
// by Config.OpTimeout, and the function that releases it (call it when
// the operation ends).
func (fsys *FS) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return fsys.opWith(ctx, true)
}

// longOp is op for operations whose work grows with the data (close and
// fsync, which wait for a commit; rename; directory listings): no total
// deadline — each store request is bounded by the client (its retries
// stop after --op-timeout) and a commit by writeback.Config.CommitTimeout
// without progress — but killable like any other.
func (fsys *FS) longOp(ctx context.Context) (context.Context, context.CancelFunc) {
	return fsys.opWith(ctx, false)
}

func (fsys *FS) opWith(ctx context.Context, deadline bool) (context.Context, context.CancelFunc) {
	if ctx.Value(opKey{}) != nil {
		return ctx, func() {} // nested: the outer operation's budget
	}
	octx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	octx = context.WithValue(octx, opKey{}, true)
	cancel := func() { cancelCause(context.Canceled) }
	if deadline {
		var cancelT context.CancelFunc
		octx, cancelT = context.WithTimeout(octx, fsys.cfg.OpTimeout)
		c := cancel
		cancel = func() { cancelT(); c() }
	}
	caller, ok := fuse.FromContext(ctx)
	if !ok || caller.Pid == 0 || ctx.Done() == nil {
		return octx, cancel
	}
	// Most operations end within microseconds: the watch starts only for
	// those still running after watchAfter (an operation then costs one
	// timer, not a goroutine).
	watch := time.AfterFunc(watchAfter, func() { fsys.watchCaller(ctx, octx, caller.Pid, caller.Uid, cancelCause) })
	return octx, func() { watch.Stop(); cancel() }
}

// watchCaller cancels the operation context octx, of request req, once
// its caller pid is dying: checked every dyingPoll once the request was
// interrupted (is it a signal the caller survives?), every slowOpCheck
// before, until the operation ends.
func (fsys *FS) watchCaller(req, octx context.Context, pid, uid uint32, cancel context.CancelCauseFunc) {
	t := time.NewTimer(slowOpCheck) // an interrupt already received is seen at once below
	defer t.Stop()
	for {
		select {
		case <-octx.Done():
			return
		case <-t.C:
		case <-req.Done():
			req = context.Background() // seen: from now on, poll quickly
		}
		if fsys.dying(pid, uid) {
			cancel(errCallerDying)
			return
		}
		if req.Done() == nil {
			t.Reset(dyingPoll)
		} else {
			t.Reset(slowOpCheck)
		}
	}
}

// callerDying reports whether the process (thread) pid, of user uid, is
// being killed — SIGKILL pending, which the kernel also sets on every
// thread of a process dying of any fatal signal — or is gone or a zombie.
// self is the uid obsfs runs as. A process missing from /proc is gone
// only if obsfs could have seen it: /proc mounted with hidepid hides
// other users' processes from all but root. Other errors reading /proc
// count as alive: a wrong "dying" would fail an operation of a live
// program.
func callerDying(pid, uid, self uint32) bool {
	status, err := readProcStatus(pid)
	if err != nil {
		return errors.Is(err, os.ErrNotExist) && (self == 0 || uid == self)
	}
	return statusDying(status)
}

// statusDying reports, from the text of /proc/PID/status, whether the
// process is dying (see callerDying).
func statusDying(status string) bool {
	const sigkill = 9
	f := statusFields(status)
	if state := f["State"]; strings.HasPrefix(state, "Z") || strings.HasPrefix(state, "X") {
		return true
	}
	for _, name := range []string{"SigPnd", "ShdPnd"} {
		mask, err := strconv.ParseUint(f[name], 16, 64)
		if err == nil && mask&(1<<(sigkill-1)) != 0 {
			return true
		}
	}
	return false
}
