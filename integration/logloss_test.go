package integration

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
)

// syslogSink is a syslog socket a test points obsfs at
// (--debug-syslog-address): it keeps every message received.
type syslogSink struct {
	addr string
	mu   sync.Mutex
	msgs []string
}

func newSyslogSink(t *testing.T) *syslogSink {
	t.Helper()
	dir, err := os.MkdirTemp("", "obsfs-syslog-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &syslogSink{addr: "unixgram:" + path}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, string(buf[:n]))
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

// count returns how many messages contain sub.
func (s *syslogSink) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

// waitFor waits until a message contains sub (the deadline only bounds a
// failure).
func (s *syslogSink) waitFor(t *testing.T, sub string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); s.count(sub) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("syslog got no message with %q; it got:\n%s", sub, strings.Join(s.msgs, "\n"))
		}
	}
}

// TestLogOutputLost runs obsfs -f with its stdout and stderr into a pipe,
// as `obsfs -f 2>&1 | tee log` does, and closes the pipe's reader, as
// when tee ends (Ctrl-C of `make run | tee`): obsfs must keep serving
// with its log going to syslog (one warning there) or, without a syslog,
// nowhere; then unmount cleanly and exit 0 with every file in the bucket.
func TestLogOutputLost(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	for _, c := range []struct {
		name   string
		syslog bool
		stop   string // "fusermount" or "SIGTERM"
	}{
		{"syslog/fusermount", true, "fusermount"},
		{"no syslog/SIGTERM", false, "SIGTERM"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mounttest.RequireFUSE(t)
			bucket := srv.Bucket(t, "log-lost")
			dir := mountDir(t)
			var sink *syslogSink
			addr := "unixgram:" + filepath.Join(t.TempDir(), "no-syslog-here")
			if c.syslog {
				sink = newSyslogSink(t)
				addr = sink.addr
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			// Debug logs: every operation below writes to the dead pipe.
			cmd := exec.Command(mounttest.Binary(t, false), bucket, dir, "-f", "--endpoint", srv.Endpoint,
				"--log-level", "debug", "--debug-syslog-address", addr, "--debug-poison-pages")
			cmd.Env = mounttest.Environ(srv)
			cmd.Stdout, cmd.Stderr = pw, pw
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
					_ = exec.Command("fusermount3", "-u", "-z", dir).Run()
					_ = cmd.Process.Kill()
					<-exited
				}
			})

			// Read the log until the mount is live, then close the reader.
			var head bytes.Buffer
			mounted := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					head.WriteString(sc.Text() + "\n")
					if strings.Contains(sc.Text(), "msg=mounted") {
						mounted <- true
						return
					}
				}
				mounted <- false
			}()
			select {
			case ok := <-mounted:
				if !ok {
					t.Fatalf("obsfs's output ended before it mounted:\n%s", head.String())
				}
			case <-time.After(90 * time.Second):
				t.Fatalf("obsfs did not mount within 90 s:\n%s", head.String())
			}
			pr.Close()

			// File operations, each of which logs.
			const size = partSize + 4321
			writeLocal(t, filepath.Join(dir, "big"), 5, size)
			if err := os.MkdirAll(filepath.Join(dir, "d/e"), 0o755); err != nil {
				t.Fatal(err)
			}
			small := []byte("written after the log's reader went away\n")
			if err := os.WriteFile(filepath.Join(dir, "d/e/small"), small, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dir, "d/e/small"), filepath.Join(dir, "d/small")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.ReadDir(filepath.Join(dir, "d")); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(filepath.Join(dir, "d/small")); err != nil || !bytes.Equal(got, small) {
				t.Fatalf("reading back: %q, %v", got, err)
			}
			if sink != nil {
				sink.waitFor(t, "log output failed: logging to syslog from now on")
			}

			switch c.stop {
			case "fusermount":
				fusermountU(t, dir)
			case "SIGTERM":
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-exited:
				var ee *exec.ExitError
				if errors.As(waitErr, &ee) {
					t.Fatalf("obsfs exited with %v after its log's reader went away, want status 0", ee.ProcessState)
				} else if waitErr != nil {
					t.Fatal(waitErr)
				}
			case <-time.After(2 * time.Minute):
				t.Fatalf("obsfs still runs 2 minutes after %s", c.stop)
			}
			if m, _ := mounttest.IsMountPoint(dir); m {
				t.Fatalf("%s still mounted after obsfs exited", dir)
			}

			m := outOfBand(t, srv, bucket)
			want := md5Of(t, io.LimitReader(stream(5), size))
			if got, n := objectMD5(t, m, "big"); got != want || n != size {
				t.Errorf("big: %d bytes md5 %x, want %d bytes md5 %x", n, got, size, want)
			}
			if got := m.Object(t, "d/small"); !bytes.Equal(got, small) {
				t.Errorf("d/small: object is %q", got)
			}
			m.RequireNoUploads(t)
			if sink != nil {
				last := "msg=unmounted"
				if c.stop == "SIGTERM" {
					last = "msg=unmounting"
				}
				sink.waitFor(t, last)
				if n := sink.count("log output failed"); n != 1 {
					t.Errorf("the warning reached syslog %d times, want once", n)
				}
			}
		})
	}
}
