package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
	"golang.org/x/sys/unix"
)

// Bounded and killable waits (README, "Semantics" and "Troubleshooting"):
// the store is made to stop answering with the fault proxy's stall (the
// request is read, nothing comes back), and the tests time what programs
// see.

// putRandom writes n bytes of stream(seed) as rel's object, out of band.
func putRandom(t *testing.T, m *mounttest.Mount, rel string, seed uint64, n int64) []byte {
	t.Helper()
	data, err := io.ReadAll(io.LimitReader(stream(seed), n))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Client.PutObject(t.Context(), &obsclient.PutObjectInput{Bucket: m.Bucket, Key: m.Key(rel),
		Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestReadOfStalledStoreIsBounded: with every GET of a file stalled, cat
// fails with EIO once the operation's budget (--op-timeout) is spent: not
// before it, and well within 3× (retries inside do not stack, and the
// kernel's synchronous re-read of the failed page gets the error at once
// instead of a second budget). Afterwards the file reads back exactly.
func TestReadOfStalledStoreIsBounded(t *testing.T) {
	const budget = 8 * time.Second
	srv := miniotest.Shared(t, miniotest.Options{})
	m, p := proxied(t, srv, mounttest.Options{Args: []string{"--op-timeout", budget.String()}})
	data := putRandom(t, m, "stalled-read", 71, 3<<20)
	// Lookups (HEAD, listings) are not stalled: the read itself is.
	p.AddRule(faultproxy.Rule{Method: "GET", PathContains: "stalled-read", Action: faultproxy.ActionStall})

	start := time.Now()
	out, err := exec.Command("cat", m.Path("stalled-read")).CombinedOutput()
	took := time.Since(start)
	t.Logf("cat with every GET stalled, --op-timeout %v: failed after %v: %s", budget, took.Round(time.Millisecond), bytes.TrimSpace(out))
	if err == nil {
		t.Fatal("cat succeeded although every GET of the file stalled")
	}
	if !bytes.Contains(out, []byte("Input/output error")) {
		t.Errorf("cat says %q; want EIO (Input/output error)", out)
	}
	if took < budget {
		t.Errorf("cat failed after %v, before the operation budget %v was spent", took, budget)
	}
	if took > 3*budget {
		t.Errorf("cat failed after %v, more than 3× the operation budget %v", took, budget)
	}

	p.ClearRules()
	got, err := os.ReadFile(m.Path("stalled-read"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("once the store answers again, the file reads %d bytes (%v), want its %d bytes exactly", len(got), err, len(data))
	}
}

// TestWriteToStalledStoreIsBounded: with every UploadPart stalled, close
// fails with EIO within the budget (the commit made no progress for
// --op-timeout), the multipart upload is aborted and no object appears —
// both checked out of band.
func TestWriteToStalledStoreIsBounded(t *testing.T) {
	const budget = 5 * time.Second
	srv := miniotest.Shared(t, miniotest.Options{})
	m, p := proxied(t, srv, mounttest.Options{Args: []string{"--op-timeout", budget.String(), "--part-size", "5MiB"}})
	p.AddRule(faultproxy.Rule{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStall})

	f, err := os.Create(m.Path("stalled-write"))
	if err != nil {
		t.Fatal(err)
	}
	// Two full parts (uploaded while writing: they stall) and a tail.
	if _, err := io.Copy(f, io.LimitReader(stream(72), 12<<20)); err != nil {
		f.Close()
		t.Fatalf("writing into the write buffer: %v", err)
	}
	start := time.Now()
	err = f.Close()
	took := time.Since(start)
	t.Logf("close with every UploadPart stalled, --op-timeout %v: %v after %v", budget, err, took.Round(time.Millisecond))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("close returned %v; want EIO", err)
	}
	if took > 3*budget {
		t.Errorf("close took %v, more than 3× the operation budget %v", took, budget)
	}
	if h := m.Head(t, "stalled-write"); h != nil {
		t.Errorf("an object of %d bytes appeared although the upload failed", h.Size)
	}
	m.RequireNoUploads(t) // aborted before close returned
	p.ClearRules()
}

// TestKilledProgramIsReleased: programs blocked in obsfs on a stalled
// store — reading (cat through the page cache, dd with O_DIRECT), closing
// a written file (cp waiting for the commit) and writing (cp waiting for
// write-buffer space) — return within moments of kill -9, long before
// --op-timeout. The commits they started go on in the background, fail
// when their budget is spent, log it and leave no upload; the mount stays
// usable.
func TestKilledProgramIsReleased(t *testing.T) {
	const budget = 15 * time.Second
	srv := miniotest.Shared(t, miniotest.Options{})
	m, p := proxied(t, srv, mounttest.Options{Args: []string{
		"--op-timeout", budget.String(), "--part-size", "5MiB", "--write-buffer", "20MiB"}})
	putRandom(t, m, "stalled-read", 73, 3<<20)
	local := t.TempDir()
	small, large := filepath.Join(local, "small"), filepath.Join(local, "large")
	writeLocal(t, small, 74, 7<<20)  // a part uploading and a tail at close
	writeLocal(t, large, 75, 40<<20) // more than the write buffer
	p.AddRule(faultproxy.Rule{Method: "GET", PathContains: "stalled-read", Action: faultproxy.ActionStall})
	p.AddRule(faultproxy.Rule{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStall})

	for _, c := range []struct {
		name    string
		argv    []string
		syscall int // where the program must be blocked when it is killed
	}{
		{"cat", []string{"cat", m.Path("stalled-read")}, unix.SYS_READ},
		{"dd with O_DIRECT", []string{"dd", "if=" + m.Path("stalled-read"), "of=/dev/null", "bs=1M", "iflag=direct"}, unix.SYS_READ},
		{"cp waiting in close", []string{"cp", small, m.Path("small")}, unix.SYS_CLOSE},
		{"cp waiting for the write buffer", []string{"cp", large, m.Path("large")}, unix.SYS_WRITE},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(c.argv[0], c.argv[1:]...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			if err := waitBlocked(cmd.Process.Pid, c.syscall, exited, budget/2); err != nil {
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("%s: %v (output: %s)", c.name, err, out.Bytes())
			}
			killed := time.Now()
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
				took := time.Since(killed)
				t.Logf("%s released %v after kill -9", c.name, took.Round(time.Millisecond))
				if took > 5*time.Second {
					t.Errorf("%s was released %v after kill -9; want at once (well under 5s)", c.name, took)
				}
			case <-time.After(3 * budget):
				t.Fatalf("%s not released %v after kill -9", c.name, 3*budget)
			}
		})
	}

	// The commits of the killed cps fail in the background once their
	// budget is spent without progress, and abort their uploads.
	deadline := time.Now().Add(4 * budget)
	for {
		out, err := m.Client.ListMultipartUploads(t.Context(), &obsclient.ListMultipartUploadsInput{Bucket: m.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d multipart uploads still left %v after the killed programs' commits started", len(out.Uploads), 4*budget)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, rel := range []string{"small", "large"} {
		if h := m.Head(t, rel); h != nil {
			t.Errorf("%s: an object of %d bytes appeared although its writer was killed and the store stalled", rel, h.Size)
		}
	}
	if log := m.Log(); !strings.Contains(log, "caller stopped waiting") {
		t.Errorf("the log does not say what became of the commits whose callers were killed")
	}

	// The mount is healthy.
	p.ClearRules()
	writeStream(t, m.Path("after"), 76, 6<<20)
	want := md5Of(t, io.LimitReader(stream(76), 6<<20))
	if got, n := objectMD5(t, m, "after"); got != want || n != 6<<20 {
		t.Errorf("a file written after the kills: %d bytes md5 %x out of band, want %d bytes md5 %x", n, got, 6<<20, want)
	}
	if got := md5Of(t, mustOpen(t, m.Path("after"))); got != want {
		t.Errorf("reading it back through the mount: md5 %x, want %x", got, want)
	}
	if _, err := os.ReadDir(m.Dir); err != nil {
		t.Errorf("listing the mount after the kills: %v", err)
	}
}

// waitBlocked waits until process pid has been blocked in system call nr
// for a while (/proc/PID/syscall; "running" while it runs), up to limit.
// It fails if the process exits first.
func waitBlocked(pid, nr int, exited <-chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	since := time.Time{}
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("exited (%v) before it was seen blocked in system call %d", err, nr)
		default:
		}
		in := inSyscall(pid) == nr
		switch {
		case !in:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= 500*time.Millisecond:
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not seen blocked in system call %d within %v (now: %d)", nr, limit, inSyscall(pid))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inSyscall is the system call pid is blocked in, or -1.
func inSyscall(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return -1
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return -1
	}
	return n
}
