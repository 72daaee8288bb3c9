// Package mounttest runs the real obsfs binary on a real FUSE mount
// against a real MinIO (integration/miniotest), for integration tests and
// benchmarks. Results are meant to be checked out of band, through
// obsclient (Mount.Object, Mount.RequireNoUploads).
//
// Under CI=true a test that needs FUSE or MinIO and cannot get it fails;
// elsewhere it is skipped with the reason (miniotest.RequireCI).
package mounttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/obsclient"
)

// RepoRoot is the directory of the obsfs module.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[bool]string
}

// Binary builds cmd/obsfs once per test process (with the race detector
// if race) and returns its path. $OBSFS_BIN, if set, is used instead of a
// build without race.
func Binary(t testing.TB, race bool) string {
	t.Helper()
	if p := os.Getenv("OBSFS_BIN"); p != "" && !race {
		return p
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if p, ok := builds.bins[race]; ok {
		return p
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "obsfs-test-bin-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir = dir
		builds.bins = map[bool]string{}
	}
	name := "obsfs"
	args := []string{"build", "-o"}
	if race {
		name = "obsfs-race"
	}
	out := filepath.Join(builds.dir, name)
	args = append(args, out)
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/obsfs")
	cmd := exec.Command("go", args...)
	cmd.Dir = RepoRoot()
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building obsfs: %v\n%s", err, msg)
	}
	builds.bins[race] = out
	return out
}

// Cleanup removes the built binaries; TestMain calls it after m.Run.
func Cleanup() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
}

// RequireFUSE fails (CI) or skips the test when FUSE is not usable here.
func RequireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		miniotest.RequireCI(t, "FUSE is not available (/dev/fuse: %v)", err)
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		miniotest.RequireCI(t, "fusermount3 is not installed (make deps installs fuse3)")
	}
}

// Options configure a mount.
type Options struct {
	// Args are extra obsfs flags.
	Args []string
	// Endpoint replaces the server's (a fault proxy in front of it).
	Endpoint string
	// Prefix mounts BUCKET:PREFIX.
	Prefix string
	// Bucket to mount; default a new bucket.
	Bucket string
	// Race runs the race-detector build (small data only: it is slow).
	Race bool
	// Bench is a benchmark's mount: without the testing aids that cost
	// time (poisoned pages).
	Bench bool
	// StateDir is the crash journal's directory (--state-dir); default a
	// new temporary directory per mount. Mounts that must find each
	// other's journals (a remount after a crash) share one.
	StateDir string
}

// Mount is a running obsfs.
type Mount struct {
	Dir     string
	Bucket  string
	Prefix  string
	Server  *miniotest.Server
	Client  *obsclient.Client
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stderr  bytes.Buffer
	stopped bool
	// stopGuard disarms the mount's Guard; nil once done.
	stopGuard func()
}

// disarm stops the mount's Guard: it is unmounted.
func (m *Mount) disarm() {
	if m.stopGuard != nil {
		m.stopGuard()
		m.stopGuard = nil
	}
}

// mountTimeout bounds how long Start waits for the mount to be live.
const mountTimeout = 90 * time.Second

// Start mounts a bucket of srv with the real binary in the foreground
// (-f) and waits until the mount is live. Cleanup unmounts it and checks
// that obsfs exited cleanly; on failure the log's tail is printed.
func Start(t testing.TB, srv *miniotest.Server, opts Options) *Mount {
	t.Helper()
	RequireFUSE(t)
	bin := Binary(t, opts.Race)
	bucket := opts.Bucket
	if bucket == "" {
		bucket = srv.Bucket(t, "mnt")
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = srv.Endpoint
	}
	m := &Mount{Dir: dir, Bucket: bucket, Prefix: opts.Prefix, Server: srv, Client: srv.Client(t, nil),
		LogPath: filepath.Join(tmp, "obsfs.log"), exited: make(chan struct{})}
	target := bucket
	if opts.Prefix != "" {
		target += ":" + opts.Prefix
	}
	level := "info"
	if os.Getenv("OBSFS_TEST_DEBUG") != "" {
		level = "debug"
	}
	stateDir := opts.StateDir
	if stateDir == "" {
		stateDir = filepath.Join(tmp, "state")
	}
	args := append([]string{target, dir, "-f", "--endpoint", endpoint, "--log-file", m.LogPath, "--log-level", level, "--state-dir", stateDir}, opts.Args...)
	if !opts.Bench {
		args = append(args, "--debug-poison-pages")
	}
	if srv.CAFile != "" {
		args = append(args, "--ca-file", srv.CAFile)
	}
	m.cmd = exec.Command(bin, args...)
	m.cmd.Env = append(Environ(srv), "GOTRACEBACK=all")
	m.cmd.Stderr = &m.stderr
	m.cmd.Stdout = &m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting obsfs: %v", err)
	}
	go func() {
		m.waitErr = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(m.disarm) // after the unmount
	t.Cleanup(func() {
		m.Unmount(t)
		if t.Failed() {
			t.Logf("obsfs log tail:\n%s", m.LogTail(8000))
		}
	})
	// obsfs itself gives up on the store after 30 s; the margin is for a
	// loaded machine (race build, load 10+).
	deadline := time.Now().Add(mountTimeout)
	for {
		if mounted, _ := IsMountPoint(dir); mounted {
			m.stopGuard = Guard(t, dir, GuardOptions{Hung: m.printStacks})
			return m
		}
		select {
		case <-m.exited:
			t.Fatalf("obsfs exited before mounting (%v): %s\n%s", m.waitErr, m.stderr.String(), m.LogTail(4000))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("obsfs did not mount within %v\n%s", mountTimeout, m.LogTail(4000))
		}
	}
}

// printStacks makes obsfs print the stacks of its goroutines to its
// stderr and exit (SIGQUIT, under GOTRACEBACK=all): the test reports
// them when it checks obsfs's exit.
func (m *Mount) printStacks() {
	if m.cmd.Process.Signal(syscall.SIGQUIT) != nil {
		return
	}
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		fmt.Fprintf(os.Stderr, "obsfs (pid %d) on %s did not exit within 10s of SIGQUIT\n", m.Pid(), m.Dir)
	}
}

// Environ is the environment obsfs needs for srv: its credentials.
func Environ(srv *miniotest.Server) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OBS_") || strings.HasPrefix(kv, "AWS_ACCESS") || strings.HasPrefix(kv, "AWS_SECRET") || strings.HasPrefix(kv, "AWS_SESSION") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "OBS_ACCESS_KEY_ID="+srv.AccessKey, "OBS_SECRET_ACCESS_KEY="+srv.SecretKey)
}

// Path is the path of rel inside the mount.
func (m *Mount) Path(rel string) string { return filepath.Join(m.Dir, rel) }

// Key is the object key of rel.
func (m *Mount) Key(rel string) string { return m.Prefix + rel }

// Object reads rel's object out of band.
func (m *Mount) Object(t testing.TB, rel string) []byte {
	t.Helper()
	out, err := m.Client.GetObject(context.Background(), &obsclient.GetObjectInput{Bucket: m.Bucket, Key: m.Key(rel)})
	if err != nil {
		t.Fatalf("reading %s out of band: %v", m.Key(rel), err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(out.Body); err != nil {
		t.Fatalf("reading %s out of band: %v", m.Key(rel), err)
	}
	return buf.Bytes()
}

// Head reads rel's metadata out of band; nil if the object does not exist.
func (m *Mount) Head(t testing.TB, rel string) *obsclient.HeadObjectOutput {
	t.Helper()
	out, err := m.Client.HeadObject(context.Background(), &obsclient.HeadObjectInput{Bucket: m.Bucket, Key: m.Key(rel)})
	if obsclient.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("head %s: %v", m.Key(rel), err)
	}
	return out
}

// RequireNoUploads fails the test if a multipart upload is left in the
// bucket.
func (m *Mount) RequireNoUploads(t testing.TB) {
	t.Helper()
	out, err := m.Client.ListMultipartUploads(context.Background(), &obsclient.ListMultipartUploadsInput{Bucket: m.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) > 0 {
		var keys []string
		for _, u := range out.Uploads {
			keys = append(keys, u.Key)
		}
		t.Fatalf("%d multipart uploads left: %v", len(out.Uploads), keys)
	}
}

// Pid is the obsfs process ID.
func (m *Mount) Pid() int { return m.cmd.Process.Pid }

// PeakRSS returns obsfs's peak resident set size (VmHWM) in bytes.
func (m *Mount) PeakRSS(t testing.TB) int64 {
	t.Helper()
	return procStatus(t, m.Pid(), "VmHWM")
}

// CPUTime returns the user+system CPU time obsfs has used.
func (m *Mount) CPUTime(t testing.TB) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

func procStatus(t testing.TB, pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// LogTail returns the last n bytes of obsfs's log and stderr.
func (m *Mount) LogTail(n int) string {
	data, _ := os.ReadFile(m.LogPath)
	s := string(data)
	if m.stderr.Len() > 0 {
		s += "\n--- stderr ---\n" + m.stderr.String()
	}
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// Log returns the whole log.
func (m *Mount) Log() string {
	data, _ := os.ReadFile(m.LogPath)
	return string(data)
}

// Unmount unmounts with fusermount3 -u (retrying while busy) and waits for
// obsfs to exit, failing the test unless it exits with status 0.
func (m *Mount) Unmount(t testing.TB) {
	t.Helper()
	if m.stopped {
		return
	}
	m.stopped = true
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-m.exited:
			t.Errorf("obsfs exited while mounted (%v)", m.waitErr)
			_ = exec.Command("fusermount3", "-u", "-z", m.Dir).Run() // its connection is gone
			return
		default:
		}
		out, err := exec.Command("fusermount3", "-u", m.Dir).CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("fusermount3 -u %s: %v: %s", m.Dir, err, out)
			_ = exec.Command("fusermount3", "-u", "-z", m.Dir).Run()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.wait(t)
	m.disarm()
}

// Kill kills obsfs with SIGKILL (a crash: nothing is cleaned up), waits
// for it to die and detaches its dead mount. The mount's Guard is
// disarmed first: once the dead mount is gone its connection number may
// be another mount's.
//
// A FUSE server killed while one of its own threads waits for a reply
// from its own mount (a stat of the mountpoint) cannot die: the thread
// waits, uninterruptibly, for a reply only the dead server could send,
// and the server's /dev/fuse descriptor is closed only once every thread
// has exited. If obsfs is not gone after 10 s, Kill aborts the mount's
// FUSE connection, as an administrator would, and waits again.
func (m *Mount) Kill(t testing.TB) {
	t.Helper()
	m.stopped = true
	m.disarm()
	conn, connErr := fuseConnection(m.Dir)
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		if connErr != nil {
			t.Fatalf("obsfs did not die within 10s of SIGKILL, and its FUSE connection is unknown: %v", connErr)
		}
		how, err := abortConnection(m.Dir, conn)
		if err != nil {
			t.Fatalf("obsfs did not die within 10s of SIGKILL, and aborting its FUSE connection failed: %v", err)
		}
		t.Logf("obsfs did not die within 10s of SIGKILL: aborted its FUSE connection (%s)", how)
		select {
		case <-m.exited:
		case <-time.After(time.Minute):
			t.Fatalf("obsfs did not die within a minute of SIGKILL and the abort of its FUSE connection")
		}
	}
	if out, err := exec.Command("fusermount3", "-u", "-z", m.Dir).CombinedOutput(); err != nil {
		t.Errorf("detaching the dead mount: %v: %s", err, out)
	}
}

// Signal sends sig to obsfs and waits for it to exit cleanly.
func (m *Mount) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	m.stopped = true
	if err := m.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	m.wait(t)
	m.disarm()
}

// Quit is for a test that found obsfs stuck: it kills obsfs with SIGQUIT
// (the Go runtime prints every goroutine's stack and exits), waits for it
// to exit, detaches the dead mount, and returns what obsfs wrote to stderr,
// the dump. System calls blocked on the mount fail (ENOTCONN) once obsfs
// is gone.
func (m *Mount) Quit(t testing.TB) string {
	t.Helper()
	m.stopped = true
	_ = m.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-m.exited:
	case <-time.After(time.Minute):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	_ = exec.Command("fusermount3", "-u", "-z", m.Dir).Run()
	return m.stderr.String()
}

func (m *Mount) wait(t testing.TB) {
	t.Helper()
	select {
	case <-m.exited:
	case <-time.After(2 * time.Minute):
		_ = m.cmd.Process.Kill()
		<-m.exited
		t.Errorf("obsfs did not exit within 2 minutes of unmounting")
		return
	}
	var ee *exec.ExitError
	if errors.As(m.waitErr, &ee) || m.waitErr != nil {
		t.Errorf("obsfs exited with %v: %s", m.waitErr, m.stderr.String())
	}
	if mounted, _ := IsMountPoint(m.Dir); mounted {
		t.Errorf("%s still mounted after obsfs exited", m.Dir)
		_ = exec.Command("fusermount3", "-u", "-z", m.Dir).Run()
	}
	if line := LeftoverGoroutines(m.Log()); line != "" {
		t.Errorf("obsfs left goroutines running after unmount:\n%s", line)
	}
}

// LeftoverWarning is what obsfs logs when goroutines of its own are still
// running after unmount and drain (cmd/obsfs/goroutines.go).
const LeftoverWarning = "goroutines still running after unmount"

// LeftoverGoroutines returns, readably (the stacks unquoted), the log line
// in which obsfs reported goroutines left running after unmount, or "".
func LeftoverGoroutines(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, LeftoverWarning) {
			continue
		}
		if i := strings.Index(line, "stacks="); i >= 0 {
			if s, err := strconv.Unquote(strings.TrimSpace(line[i+len("stacks="):])); err == nil {
				return line[:i] + "stacks:\n" + s
			}
		}
		return line
	}
	return ""
}

// IsMountPoint reports whether dir is a mount point, from
// /proc/self/mountinfo (stat would ask the mount's server, which may be
// dead or hung).
func IsMountPoint(dir string) (bool, error) {
	_, ok, err := MountInfo(dir)
	return ok, err
}

// MountInfo returns the entry of /proc/self/mountinfo for the mount on
// dir (the last one mounted there), and whether there is one.
func MountInfo(dir string) (*mountinfo.Info, bool, error) {
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	if err != nil || len(ms) == 0 {
		return nil, false, err
	}
	return ms[len(ms)-1], true, nil
}
