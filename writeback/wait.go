package writeback

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Waits and their ends.
//
// Every wait that an operation of the application can block in (write
// buffer full, a part still uploading, a commit running) ends when the
// operation's context does: waitLocked is cond.Wait that also wakes on
// ctx.Done. A commit never runs in the goroutine of the operation that
// asked for it: it runs in its own (startCommitLocked) and the operation
// waits for its outcome (commitWaitLocked), so that an operation whose
// caller was killed, or whose time budget ran out, returns at once while
// the commit goes on to its end under its own deadline — never left half
// done — and logs what became of it.
//
// A commit's deadline is about progress, not total time: it fails with
// ErrStalled once no request of it has completed for Config.CommitTimeout
// (a store that stopped answering), however long a commit that keeps
// progressing takes (a large file still uploading its last parts).

// ErrStalled is the error of a commit that made no progress for
// Config.CommitTimeout. It wraps context.DeadlineExceeded.
var ErrStalled = fmt.Errorf("writeback: the commit made no progress within the commit timeout: %w", context.DeadlineExceeded)

// waitLocked waits on f.cond like cond.Wait (mu held, released while
// waiting) and also wakes when ctx ends, returning ctx's error then.
// Callers loop on their condition, as with cond.Wait.
func (f *File) waitLocked(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	f.cond.Wait()
	stop()
	return ctx.Err()
}

// commitRun is one commit of a File, running in its own goroutine.
type commitRun struct {
	done      bool  // guarded by File.mu
	err       error // guarded by File.mu: the outcome, once done
	abandoned bool  // guarded by File.mu: a caller stopped waiting for it
}

// startCommitLocked starts a commit in a new goroutine and returns it.
// Called with mu held and no commit running; the commit is running (f.run
// set) from the moment this returns.
func (f *File) startCommitLocked() *commitRun {
	run := &commitRun{}
	f.run = run
	go func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		err := f.commitRunLocked()
		run.err, run.done = err, true
		f.run = nil
		f.cond.Broadcast()
		if run.abandoned {
			log := f.m.log.WithField("key", f.key)
			if err != nil {
				log.WithError(err).Warn("commit whose caller stopped waiting failed: the store keeps the previous version")
			} else {
				log.Info("commit whose caller stopped waiting succeeded")
			}
		}
	}()
	return run
}

// commitWaitLocked commits the file and returns the outcome, or ctx's
// error as soon as ctx ends: the commit then goes on in the background
// and logs its outcome (a failure is also sticky, as always). Called with
// mu held and no commit running.
func (f *File) commitWaitLocked(ctx context.Context) error {
	run := f.startCommitLocked()
	for !run.done {
		if err := f.waitLocked(ctx); err != nil && !run.done {
			run.abandoned = true
			f.m.log.WithField("key", f.key).WithError(err).Info("caller stopped waiting for the commit; it goes on in the background")
			return err
		}
	}
	return run.err
}

// stallGuard returns a context under parent that is cancelled, with
// cause ErrStalled, once the file's store work has not progressed (see
// lastProgress) for Config.CommitTimeout. The call counts as progress.
func (f *File) stallGuard(parent context.Context) (context.Context, func()) {
	d := f.m.cfg.CommitTimeout
	f.noteProgress()
	ctx, cancel := context.WithCancelCause(parent)
	var mu sync.Mutex // orders the timer's creation before its first run
	var t *time.Timer
	stopped := false
	check := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		idle := time.Duration(time.Now().UnixNano() - f.lastProgress.Load())
		if idle >= d {
			cancel(ErrStalled)
			return
		}
		t.Reset(d - idle)
	}
	mu.Lock()
	t = time.AfterFunc(d, check)
	mu.Unlock()
	return ctx, func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
		cancel(context.Canceled)
	}
}

// explain returns ErrStalled (wrapping err's text) when ctx was cancelled
// by the guard, so that a request cut by the stall deadline reads as the
// stall it is, not as a cancellation; err otherwise.
func explain(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), ErrStalled) {
		return fmt.Errorf("%w (%v)", ErrStalled, err)
	}
	return err
}

// Committing reports whether a commit is running (possibly one whose
// caller stopped waiting, going on in the background).
func (f *File) Committing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.run != nil
}

// WaitCommit waits until no commit runs. It is bounded by the commit's
// own deadline (Config.CommitTimeout without progress).
func (f *File) WaitCommit() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.run != nil {
		f.cond.Wait()
	}
}
