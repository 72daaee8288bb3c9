package faultproxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/obsclient"
)

// The tests below run obsclient through the proxy against a real MinIO: the
// test binary's shared server (miniotest.Shared), stopped by TestMain. Each
// test has its own proxy and its own bucket.

func TestMain(m *testing.M) {
	code := m.Run()
	if err := miniotest.StopShared(); err != nil {
		code = 1 // StopShared has printed the problem
	}
	os.Exit(code)
}

// needMinIO returns the shared MinIO. With -short, which `make unit` uses,
// the test is skipped: unit runs must not need a server. If MinIO cannot be
// had, it is skipped, or fails under CI=true (miniotest.RequireCI).
func needMinIO(t *testing.T) *miniotest.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that needs MinIO (`make integration` runs it)")
	}
	return miniotest.Shared(t, miniotest.Options{})
}

// testLogWriter sends the client's retry warnings to the test log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fastRetry retries quickly, so that exhausting the attempts is quick too.
var fastRetry = obsclient.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// newClient returns a client of s that sends its requests to endpoint (the
// proxy), with the signature and retry policy given and its warnings in
// the test log; mod, if non-nil, adjusts the configuration further.
func newClient(t *testing.T, s *miniotest.Server, endpoint string, sig obsclient.Signature, retry obsclient.RetryPolicy,
	mod func(*obsclient.Config)) *obsclient.Client {
	t.Helper()
	l := logrus.New()
	l.Out = testLogWriter{t}
	l.Level = logrus.WarnLevel
	return s.Client(t, func(c *obsclient.Config) {
		c.Endpoint, c.Signature, c.Retry, c.Logger = endpoint, sig, retry, logrus.NewEntry(l)
		if mod != nil {
			mod(c)
		}
	})
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := rand.Read(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// getAll reads a whole object; any failure, including a short body, is an
// error.
func getAll(ctx context.Context, c *obsclient.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func checkObject(t *testing.T, c *obsclient.Client, bucket, key string, want []byte) {
	t.Helper()
	got, err := getAll(context.Background(), c, bucket, key)
	if err != nil {
		t.Fatalf("reading %q back: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%q: read %d bytes that differ from the %d written", key, len(got), len(want))
	}
}

// checkNoFailures fails if any request through p was not answered with a
// success status.
func checkNoFailures(t *testing.T, p *faultproxy.Proxy) {
	t.Helper()
	for _, r := range p.Requests() {
		if r.Status < 200 || r.Status >= 300 || r.Reset || r.Truncated || r.Err != "" {
			t.Errorf("request failed: %v", r)
		}
	}
}

// Keys that stress the encoding of the path: the proxy must not re-encode
// them or the signature breaks.
var awkwardKeys = []string{
	"plain",
	"dir/sub dir/with space.txt",
	"plus+sign and=equals&amp",
	"ünïcödé/日本語/😀.txt",
	"percent%20literal%2F%",
	"tilde~star*quote'bang!(paren)",
	"semi;colon:at@dollar$comma,hash#question?x=1",
	" leading and trailing ",
}

func TestMinIOForwarding(t *testing.T) {
	s := needMinIO(t)
	for _, sig := range []obsclient.Signature{obsclient.SignatureV4, obsclient.SignatureV2} {
		t.Run(string(sig), func(t *testing.T) {
			ctx := context.Background()
			p := newProxy(t, s.Endpoint)
			c := newClient(t, s, p.URL(), sig, obsclient.RetryPolicy{MaxAttempts: 1}, nil)
			bucket := s.Bucket(t, t.Name())
			for _, key := range awkwardKeys {
				data := []byte("content of " + key)
				if _, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data),
					Metadata: map[string]string{"origin": "faultproxy"}}); err != nil {
					t.Errorf("put %q: %v", key, err)
					continue
				}
				checkObject(t, c, bucket, key, data)
				head, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: key})
				if err != nil {
					t.Errorf("head %q: %v", key, err)
				} else if head.Size != int64(len(data)) || head.Metadata["origin"] != "faultproxy" {
					t.Errorf("head %q: size %d metadata %v", key, head.Size, head.Metadata)
				}
				out, err := c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: key, Range: &obsclient.Range{Start: 3, End: 6}})
				if err != nil {
					t.Errorf("ranged get %q: %v", key, err)
				} else {
					got, err := io.ReadAll(out.Body)
					out.Body.Close()
					if err != nil || string(got) != string(data[3:7]) {
						t.Errorf("ranged get %q: %q, %v", key, got, err)
					}
				}
				list, err := c.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: bucket, Prefix: key})
				if err != nil || len(list.Contents) == 0 || list.Contents[0].Key != key {
					t.Errorf("list under %q: %+v, %v", key, list, err)
				}
			}

			// A streamed multi-MiB PutObject and a two-part multipart upload.
			big := randomBytes(t, obsclient.MinPartSizeS3+(3<<20))
			key := "big/ü +"
			if _, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(big)}); err != nil {
				t.Fatalf("put %d bytes: %v", len(big), err)
			}
			checkObject(t, c, bucket, key, big)
			mpKey := "multi part/ä+b"
			up, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: mpKey})
			if err != nil {
				t.Fatalf("initiate: %v", err)
			}
			parts := uploadParts(t, c, bucket, mpKey, up.UploadID, big, obsclient.MinPartSizeS3)
			if _, err := c.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{Bucket: bucket, Key: mpKey,
				UploadID: up.UploadID, Parts: parts}); err != nil {
				t.Fatalf("complete: %v", err)
			}
			checkObject(t, c, bucket, mpKey, big)
			for _, k := range append(awkwardKeys, key, mpKey) {
				if _, err := c.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: bucket, Key: k}); err != nil {
					t.Errorf("delete %q: %v", k, err)
				}
			}
			if err := c.DeleteBucket(ctx, bucket); err != nil {
				t.Errorf("delete bucket: %v", err)
			}
			checkNoFailures(t, p)
		})
	}
}

// uploadParts uploads data in parts of partSize, in sequence.
func uploadParts(t *testing.T, c *obsclient.Client, bucket, key, uploadID string, data []byte, partSize int) []obsclient.CompletedPart {
	t.Helper()
	var parts []obsclient.CompletedPart
	for n, off := 1, 0; off < len(data); n, off = n+1, off+partSize {
		end := min(off+partSize, len(data))
		out, err := c.UploadPart(context.Background(), &obsclient.UploadPartInput{Bucket: bucket, Key: key,
			UploadID: uploadID, PartNumber: n, Body: bytes.NewReader(data[off:end])})
		if err != nil {
			t.Fatalf("upload part %d: %v", n, err)
		}
		parts = append(parts, obsclient.CompletedPart{PartNumber: n, ETag: out.ETag})
	}
	return parts
}

func TestMinIOUploadPartRecoversFromTwo503s(t *testing.T) {
	s := needMinIO(t)
	ctx := context.Background()
	p := newProxy(t, s.Endpoint)
	c := newClient(t, s, p.URL(), obsclient.SignatureV4, fastRetry, nil)
	bucket := s.Bucket(t, t.Name())
	const key = "part/503 twice"
	up, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	id := p.AddRule(faultproxy.Rule{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStatus,
		Status: http.StatusServiceUnavailable, Code: "SlowDown", Times: 2})
	data := randomBytes(t, 1<<20)
	parts := uploadParts(t, c, bucket, key, up.UploadID, data, len(data))
	if got := p.Hits(id); got != 2 {
		t.Errorf("rule fired %d times, want 2", got)
	}
	if got := p.Count("PUT", "partNumber"); got != 3 {
		t.Errorf("%d UploadPart requests, want 3", got)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{Bucket: bucket, Key: key,
		UploadID: up.UploadID, Parts: parts}); err != nil {
		t.Fatal(err)
	}
	checkObject(t, c, bucket, key, data)
}

func TestMinIOPutObjectRecoversFromReset(t *testing.T) {
	s := needMinIO(t)
	p := newProxy(t, s.Endpoint)
	c := newClient(t, s, p.URL(), obsclient.SignatureV4, fastRetry, nil)
	bucket := s.Bucket(t, t.Name())
	tests := []struct {
		name   string
		rule   faultproxy.Rule
		size   int
		puts   int // PUT requests expected for the object
		upload bool
	}{
		{"reset after the body", faultproxy.Rule{Action: faultproxy.ActionReset, Times: 1}, 256 << 10, 2, false},
		{"reset mid-body", faultproxy.Rule{Action: faultproxy.ActionReset, ResetAfter: 1000, Times: 1}, 2 << 20, 2, false},
		{"reset after the server stored it", faultproxy.Rule{Action: faultproxy.ActionResetAfterForward, Times: 1}, 256 << 10, 2, true},
		{"two resets", faultproxy.Rule{Action: faultproxy.ActionReset, Times: 2}, 10, 3, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("reset/%d %s", i, tc.name)
			r := tc.rule
			r.Method, r.PathContains = "PUT", fmt.Sprintf("reset/%d", i)
			id := p.AddRule(r)
			data := randomBytes(t, tc.size)
			if _, err := c.PutObject(context.Background(), &obsclient.PutObjectInput{Bucket: bucket, Key: key,
				Body: bytes.NewReader(data)}); err != nil {
				t.Fatalf("put: %v", err)
			}
			if p.Hits(id) != tc.rule.Times {
				t.Errorf("rule fired %d times, want %d", p.Hits(id), tc.rule.Times)
			}
			puts := 0
			for _, rec := range p.Requests() {
				if rec.Method == "PUT" && strings.Contains(rec.RawPath, fmt.Sprintf("reset/%d", i)) {
					puts++
					if tc.upload && rec.Reset && rec.UpstreamStatus != http.StatusOK {
						t.Errorf("the forwarded request got %d from MinIO", rec.UpstreamStatus)
					}
				}
			}
			if puts != tc.puts {
				t.Errorf("%d PUTs, want %d", puts, tc.puts)
			}
			checkObject(t, c, bucket, key, data)
		})
	}
}

func TestMinIOUnrecoverableFailuresSurface(t *testing.T) {
	s := needMinIO(t)
	ctx := context.Background()
	p := newProxy(t, s.Endpoint)
	c := newClient(t, s, p.URL(), obsclient.SignatureV4, fastRetry, nil)
	bucket := s.Bucket(t, t.Name())

	t.Run("UploadPart 503 forever", func(t *testing.T) {
		const key = "fail/part"
		up, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := c.AbortMultipartUpload(ctx, &obsclient.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadID: up.UploadID}); err != nil {
				t.Errorf("abort: %v", err)
			}
		}()
		id := p.AddRule(faultproxy.Rule{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStatus,
			Status: http.StatusServiceUnavailable, Code: "SlowDown"})
		defer p.ClearRules()
		before := p.Count("PUT", "partNumber")
		_, err = c.UploadPart(ctx, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID,
			PartNumber: 1, Body: bytes.NewReader(randomBytes(t, 1000))})
		if err == nil {
			t.Fatal("UploadPart succeeded through a permanent 503")
		}
		if e := obsclient.AsError(err); e == nil || e.Status != 503 || e.Code != "SlowDown" ||
			!strings.HasPrefix(e.RequestID, "faultproxy-") {
			t.Errorf("error %v: want the injected 503 SlowDown with its request ID", err)
		}
		// Retrying stopped: a *RetryError, itself not retryable, wrapping
		// the retryable failure of the last attempt.
		var re *obsclient.RetryError
		if !errors.As(err, &re) || obsclient.IsRetryable(err) || !obsclient.IsRetryable(re.Last) {
			t.Errorf("error %v: want a *RetryError wrapping a retryable failure", err)
		}
		if got := p.Count("PUT", "partNumber") - before; got != fastRetry.MaxAttempts || p.Hits(id) != fastRetry.MaxAttempts {
			t.Errorf("%d attempts, %d hits; want %d", got, p.Hits(id), fastRetry.MaxAttempts)
		}
	})

	t.Run("PutObject reset forever", func(t *testing.T) {
		p.AddRule(faultproxy.Rule{Method: "PUT", PathContains: "fail/reset", Action: faultproxy.ActionReset})
		defer p.ClearRules()
		_, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: "fail/reset", Body: strings.NewReader("x")})
		if err == nil {
			t.Fatal("PutObject succeeded through permanent resets")
		}
		var re *obsclient.RetryError
		if obsclient.AsError(err) != nil || !errors.As(err, &re) || !obsclient.IsRetryable(re.Last) {
			t.Errorf("error %v: want a *RetryError wrapping a retryable transport error", err)
		}
		if got := p.Count("PUT", ""); got < fastRetry.MaxAttempts {
			t.Errorf("%d PUTs, want at least %d", got, fastRetry.MaxAttempts)
		}
	})

	t.Run("no upload is left behind", func(t *testing.T) {
		list, err := c.ListMultipartUploads(ctx, &obsclient.ListMultipartUploadsInput{Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Uploads) != 0 {
			t.Errorf("uploads left: %+v", list.Uploads)
		}
	})
}

func TestMinIOTruncatedGetIsAnError(t *testing.T) {
	s := needMinIO(t)
	ctx := context.Background()
	p := newProxy(t, s.Endpoint)
	c := newClient(t, s, p.URL(), obsclient.SignatureV4, fastRetry, nil)
	bucket := s.Bucket(t, t.Name())
	const key = "truncated/object"
	data := randomBytes(t, 1<<20)
	if _, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	id := p.AddRule(faultproxy.Rule{Method: "GET", PathContains: key, Action: faultproxy.ActionTruncateResponse})
	for _, rng := range [][2]int64{{0, -1}, {1000, 600_000}} {
		out, err := c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: key, Range: &obsclient.Range{Start: rng[0], End: rng[1]}})
		if err != nil {
			t.Fatalf("GetObject %v: %v (the headers were complete)", rng, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err == nil {
			t.Errorf("range %v: read %d of %d bytes without an error", rng, len(got), out.ContentLength)
		} else if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Logf("range %v: error %v (not io.ErrUnexpectedEOF)", rng, err)
		}
	}
	if p.Hits(id) != 2 {
		t.Errorf("rule fired %d times, want 2", p.Hits(id))
	}
	p.ClearRules()
	checkObject(t, c, bucket, key, data)
}

func TestMinIOCompleteFaults(t *testing.T) {
	s := needMinIO(t)
	ctx := context.Background()
	p := newProxy(t, s.Endpoint)
	c := newClient(t, s, p.URL(), obsclient.SignatureV4, fastRetry, nil)
	bucket := s.Bucket(t, t.Name())
	tests := []struct {
		name      string
		rule      faultproxy.Rule
		recovered bool // the client must find the first attempt took effect
		completes int  // Complete requests expected
	}{
		// The server completes the upload, the client sees a reset: it must
		// not retry blindly but find the upload done.
		{"reset after forward", faultproxy.Rule{Action: faultproxy.ActionResetAfterForward}, true, 1},
		// The client sees an error inside a 200 and the upload is still
		// pending: it must retry.
		{"error inside 200", faultproxy.Rule{Action: faultproxy.ActionStatus, Status: 200, Code: "InternalError"}, false, 2},
		{"503", faultproxy.Rule{Action: faultproxy.ActionStatus, Status: 503}, false, 2},
		{"reset", faultproxy.Rule{Action: faultproxy.ActionReset}, false, 2},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("complete/%d", i)
			up, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			data := randomBytes(t, obsclient.MinPartSizeS3+1000)
			parts := uploadParts(t, c, bucket, key, up.UploadID, data, obsclient.MinPartSizeS3)
			r := tc.rule
			r.Method, r.Query, r.PathContains, r.Times = "POST", "uploadId", key, 1
			id := p.AddRule(r)
			before := p.Count("POST", "uploadId")
			out, err := c.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{Bucket: bucket, Key: key,
				UploadID: up.UploadID, Parts: parts})
			if err != nil {
				t.Fatalf("complete: %v", err)
			}
			if out.Recovered != tc.recovered {
				t.Errorf("Recovered = %v, want %v", out.Recovered, tc.recovered)
			}
			if got := p.Count("POST", "uploadId") - before; p.Hits(id) != 1 || got != tc.completes {
				t.Errorf("hits %d, Complete requests %d; want 1 and %d", p.Hits(id), got, tc.completes)
			}
			checkObject(t, c, bucket, key, data)
		})
	}
}

// A Complete that the store leaves unanswered (delayed 40 s before it is
// forwarded) is hedged: a second Complete goes out after the hedge delay
// (3 s here) and completes the upload, the first is cancelled before it
// reaches MinIO, and the call returns long before the 40 s. Checked
// directly on MinIO: the object is exact, no upload is left.
func TestMinIOCompleteHedged(t *testing.T) {
	s := needMinIO(t)
	ctx := context.Background()
	p := newProxy(t, s.Endpoint)
	c := newClient(t, s, p.URL(), obsclient.SignatureV4, fastRetry, func(c *obsclient.Config) {
		c.Stall.Initial = time.Second // the hedge delay is then the 3 s floor
	})
	direct := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	const key = "hedged/object"
	up, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, obsclient.MinPartSizeS3+1000)
	parts := uploadParts(t, c, bucket, key, up.UploadID, data, obsclient.MinPartSizeS3)
	const delay = 40 * time.Second
	id := p.AddRule(faultproxy.Rule{Method: "POST", Query: "uploadId", Action: faultproxy.ActionDelay, Delay: delay, Times: 1})
	t0 := time.Now()
	out, err := c.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{Bucket: bucket, Key: key,
		UploadID: up.UploadID, Parts: parts})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	if d := time.Since(t0); d > delay/2 {
		t.Errorf("Complete took %v: the delayed request was waited out", d)
	}
	if out.Recovered {
		t.Errorf("Recovered: want the hedge's own answer")
	}
	if p.Hits(id) != 1 || p.Count("POST", "uploadId") != 2 {
		t.Errorf("rule fired %d times, %d Completes; want 1 and 2", p.Hits(id), p.Count("POST", "uploadId"))
	}
	checkObject(t, direct, bucket, key, data)
	uploads, err := direct.ListMultipartUploads(ctx, &obsclient.ListMultipartUploadsInput{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("uploads left: %+v", uploads.Uploads)
	}
}

func TestMinIOTruncatedXMLIsRetried(t *testing.T) {
	s := needMinIO(t)
	ctx := context.Background()
	p := newProxy(t, s.Endpoint)
	c := newClient(t, s, p.URL(), obsclient.SignatureV4, fastRetry, nil)
	bucket := s.Bucket(t, t.Name())
	const key = "xml/object"
	if _, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}

	id := p.AddRule(faultproxy.Rule{Method: "GET", Query: "encoding-type", Action: faultproxy.ActionTruncateResponse, Times: 1})
	list, err := c.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: bucket})
	if err != nil || len(list.Contents) != 1 || list.Contents[0].Key != key {
		t.Errorf("list after a truncated listing: %+v, %v", list, err)
	}
	if p.Hits(id) != 1 {
		t.Errorf("listing rule fired %d times", p.Hits(id))
	}

	id = p.AddRule(faultproxy.Rule{Method: "POST", Query: "uploads", Action: faultproxy.ActionTruncateResponse, Times: 1})
	up, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatalf("initiate after a truncated response: %v", err)
	}
	if p.Hits(id) != 1 || p.Count("POST", "uploads") != 2 {
		t.Errorf("initiate rule fired %d times, %d requests", p.Hits(id), p.Count("POST", "uploads"))
	}
	// The truncated attempt created an upload too: S3 has no way to tell.
	uploads, err := c.ListMultipartUploads(ctx, &obsclient.ListMultipartUploadsInput{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range uploads.Uploads {
		if _, err := c.AbortMultipartUpload(ctx, &obsclient.AbortMultipartUploadInput{Bucket: bucket, Key: u.Key, UploadID: u.UploadID}); err != nil {
			t.Errorf("abort %s: %v", u.UploadID, err)
		}
	}
	if len(uploads.Uploads) != 2 {
		t.Errorf("%d uploads after a retried Initiate (%s among them), want 2", len(uploads.Uploads), up.UploadID)
	}
}

func TestMinIOSlowResponseIsRetried(t *testing.T) {
	s := needMinIO(t)
	ctx := context.Background()
	p := newProxy(t, s.Endpoint)
	c := newClient(t, s, p.URL(), obsclient.SignatureV4, fastRetry, func(c *obsclient.Config) {
		c.ResponseHeaderTimeout = 200 * time.Millisecond
		c.Logger.Logger.SetLevel(logrus.InfoLevel)
	})
	bucket := s.Bucket(t, t.Name())
	const key = "slow/object"
	if _, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("slow")}); err != nil {
		t.Fatal(err)
	}
	id := p.AddRule(faultproxy.Rule{Method: "GET", Action: faultproxy.ActionDelay, Delay: 5 * time.Second, Times: 1})
	got, err := getAll(ctx, c, bucket, key)
	if err != nil || string(got) != "slow" {
		t.Fatalf("read %q, %v; want the retry to succeed", got, err)
	}
	if p.Hits(id) != 1 || p.Count("GET", "") != 2 {
		t.Errorf("hits %d, GETs %d; want 1 and 2", p.Hits(id), p.Count("GET", ""))
	}
}

func TestMinIOParallelUploadsWithFaults(t *testing.T) {
	s := needMinIO(t)
	ctx := context.Background()
	p := newProxy(t, s.Endpoint)
	c := newClient(t, s, p.URL(), obsclient.SignatureV4,
		obsclient.RetryPolicy{MaxAttempts: 10, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}, nil)
	bucket := s.Bucket(t, t.Name())
	const key = "parallel/object"
	const nparts = 4
	up, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	rules := []faultproxy.Rule{
		{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStatus, Status: 503, Times: 3},
		{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionReset, Times: 2},
		{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionResetAfterForward, Times: 2},
		{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStatus, Status: 500, Times: 1},
	}
	var ids []int
	faults := 0
	for _, r := range rules {
		ids = append(ids, p.AddRule(r))
		faults += r.Times
	}
	data := randomBytes(t, nparts*obsclient.MinPartSizeS3)
	parts := make([]obsclient.CompletedPart, nparts)
	var wg sync.WaitGroup
	for i := range nparts {
		wg.Go(func() {
			n := i + 1
			out, err := c.UploadPart(ctx, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID,
				PartNumber: n, Body: bytes.NewReader(data[i*obsclient.MinPartSizeS3 : n*obsclient.MinPartSizeS3])})
			if err != nil {
				t.Errorf("part %d: %v", n, err)
				return
			}
			parts[i] = obsclient.CompletedPart{PartNumber: n, ETag: out.ETag}
		})
	}
	wg.Wait()
	defer func() {
		if t.Failed() {
			for _, r := range p.Requests() {
				t.Log(r)
			}
		}
	}()
	if t.Failed() {
		t.FailNow()
	}
	for i, id := range ids {
		if p.Hits(id) != rules[i].Times {
			t.Errorf("rule %d fired %d times, want %d", id, p.Hits(id), rules[i].Times)
		}
	}
	if got := p.Count("PUT", "partNumber"); got != nparts+faults {
		t.Errorf("%d UploadPart requests, want %d", got, nparts+faults)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{Bucket: bucket, Key: key,
		UploadID: up.UploadID, Parts: parts}); err != nil {
		t.Fatal(err)
	}
	checkObject(t, c, bucket, key, data)
}
