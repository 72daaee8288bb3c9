package miniotest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/obsclient"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Check that StopShared really stops the shared servers and removes
	// their directories.
	var servers []*Server
	for _, s := range shared.servers {
		servers = append(servers, s)
	}
	if err := StopShared(); err != nil {
		code = 1
	}
	for _, s := range servers {
		if err := checkGone(s); err != nil {
			fmt.Fprintf(os.Stderr, "miniotest: after StopShared: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkGone reports a stopped server whose process or directory remains.
func checkGone(s *Server) error {
	if !s.Exited() {
		return fmt.Errorf("MinIO at %s still runs", s.Endpoint)
	}
	if err := syscall.Kill(s.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("MinIO pid %d: kill -0 gave %v, want ESRCH", s.cmd.Process.Pid, err)
	}
	for _, dir := range []string{s.DataDir, s.baseDir} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s still exists (stat: %v)", dir, err)
		}
	}
	return nil
}

func TestBucketName(t *testing.T) {
	long := strings.Repeat("abcdefghij", 10)
	tests := []struct {
		prefix string
		seq    uint64
		want   string
	}{
		{"", 1, "test-1-abcdef"},
		{"TestFoo/sub_test#01", 7, "testfoo-sub-test-01-7-abcdef"},
		{"--x--", 2, "x-2-abcdef"},
		{"...", 3, "test-3-abcdef"},
		{"Über ßtraße", 4, "ber-tra-e-4-abcdef"},
		{long, 12345, long[:63-len("-12345-abcdef")] + "-12345-abcdef"},
		{"abc-" + long, 1, ("abc-" + long)[:63-len("-1-abcdef")] + "-1-abcdef"},
		{strings.Repeat("a", 53) + "/" + long, 1, strings.Repeat("a", 53) + "-1-abcdef"},
	}
	for _, tt := range tests {
		got := bucketName(tt.prefix, tt.seq, "abcdef")
		if got != tt.want {
			t.Errorf("bucketName(%q, %d) = %q, want %q", tt.prefix, tt.seq, got, tt.want)
		}
		if err := obsclient.ValidateBucketName(got); err != nil {
			t.Errorf("bucketName(%q, %d) = %q: %v", tt.prefix, tt.seq, got, err)
		}
	}
}

// recordTB records Fatalf and Skipf instead of ending the test.
type recordTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordTB) Helper()                        {}
func (r *recordTB) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recordTB) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

func TestRequireCI(t *testing.T) {
	for _, tt := range []struct {
		ci    string
		fatal bool
	}{
		{"true", true}, {"TRUE", true}, {"1", true}, {"", false}, {"false", false}, {"0", false},
	} {
		t.Setenv("CI", tt.ci)
		r := &recordTB{TB: t}
		RequireCI(r, "no %s", "minio")
		if tt.fatal && (r.fatal == "" || r.skip != "" || !strings.Contains(r.fatal, "no minio")) {
			t.Errorf("CI=%q: fatal %q, skip %q; want a failure", tt.ci, r.fatal, r.skip)
		}
		if !tt.fatal && (r.skip != "no minio" || r.fatal != "") {
			t.Errorf("CI=%q: fatal %q, skip %q; want a skip", tt.ci, r.fatal, r.skip)
		}
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := rand.Read(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// roundTrip puts data under key with sse, reads it back and compares.
func roundTrip(t *testing.T, c *obsclient.Client, bucket, key string, data []byte, sse obsclient.SSE) (*obsclient.PutObjectOutput, *obsclient.GetObjectOutput) {
	t.Helper()
	put, err := c.PutObject(t.Context(), &obsclient.PutObjectInput{
		Bucket: bucket, Key: key, Body: bytes.NewReader(data), SSE: sse,
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	get, err := c.GetObject(t.Context(), &obsclient.GetObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer get.Body.Close()
	got, err := io.ReadAll(get.Body)
	if err != nil {
		t.Fatalf("reading GetObject body: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("GetObject returned %d bytes, want the %d bytes put", len(got), len(data))
	}
	if get.Size != int64(len(data)) || get.ETag != put.ETag {
		t.Errorf("GetObject: size %d, ETag %s; want %d, %s", get.Size, get.ETag, len(data), put.ETag)
	}
	return put, get
}

func TestStart(t *testing.T) {
	for _, opts := range []Options{{}, {TLS: true}, {KMS: true}, {TLS: true, KMS: true}} {
		t.Run(fmt.Sprintf("TLS=%v,KMS=%v", opts.TLS, opts.KMS), func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			s := Start(t, opts)
			t.Logf("Start took %v", time.Since(began))

			wantScheme := "http://127.0.0.1:"
			if opts.TLS {
				wantScheme = "https://127.0.0.1:"
			}
			if !strings.HasPrefix(s.Endpoint, wantScheme) {
				t.Errorf("Endpoint %q, want prefix %q", s.Endpoint, wantScheme)
			}
			if len(s.AccessKey) < 3 || len(s.SecretKey) < 8 || s.Region != "us-east-1" {
				t.Errorf("credentials %d/%d chars, region %q", len(s.AccessKey), len(s.SecretKey), s.Region)
			}
			if opts.TLS != (s.CAPool != nil) || opts.TLS != (s.CAFile != "") {
				t.Errorf("TLS %v but CAPool %v, CAFile %q", opts.TLS, s.CAPool != nil, s.CAFile)
			}
			if opts.TLS {
				if pem, err := os.ReadFile(s.CAFile); err != nil || !bytes.Contains(pem, []byte("BEGIN CERTIFICATE")) {
					t.Errorf("CAFile %s: %v", s.CAFile, err)
				}
			}
			if (s.KMSKeyName != "") != opts.KMS {
				t.Errorf("KMS %v but KMSKeyName %q", opts.KMS, s.KMSKeyName)
			}
			if fi, err := os.Stat(s.DataDir); err != nil || !fi.IsDir() {
				t.Errorf("DataDir %s: %v", s.DataDir, err)
			}

			c := s.Client(t, nil)
			bucket := s.Bucket(t, t.Name())
			if err := c.HeadBucket(t.Context(), bucket); err != nil {
				t.Fatalf("HeadBucket(%q): %v", bucket, err)
			}
			roundTrip(t, c, bucket, "dir/plain object", randomBytes(t, 100<<10), obsclient.SSE{})

			if opts.TLS && opts.KMS {
				sse := obsclient.SSE{SseKms: "kms", SseKmsKey: s.KMSKeyName}
				put, get := roundTrip(t, c, bucket, "kms/object", randomBytes(t, 1<<20+17), sse)
				for what, r := range map[string]obsclient.SSEResult{"PutObject": put.SSEResult, "GetObject": get.SSEResult} {
					if r.SseKms != "kms" || !strings.HasSuffix(r.SseKmsKey, s.KMSKeyName) {
						t.Errorf("%s: SSE result %+v, want kms with key %s", what, r, s.KMSKeyName)
					}
				}
				head, err := c.HeadObject(t.Context(), &obsclient.HeadObjectInput{Bucket: bucket, Key: "kms/object"})
				if err != nil {
					t.Fatalf("HeadObject: %v", err)
				}
				if head.SseKms != "kms" {
					t.Errorf("HeadObject: SSE result %+v, want kms", head.SSEResult)
				}
			}

			if opts.TLS {
				// Verification is on: a client that does not trust the
				// test certificate must be refused.
				bad := s.Client(t, func(c *obsclient.Config) {
					c.RootCAs = nil
					c.Retry.MaxAttempts = 1
				})
				err := bad.HeadBucket(t.Context(), bucket)
				if err == nil || !strings.Contains(err.Error(), "certificate") {
					t.Errorf("HeadBucket without the CA pool: %v, want a certificate error", err)
				}
			}

			if tail := s.LogTail(64); len(tail) > 64 {
				t.Errorf("LogTail(64) returned %d bytes", len(tail))
			}
		})
	}
}

// TestAWSCABundle checks that AWS_CA_BUNDLE pointing at a missing file or
// at a bundle without the test CA changes nothing.
func TestAWSCABundle(t *testing.T) {
	for _, bundle := range []string{"/nonexistent/ca-bundle.pem", "/etc/ssl/certs/ca-certificates.crt"} {
		t.Run(bundle, func(t *testing.T) {
			t.Setenv("AWS_CA_BUNDLE", bundle)
			s := Start(t, Options{TLS: true, KMS: true})
			c := s.Client(t, nil)
			bucket := s.Bucket(t, "ca-bundle")
			roundTrip(t, c, bucket, "k", []byte("hello"), obsclient.SSE{SseKms: "kms", SseKmsKey: s.KMSKeyName})
		})
	}
}

// TestStopCleansUp checks that Start's cleanup ends the process and
// removes the data, including MinIO's trash of deleted objects.
func TestStopCleansUp(t *testing.T) {
	t.Parallel()
	var s *Server
	t.Run("server", func(t *testing.T) {
		s = Start(t, Options{})
		c := s.Client(t, nil)
		bucket := s.Bucket(t, "cleanup")
		roundTrip(t, c, bucket, "k", randomBytes(t, 1<<20), obsclient.SSE{})
		if _, err := c.DeleteObject(t.Context(), &obsclient.DeleteObjectInput{Bucket: bucket, Key: "k"}); err != nil {
			t.Fatalf("DeleteObject: %v", err)
		}
	})
	if s == nil {
		t.Fatal("the subtest did not start a server")
	}
	if err := checkGone(s); err != nil {
		t.Error(err)
	}
	if err := s.stop(); err != nil { // idempotent
		t.Errorf("second stop: %v", err)
	}
}

func TestShared(t *testing.T) {
	t.Parallel()
	servers := make(chan *Server, 2)
	buckets := make(chan string, 2)
	t.Run("group", func(t *testing.T) {
		for i := range 2 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				s := Shared(t, Options{})
				bucket := s.Bucket(t, t.Name())
				roundTrip(t, s.Client(t, nil), bucket, "k", []byte(t.Name()), obsclient.SSE{})
				servers <- s
				buckets <- bucket
			})
		}
	})
	if len(servers) < 2 {
		return // the subtests failed or were skipped and said why
	}
	s0, s1 := <-servers, <-servers
	if s0 != s1 {
		t.Errorf("Shared returned %p and %p, want one server", s0, s1)
	}
	if b0, b1 := <-buckets, <-buckets; b0 == b1 {
		t.Errorf("both tests got bucket %q", b0)
	}
	if s0.Exited() {
		t.Errorf("the shared server stopped at the end of a test")
	}
}

// TestClientMod checks that Client's mod adjusts the configuration: here
// AWS Signature V2, which MinIO also accepts.
func TestClientMod(t *testing.T) {
	t.Parallel()
	s := Shared(t, Options{})
	c := s.Client(t, func(c *obsclient.Config) { c.Signature = obsclient.SignatureV2 })
	if c.Signature() != obsclient.SignatureV2 {
		t.Fatalf("Signature() = %v, want v2", c.Signature())
	}
	bucket := s.Bucket(t, t.Name())
	roundTrip(t, c, bucket, "v2/key with spaces+plus", randomBytes(t, 4096), obsclient.SSE{})
}

func TestBinary(t *testing.T) {
	path := Binary(t)
	if !isExecutable(path) {
		t.Fatalf("Binary() = %s, not an executable file", path)
	}
	def, err := DefaultBinaryPath()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "minio-"+Version) {
		t.Errorf("DefaultBinaryPath() = %s, want the version %s in it", def, Version)
	}
}

// TestPortTaken starts a server on a port that another server already
// holds: the harness must notice (the other server refuses our
// credentials, ours exits with a bind error) and move to other ports.
// Not parallel: it replaces pickPorts.
func TestPortTaken(t *testing.T) {
	other := Start(t, Options{})
	_, port, _ := strings.Cut(strings.TrimPrefix(other.Endpoint, "http://"), ":")
	taken, _ := strconv.Atoi(port)
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ports, err := freePorts(n)
		if calls == 1 && err == nil {
			ports[0] = taken
		}
		return ports, err
	}
	t.Cleanup(func() { pickPorts = freePorts })

	s := Start(t, Options{})
	if calls != 2 {
		t.Errorf("ports were picked %d times, want 2", calls)
	}
	if s.Endpoint == other.Endpoint {
		t.Fatalf("both servers at %s", s.Endpoint)
	}
	roundTrip(t, s.Client(t, nil), s.Bucket(t, "port-taken"), "k", []byte("x"), obsclient.SSE{})
}

// fakeMinIO writes a shell script that stands in for MinIO: it appends a
// line to $MINIOTEST_FAKE_COUNT, prints msg on stderr and exits 1.
func fakeMinIO(t *testing.T, msg string) (bin, count string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "minio")
	count = filepath.Join(dir, "count")
	script := "#!/bin/sh\necho run >> \"$MINIOTEST_FAKE_COUNT\"\necho '" + msg + "' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MINIOTEST_FAKE_COUNT", count)
	return bin, count
}

// TestStartFailure checks that a server that dies at startup yields an
// error with its log, leaves no directory behind, and that only a bind
// failure is retried.
func TestStartFailure(t *testing.T) {
	for _, tt := range []struct {
		msg  string
		runs int
	}{
		{"FATAL Unable to use the drive: simulated failure", 1},
		{"listen tcp 127.0.0.1:1: bind: address already in use", startAttempts},
	} {
		t.Run(tt.msg, func(t *testing.T) {
			bin, count := fakeMinIO(t, tt.msg)
			before, _ := filepath.Glob(filepath.Join(os.TempDir(), "obsfs-minio-*"))
			s, err := start(bin, Options{TLS: true, KMS: true}, t.Logf)
			if err == nil {
				s.stop()
				t.Fatal("start succeeded with a fake MinIO that exits")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "exited before it was ready") {
				t.Errorf("error %q lacks the log line or the cause", err)
			}
			data, _ := os.ReadFile(count)
			if runs := strings.Count(string(data), "run"); runs != tt.runs {
				t.Errorf("MinIO was run %d times, want %d", runs, tt.runs)
			}
			after, _ := filepath.Glob(filepath.Join(os.TempDir(), "obsfs-minio-*"))
			if len(after) > len(before) {
				t.Errorf("directories left behind: before %v, after %v", before, after)
			}
		})
	}
}
