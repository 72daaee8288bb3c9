package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

// This file tests the obsfs command itself, as a user runs it: daemon
// mode and its readiness, the one-line failures, signals, names, and the
// mount(8) form of the command line. Everything runs the real binary on
// a real FUSE mount against a real MinIO.

// failDeadline bounds how long obsfs may take to refuse to mount.
const failDeadline = 40 * time.Second

// usageHint is the second line obsfs prints after a usage error.
const usageHint = "usage: obsfs [flags] BUCKET[:PREFIX] MOUNTPOINT (obsfs --help lists the flags)"

// cliResult is the outcome of one obsfs command.
type cliResult struct {
	code   int
	stdout string
	stderr string
	took   time.Duration
}

// runCLI runs the obsfs binary with env and args and waits for it (not
// for a daemon it leaves behind), killing it after 2 minutes.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	bin := mounttest.Binary(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("obsfs %q: %v (after %v)\nstderr: %s", args, err, r.took, r.stderr)
	}
	t.Logf("obsfs %s: exit %d after %v, stderr %q", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond), r.stderr)
	return r
}

// mountDir returns a new empty directory for a mount. Its cleanup detaches
// whatever is still mounted there and ends the obsfs processes serving it,
// so that a failed test leaves nothing behind.
func mountDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { forceCleanup(t, dir) })
	return dir
}

func forceCleanup(t *testing.T, dir string) {
	if mounted, _ := mounttest.IsMountPoint(dir); mounted {
		t.Errorf("%s is still mounted at the end of the test", dir)
		if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
			t.Logf("fusermount3 -u %s: %v: %s", dir, err, out)
			_ = exec.Command("fusermount3", "-u", "-z", dir).Run()
		}
	}
	for _, pid := range obsfsPids(dir) {
		if !waitGone(pid, 10*time.Second) {
			t.Errorf("obsfs (pid %d) serving %s still runs at the end of the test: killing it", pid, dir)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// obsfsPids finds the live obsfs processes that have dir among their
// arguments (a test's mountpoints are unique paths).
func obsfsPids(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !alive(pid) {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
		if len(args) > 0 && strings.HasPrefix(filepath.Base(args[0]), "obsfs") && slices.Contains(args[1:], dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid exists and is not a zombie (a daemon's parent
// has exited, so whoever adopted it may reap it late).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits up to d for pid to exit.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// outOfBand gives mounttest's out-of-band checks (Object, Head,
// RequireNoUploads) for a bucket mounted by a process the test runs
// itself. Only those methods may be called on it.
func outOfBand(t *testing.T, srv *miniotest.Server, bucket string) *mounttest.Mount {
	return &mounttest.Mount{Bucket: bucket, Server: srv, Client: srv.Client(t, nil)}
}

// fusermountU unmounts dir, retrying while the kernel still sees it busy.
func fusermountU(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fusermount3 -u %s: %v: %s", dir, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func logTail(path string, n int) string {
	data, _ := os.ReadFile(path)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// daemonMount runs obsfs without -f and checks that it returns 0 only
// once the mount is live, with one obsfs left in the background. It
// returns that process's ID.
func daemonMount(t *testing.T, env []string, dir, logPath string, args ...string) int {
	t.Helper()
	r := runCLI(t, env, args...)
	mounted, err := mounttest.IsMountPoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 {
		t.Fatalf("obsfs exited %d: %s\nlog:\n%s", r.code, r.stderr, logTail(logPath, 4000))
	}
	if !mounted {
		t.Fatalf("obsfs returned 0 but %s is not in /proc/self/mountinfo yet", dir)
	}
	if r.stderr != "" || r.stdout != "" {
		t.Errorf("obsfs printed on success: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	pids := obsfsPids(dir)
	if len(pids) != 1 {
		t.Fatalf("want one obsfs serving %s in the background, found %v", dir, pids)
	}
	if ppid := parentPid(t, pids[0]); ppid == os.Getpid() {
		t.Errorf("the background obsfs is still the test's child")
	}
	return pids[0]
}

func parentPid(t *testing.T, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// unmountDaemon unmounts dir with fusermount3 -u and waits for the
// background obsfs to exit.
func unmountDaemon(t *testing.T, dir string, pid int, logPath string) {
	t.Helper()
	fusermountU(t, dir)
	if !waitGone(pid, time.Minute) {
		t.Fatalf("obsfs (pid %d) still runs a minute after fusermount3 -u\nlog:\n%s", pid, logTail(logPath, 4000))
	}
	if mounted, _ := mounttest.IsMountPoint(dir); mounted {
		t.Fatalf("%s still mounted after obsfs exited", dir)
	}
	if log := logTail(logPath, 1<<20); !strings.Contains(log, "msg=unmounted") {
		t.Errorf("the log does not say unmounted:\n%s", log)
	}
}

// TestDaemonMount mounts without -f: obsfs returns once the mount is live,
// serves it from the background, and exits after fusermount3 -u.
func TestDaemonMount(t *testing.T) {
	mounttest.RequireFUSE(t)
	srv := miniotest.Shared(t, miniotest.Options{})
	bucket := srv.Bucket(t, "daemon")
	dir := mountDir(t)
	logPath := filepath.Join(t.TempDir(), "obsfs.log")
	pid := daemonMount(t, mounttest.Environ(srv), dir, logPath, bucket, dir, "--endpoint", srv.Endpoint, "--log-file", logPath)

	want := []byte("written through a daemonized mount\n")
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	m := outOfBand(t, srv, bucket)
	if got := m.Object(t, "hello.txt"); !bytes.Equal(got, want) {
		t.Fatalf("object is %q, want %q", got, want)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("reading back through the mount: %q, %v", got, err)
	}
	unmountDaemon(t, dir, pid, logPath)
	m.RequireNoUploads(t)
}

// TestDaemonRelativeMountpoint runs the daemon from the mountpoint's
// parent with a relative path, as people type it.
func TestDaemonRelativeMountpoint(t *testing.T) {
	mounttest.RequireFUSE(t)
	srv := miniotest.Shared(t, miniotest.Options{})
	bucket := srv.Bucket(t, "daemon-rel")
	dir := mountDir(t)
	logPath := filepath.Join(t.TempDir(), "obsfs.log")
	bin := mounttest.Binary(t, false)
	cmd := exec.Command(bin, bucket, "mnt", "--endpoint", srv.Endpoint, "--log-file", logPath)
	cmd.Dir = filepath.Dir(dir)
	cmd.Env = mounttest.Environ(srv)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("obsfs %v: %v: %s", cmd.Args, err, out)
	}
	if mounted, _ := mounttest.IsMountPoint(dir); !mounted {
		t.Fatalf("obsfs returned 0 but %s is not mounted", dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := outOfBand(t, srv, bucket).Object(t, "f"); string(got) != "x" {
		t.Fatalf("object is %q", got)
	}
	fusermountU(t, dir)
}

// TestCLIMountOptions runs obsfs the way mount(8) and fstab do: no -f,
// every setting in -o, with fstab-only words mixed in.
func TestCLIMountOptions(t *testing.T) {
	mounttest.RequireFUSE(t)
	srv := miniotest.Shared(t, miniotest.Options{})
	bucket := srv.Bucket(t, "mount-o")
	dir := mountDir(t)
	logPath := filepath.Join(t.TempDir(), "obsfs.log")
	opts := "rw,nosuid,nodev,_netdev,noauto,x-systemd.automount,endpoint=" + srv.Endpoint +
		",retries=2,stat_cache_ttl=0s,log_file=" + logPath
	pid := daemonMount(t, mounttest.Environ(srv), dir, logPath, bucket, dir, "-o", opts)

	m := outOfBand(t, srv, bucket)
	if err := os.WriteFile(filepath.Join(dir, "via-mount-o"), []byte("fstab"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := m.Object(t, "via-mount-o"); string(got) != "fstab" {
		t.Fatalf("object is %q", got)
	}
	// stat_cache_ttl=0s took effect: a name looked up and not found, then
	// written out of band, is found by the next lookup (the default TTL,
	// 5 s, would answer from the cached listing and the kernel's negative
	// entry).
	if _, err := os.ReadDir(dir); err != nil {
		t.Fatal(err)
	}
	oob := filepath.Join(dir, "out-of-band")
	if _, err := os.Stat(oob); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat before the object exists: %v, want ENOENT", err)
	}
	if _, err := m.Client.PutObject(t.Context(), &obsclient.PutObjectInput{Bucket: bucket, Key: "out-of-band",
		Body: strings.NewReader("oob")}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(oob); err != nil || st.Size() != 3 {
		t.Errorf("an object written out of band is not found at once with stat_cache_ttl=0s: %v, %v", st, err)
	}
	unmountDaemon(t, dir, pid, logPath)
	m.RequireNoUploads(t)
}

// TestCLIMountHelper mounts through mount.fuse3, the helper mount(8)
// runs for -t fuse.obsfs (and fstab entries of that type): it finds obsfs
// in $PATH and passes the options with -o.
func TestCLIMountHelper(t *testing.T) {
	mounttest.RequireFUSE(t)
	helper, err := exec.LookPath("mount.fuse3")
	if err != nil {
		miniotest.RequireCI(t, "mount.fuse3 is not installed (it comes with fuse3)")
	}
	srv := miniotest.Shared(t, miniotest.Options{})
	bucket := srv.Bucket(t, "mount-helper")
	dir := mountDir(t)
	logPath := filepath.Join(t.TempDir(), "obsfs.log")
	// mount.fuse3 runs the program named by the type ("obsfs") from PATH,
	// whatever the binary under test is called (OBSFS_BIN may name any).
	bin := mounttest.Binary(t, false)
	pathDir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(pathDir, "obsfs")); err != nil {
		t.Fatal(err)
	}
	env := append(mounttest.Environ(srv), "PATH="+pathDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd := exec.Command(helper, bucket, dir, "-t", "fuse.obsfs", "-o",
		"rw,noauto,_netdev,endpoint="+srv.Endpoint+",retries=2,stat_cache_ttl=1s,log_file="+logPath)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s\nlog:\n%s", cmd.Args, err, out, logTail(logPath, 4000))
	}
	if mounted, _ := mounttest.IsMountPoint(dir); !mounted {
		t.Fatalf("mount.fuse3 returned 0 but %s is not mounted", dir)
	}
	pids := obsfsPids(dir)
	if len(pids) != 1 {
		t.Fatalf("want one obsfs serving %s, found %v", dir, pids)
	}
	if err := os.WriteFile(filepath.Join(dir, "via-helper"), []byte("helper"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := outOfBand(t, srv, bucket).Object(t, "via-helper"); string(got) != "helper" {
		t.Fatalf("object is %q", got)
	}
	unmountDaemon(t, dir, pids[0], logPath)

	// mount(8) itself, with the helper's TYPE#SOURCE form naming the
	// binary by path (mount(8) resets $PATH, so -t fuse.obsfs needs obsfs
	// installed in /usr/bin or /sbin).
	t.Run("mount(8)", func(t *testing.T) {
		if os.Geteuid() != 0 {
			miniotest.RequireCI(t, "mount(8) of a fuse type needs root (fstab user mounts aside)")
		}
		dir := mountDir(t)
		logPath := filepath.Join(t.TempDir(), "obsfs.log")
		cmd := exec.Command("mount", "-t", "fuse", bin+"#"+bucket, dir, "-o",
			"endpoint="+srv.Endpoint+",retries=2,log_file="+logPath)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s\nlog:\n%s", cmd.Args, err, out, logTail(logPath, 4000))
		}
		if mounted, _ := mounttest.IsMountPoint(dir); !mounted {
			t.Fatalf("mount returned 0 but %s is not mounted", dir)
		}
		pids := obsfsPids(dir)
		if len(pids) != 1 {
			t.Fatalf("want one obsfs serving %s, found %v", dir, pids)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "via-helper")); err != nil || string(got) != "helper" {
			t.Fatalf("reading through mount(8)'s mount: %q, %v", got, err)
		}
		unmountDaemon(t, dir, pids[0], logPath)
	})
}

// closedPort returns a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// silentEndpoint accepts connections and never answers.
func silentEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for {
			select {
			case c := <-conns:
				c.Close()
			default:
				return
			}
		}
	})
	return "http://" + l.Addr().String()
}

// envWithout drops the variables named by prefixes from env.
func envWithout(env []string, prefixes ...string) []string {
	var out []string
	for _, kv := range env {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			out = append(out, kv)
		}
	}
	return out
}

// TestCLIFailures checks that obsfs refuses to mount with exit status
// non-zero and exactly one line on stderr (plus the usage hint after a
// usage error), within failDeadline, in daemon and foreground mode, and
// never leaves a mount or a process behind.
func TestCLIFailures(t *testing.T) {
	mounttest.RequireFUSE(t)
	srv := miniotest.Shared(t, miniotest.Options{})
	bucket := srv.Bucket(t, "cli-failures")
	// A mount already there, for "mountpoint busy".
	busy := mounttest.Start(t, srv, mounttest.Options{Bucket: bucket})

	type setup struct {
		env  []string
		args []string // after BUCKET MOUNTPOINT
		dir  string   // the mountpoint; default a fresh empty directory
		bkt  string   // default bucket
	}
	cases := []struct {
		name  string
		setup func(t *testing.T) setup
		code  int
		want  string // in the one line
		usage bool   // a usage error: the hint line follows
	}{
		{name: "wrong secret key", code: 1, want: fmt.Sprintf("access to bucket %q denied: check the access key, secret key and the clock", bucket),
			setup: func(t *testing.T) setup {
				env := append(envWithout(mounttest.Environ(srv), "OBS_SECRET_ACCESS_KEY="), "OBS_SECRET_ACCESS_KEY=wrong-"+srv.SecretKey)
				return setup{env: env}
			}},
		{name: "missing bucket", code: 1, want: fmt.Sprintf(`no such bucket "no-such-bucket-here" at %s`, srv.Endpoint),
			setup: func(t *testing.T) setup { return setup{bkt: "no-such-bucket-here"} }},
		{name: "endpoint unreachable default retries", code: 1, want: "unreachable", // connection refused, see below
			setup: func(t *testing.T) setup {
				return setup{args: []string{"--endpoint", fmt.Sprintf("http://127.0.0.1:%d", closedPort(t))}}
			}},
		{name: "endpoint unreachable retries 1", code: 1, want: "connection refused",
			setup: func(t *testing.T) setup {
				return setup{args: []string{"--endpoint", fmt.Sprintf("http://127.0.0.1:%d", closedPort(t)), "--retries", "1"}}
			}},
		{name: "endpoint never answers", code: 1, want: "did not answer within 30s",
			setup: func(t *testing.T) setup {
				return setup{args: []string{"--endpoint", silentEndpoint(t), "--retries", "1"}}
			}},
		{name: "mountpoint missing", code: 1, want: "no such file or directory",
			setup: func(t *testing.T) setup { return setup{dir: filepath.Join(t.TempDir(), "missing")} }},
		{name: "mountpoint is a file", code: 1, want: "is not a directory",
			setup: func(t *testing.T) setup {
				p := filepath.Join(t.TempDir(), "file")
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				return setup{dir: p}
			}},
		{name: "mountpoint busy", code: 1, want: fmt.Sprintf("mountpoint %s is busy: something is already mounted there", busy.Dir),
			setup: func(t *testing.T) setup { return setup{dir: busy.Dir} }},
		{name: "missing credentials", code: 1, want: "no credentials: set OBS_ACCESS_KEY_ID and OBS_SECRET_ACCESS_KEY (or AWS_*), or pass --passwd-file",
			setup: func(t *testing.T) setup {
				return setup{env: envWithout(mounttest.Environ(srv), "OBS_", "AWS_")}
			}},
		{name: "passwd file mode 0644", code: 1, want: "is readable by group or others (mode 0644): chmod 600 it",
			setup: func(t *testing.T) setup {
				p := filepath.Join(t.TempDir(), "passwd")
				if err := os.WriteFile(p, []byte(srv.AccessKey+":"+srv.SecretKey+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, 0o644); err != nil {
					t.Fatal(err)
				}
				return setup{env: envWithout(mounttest.Environ(srv), "OBS_", "AWS_"), args: []string{"--passwd-file", p}}
			}},
		{name: "passwd file of another user", code: 1, want: "is owned by uid 65534",
			setup: func(t *testing.T) setup {
				if os.Geteuid() != 0 {
					miniotest.RequireCI(t, "needs root to give the file to another user")
				}
				p := filepath.Join(t.TempDir(), "passwd")
				if err := os.WriteFile(p, []byte(srv.AccessKey+":"+srv.SecretKey+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(p, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				return setup{env: envWithout(mounttest.Environ(srv), "OBS_", "AWS_"), args: []string{"--passwd-file", p}}
			}},
		{name: "fusermount3 refuses", code: 1, want: "option allow_other only allowed if 'user_allow_other' is set in /etc/fuse.conf",
			setup: func(t *testing.T) setup {
				// What a user without user_allow_other in /etc/fuse.conf
				// gets for --allow-other: fusermount3 refuses the mount.
				fake := t.TempDir()
				script := "#!/bin/sh\necho \"fusermount3: option allow_other only allowed if 'user_allow_other' is set in /etc/fuse.conf\" >&2\nexit 1\n"
				if err := os.WriteFile(filepath.Join(fake, "fusermount3"), []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
				env := append(envWithout(mounttest.Environ(srv), "PATH="), "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"))
				return setup{env: env, args: []string{"--allow-other"}}
			}},
		{name: "mountpoint not empty", code: 2, want: "is not empty (it holds \"kept\"...): the mount would hide its files; empty it or pass -o nonempty",
			setup: func(t *testing.T) setup {
				dir := mountDir(t)
				if err := os.WriteFile(filepath.Join(dir, "kept"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				return setup{dir: dir}
			}},
		{name: "usage unknown flag", code: 2, usage: true, want: "unknown flag: --no-such-flag",
			setup: func(t *testing.T) setup { return setup{args: []string{"--no-such-flag"}} }},
		{name: "usage bad bucket name", code: 2, usage: true, want: `bucket name "Bad_Bucket" may contain only lowercase letters, digits, hyphens and periods`,
			setup: func(t *testing.T) setup { return setup{bkt: "Bad_Bucket"} }},
		{name: "usage part size", code: 2, usage: true, want: "--part-size 4194304 must be a multiple of 1MiB and at least 5MiB",
			setup: func(t *testing.T) setup { return setup{args: []string{"-o", "part_size=4M"}} }},
	}
	for _, c := range cases {
		for _, mode := range []string{"daemon", "foreground"} {
			t.Run(c.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				s := c.setup(t)
				if s.env == nil {
					s.env = mounttest.Environ(srv)
				}
				if s.dir == "" {
					s.dir = mountDir(t)
				}
				if s.bkt == "" {
					s.bkt = bucket
				}
				args := []string{s.bkt, s.dir}
				if !slices.Contains(s.args, "--endpoint") {
					args = append(args, "--endpoint", srv.Endpoint)
				}
				// The journal, and a daemon's log where there is no syslog,
				// in a directory of the test's, not /var/lib/obsfs.
				args = append(args, "--state-dir", t.TempDir())
				args = append(args, s.args...)
				if mode == "foreground" {
					args = append(args, "-f")
				}
				before := obsfsPids(s.dir)
				r := runCLI(t, s.env, args...)
				if r.code != c.code {
					t.Errorf("exit status %d, want %d", r.code, c.code)
				}
				if r.took > failDeadline {
					t.Errorf("obsfs took %v to fail, more than %v", r.took, failDeadline)
				}
				lines, logLines := stderrLines(r.stderr)
				wantLines := 1
				if c.usage {
					wantLines = 2
				}
				if len(lines) != wantLines || !strings.HasSuffix(r.stderr, "\n") {
					t.Fatalf("stderr has %d lines, want %d: %q", len(lines), wantLines, r.stderr)
				}
				// With -f, stderr is also the log: retry warnings may come
				// before the line. Without -f, nothing but the line.
				if len(logLines) > 0 && mode == "daemon" {
					t.Errorf("daemon mode printed log records on stderr: %q", logLines)
				}
				for _, l := range logLines {
					if !strings.Contains(l, "level=warning") {
						t.Errorf("log record on stderr that is not a retry warning: %q", l)
					}
				}
				if !strings.HasPrefix(lines[0], "obsfs: ") || !strings.Contains(lines[0], c.want) {
					t.Errorf("stderr %q, want \"obsfs: ...%s...\"", lines[0], c.want)
				}
				if strings.Contains(lines[0], srv.SecretKey) {
					t.Errorf("stderr shows the secret key")
				}
				if c.usage && lines[1] != usageHint {
					t.Errorf("second line %q, want %q", lines[1], usageHint)
				}
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
				if s.dir != busy.Dir {
					if mounted, _ := mounttest.IsMountPoint(s.dir); mounted {
						t.Errorf("%s is mounted after a failure", s.dir)
					}
				}
				// No obsfs left behind (the daemon's child reports before
				// it exits: give it a moment, ample on a loaded machine).
				deadline := time.Now().Add(30 * time.Second)
				for {
					var extra []int
					for _, pid := range obsfsPids(s.dir) {
						if !slices.Contains(before, pid) {
							extra = append(extra, pid)
						}
					}
					if len(extra) == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("obsfs processes %v left behind after the failure", extra)
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
	}
	// The busy mount is unharmed: it still serves its bucket (its cleanup
	// checks that obsfs exits 0 on unmount).
	t.Run("busy mount unharmed", func(t *testing.T) {
		if err := os.WriteFile(busy.Path("still-works"), []byte("ok"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := busy.Object(t, "still-works"); string(got) != "ok" {
			t.Fatalf("object is %q", got)
		}
	})
}

// stderrLines splits obsfs's stderr into the lines meant for the user and
// logrus records (which -f sends to stderr).
func stderrLines(stderr string) (lines, logLines []string) {
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if strings.HasPrefix(l, `time="`) {
			logLines = append(logLines, l)
		} else {
			lines = append(lines, l)
		}
	}
	return lines, logLines
}

// TestSignalForeground stops a foreground obsfs with SIGTERM and SIGINT:
// it unmounts and exits 0, files closed before are in the bucket, and no
// multipart upload is left.
func TestSignalForeground(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			m := mounttest.Start(t, srv, mounttest.Options{})
			small := []byte("small file closed before the signal\n")
			if err := os.WriteFile(m.Path("small"), small, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(m.Path("dir/sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(m.Path("dir/sub/nested"), small, 0o644); err != nil {
				t.Fatal(err)
			}
			const bigSize = 2*partSize + 12345
			writeLocal(t, m.Path("big"), 42, bigSize)

			m.Signal(t, sig) // waits for exit status 0 and checks the mount is gone

			if got := m.Object(t, "small"); !bytes.Equal(got, small) {
				t.Errorf("small: object is %q", got)
			}
			if got := m.Object(t, "dir/sub/nested"); !bytes.Equal(got, small) {
				t.Errorf("dir/sub/nested: object is %q", got)
			}
			want := md5Of(t, io.LimitReader(stream(42), bigSize))
			if got, n := objectMD5(t, m, "big"); got != want || n != bigSize {
				t.Errorf("big: %d bytes md5 %x, want %d bytes md5 %x", n, got, bigSize, want)
			}
			m.RequireNoUploads(t)
			if log := m.Log(); !strings.Contains(log, "signal="+sig.String()) && !strings.Contains(log, `signal="`+sig.String()+`"`) {
				t.Errorf("the log does not name the signal:\n%s", m.LogTail(2000))
			}
		})
	}
}

// TestSignalDaemon stops a daemonized obsfs with SIGTERM: it unmounts,
// exits, and what was closed before is in the bucket.
func TestSignalDaemon(t *testing.T) {
	mounttest.RequireFUSE(t)
	srv := miniotest.Shared(t, miniotest.Options{})
	bucket := srv.Bucket(t, "signal-daemon")
	dir := mountDir(t)
	logPath := filepath.Join(t.TempDir(), "obsfs.log")
	pid := daemonMount(t, mounttest.Environ(srv), dir, logPath, bucket, dir, "--endpoint", srv.Endpoint, "--log-file", logPath)
	const size = partSize + 99
	writeLocal(t, filepath.Join(dir, "before-sigterm"), 3, size)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !waitGone(pid, time.Minute) {
		t.Fatalf("obsfs (pid %d) still runs a minute after SIGTERM\nlog:\n%s", pid, logTail(logPath, 4000))
	}
	if mounted, _ := mounttest.IsMountPoint(dir); mounted {
		t.Fatalf("%s still mounted after obsfs exited", dir)
	}
	m := outOfBand(t, srv, bucket)
	want := md5Of(t, io.LimitReader(stream(3), size))
	if got, n := objectMD5(t, m, "before-sigterm"); got != want || n != size {
		t.Errorf("object has %d bytes md5 %x, want %d bytes md5 %x", n, got, size, want)
	}
	m.RequireNoUploads(t)
	if log := logTail(logPath, 1<<20); !strings.Contains(log, "signal=terminated") {
		t.Errorf("the log does not record the signal:\n%s", log)
	}
}

// TestSignalWaitsForOpenFile sends SIGTERM while a writer keeps a file
// open: obsfs must keep serving until the file is closed (up to 30 s),
// then exit 0 with the whole file in the bucket.
func TestSignalWaitsForOpenFile(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{})
	const size = 3*partSize + 777
	f, err := os.Create(m.Path("open-at-sigterm"))
	if err != nil {
		t.Fatal(err)
	}
	src := stream(7)
	// Two parts before the signal, the rest after it.
	if _, err := io.CopyN(f, src, 2*partSize); err != nil {
		t.Fatal(err)
	}
	type result struct {
		mountedAtClose bool
		writeErr       error
		closeErr       error
		closedAt       time.Time
	}
	done := make(chan result, 1)
	go func() {
		time.Sleep(time.Second)
		var r result
		r.mountedAtClose, _ = mounttest.IsMountPoint(m.Dir)
		_, r.writeErr = io.CopyN(f, src, size-2*partSize)
		r.closeErr = f.Close()
		r.closedAt = time.Now()
		done <- r
	}()
	signalled := time.Now()
	m.Signal(t, syscall.SIGTERM) // returns once obsfs has exited (0)
	exited := time.Now()
	r := <-done
	if !r.mountedAtClose {
		t.Errorf("the mount was gone 1 s after SIGTERM although a file was open")
	}
	if r.writeErr != nil || r.closeErr != nil {
		t.Fatalf("writing after SIGTERM: %v; close: %v", r.writeErr, r.closeErr)
	}
	if exited.Before(r.closedAt) {
		t.Errorf("obsfs exited before the file was closed")
	}
	t.Logf("obsfs exited %v after SIGTERM, %v after the close", exited.Sub(signalled).Round(time.Millisecond), exited.Sub(r.closedAt).Round(time.Millisecond))
	want := md5Of(t, io.LimitReader(stream(7), size))
	if got, n := objectMD5(t, m, "open-at-sigterm"); got != want || n != size {
		t.Errorf("object has %d bytes md5 %x, want %d bytes md5 %x", n, got, size, want)
	}
	m.RequireNoUploads(t)
	if !strings.Contains(m.Log(), "waiting for open files to be closed") {
		t.Errorf("the log does not say obsfs waited for open files:\n%s", m.LogTail(2000))
	}
}

// TestSignalOpenFileTimeout sends SIGTERM while a writer keeps a file open
// and never closes it: obsfs gives up waiting after 30 s, aborts that
// file's upload (its program never got a successful close), detaches the
// mount and exits 0, within a bounded time.
func TestSignalOpenFileTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits for obsfs's 30 s unmount deadline")
	}
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{})
	f, err := os.Create(m.Path("never-closed"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, stream(11), 2*partSize+5); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m.Signal(t, syscall.SIGTERM) // waits (up to 2 minutes) for exit status 0, checks the mount is gone
	took := time.Since(start)
	t.Logf("obsfs exited %v after SIGTERM with a file left open", took.Round(time.Millisecond))
	if took < 29*time.Second {
		t.Errorf("obsfs exited after %v, before its 30 s grace period for open files", took)
	}
	if took > 45*time.Second {
		t.Errorf("obsfs took %v to exit with a file left open; want about 30 s", took)
	}
	if _, err := f.Write([]byte("late")); err == nil {
		t.Errorf("a write after obsfs exited succeeded")
	}
	if err := f.Close(); err == nil {
		t.Errorf("close after obsfs exited succeeded; the data never reached the bucket")
	}
	if h := m.Head(t, "never-closed"); h != nil {
		t.Errorf("object never-closed exists (%d bytes) although its file was never closed", h.Size)
	}
	m.RequireNoUploads(t)
}

// TestNames creates files with awkward names through the mount and checks
// the object keys are exactly those names and readdir returns them
// exactly; keys over 1024 bytes give ENAMETOOLONG, names that are not
// UTF-8 give EILSEQ.
func TestNames(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{})

	t.Run("exact", func(t *testing.T) {
		names := []string{
			"name with spaces",
			"файл 文件 é",
			"new\nline",
			"-leading-dash",
			"--double-dash",
			" leading and trailing spaces ",
			"tab\there",
			"percent%20plus+amp&q?hash#",
			`back\slash`,
			"émoji 🙂",
			"e\u0301 (decomposed)",
			"*?[glob]",
			"'quotes\"",
		}
		if err := os.Mkdir(m.Path("names"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(m.Path("names"), name), []byte(name), 0o644); err != nil {
				t.Fatalf("creating %q: %v", name, err)
			}
		}
		out, err := m.Client.ListObjects(t.Context(), &obsclient.ListObjectsInput{Bucket: m.Bucket, Prefix: "names/"})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, o.Key)
		}
		var want []string
		for _, n := range names {
			want = append(want, "names/"+n)
		}
		want = append(want, "names/") // the directory's marker
		slices.Sort(want)
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("object keys\n %q\nwant\n %q", keys, want)
		}
		for _, n := range names {
			if got := m.Object(t, "names/"+n); string(got) != n {
				t.Errorf("object %q holds %q", n, got)
			}
		}
		slices.Sort(names)
		check := func(t *testing.T, dir string) {
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, e.Name())
			}
			if !slices.Equal(got, names) {
				t.Errorf("readdir\n %q\nwant\n %q", got, names)
			}
			for _, n := range names {
				if data, err := os.ReadFile(filepath.Join(dir, n)); err != nil || string(data) != n {
					t.Errorf("reading %q: %q, %v", n, data, err)
				}
			}
		}
		t.Run("this mount", func(t *testing.T) { check(t, m.Path("names")) })
		// A second mount knows nothing but what is in the store.
		t.Run("fresh mount", func(t *testing.T) {
			m2 := mounttest.Start(t, srv, mounttest.Options{Bucket: m.Bucket})
			check(t, m2.Path("names"))
		})
	})

	t.Run("ENAMETOOLONG", func(t *testing.T) {
		// Five directories of 200-byte names: keys of 201, 402 ... 1005
		// bytes (with the trailing slash of a directory marker).
		dir := m.Dir
		for i := range 5 {
			dir = filepath.Join(dir, strings.Repeat(string(rune('a'+i)), 200))
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatalf("mkdir at depth %d: %v", i+1, err)
			}
		}
		rel, _ := filepath.Rel(m.Dir, dir)
		for _, c := range []struct {
			op   string
			name string
			do   func(p string) error
		}{
			{"create", strings.Repeat("f", 200), func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) }},
			{"create 1025-byte key", strings.Repeat("f", 20), func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) }},
			{"mkdir", strings.Repeat("g", 200), func(p string) error { return os.Mkdir(p, 0o755) }},
			{"mkdir 1025-byte key", strings.Repeat("g", 19), func(p string) error { return os.Mkdir(p, 0o755) }},
			{"symlink", strings.Repeat("s", 200), func(p string) error { return os.Symlink("target", p) }},
			{"rename", strings.Repeat("r", 200), func(p string) error {
				if err := os.WriteFile(m.Path("rename-src"), []byte("r"), 0o644); err != nil {
					return err
				}
				return os.Rename(m.Path("rename-src"), p)
			}},
		} {
			err := c.do(filepath.Join(dir, c.name))
			if !errors.Is(err, syscall.ENAMETOOLONG) {
				t.Errorf("%s of a %d-byte key: %v, want ENAMETOOLONG", c.op, len(rel)+1+len(c.name), err)
			}
		}
		// Exactly 1024 bytes of key still works.
		name := strings.Repeat("z", 1024-len(rel)-1)
		if err := os.WriteFile(filepath.Join(dir, name), []byte("fits"), 0o644); err != nil {
			t.Fatalf("creating a 1024-byte key: %v", err)
		}
		if key := rel + "/" + name; len(key) != 1024 {
			t.Fatalf("test bug: key of %d bytes", len(key))
		} else if got := m.Object(t, key); string(got) != "fits" {
			t.Fatalf("1024-byte key holds %q", got)
		}
	})

	t.Run("EILSEQ", func(t *testing.T) {
		for _, name := range []string{"\xff\xfe", "ok-then-\xc3", "latin1-caf\xe9"} {
			p := m.Path(name)
			if f, err := os.Create(p); !errors.Is(err, syscall.EILSEQ) {
				if err == nil {
					f.Close()
				}
				t.Errorf("create %q: %v, want EILSEQ", name, err)
			}
			if err := os.Mkdir(p, 0o755); !errors.Is(err, syscall.EILSEQ) {
				t.Errorf("mkdir %q: %v, want EILSEQ", name, err)
			}
			if _, err := os.Stat(p); !errors.Is(err, syscall.EILSEQ) {
				t.Errorf("stat %q: %v, want EILSEQ", name, err)
			}
		}
		out, err := m.Client.ListObjects(t.Context(), &obsclient.ListObjectsInput{Bucket: m.Bucket, Delimiter: "/"})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			if strings.Contains(o.Key, "\ufffd") || strings.HasPrefix(o.Key, "ok-then") || strings.HasPrefix(o.Key, "latin1") {
				t.Errorf("object %q appeared", o.Key)
			}
		}
	})
	m.RequireNoUploads(t)
}
