package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
)

// statusReply is the part of `obsfs status --json` the tests read.
type statusReply struct {
	Mountpoint string `json:"mountpoint"`
	Files      []struct {
		Path     string  `json:"path"`
		Written  int64   `json:"bytes_written"`
		Durable  int64   `json:"bytes_durable"`
		Fraction float64 `json:"fraction"`
	} `json:"files"`
	Failures []struct {
		Path      string `json:"path"`
		RequestID string `json:"request_id"`
	} `json:"recent_failures"`
	State   string `json:"state"`
	Outcome *struct {
		ETag      string `json:"etag"`
		Size      int64  `json:"size"`
		Errno     string `json:"errno"`
		Cause     string `json:"cause"`
		RequestID string `json:"request_id"`
	} `json:"outcome"`
}

// runStatus runs `obsfs status ARGS` and returns stdout, stderr and the
// exit code.
func runStatus(t *testing.T, bin string, cred *syscall.Credential, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"status"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running obsfs status: %v", err)
	}
	return out.String(), errOut.String(), code
}

func decodeStatus(t *testing.T, out string) statusReply {
	t.Helper()
	var r statusReply
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("obsfs status --json printed %q: %v", out, err)
	}
	return r
}

// TestStatus: while a 512 MiB copy is in flight, obsfs status lists it
// with a fraction strictly between 0 and 1; after close the file is
// committed with the ETag the store reports; a failed upload is failed
// with its request ID; an unknown path is unknown; another user is
// refused.
func TestStatus(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	proxy, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	// Parts of the big file are slowed (1 s each for the first 24), so the
	// copy stays in flight for a few seconds behind a small write buffer.
	proxy.AddRule(faultproxy.Rule{Method: "PUT", Query: "partNumber", PathContains: "big.bin", Action: faultproxy.ActionDelay, Delay: time.Second, Times: 24})
	// Every upload of bad.bin is refused, as an expired credential would be.
	proxy.AddRule(faultproxy.Rule{Method: "PUT", PathContains: "bad.bin", Action: faultproxy.ActionStatus, Status: 403, Code: "AccessDenied"})
	stateDir := filepath.Join(t.TempDir(), "st")
	m := mounttest.Start(t, srv, mounttest.Options{Endpoint: proxy.URL(), StateDir: stateDir, Args: []string{"--write-buffer", "64MiB"}})
	bin := mounttest.Binary(t, false)
	args := func(a ...string) []string { return append([]string{"--state-dir", stateDir}, a...) }

	// The control socket is up shortly after the mount.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stderr, code := runStatus(t, bin, nil, args("--json", m.Dir)...)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("obsfs status never answered: exit %d: %s", code, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}

	start := time.Now()
	dd := exec.Command("dd", "if=/dev/urandom", "of="+m.Path("big.bin"), "bs=1M", "count=512", "status=none")
	ddOut := &bytes.Buffer{}
	dd.Stdout, dd.Stderr = ddOut, ddOut
	if err := dd.Start(); err != nil {
		t.Fatal(err)
	}
	ddDone := make(chan error, 1)
	go func() { ddDone <- dd.Wait() }()
	var seen float64
	var ddErr error
poll:
	for {
		select {
		case ddErr = <-ddDone:
			break poll
		default:
		}
		out, stderr, code := runStatus(t, bin, nil, args("--json", m.Dir)...)
		if code != 0 {
			t.Fatalf("obsfs status: exit %d: %s", code, stderr)
		}
		for _, f := range decodeStatus(t, out).Files {
			if f.Path == "big.bin" && f.Fraction > 0 && f.Fraction < 1 && f.Durable > 0 && f.Durable < f.Written {
				seen = f.Fraction
			}
		}
		if seen > 0 {
			ddErr = <-ddDone
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ddErr != nil {
		t.Fatalf("dd: %v: %s", ddErr, ddOut)
	}
	if seen == 0 {
		t.Fatal("obsfs status never listed big.bin with a fraction strictly between 0 and 1 while it was being copied")
	}
	t.Logf("in flight: fraction %.2f; copy took %v", seen, time.Since(start).Round(time.Millisecond))

	// After close: committed, with the ETag the store reports out of band.
	head := m.Head(t, "big.bin")
	out, stderr, code := runStatus(t, bin, nil, args("--json", m.Path("big.bin"))...)
	r := decodeStatus(t, out)
	if code != 0 || r.State != "committed" || r.Outcome == nil || r.Outcome.ETag != head.ETag || r.Outcome.Size != 512<<20 {
		t.Fatalf("status of big.bin: exit %d, %+v (outcome %+v), stderr %q; want committed with ETag %s", code, r, r.Outcome, stderr, head.ETag)
	}
	out, _, code = runStatus(t, bin, nil, args(m.Path("big.bin"))...)
	if code != 0 || !strings.Contains(out, "committed") || !strings.Contains(out, head.ETag) {
		t.Fatalf("plain status of big.bin: exit %d: %q", code, out)
	}

	// A failed upload: failed, with the request ID of the refusal.
	if err := os.WriteFile(m.Path("bad.bin"), []byte("refused"), 0o644); err == nil {
		t.Fatal("writing bad.bin succeeded despite every upload refused")
	}
	out, stderr, code = runStatus(t, bin, nil, args("--json", m.Path("bad.bin"))...)
	r = decodeStatus(t, out)
	if code != 1 || r.State != "failed" || r.Outcome == nil || r.Outcome.RequestID == "" || r.Outcome.Errno == "" {
		t.Fatalf("status of bad.bin: exit %d, %+v (outcome %+v), stderr %q; want failed (exit 1) with errno and request id", code, r, r.Outcome, stderr)
	}
	if !strings.HasPrefix(r.Outcome.RequestID, "faultproxy-") {
		t.Errorf("request id %q is not the one the proxy's refusal carried", r.Outcome.RequestID)
	}
	out, _, _ = runStatus(t, bin, nil, args("--json", m.Dir)...)
	if fails := decodeStatus(t, out).Failures; len(fails) == 0 || fails[0].Path != "bad.bin" || fails[0].RequestID != r.Outcome.RequestID {
		t.Errorf("mount status lists failures %+v, want bad.bin with request id %s", fails, r.Outcome.RequestID)
	}

	// Never written through this mount: unknown, exit 4.
	if out, _, code := runStatus(t, bin, nil, args(m.Path("never.bin"))...); code != 4 || !strings.Contains(out, "unknown") {
		t.Errorf("status of never.bin: exit %d: %q; want unknown (exit 4)", code, out)
	}

	// Another user is refused. The binary is copied where uid 65534 can
	// run it.
	t.Run("another user", func(t *testing.T) { statusRefusesOthers(t, bin, stateDir, m.Dir) })
}

// statusRefusesOthers checks that uid 65534 is refused, first by the
// socket's directory, then (the directories opened up) by the mount
// itself.
func statusRefusesOthers(t *testing.T, bin, stateDir, mnt string) {
	if os.Geteuid() != 0 {
		miniotest.RequireCI(t, "running obsfs status as another user needs root")
	}
	args := func(a ...string) []string { return append([]string{"--state-dir", stateDir}, a...) }
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	pub, err := os.MkdirTemp("", "obsfs-status-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	nbin := filepath.Join(pub, "obsfs-status")
	copyFile(t, bin, nbin, 0o755)
	// First layer: with every directory above it open, the socket's own
	// directory (0700) keeps the other user out.
	sock := socketIn(t, filepath.Join(stateDir, "run"))
	for d := filepath.Dir(filepath.Dir(sock)); strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, code := runStatus(t, nbin, nobody, args("--json", mnt)...)
	if code != 2 || !strings.Contains(stderr, "refused: permission denied") {
		t.Fatalf("uid 65534 through the 0700 directory: exit %d, stderr %q; want refused: permission denied (exit 2)", code, stderr)
	}
	// Second layer: with the directory and socket opened up, the mount
	// itself checks the peer's uid and refuses.
	if err := os.Chmod(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runStatus(t, nbin, nobody, args("--json", mnt)...)
	if code != 2 || !strings.Contains(stderr, "refused") || !strings.Contains(stderr, "uid 65534") {
		t.Fatalf("uid 65534 at the socket: exit %d, stderr %q; want refused by the mount (exit 2)", code, stderr)
	}
	if _, _, code := runStatus(t, bin, nil, args("--json", mnt)...); code != 0 {
		t.Errorf("root refused after the other user: exit %d", code)
	}
	t.Logf("stderr of the refused user: %s", strings.TrimSpace(stderr))
}

// socketIn returns the one socket in dir.
func socketIn(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var socks []string
	for _, e := range ents {
		if e.Type()&os.ModeSocket != 0 {
			socks = append(socks, filepath.Join(dir, e.Name()))
		}
	}
	if len(socks) != 1 {
		t.Fatalf("control sockets in %s: %v, want one", dir, socks)
	}
	return socks[0]
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
