package integration

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
)

// This file tests what a user sees of obsfs from outside: its version,
// its mount in findmnt, its refusals, its logs and how it stops.

// gitOutput runs git in the repository and returns its trimmed output.
func gitOutput(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = mounttest.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// TestVersion builds obsfs as `make build` does and checks that
// obsfs --version names the tree's version (git describe) and commit.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "obsfs")
	cmd := exec.Command("make", "-s", "build", "BIN="+bin)
	cmd.Dir = mounttest.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("obsfs --version: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	describe, head := gitOutput(t, "describe", "--always", "--dirty"), gitOutput(t, "rev-parse", "HEAD")
	want := regexp.MustCompile(`^obsfs ` + regexp.QuoteMeta(describe) + ` \(commit ` + head + `, go[0-9.]+\S*\)$`)
	if !want.MatchString(got) {
		t.Errorf("obsfs --version printed %q, want %q", got, want)
	}
}

// TestNonEmptyMountpoint: -o nonempty mounts over a directory that holds
// a file (TestCLIFailures checks the refusal without it); the file is
// hidden while mounted, not uploaded, and there again after the unmount.
func TestNonEmptyMountpoint(t *testing.T) {
	mounttest.RequireFUSE(t)
	srv := miniotest.Shared(t, miniotest.Options{})
	bucket := srv.Bucket(t, "nonempty")
	dir := mountDir(t)
	kept := filepath.Join(dir, "kept")
	if err := os.WriteFile(kept, []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "obsfs.log")
	pid := daemonMount(t, mounttest.Environ(srv), dir, logPath, bucket, dir, "--endpoint", srv.Endpoint,
		"--log-file", logPath, "--state-dir", t.TempDir(), "-o", "nonempty")
	if _, err := os.Stat(kept); !os.IsNotExist(err) {
		t.Errorf("the local file shows through the mount: stat: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "remote"), []byte("remote"), 0o644); err != nil {
		t.Fatal(err)
	}
	unmountDaemon(t, dir, pid, logPath)
	oob := outOfBand(t, srv, bucket)
	if got := oob.Object(t, "remote"); string(got) != "remote" {
		t.Errorf("object remote is %q", got)
	}
	if got, err := os.ReadFile(kept); err != nil || string(got) != "local" {
		t.Errorf("after the unmount, the local file reads %q, %v", got, err)
	}
}

// mountSource returns the source and type /proc/self/mountinfo gives the
// mount on dir (what findmnt shows).
func mountSource(t *testing.T, dir string) (source, fstype string) {
	t.Helper()
	m, ok, err := mounttest.MountInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("%s is not in /proc/self/mountinfo", dir)
	}
	return m.Source, m.FSType
}

// TestMountSource: findmnt shows BUCKET or BUCKET:PREFIX as the source of
// a mount of type fuse.obsfs, even with a space and a comma in the prefix.
func TestMountSource(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	for _, c := range []struct{ prefix, suffix string }{
		{"", ""},
		{"top/with space,comma", ":top/with space,comma"},
	} {
		m := mounttest.Start(t, srv, mounttest.Options{Prefix: c.prefix})
		source, fstype := mountSource(t, m.Dir)
		if want := m.Bucket + c.suffix; source != want || fstype != "fuse.obsfs" {
			t.Errorf("mount of %q: source %q of type %q, want %q of type fuse.obsfs", c.prefix, source, fstype, want)
		}
		m.Unmount(t)
	}
}

// waitFileContains polls until the file at path holds want.
func waitFileContains(t *testing.T, path, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hold %q after %v:\n%s", path, want, d, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLogFileReopen: after the log file is renamed (as by logrotate),
// SIGHUP makes obsfs open a new file of that name, which gets the later
// records; at the default level a commit is not an info line, and the
// unmount sums the commits up.
func TestLogFileReopen(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{Args: []string{"--log-level", "info"}})
	if err := os.WriteFile(m.Path("before"), []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	rotated := m.LogPath + ".1"
	if err := os.Rename(m.LogPath, rotated); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(m.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFileContains(t, m.LogPath, "log file reopened (SIGHUP)", time.Minute)
	if err := os.WriteFile(m.Path("after"), []byte("1234567"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Unmount(t)
	if got := m.Object(t, "after"); string(got) != "1234567" {
		t.Errorf("object after is %q", got)
	}
	newLog, _ := os.ReadFile(m.LogPath)
	oldLog, _ := os.ReadFile(rotated)
	if !strings.Contains(string(oldLog), "msg=mounted") || strings.Contains(string(oldLog), "msg=unmounted") {
		t.Errorf("the rotated file should hold the mount and not the unmount:\n%s", oldLog)
	}
	if !strings.Contains(string(newLog), "msg=unmounted") {
		t.Errorf("the new file lacks the unmount:\n%s", newLog)
	}
	summary := regexp.MustCompile(`(?m)^.*msg="committed since the mount".*$`).FindString(string(newLog))
	if !strings.Contains(summary, " bytes=12") || !strings.Contains(summary, " commits=2") {
		t.Errorf("the new file lacks the summary of 2 commits, 12 bytes:\n%s", newLog)
	}
	if n := strings.Count(string(oldLog)+string(newLog), "msg=unmounted"); n != 1 {
		t.Errorf("%d unmount records, want 1:\n%s\n%s", n, oldLog, newLog)
	}
	if all := string(oldLog) + string(newLog); strings.Contains(all, "committed object") {
		t.Errorf("a commit logged at info level:\n%s", all)
	}
}

// TestLogFallback: a daemon without --log-file and without a syslog logs
// to a file in the state directory, and says so once on stderr.
func TestLogFallback(t *testing.T) {
	mounttest.RequireFUSE(t)
	srv := miniotest.Shared(t, miniotest.Options{})
	bucket := srv.Bucket(t, "log-fallback")
	dir := mountDir(t)
	state := filepath.Join(t.TempDir(), "state")
	noSyslog := "unixgram:" + filepath.Join(t.TempDir(), "no-syslog-here")
	r := runCLI(t, mounttest.Environ(srv), bucket, dir, "--endpoint", srv.Endpoint, "--state-dir", state,
		"--debug-syslog-address", noSyslog)
	logPath := filepath.Join(state, "obsfs-"+bucket+".log")
	if r.code != 0 {
		t.Fatalf("obsfs exited %d: %s\nlog:\n%s", r.code, r.stderr, logTail(logPath, 4000))
	}
	want := "obsfs: no syslog here: logging to " + logPath + " (--log-file chooses another file)\n"
	if r.stderr != want || r.stdout != "" {
		t.Errorf("stdout %q, stderr %q; want stderr %q", r.stdout, r.stderr, want)
	}
	pids := obsfsPids(dir)
	if len(pids) != 1 {
		t.Fatalf("want one obsfs serving %s, found %v", dir, pids)
	}
	waitFileContains(t, logPath, "msg=mounted", time.Minute)
	unmountDaemon(t, dir, pids[0], logPath)
}

// TestMakeRun runs what `make run` runs (integration/devmount) and stops
// it as a Ctrl-C in its terminal does (SIGINT to its process group): the
// banner names the MinIO's endpoint, bucket and keys and a curl command
// that lists the bucket; that command lists a file written through the
// mount; the stop is clean (exit 0, no "MinIO exited before it was
// stopped").
func TestMakeRun(t *testing.T) {
	mounttest.RequireFUSE(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		miniotest.RequireCI(t, "curl is not installed (make deps installs it)")
	}
	miniotest.Binary(t) // MinIO is there (devmount starts it)
	tmp := t.TempDir()
	devmount := filepath.Join(tmp, "devmount")
	build := exec.Command("go", "build", "-o", devmount, "./integration/devmount")
	build.Dir = mounttest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building devmount: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "mnt")
	t.Cleanup(func() { forceCleanup(t, dir) })
	cmd := exec.Command(devmount, "-obsfs", mounttest.Binary(t, false), "-mountpoint", dir, "-bucket", "make-run")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(curl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// Files, not buffers: Wait must not wait for whatever else holds the
	// pipes.
	stderr, err := os.Create(filepath.Join(tmp, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	// The banner, up to its last line; then the rest of stdout, until
	// devmount ends.
	banner := make(chan string, 1)
	var rest bytes.Buffer
	restDone := make(chan struct{})
	go func() {
		defer close(restDone)
		sc := bufio.NewScanner(pr)
		var head strings.Builder
		for sc.Scan() {
			head.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
				break
			}
		}
		banner <- head.String()
		for sc.Scan() {
			rest.WriteString(sc.Text() + "\n")
		}
	}()
	var text string
	select {
	case text = <-banner:
		if !strings.Contains(text, "Press Ctrl-C") {
			errText, _ := os.ReadFile(stderr.Name())
			t.Fatalf("devmount ended before its banner:\n%s\nstderr:\n%s", text, errText)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("no banner within 2 minutes")
	}
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^  ` + name + ` +(\S+)`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("the banner has no %s:\n%s", name, text)
		}
		return m[1]
	}
	endpoint, bucket, ak, sk := field("endpoint"), field("bucket"), field("access key"), field("secret key")
	if bucket != "make-run" || !strings.HasPrefix(endpoint, "http://127.0.0.1:") || ak == "" || len(sk) < 8 {
		t.Errorf("banner: endpoint %q, bucket %q, keys %q %q", endpoint, bucket, ak, sk)
	}
	list := regexp.MustCompile(`(?m)^  (curl .*)$`).FindStringSubmatch(text)
	if list == nil {
		t.Fatalf("the banner has no curl command:\n%s", text)
	}
	if err := os.WriteFile(filepath.Join(dir, "via-make-run"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("sh", "-c", list[1])
	sh.Env = cmd.Env
	listed, err := sh.CombinedOutput()
	if err != nil || string(listed) != "via-make-run\n" {
		t.Errorf("%s: %v, output %q, want the one key", list[1], err, listed)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("devmount exited with %v after SIGINT", waitErr)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("devmount still runs 2 minutes after SIGINT")
	}
	<-restDone
	errText, _ := os.ReadFile(stderr.Name())
	for _, bad := range []string{"exited before it was stopped", "devmount:"} {
		if strings.Contains(text+rest.String()+string(errText), bad) {
			t.Errorf("output has %q:\n%s\nstderr:\n%s", bad, rest.String(), errText)
		}
	}
	if mounted, _ := mounttest.IsMountPoint(dir); mounted {
		t.Errorf("%s still mounted", dir)
	}
}

// TestGracefulStop sends SIGTERM while a file's close waits for its
// commit (CompleteMultipartUpload held at a fault proxy). A slow store:
// the stop waits, the close succeeds and the object is whole, out of
// band. A store that stops answering: the stop ends within --stop-timeout
// plus the abort grace, exit 0, the upload is left, and the next mount
// (journal replay) removes it.
func TestGracefulStop(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	proxy, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	const name, size = "closing", 2*partSize + 999
	// startClose writes the file and closes it in the background once the
	// rule holding its Complete has fired; it returns the close's result.
	startClose := func(t *testing.T, m *mounttest.Mount, rule int) <-chan error {
		f, err := os.Create(m.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(f, stream(21), size); err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		go func() { closed <- f.Close() }()
		waitUntil(t, time.Minute, "the commit to reach the store", func() bool { return proxy.Hits(rule) > 0 })
		return closed
	}

	t.Run("slow store", func(t *testing.T) {
		defer proxy.ClearRules()
		m := mounttest.Start(t, srv, mounttest.Options{Endpoint: proxy.URL()})
		rule := proxy.AddRule(faultproxy.Rule{Method: "POST", Query: "uploadId", PathContains: name,
			Action: faultproxy.ActionForward, Delay: 3 * time.Second})
		closed := startClose(t, m, rule)
		m.Signal(t, syscall.SIGTERM) // waits for exit status 0
		if err := <-closed; err != nil {
			t.Fatalf("close after SIGTERM: %v\n%s", err, m.LogTail(3000))
		}
		want := md5Of(t, io.LimitReader(stream(21), size))
		if got, n := objectMD5(t, m, name); got != want || n != size {
			t.Errorf("object: %d bytes md5 %x, want %d bytes md5 %x", n, got, size, want)
		}
		m.RequireNoUploads(t)
	})

	t.Run("store stops answering", func(t *testing.T) {
		defer proxy.ClearRules()
		state := t.TempDir()
		bucket := srv.Bucket(t, "stop")
		opts := mounttest.Options{Bucket: bucket, Endpoint: proxy.URL(), StateDir: state, Args: []string{"--stop-timeout", "2s"}}
		m := mounttest.Start(t, srv, opts)
		rule := proxy.AddRule(faultproxy.Rule{Method: "POST", Query: "uploadId", PathContains: name, Action: faultproxy.ActionStall})
		closed := startClose(t, m, rule)
		proxy.AddRule(faultproxy.Rule{Action: faultproxy.ActionStall}) // the aborts too
		start := time.Now()
		m.Signal(t, syscall.SIGTERM) // waits for exit status 0
		took := time.Since(start)
		// 2 s for the open file, 10 s for the aborts, 2 s for the lazy
		// detach: 14 s; without the bound, a minute per abort.
		t.Logf("obsfs exited %v after SIGTERM", took.Round(time.Millisecond))
		if took > 45*time.Second {
			t.Errorf("the stop took %v, want about 14 s", took)
		}
		if err := <-closed; err == nil {
			t.Errorf("the close succeeded although its commit never did")
		}
		if !strings.Contains(m.Log(), "the journal keeps them for the next mount") {
			t.Errorf("the log does not say the journal keeps the upload:\n%s", m.LogTail(3000))
		}
		proxy.ClearRules()
		c := srv.Client(t, nil)
		if uploadOf(t, c, bucket, name) == nil {
			t.Fatalf("no upload of %s left after the stop: nothing for the journal to do", name)
		}
		m2 := mounttest.Start(t, srv, opts)
		if n := len(allUploads(t, c, bucket, "")); n != 0 {
			t.Errorf("%d incomplete uploads after the remount\n%s", n, m2.Log())
		}
		if h := m2.Head(t, name); h != nil && h.Size != 0 {
			t.Errorf("an object of %d bytes appeared under the file's name", h.Size)
		}
	})
}
