package fs

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// opTestFS is an FS with just what op needs, and a fake dying check.
func opTestFS(timeout time.Duration, dying *atomic.Bool) *FS {
	return &FS{cfg: Config{OpTimeout: timeout}, dying: func(uint32, uint32) bool { return dying.Load() }}
}

// request is a go-fuse request context of caller pid, and its interrupt.
func request(pid uint32) (*fuse.Context, func()) {
	c := make(chan struct{})
	return &fuse.Context{Caller: fuse.Caller{Pid: pid, Owner: fuse.Owner{Uid: 7}}, Cancel: c}, func() { close(c) }
}

// waitDone waits up to limit (generous: the machine may be loaded) for
// ctx to end.
func waitDone(t *testing.T, ctx context.Context, limit time.Duration) bool {
	t.Helper()
	select {
	case <-ctx.Done():
		return true
	case <-time.After(limit):
		return false
	}
}

// TestOpContextSurvivesInterruptOfALiveCaller: an INTERRUPT (a signal the
// caller survives, like Go's SIGURG) must not cancel store work.
func TestOpContextSurvivesInterruptOfALiveCaller(t *testing.T) {
	var dying atomic.Bool
	fsys := opTestFS(time.Hour, &dying)
	req, interrupt := request(42)
	ctx, done := fsys.op(req)
	defer done()
	if c, ok := fuse.FromContext(ctx); !ok || c.Uid != 7 {
		t.Fatalf("the operation context lost the caller's credentials: %v %v", c, ok)
	}
	interrupt()
	if waitDone(t, ctx, slowOpCheck+5*dyingPoll) { // the slow-operation check runs too
		t.Fatalf("operation context ended (%v) after an interrupt of a live caller", context.Cause(ctx))
	}
}

// TestOpContextEndsWhenTheCallerIsKilled: killed at the interrupt, or
// later (the kernel sends INTERRUPT only once: the check must go on), or
// with no interrupt at all (a request the kernel made on its own, such as
// read-ahead: a slow operation's caller is checked anyway).
func TestOpContextEndsWhenTheCallerIsKilled(t *testing.T) {
	for _, c := range []struct {
		name             string
		later, interrupt bool
	}{
		{"dying at the interrupt", false, true},
		{"killed after the interrupt", true, true},
		{"killed, no interrupt", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			later := c.later
			var dying atomic.Bool
			fsys := opTestFS(time.Hour, &dying)
			req, interrupt := request(42)
			ctx, done := fsys.op(req)
			defer done()
			if !later {
				dying.Store(true)
			}
			if c.interrupt {
				interrupt()
			}
			if later {
				time.Sleep(3 * dyingPoll) // several checks find it alive
				if ctx.Err() != nil {
					t.Fatal("ended while the caller was alive")
				}
				dying.Store(true)
			}
			if !waitDone(t, ctx, 10*time.Second) {
				t.Fatal("operation context still running 10s after its caller was killed")
			}
			if !errors.Is(context.Cause(ctx), errCallerDying) || errno(ctx.Err()) != syscall.EINTR {
				t.Errorf("cause %v, errno %v; want the caller's death and EINTR", context.Cause(ctx), errno(ctx.Err()))
			}
		})
	}
}

// TestOpContextBudget: an operation ends after OpTimeout with EIO; a
// nested one shares the outer budget; longOp has none of its own.
func TestOpContextBudget(t *testing.T) {
	var dying atomic.Bool
	fsys := opTestFS(50*time.Millisecond, &dying)
	req, _ := request(42)
	ctx, done := fsys.op(req)
	defer done()
	inner, innerDone := fsys.op(ctx)
	defer innerDone()
	if inner != ctx {
		t.Error("a nested operation got a context (and budget) of its own")
	}
	if !waitDone(t, ctx, 10*time.Second) {
		t.Fatal("operation did not end after its budget")
	}
	if got := errno(ctx.Err()); got != syscall.EIO {
		t.Errorf("an operation out of time maps to %v, want EIO", got)
	}
	long, longDone := fsys.longOp(req)
	defer longDone()
	if _, ok := long.Deadline(); ok {
		t.Error("longOp has a deadline")
	}
	longDone()
	if long.Err() == nil {
		t.Error("releasing a longOp does not end its context")
	}
}

// TestStatusDying parses /proc/PID/status texts.
func TestStatusDying(t *testing.T) {
	status := func(state, sigpnd, shdpnd string) []byte {
		return []byte("Name:\tcat\nState:\t" + state + "\nTgid:\t1\nSigQ:\t0/1\nSigPnd:\t" + sigpnd +
			"\nShdPnd:\t" + shdpnd + "\nSigBlk:\t0000000000000000\n")
	}
	for _, c := range []struct {
		name string
		text []byte
		want bool
	}{
		{"sleeping", status("S (sleeping)", "0000000000000000", "0000000000000000"), false},
		{"in the filesystem, SIGURG pending", status("D (disk sleep)", "0000000000000000", "0000000000800000"), false},
		{"SIGTERM pending, handled", status("S (sleeping)", "0000000000000000", "0000000000004000"), false},
		{"SIGKILL pending on the thread", status("D (disk sleep)", "0000000000000100", "0000000000000000"), true},
		{"SIGKILL pending on the process", status("D (disk sleep)", "0000000000000000", "0000000000000100"), true},
		{"zombie", status("Z (zombie)", "0000000000000000", "0000000000000000"), true},
	} {
		if got := statusDying(string(c.text)); got != c.want {
			t.Errorf("%s: dying %v, want %v", c.name, got, c.want)
		}
	}
	self := uint32(os.Getuid())
	if callerDying(uint32(os.Getpid()), self, self) {
		t.Error("this test process counts as dying")
	}
	if !callerDying(1<<30, self, self) { // beyond pid_max: no such process
		t.Error("a process that is gone does not count as dying")
	}
	if callerDying(1<<30, self+1, self+2) {
		t.Error("another user's process missing from /proc counts as gone, for a non-root obsfs (hidepid hides it)")
	}
	if s, err := os.ReadFile("/proc/self/status"); err == nil && !strings.Contains(string(s), "ShdPnd:") {
		t.Errorf("/proc/self/status has no ShdPnd line: the check cannot work here")
	}
}

// TestReadFailureMemory: a failed read's errno is returned at once to
// reads overlapping it (each of several failed ranges) for
// readFailureMemory, then forgotten.
func TestReadFailureMemory(t *testing.T) {
	now := time.Unix(1000, 0)
	fsys := &FS{now: func() time.Time { return now }}
	h := &handle{n: &fileNode{node: node{fsys: fsys}}}
	h.readFailed(0, 128<<10, syscall.EIO)       // two read-ahead requests failing
	h.readFailed(128<<10, 128<<10, syscall.EIO) // the later one must not hide the first
	for _, c := range []struct {
		off  int64
		n    int
		want syscall.Errno
	}{
		{0, 4096, syscall.EIO}, // the kernel's re-read of the first page
		{128<<10 + 4096, 4096, syscall.EIO},
		{256 << 10, 4096, 0}, // beyond both
	} {
		if got := h.recentFailure(c.off, c.n); got != c.want {
			t.Errorf("read [%d,+%d) right after the failures: %v, want %v", c.off, c.n, got, c.want)
		}
	}
	now = now.Add(readFailureMemory)
	if got := h.recentFailure(0, 4096); got != 0 {
		t.Errorf("a failure %v old is still returned (%v): the store is asked again after that", readFailureMemory, got)
	}
	h.readFailed(1<<20, 10, syscall.ESTALE)
	if len(h.failed) != 1 {
		t.Errorf("%d failures remembered; the expired ones should be dropped", len(h.failed))
	}
}
