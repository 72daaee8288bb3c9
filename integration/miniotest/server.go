package miniotest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/obsclient"
)

// Options selects how a server is started. It is comparable: Shared keeps
// one server per Options value.
type Options struct {
	// TLS serves HTTPS with a fresh self-signed certificate for
	// IP:127.0.0.1; clients trust it through Server.CAPool or Server.CAFile.
	TLS bool
	// KMS configures a static KMS key (MINIO_KMS_SECRET_KEY) named
	// Server.KMSKeyName, so that SSE-KMS requests work.
	KMS bool
}

// Server is a running MinIO. Its exported fields are read-only.
type Server struct {
	Endpoint   string         // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT"
	AccessKey  string         // random per server
	SecretKey  string         // random per server, 40 characters
	Region     string         // "us-east-1"
	CAPool     *x509.CertPool // trusts the server's certificate; nil without TLS
	CAFile     string         // PEM path of the certificate; "" without TLS
	KMSKeyName string         // the static KMS key's name; "" without KMS
	DataDir    string         // MinIO's data directory; removed when the server stops

	opts    Options
	baseDir string // holds DataDir, the certs dir and the log; removed on stop
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been reaped
	waitErr error         // the process's exit status; read only after exited is closed

	stopOnce sync.Once
	stopErr  error

	bucketSeq atomic.Uint64

	clientOnce sync.Once // creates client, the server's own client for Bucket
	client     *obsclient.Client
	clientErr  error
}

// KMSKeyName is the name of the static KMS key of servers started with
// Options.KMS.
const KMSKeyName = "obsfs-test-key"

// Region is the region of every server.
const Region = "us-east-1"

// Timeouts.
const (
	readyTimeout = 60 * time.Second
	// refusedGrace bounds the wait for a server that refuses our
	// credentials to show that it is not ours (our process fails to bind
	// its port, which it says in its log before exiting).
	refusedGrace = 30 * time.Second
	stopGrace    = 10 * time.Second
	// startAttempts bounds the retries after another process takes a port
	// between our probe of it and MinIO's bind.
	startAttempts = 3
)

// Start starts a MinIO server for t on free 127.0.0.1 ports, with a fresh
// data directory, random credentials, MINIO_BROWSER=off and --quiet, and
// waits until it is ready (see the package comment). A cleanup registered
// on t stops it and removes its data; if t failed, the cleanup first logs
// the tail of the MinIO log.
//
// If the binary is missing, Binary ends the test (failure under CI, skip
// otherwise). If the server does not start, the test fails with the tail of
// the MinIO log.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	path := Binary(t)
	s, err := start(path, opts, t.Logf)
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("miniotest: tail of the MinIO log (%s):\n%s", s.Endpoint, s.LogTail(4096))
		}
		if err := s.stop(); err != nil {
			t.Errorf("miniotest: stopping MinIO at %s: %v", s.Endpoint, err)
		}
	})
	return s
}

// start starts a server with the binary at path; on error nothing is left
// behind.
func start(path string, opts Options, logf func(string, ...any)) (*Server, error) {
	began := time.Now()
	base, err := os.MkdirTemp("", "obsfs-minio-")
	if err != nil {
		return nil, err
	}
	s := &Server{
		AccessKey: "mt" + randomHex(8),
		SecretKey: randomHex(20),
		Region:    Region,
		DataDir:   filepath.Join(base, "data"),
		opts:      opts,
		baseDir:   base,
		logPath:   filepath.Join(base, "minio.log"),
	}
	certsDir := filepath.Join(base, "certs")
	for _, d := range []string{s.DataDir, certsDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			os.RemoveAll(base)
			return nil, err
		}
	}
	env := minioEnv(s.AccessKey, s.SecretKey)
	if opts.TLS {
		if s.CAFile, s.CAPool, err = writeSelfSignedCert(certsDir); err != nil {
			os.RemoveAll(base)
			return nil, fmt.Errorf("creating the TLS certificate: %w", err)
		}
	}
	if opts.KMS {
		s.KMSKeyName = KMSKeyName
		key := make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand)
		env = append(env, "MINIO_KMS_SECRET_KEY="+KMSKeyName+":"+base64.StdEncoding.EncodeToString(key))
	}

	for attempt := 1; ; attempt++ {
		err := s.launch(path, certsDir, env)
		if err == nil {
			err = s.waitReady(readyTimeout)
		}
		if err == nil {
			logf("miniotest: MinIO ready at %s in %v (TLS %v, KMS %v, data %s)",
				s.Endpoint, time.Since(began).Round(time.Millisecond), opts.TLS, opts.KMS, s.DataDir)
			return s, nil
		}
		logTail := s.LogTail(4096)
		s.kill()
		var pe portError
		if errors.As(err, &pe) && attempt < startAttempts {
			logf("miniotest: %v; retrying on other ports", err)
			continue
		}
		os.RemoveAll(base)
		return nil, fmt.Errorf("starting MinIO (%s) at %s (TLS %v, KMS %v): %w\n--- tail of the MinIO log ---\n%s",
			path, s.Endpoint, opts.TLS, opts.KMS, err, logTail)
	}
}

// portError says that the server could not use its port: retry elsewhere.
type portError struct{ err error }

func (e portError) Error() string { return e.err.Error() }
func (e portError) Unwrap() error { return e.err }

// minioEnv is the server's environment: ours without MINIO_* (so a
// developer's settings cannot leak in), plus the test settings.
func minioEnv(accessKey, secretKey string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"MINIO_ROOT_USER="+accessKey,
		"MINIO_ROOT_PASSWORD="+secretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		// MinIO also switches to this mode when CI is set; always using
		// it makes local runs behave like CI runs.
		"MINIO_CI_CD=1",
	)
}

// launch starts the process on fresh ports, logging to s.logPath.
func (s *Server) launch(path, certsDir string, env []string) error {
	ports, err := pickPorts(2)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	scheme := "http"
	if s.opts.TLS {
		scheme = "https"
	}
	s.Endpoint = scheme + "://" + addr
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own copy of the descriptor
	cmd := exec.Command(path, "server", "--quiet",
		"--address", addr,
		"--console-address", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--certs-dir", certsDir,
		s.DataDir)
	cmd.Env = env
	cmd.Dir = s.baseDir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	s.waitErr = nil
	go func(exited chan struct{}) {
		s.waitErr = cmd.Wait()
		close(exited)
	}(s.exited)
	return nil
}

// pickPorts chooses the ports of a server; tests replace it.
var pickPorts = freePorts

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment
// ago (they are held together, so they differ).
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitReady polls until the server is live and initialized and accepts
// an authenticated request, the process exits, or the timeout passes.
func (s *Server) waitReady(timeout time.Duration) error {
	hc := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			Proxy:           nil, // never via a proxy, whatever the environment says
			TLSClientConfig: &tls.Config{RootCAs: s.CAPool, MinVersion: tls.VersionTLS12},
		},
	}
	defer hc.CloseIdleConnections()
	probe, err := obsclient.New(s.config(func(c *obsclient.Config) {
		c.Retry = obsclient.RetryPolicy{MaxAttempts: 1}
		c.Transport = hc.Transport // closed with hc's idle connections
	}))
	if err != nil {
		return fmt.Errorf("probe client: %w", err)
	}
	deadline := time.Now().Add(timeout)
	var last error
	var refused time.Time // when our credentials were first refused
	for {
		select {
		case <-s.exited:
			err := fmt.Errorf("MinIO exited before it was ready: %v", s.waitErr)
			if s.bindFailed() {
				return portError{err}
			}
			return err
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO not ready after %v: %v", timeout, last)
		}
		last = s.checkLive(hc)
		if last == nil {
			last = s.checkAuth(probe)
			if last == nil {
				return nil
			}
			if obsclient.IsAccessDenied(last) {
				// Our credentials are refused: either the server on this
				// port is not ours (our MinIO then fails to bind, says so
				// in its log and exits), or signing is broken. Telling
				// which takes MinIO seconds on a loaded machine: wait for
				// its verdict, up to refusedGrace.
				if s.bindFailed() {
					return portError{fmt.Errorf("port of %s taken by another server: %w", s.Endpoint, last)}
				}
				if refused.IsZero() {
					refused = time.Now()
				} else if time.Since(refused) > refusedGrace {
					return fmt.Errorf("MinIO at %s is live but refuses an authenticated HeadBucket for %v: %w", s.Endpoint, refusedGrace, last)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bindFailed reports whether MinIO's log says it could not listen on its
// port.
func (s *Server) bindFailed() bool {
	return s.logMentions("port is already in use", "address already in use")
}

// checkLive does GET /minio/health/live. MinIO answers 200 as soon as it
// listens, with "x-minio-server-status: offline" until its object layer is
// initialized; only a 200 without that header counts.
func (s *Server) checkLive(hc *http.Client) error {
	resp, err := hc.Get(s.Endpoint + "/minio/health/live")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /minio/health/live: status %d", resp.StatusCode)
	}
	if st := resp.Header.Get("X-Minio-Server-Status"); st != "" {
		return fmt.Errorf("GET /minio/health/live: server status %q", st)
	}
	return nil
}

// checkAuth sends a signed HeadBucket for a bucket that does not exist: a
// 404 proves that the server knows our credentials and serves S3 requests.
func (s *Server) checkAuth(c *obsclient.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.HeadBucket(ctx, "miniotest-probe-"+randomHex(6))
	if err == nil {
		return errors.New("HeadBucket of a random bucket succeeded")
	}
	if obsclient.IsNotFound(err) {
		return nil
	}
	return err
}

// logMentions reports whether the log contains any of the strings.
func (s *Server) logMentions(subs ...string) bool {
	data, _ := os.ReadFile(s.logPath)
	for _, sub := range subs {
		if strings.Contains(string(data), sub) {
			return true
		}
	}
	return false
}

// LogTail returns the last n bytes of the server's log (its stdout and
// stderr), for failure messages.
func (s *Server) LogTail(n int) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read the MinIO log: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read the MinIO log: %v)", err)
	}
	off := max(fi.Size()-int64(n), 0)
	data, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return fmt.Sprintf("(cannot read the MinIO log: %v)", err)
	}
	if len(data) == 0 {
		return "(the MinIO log is empty)"
	}
	return string(data)
}

// Exited reports whether the server process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// kill ends the current process, if any, without grace and waits for it.
func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// stop ends the server (SIGTERM, then SIGKILL after stopGrace) and removes
// its directory. It is idempotent. It reports a server that had died on its
// own before being stopped.
func (s *Server) stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.Exited() {
			errs = append(errs, fmt.Errorf("MinIO exited before it was stopped (%v); log tail:\n%s", s.waitErr, s.LogTail(2048)))
		} else {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(stopGrace):
				_ = s.cmd.Process.Kill()
				<-s.exited
			}
		}
		if err := os.RemoveAll(s.baseDir); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", s.baseDir, err))
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// Config returns an obsclient configuration for this server: its endpoint
// and credentials, Signature V4, path-style addressing and, with TLS, its
// CA pool. Adjust it for tests that need other settings.
func (s *Server) Config() obsclient.Config {
	return s.config(nil)
}

func (s *Server) config(mod func(*obsclient.Config)) obsclient.Config {
	cfg := obsclient.Config{
		Endpoint:   s.Endpoint,
		AccessKey:  s.AccessKey,
		SecretKey:  s.SecretKey,
		Region:     s.Region,
		Signature:  obsclient.SignatureV4,
		Addressing: obsclient.AddressingPath,
		RootCAs:    s.CAPool,
	}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

// Client returns a new obsclient.Client for this server, configured as by
// Config; mod, if non-nil, adjusts the configuration first (signature,
// transport, retry policy...). The test fails if obsclient.New refuses it.
func (s *Server) Client(t testing.TB, mod func(*obsclient.Config)) *obsclient.Client {
	t.Helper()
	c, err := obsclient.New(s.config(mod))
	if err != nil {
		t.Fatalf("miniotest: obsclient.New for %s: %v", s.Endpoint, err)
	}
	return c
}

// serverClient is the server's own client (bucket creation).
func (s *Server) serverClient() (*obsclient.Client, error) {
	s.clientOnce.Do(func() { s.client, s.clientErr = obsclient.New(s.Config()) })
	return s.client, s.clientErr
}

// Bucket creates a bucket whose name is derived from prefix (lowercased,
// characters other than letters and digits turned into hyphens, shortened)
// plus a unique suffix, and returns the name. t.Name() is a good prefix.
// The bucket is not deleted: it goes with the server's data directory.
func (s *Server) Bucket(t testing.TB, prefix string) string {
	t.Helper()
	if _, err := s.serverClient(); err != nil {
		t.Fatalf("miniotest: obsclient.New for %s: %v", s.Endpoint, err)
	}
	name := bucketName(prefix, s.bucketSeq.Add(1), randomHex(3))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.client.CreateBucket(ctx, name); err != nil {
		t.Fatalf("miniotest: creating bucket %q at %s: %v", name, s.Endpoint, err)
	}
	return name
}

// bucketName builds a valid bucket name (3–63 characters of [a-z0-9-],
// starting and ending with a letter or digit) from prefix, a sequence
// number and a random tag.
func bucketName(prefix string, seq uint64, tag string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(prefix) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	suffix := "-" + strconv.FormatUint(seq, 10) + "-" + tag
	p := b.String()
	if len(p) > 63-len(suffix) {
		p = p[:63-len(suffix)]
	}
	p = strings.Trim(p, "-")
	if p == "" {
		p = "test"
	}
	return p + suffix
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
