package mounttest

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// HangMargin is how long before the test binary's deadline (go test
// -timeout) a guarded mount is aborted, at most: time to print the
// stacks, fail the test and clean up before the deadline kills the
// process. A tenth of -timeout if that is less.
const HangMargin = 2 * time.Minute

// hangMargin is HangMargin for this test binary's -timeout.
func hangMargin() time.Duration {
	if f := flag.Lookup("test.timeout"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if d, ok := g.Get().(time.Duration); ok && d > 0 {
				return min(HangMargin, d/10)
			}
		}
	}
	return HangMargin
}

// StallPoll is how often Guard samples a connection's waiting requests.
const StallPoll = 100 * time.Millisecond

// GuardOptions configure Guard.
type GuardOptions struct {
	// Stall, if positive, is how long the mount's connection may have
	// requests waiting without a break (the kernel's count of the
	// connection's requests, sampled every StallPoll) before it counts as
	// hung: a mount in use has gaps between its requests, one whose
	// server stopped answering has none. Zero: only the deadline applies.
	Stall time.Duration
	// Hung, if not nil, is called after the test process's stacks are
	// printed and before the abort: a server in another process prints
	// its own.
	Hung func()
	// Stacks receives the stacks; default os.Stderr (not the test log,
	// which a test that never ends never prints).
	Stacks io.Writer
}

// deadlineStacksPrinted makes only the first guard that fires for the
// deadline print the stacks: every later mount is aborted at once, and
// its stacks say nothing new.
var deadlineStacksPrinted atomic.Bool

// Guard arms a watchdog for the FUSE mount at dir, which must be mounted.
// If the mount is still in use when the test binary's deadline (go test
// -timeout) is less than HangMargin (or a tenth of -timeout) away, or if
// its connection stalls (GuardOptions.Stall), the watchdog prints the
// stack of every goroutine of the test process (stopping the world, so
// that a goroutine running on another thread shows too), calls opts.Hung,
// aborts the mount's FUSE connection and fails the test.
//
// The abort is what keeps a hung or slow mount from hanging go test for
// ever. A thread whose request the server has read cannot be killed until
// the server replies (close(2) waiting for FLUSH). When the server is the
// test process itself and the process dies (the -timeout panic, a kill),
// its server goroutines die with it and that thread waits for ever; so
// does its last thread, which closes the descriptors still open on the
// mount, and each close sends FLUSH. The process stays a zombie and go
// test waits for it. After the abort every request on the connection
// fails at once (ECONNABORTED, then ENOTCONN).
//
// The returned function disarms the watchdog: call it after the unmount
// (register it with t.Cleanup before the unmount's cleanup).
func Guard(t testing.TB, dir string, opts GuardOptions) (stop func()) {
	t.Helper()
	conn, err := fuseConnection(dir)
	if err != nil {
		t.Fatalf("guarding the mount %s: %v", dir, err)
	}
	var deadline <-chan time.Time
	var deadlineTimer *time.Timer
	margin := hangMargin()
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			deadlineTimer = time.NewTimer(max(time.Until(dl)-margin, 0))
			deadline = deadlineTimer.C
		}
	}
	var poll <-chan time.Time
	var ticker *time.Ticker
	if opts.Stall > 0 {
		mountFusectl()
		ticker = time.NewTicker(StallPoll)
		poll = ticker.C
	}
	if deadline == nil && poll == nil {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		var busySince time.Time
		for {
			select {
			case <-done:
				return
			case <-deadline:
				fire(t, dir, conn, opts, true,
					fmt.Sprintf("still in use %v before the test binary's deadline (go test -timeout)", margin))
				return
			case now := <-poll:
				if n, err := waitingRequests(conn); err != nil || n == 0 {
					busySince = time.Time{}
					continue
				}
				if busySince.IsZero() {
					busySince = now
				}
				if now.Sub(busySince) >= opts.Stall {
					fire(t, dir, conn, opts, false,
						fmt.Sprintf("stalled: it has had requests waiting for %v without a break", now.Sub(busySince).Round(time.Millisecond)))
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-exited
		if deadlineTimer != nil {
			deadlineTimer.Stop()
		}
		if ticker != nil {
			ticker.Stop()
		}
	}
}

// fire prints the stacks, aborts connection conn and fails t; nothing if
// dir is no longer conn's mount point (connection numbers are reused).
func fire(t testing.TB, dir string, conn int, opts GuardOptions, nearDeadline bool, why string) {
	if c, err := fuseConnection(dir); err != nil || c != conn {
		return
	}
	msg := fmt.Sprintf("the FUSE mount %s is %s", dir, why)
	if !nearDeadline || !deadlineStacksPrinted.Swap(true) {
		buf := make([]byte, 64<<20)
		buf = buf[:runtime.Stack(buf, true)]
		w := opts.Stacks
		if w == nil {
			w = os.Stderr
		}
		fmt.Fprintf(w, "\n=== %s: %s; the stacks of every goroutine:\n%s\n=== end of the stacks\n", t.Name(), msg, buf)
		msg += " (stacks printed)"
	}
	if opts.Hung != nil {
		opts.Hung()
	}
	how, err := abortConnection(dir, conn)
	if err != nil {
		t.Errorf("%s, and aborting its connection failed: %v", msg, err)
		return
	}
	t.Errorf("%s: aborted its connection (%s)", msg, how)
}

// fuseConnection returns the FUSE connection number of the mount at dir:
// its minor device number, from /proc/self/mountinfo (which, unlike stat,
// asks the server nothing).
func fuseConnection(dir string) (int, error) {
	m, ok, err := MountInfo(dir)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%s is not a mount point", dir)
	}
	return m.Minor, nil
}

// fusectl is where the kernel's FUSE control filesystem is mounted: a
// directory per connection, whose files the mount's owner may use.
const fusectl = "/sys/fs/fuse/connections"

// mountFusectl mounts the control filesystem if it is not (root only).
func mountFusectl() {
	if !fusectlMounted() {
		_ = syscall.Mount("fusectl", fusectl, "fusectl", 0, "")
	}
}

func fusectlMounted() bool {
	const magic = 0x65735543 // FUSE_CTL_SUPER_MAGIC
	var st syscall.Statfs_t
	return syscall.Statfs(fusectl, &st) == nil && st.Type == magic
}

// waitingRequests is the number of requests of connection conn that the
// kernel counts as waiting: queued or being served.
func waitingRequests(conn int) (int, error) {
	data, err := os.ReadFile(filepath.Join(fusectl, strconv.Itoa(conn), "waiting"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

// abortConnection aborts FUSE connection conn, mounted at dir: through
// the control filesystem (mounted first if need be), or else by a forced
// unmount (root only), which begins with the same abort.
func abortConnection(dir string, conn int) (string, error) {
	mountFusectl()
	abort := filepath.Join(fusectl, strconv.Itoa(conn), "abort")
	err := os.WriteFile(abort, []byte("1"), 0)
	if err == nil {
		return "wrote " + abort, nil
	}
	if _, serr := os.Stat(filepath.Dir(abort)); os.IsNotExist(serr) && fusectlMounted() {
		return "it was closed already: its server had exited", nil
	}
	if uerr := syscall.Unmount(dir, syscall.MNT_FORCE|syscall.MNT_DETACH); uerr != nil {
		return "", fmt.Errorf("%v; umount -f: %v", err, uerr)
	}
	return "umount -f, after " + err.Error(), nil
}
