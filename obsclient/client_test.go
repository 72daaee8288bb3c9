package obsclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scriptedS3 is an httptest server whose answers a test scripts request by
// request. It records what it received.
type scriptedS3 struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	reqs   []seenRequest // guarded by mu
	handle func(w http.ResponseWriter, r *http.Request, body []byte, n int)
}

type seenRequest struct {
	Method string
	URI    string
	Header http.Header
	Body   []byte
}

func newScriptedS3(t *testing.T, tls bool, handle func(w http.ResponseWriter, r *http.Request, body []byte, n int)) *scriptedS3 {
	s := &scriptedS3{t: t, handle: handle}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seenRequest{r.Method, r.RequestURI, r.Header.Clone(), body})
		n := len(s.reqs)
		handle := s.handle
		s.mu.Unlock()
		handle(w, r, body, n)
	})
	if tls {
		s.srv = httptest.NewTLSServer(h)
	} else {
		s.srv = httptest.NewServer(h)
	}
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scriptedS3) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.reqs...)
}

// config returns a client config for this server (path style, as for
// MinIO), with millisecond retries.
func (s *scriptedS3) config(sig Signature) Config {
	cfg := Config{Endpoint: s.srv.URL, AccessKey: "AK", SecretKey: testSecret, SecurityToken: testToken,
		Signature: sig, Retry: fastRetry}
	if s.srv.TLS != nil {
		pool := x509.NewCertPool()
		pool.AddCert(s.srv.Certificate())
		cfg.RootCAs = pool
	}
	return cfg
}

// hijackClose drops the connection (with a TCP reset) without answering.
func hijackClose(t *testing.T, w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Error("cannot hijack")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST rather than FIN
	}
	conn.Close()
}

func writeXML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestServiceErrorFields(t *testing.T) {
	tests := []struct {
		name   string
		method string // "GET" (GetObject) or "HEAD" (HeadObject)
		status int
		header map[string]string
		body   string
		want   Error
	}{
		{name: "OBS headers, XML request id wins", method: "GET", status: 404,
			header: map[string]string{"x-obs-request-id": "HDRREQ", "x-obs-id-2": "ID2", "x-reserved-indicator": "0001"},
			body: xmlDecl + `<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message>` +
				`<Resource>/example-bucket/object</Resource><RequestId>001B21A61C6C</RequestId><HostId>RkRC</HostId></Error>`,
			want: Error{Status: 404, Code: "NoSuchKey", Message: "The resource you requested does not exist", HostID: "RkRC",
				RequestID: "001B21A61C6C", ID2: "ID2", Indicator: "0001", Resource: "/example-bucket/object"}},
		{name: "OBS headers, no XML request id", method: "GET", status: 403,
			header: map[string]string{"x-obs-request-id": "HDRREQ", "x-obs-id-2": "ID2", "x-reserved-indicator": "IND"},
			body:   `<Error ` + obsNS + `><Code>AccessDenied</Code><Message>denied</Message></Error>`,
			want: Error{Status: 403, Code: "AccessDenied", Message: "denied", RequestID: "HDRREQ", ID2: "ID2",
				Indicator: "IND"}},
		{name: "S3/MinIO headers", method: "GET", status: 503,
			header: map[string]string{"x-amz-request-id": "AMZREQ", "x-amz-id-2": "AMZID2"},
			body:   `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><Resource>/b/k</Resource></Error>`,
			want: Error{Status: 503, Code: "SlowDown", Message: "Please reduce your request rate.", RequestID: "AMZREQ",
				ID2: "AMZID2", Resource: "/b/k"}},
		{name: "HEAD 404 without body", method: "HEAD", status: 404,
			header: map[string]string{"x-obs-request-id": "R404", "x-obs-id-2": "I404"},
			want:   Error{Status: 404, Code: "NotFound", Message: "Not Found", RequestID: "R404", ID2: "I404"}},
		{name: "HEAD with error code headers", method: "HEAD", status: 403,
			header: map[string]string{"x-amz-request-id": "R", "x-obs-error-code": "InvalidAccessKeyId", "x-obs-error-message": "bad ak"},
			want:   Error{Status: 403, Code: "InvalidAccessKeyId", Message: "bad ak", RequestID: "R"}},
		{name: "non-XML body", method: "GET", status: 502,
			header: map[string]string{"x-obs-request-id": "R"}, body: "<html>bad gateway</html>",
			want: Error{Status: 502, Code: "InternalError", Message: "Bad Gateway", RequestID: "R"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				if tt.body != "" {
					writeXML(w, tt.status, tt.body)
					return
				}
				w.WriteHeader(tt.status)
			})
			cfg := s.config(SignatureV4)
			cfg.Retry.MaxAttempts = 1
			c := newTestClient(t, cfg)
			var err error
			if tt.method == "HEAD" {
				_, err = c.HeadObject(context.Background(), &HeadObjectInput{Bucket: "bkt", Key: "k"})
			} else {
				_, err = c.GetObject(context.Background(), &GetObjectInput{Bucket: "bkt", Key: "k"})
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if *e != tt.want {
				t.Errorf("Error = %+v\nwant  %+v", *e, tt.want)
			}
			if got := RequestID(err); got != tt.want.RequestID {
				t.Errorf("RequestID(err) = %q", got)
			}
			if got := Code(err); got != tt.want.Code {
				t.Errorf("Code(err) = %q", got)
			}
			if tt.status == 404 && !IsNotFound(err) {
				t.Errorf("IsNotFound(%v) = false", err)
			}
			if !strings.Contains(err.Error(), tt.want.Code) || !strings.Contains(err.Error(), `"k"`) {
				t.Errorf("error text %q lacks the code or the key", err)
			}
		})
	}
}

func TestErrorClassifiers(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("op: %w", err) }
	tests := []struct {
		name                                           string
		err                                            error
		retryable, notFound, noUpload, precond, denied bool
	}{
		{name: "nil"},
		{name: "canceled", err: wrap(context.Canceled)},
		{name: "deadline", err: wrap(context.DeadlineExceeded)},
		{name: "invalid argument", err: invalid("x")},
		{name: "checksum mismatch", err: wrap(ErrChecksumMismatch)},
		{name: "plain error", err: errors.New("x")},
		{name: "500", err: wrap(&Error{Status: 500, Code: "InternalError"}), retryable: true},
		{name: "500 unknown code", err: &Error{Status: 500, Code: "Whatever"}, retryable: true},
		{name: "501", err: &Error{Status: 501, Code: "NotImplemented"}},
		{name: "502", err: &Error{Status: 502}, retryable: true},
		{name: "503 SlowDown", err: &Error{Status: 503, Code: "SlowDown"}, retryable: true},
		{name: "504", err: &Error{Status: 504}, retryable: true},
		{name: "408", err: &Error{Status: 408}, retryable: true},
		{name: "400 RequestTimeout", err: &Error{Status: 400, Code: "RequestTimeout"}, retryable: true},
		{name: "429", err: &Error{Status: 429, Code: "TooManyRequests"}, retryable: true},
		{name: "409 OperationAborted", err: &Error{Status: 409, Code: "OperationAborted"}, retryable: true},
		{name: "200 with InternalError body", err: &Error{Status: 200, Code: "InternalError"}, retryable: true},
		{name: "200 with InvalidPart body", err: &Error{Status: 200, Code: "InvalidPart"}},
		{name: "400 BadDigest", err: wrap(&Error{Status: 400, Code: "BadDigest"})},
		{name: "400 InvalidPart", err: &Error{Status: 400, Code: "InvalidPart"}},
		{name: "403", err: &Error{Status: 403, Code: "SignatureDoesNotMatch"}, denied: true},
		{name: "403 skew", err: &Error{Status: 403, Code: "RequestTimeTooSkewed"}, denied: true},
		{name: "404 NoSuchKey", err: wrap(&Error{Status: 404, Code: "NoSuchKey"}), notFound: true},
		{name: "404 NoSuchUpload", err: wrap(&Error{Status: 404, Code: "NoSuchUpload"}), notFound: true, noUpload: true},
		{name: "404 bodiless", err: &Error{Status: 404, Code: "NotFound"}, notFound: true},
		{name: "NoSuchBucket", err: &Error{Status: 404, Code: "NoSuchBucket"}, notFound: true},
		{name: "412", err: &Error{Status: 412, Code: "PreconditionFailed"}, precond: true},
		{name: "416", err: &Error{Status: 416, Code: "InvalidRange"}},
		{name: "unexpected EOF", err: wrap(io.ErrUnexpectedEOF), retryable: true},
		{name: "EOF", err: wrap(io.EOF), retryable: true},
		{name: "ECONNRESET", err: wrap(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), retryable: true},
		{name: "ECONNREFUSED", err: wrap(os.NewSyscallError("connect", syscall.ECONNREFUSED)), retryable: true},
		{name: "EPIPE", err: wrap(syscall.EPIPE), retryable: true},
		{name: "net timeout", err: wrap(&net.DNSError{IsTimeout: true}), retryable: true},
		{name: "transport error", err: &transportError{errors.New("truncated")}, retryable: true},
		{name: "malformed body", err: &transportError{errMalformed}, retryable: true},
	}
	for _, tt := range tests {
		if got := IsRetryable(tt.err); got != tt.retryable {
			t.Errorf("%s: IsRetryable = %v", tt.name, got)
		}
		if got := IsNotFound(tt.err); got != tt.notFound {
			t.Errorf("%s: IsNotFound = %v", tt.name, got)
		}
		if got := IsNoSuchUpload(tt.err); got != tt.noUpload {
			t.Errorf("%s: IsNoSuchUpload = %v", tt.name, got)
		}
		if got := IsPreconditionFailed(tt.err); got != tt.precond {
			t.Errorf("%s: IsPreconditionFailed = %v", tt.name, got)
		}
		if got := IsAccessDenied(tt.err); got != tt.denied {
			t.Errorf("%s: IsAccessDenied = %v", tt.name, got)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Status: 404, Code: "NoSuchKey", Message: "gone", RequestID: "R1", Indicator: "I1", ID2: "X", HostID: "H"}
	if got, want := e.Error(), "obs: status 404 NoSuchKey: gone (request id R1) (indicator I1)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := (&Error{Status: 500}).Error(); got != "obs: status 500" {
		t.Errorf("Error() = %q", got)
	}
}

// Retries: 503, 503, then 200. The part is sent three times, byte for byte
// the same, with Content-MD5, re-signed with the clock of each attempt.
func TestRetryResendsAndResigns(t *testing.T) {
	file, data := writeFile(t, 300000)
	part := data[102400:204800]
	for _, sig := range []Signature{SignatureOBS, SignatureV2, SignatureV4} {
		for _, src := range []string{"SourceFile", "Body", "plain reader"} {
			t.Run(string(sig)+"/"+src, func(t *testing.T) {
				s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
					if n <= 2 {
						w.Header().Set("x-amz-request-id", fmt.Sprintf("R%d", n))
						writeXML(w, 503, `<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>`)
						return
					}
					w.Header().Set("ETag", `"`+md5hex(body)+`"`)
				})
				cfg := s.config(sig)
				cfg.Now = steppingClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), 2*time.Second)
				c := newTestClient(t, cfg)
				in := &UploadPartInput{Bucket: "bkt", Key: "dir/k", PartNumber: 2, UploadID: "U"}
				switch src {
				case "SourceFile":
					in.SourceFile, in.Offset = file, 102400
				case "Body":
					in.Body = bytes.NewReader(part)
				default:
					in.Body = io.MultiReader(bytes.NewReader(part))
				}
				out, err := c.UploadPart(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				if out.ETag != `"`+md5hex(part)+`"` {
					t.Errorf("ETag %q", out.ETag)
				}
				reqs := s.requests()
				if len(reqs) != 3 {
					t.Fatalf("%d attempts, want 3", len(reqs))
				}
				dates := map[string]bool{}
				auths := map[string]bool{}
				for i, r := range reqs {
					if md5hex(r.Body) != md5hex(part) {
						t.Errorf("attempt %d: body MD5 %s, want %s (%d bytes)", i+1, md5hex(r.Body), md5hex(part), len(r.Body))
					}
					if r.Header.Get("Content-Md5") != md5b64(part) {
						t.Errorf("attempt %d: Content-MD5 %q", i+1, r.Header.Get("Content-Md5"))
					}
					d := r.Header.Get("Date") + r.Header.Get("X-Amz-Date")
					dates[d] = true
					auths[r.Header.Get("Authorization")] = true
				}
				if len(dates) != 3 || len(auths) != 3 {
					t.Errorf("attempts not re-signed: %d dates, %d signatures", len(dates), len(auths))
				}
			})
		}
	}
}

// Every request with a body sends Content-MD5 of exactly that body.
func TestContentMD5AlwaysSent(t *testing.T) {
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		w.Header().Set("ETag", `"`+md5hex(body)+`"`)
		switch {
		case r.Method == "POST" && r.URL.Query().Has("delete"):
			writeXML(w, 200, `<DeleteResult><Deleted><Key>a</Key></Deleted></DeleteResult>`)
		case r.Method == "POST":
			writeXML(w, 200, `<CompleteMultipartUploadResult><ETag>"x-1"</ETag></CompleteMultipartUploadResult>`)
		}
	})
	c := newTestClient(t, s.config(SignatureV4))
	ctx := context.Background()
	if _, err := c.PutObject(ctx, &PutObjectInput{Bucket: "bkt", Key: "k", Body: strings.NewReader("put")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &PutObjectInput{Bucket: "bkt", Key: "empty"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadPart(ctx, &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U", Body: strings.NewReader("part")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "U",
		Parts: []CompletedPart{{2, `"b"`}, {1, `"a"`}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObjects(ctx, &DeleteObjectsInput{Bucket: "bkt", Objects: []ObjectID{{Key: "a<&>"}}, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.requests() {
		if got := r.Header.Get("Content-Md5"); got != md5b64(r.Body) {
			t.Errorf("%s %s: Content-MD5 %q, want %q", r.Method, r.URI, got, md5b64(r.Body))
		}
		if r.Method == "POST" && strings.Contains(r.URI, "uploadId") {
			want := `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part>` +
				`<Part><PartNumber>2</PartNumber><ETag>"b"</ETag></Part></CompleteMultipartUpload>`
			if got := strings.ReplaceAll(string(r.Body), "&#34;", `"`); got != want {
				t.Errorf("Complete body %s", r.Body)
			}
		}
		if strings.Contains(r.URI, "delete") && !strings.Contains(string(r.Body), "<Key>a&lt;&amp;&gt;</Key>") {
			t.Errorf("DeleteObjects body %s", r.Body)
		}
	}
}

func TestNoRetryOnBadDigest(t *testing.T) {
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeXML(w, 400, `<Error><Code>BadDigest</Code><Message>The Content-MD5 you specified did not match.</Message></Error>`)
	})
	c := newTestClient(t, s.config(SignatureV2))
	_, err := c.UploadPart(context.Background(), &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U",
		Body: strings.NewReader("x"), ContentMD5: md5b64([]byte("y"))})
	if Code(err) != "BadDigest" {
		t.Fatalf("err = %v", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestRetryGivesUp(t *testing.T) {
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		writeXML(w, 500, `<Error><Code>InternalError</Code></Error>`)
	})
	for _, max := range []int{1, 3} {
		before := len(s.requests())
		cfg := s.config(SignatureV4)
		cfg.Retry.MaxAttempts = max
		c := newTestClient(t, cfg)
		_, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k", Body: strings.NewReader("x")})
		if e := AsError(err); e == nil || e.Status != 500 {
			t.Fatalf("err = %v", err)
		}
		if n := len(s.requests()) - before; n != max {
			t.Errorf("MaxAttempts %d: %d attempts", max, n)
		}
	}
	// MaxElapsed bounds the retries too.
	before := len(s.requests())
	cfg := s.config(SignatureV4)
	cfg.Retry = RetryPolicy{MaxAttempts: 100, BaseDelay: 20 * time.Millisecond, MaxDelay: 20 * time.Millisecond, MaxElapsed: 50 * time.Millisecond}
	c := newTestClient(t, cfg)
	if _, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k"}); err == nil {
		t.Fatal("no error")
	}
	if n := len(s.requests()) - before; n >= 100 || n < 1 {
		t.Errorf("MaxElapsed: %d attempts", n)
	}
}

// Cancelling the context stops a request promptly, whether it is sleeping
// before a retry or waiting for a response, and the error wraps ctx.Err().
func TestContextCancelStopsRetries(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	var mode string
	first := make(chan struct{}, 10)
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		first <- struct{}{}
		if mode == "hang" {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		writeXML(w, 503, `<Error><Code>SlowDown</Code></Error>`)
	})
	for _, m := range []string{"sleep", "hang"} {
		t.Run(m, func(t *testing.T) {
			mode = m
			cfg := s.config(SignatureV4)
			cfg.Retry = RetryPolicy{MaxAttempts: 10, BaseDelay: time.Hour, MaxDelay: time.Hour, MaxElapsed: 10 * time.Hour}
			c := newTestClient(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := c.PutObject(ctx, &PutObjectInput{Bucket: "bkt", Key: "k", Body: strings.NewReader("x")})
				done <- err
			}()
			<-first
			time.Sleep(20 * time.Millisecond) // let it reach the sleep / the wait
			t0 := time.Now()
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
				if IsRetryable(err) {
					t.Errorf("cancellation is retryable: %v", err)
				}
				if d := time.Since(t0); d > 2*time.Second {
					t.Errorf("took %v to stop", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("request did not stop after cancel")
			}
		})
	}
}

func TestUploadPartETagMismatch(t *testing.T) {
	etag := `"00000000000000000000000000000000"`
	var sse bool
	s := newScriptedS3(t, true, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		w.Header().Set("ETag", etag)
		if sse {
			w.Header().Set("x-amz-server-side-encryption-customer-algorithm", "AES256")
		}
	})
	c := newTestClient(t, s.config(SignatureV4))
	ctx := context.Background()
	_, err := c.UploadPart(ctx, &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U", Body: strings.NewReader("data")})
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("err = %v, want ErrChecksumMismatch", err)
	}
	if !strings.Contains(err.Error(), "part 1") {
		t.Errorf("error lacks context: %v", err)
	}
	_, err = c.PutObject(ctx, &PutObjectInput{Bucket: "bkt", Key: "k", Body: strings.NewReader("data")})
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("PutObject err = %v, want ErrChecksumMismatch", err)
	}
	// Under SSE-C the ETag is not the MD5: no check.
	sse = true
	if _, err := c.UploadPart(ctx, &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U", Body: strings.NewReader("data"),
		SseC: "AES256", SseCKey: sseCKey}); err != nil {
		t.Errorf("SSE-C part: %v", err)
	}
	// Asking for KMS on a part whose response does not confirm it fails.
	sse = false
	etag = `"` + md5hex([]byte("data")) + `"`
	_, err = c.UploadPart(ctx, &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U", Body: strings.NewReader("data"), SseKms: "kms"})
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("unconfirmed KMS: %v", err)
	}
	for _, r := range s.requests() {
		if r.Header.Get("X-Amz-Server-Side-Encryption") != "" {
			t.Errorf("UploadPart sent SSE-KMS headers")
		}
	}
	// A response without an ETag is malformed.
	etag = ""
	if _, err := c.UploadPart(ctx, &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U", Body: strings.NewReader("data")}); !errors.Is(err, errMalformed) {
		t.Errorf("no ETag: %v", err)
	}
}

func TestGetObjectRanges(t *testing.T) {
	object := []byte("0123456789abcdefghij")
	var script func(w http.ResponseWriter, r *http.Request)
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) { script(w, r) })
	c := newTestClient(t, s.config(SignatureV4))
	ctx := context.Background()
	read := func(in *GetObjectInput) ([]byte, *GetObjectOutput, error) {
		in.Bucket, in.Key = "bkt", "k"
		out, err := c.GetObject(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return b, out, err
	}

	// A correct server: http.ServeContent honours ranges.
	script = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"e"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(object))
	}
	got, out, err := read(&GetObjectInput{Range: &Range{Start: 5, End: 9}})
	if err != nil || string(got) != "56789" || out.RangeStart != 5 || out.Size != 20 || out.ContentLength != 5 {
		t.Errorf("range 5-9: %q %+v %v", got, out, err)
	}
	if s.requests()[len(s.requests())-1].Header.Get("Range") != "bytes=5-9" {
		t.Errorf("Range header %q", s.requests()[len(s.requests())-1].Header.Get("Range"))
	}
	got, _, err = read(&GetObjectInput{Range: &Range{Start: 15, End: -1}})
	if err != nil || string(got) != "fghij" {
		t.Errorf("range 15-: %q %v", got, err)
	}
	got, _, err = read(&GetObjectInput{Range: &Range{Start: 18, End: 100}})
	if err != nil || string(got) != "ij" {
		t.Errorf("range past the end: %q %v", got, err)
	}
	got, out, err = read(&GetObjectInput{})
	if err != nil || !bytes.Equal(got, object) || out.Size != 20 {
		t.Errorf("whole object: %q %v", got, err)
	}
	if s.requests()[len(s.requests())-1].Header.Get("Range") != "" {
		t.Errorf("whole-object read sent a Range")
	}

	// A server that ignores the Range and answers 200 with everything.
	script = func(w http.ResponseWriter, r *http.Request) { w.Write(object) }
	if _, _, err := read(&GetObjectInput{Range: &Range{Start: 5, End: 9}}); err == nil {
		t.Error("range answered by 200 was accepted")
	}
	// A 206 for other bytes than asked.
	script = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-4/20")
		w.WriteHeader(206)
		w.Write(object[:5])
	}
	if _, _, err := read(&GetObjectInput{Range: &Range{Start: 5, End: 9}}); err == nil {
		t.Error("wrong Content-Range accepted")
	}
	// A 206 that stops short of what was asked, before the object's end.
	script = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 5-6/20")
		w.WriteHeader(206)
		w.Write(object[5:7])
	}
	if got, _, err := read(&GetObjectInput{Range: &Range{Start: 5, End: 9}}); err == nil {
		t.Errorf("short range accepted: %q", got)
	}
	if got, _, err := read(&GetObjectInput{Range: &Range{Start: 5, End: -1}}); err == nil {
		t.Errorf("short open range accepted: %q", got)
	}
	// A 206 whose body length disagrees with Content-Range.
	script = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 5-9/20")
		w.WriteHeader(206)
		w.Write(object[5:8])
	}
	if _, _, err := read(&GetObjectInput{Range: &Range{Start: 5, End: 9}}); err == nil {
		t.Error("short 206 accepted")
	}
	// A body shorter than its Content-Length: the reader fails with
	// io.ErrUnexpectedEOF rather than returning short data.
	// (net/http closes the connection after a handler that wrote less than
	// its Content-Length.)
	script = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "20")
		w.Write(object[:10])
	}
	got, _, err = read(&GetObjectInput{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: %d bytes, err %v, want io.ErrUnexpectedEOF", len(got), err)
	}
	// Reset mid-body: an error too, never short data.
	script = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "20")
		w.Write(object[:10])
		w.(http.Flusher).Flush()
		hijackClose(t, w)
	}
	if got, _, err = read(&GetObjectInput{}); err == nil {
		t.Errorf("reset body: %d bytes and no error", len(got))
	}
	// A 416 is a service error.
	script = func(w http.ResponseWriter, r *http.Request) {
		writeXML(w, 416, `<Error><Code>InvalidRange</Code></Error>`)
	}
	if _, _, err := read(&GetObjectInput{Range: &Range{Start: 50, End: 60}}); Code(err) != "InvalidRange" {
		t.Errorf("416: %v", err)
	}
}

// exactBody turns a premature EOF from any transport into ErrUnexpectedEOF.
func TestExactBody(t *testing.T) {
	b := &exactBody{rc: io.NopCloser(strings.NewReader("abc")), left: 5}
	got, err := io.ReadAll(b)
	if string(got) != "abc" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
	b = &exactBody{rc: io.NopCloser(strings.NewReader("abcdef")), left: 3}
	got, err = io.ReadAll(b)
	if string(got) != "abc" || err != nil {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
}

// completeServer simulates the store for the ambiguous-Complete tests.
type completeServer struct {
	mu          sync.Mutex
	completed   bool   // guarded by mu
	completes   int    // guarded by mu
	dropFirst   bool   // drop the connection of the first Complete
	applyFirst  bool   // ... after applying it
	headUpload  string // x-obs-uploadId to return on HEAD (OBS), or ""
	headETag    string // ETag to return on HEAD
	objectAfter bool   // HEAD finds an object even if never completed
	// applyOnList: the dropped first Complete is still being applied when
	// ListParts looks (it answers "pending"), and finishes right after.
	applyOnList bool
}

func (cs *completeServer) handle(t *testing.T) func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
	return func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		q := r.URL.Query()
		switch {
		case r.Method == "POST" && q.Has("uploadId"):
			cs.completes++
			if cs.completed {
				writeXML(w, 404, `<Error><Code>NoSuchUpload</Code></Error>`)
				return
			}
			if cs.completes == 1 && cs.dropFirst {
				if cs.applyFirst {
					cs.completed = true
				}
				hijackClose(t, w)
				return
			}
			cs.completed = true
			writeXML(w, 200, `<CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><ETag>`+cs.headETag+`</ETag></CompleteMultipartUploadResult>`)
		case r.Method == "GET" && q.Has("uploadId"):
			if cs.completed {
				writeXML(w, 404, `<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>`)
				return
			}
			writeXML(w, 200, `<ListPartsResult><UploadId>U</UploadId><Part><PartNumber>1</PartNumber><ETag>"e"</ETag></Part></ListPartsResult>`)
			if cs.applyOnList {
				cs.completed = true
			}
		case r.Method == "HEAD":
			if !cs.completed && !cs.objectAfter {
				w.WriteHeader(404)
				return
			}
			w.Header().Set("ETag", cs.headETag)
			if cs.headUpload != "" {
				w.Header().Set("x-obs-uploadId", cs.headUpload)
			}
			w.Header().Set("x-amz-request-id", "HEADREQ")
		default:
			t.Errorf("unexpected %s %s", r.Method, r.RequestURI)
			w.WriteHeader(500)
		}
	}
}

func TestCompleteAmbiguousFailure(t *testing.T) {
	p1, p2 := []byte("part one"), []byte("part two")
	parts := []CompletedPart{{2, `"` + md5hex(p2) + `"`}, {1, `"` + md5hex(p1) + `"`}}
	multiETag, _ := ExpectedMultipartETag([]CompletedPart{parts[1], parts[0]})
	tests := []struct {
		name          string
		cs            *completeServer
		wantErr       bool
		wantRecovered bool
		wantCompletes int
	}{
		{name: "S3: applied, then connection reset; ListParts NoSuchUpload, HEAD ETag matches",
			cs:            &completeServer{dropFirst: true, applyFirst: true, headETag: `"` + multiETag + `"`},
			wantRecovered: true, wantCompletes: 1},
		{name: "OBS: applied, then connection reset; HEAD x-obs-uploadId matches",
			cs:            &completeServer{dropFirst: true, applyFirst: true, headETag: `"whatever-2"`, headUpload: "U"},
			wantRecovered: true, wantCompletes: 1},
		{name: "not applied: the upload still exists, Complete is retried",
			cs:            &completeServer{dropFirst: true, headETag: `"` + multiETag + `"`},
			wantCompletes: 2},
		{name: "upload gone but the object is someone else's",
			cs:      &completeServer{dropFirst: true, applyFirst: true, headETag: `"0123456789abcdef0123456789abcdef-7"`},
			wantErr: true, wantCompletes: 1},
		{name: "OBS: upload gone, object from another upload",
			cs:      &completeServer{dropFirst: true, applyFirst: true, headETag: `"` + multiETag + `"`, headUpload: "OTHER"},
			wantErr: true, wantCompletes: 1},
		{name: "applied late: ListParts saw it pending, the retry gets NoSuchUpload, HEAD matches",
			cs:            &completeServer{dropFirst: true, applyOnList: true, headETag: `"` + multiETag + `"`},
			wantRecovered: true, wantCompletes: 2},
		{name: "no failure", cs: &completeServer{headETag: `"` + multiETag + `"`}, wantCompletes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := tt.cs
			s := newScriptedS3(t, false, cs.handle(t))
			cfg := s.config(SignatureV4)
			log, _ := debugLogger()
			cfg.Logger = log
			c := newTestClient(t, cfg)
			out, err := c.CompleteMultipartUpload(context.Background(), &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k",
				UploadID: "U", Parts: parts})
			cs.mu.Lock()
			completes := cs.completes
			cs.mu.Unlock()
			if completes != tt.wantCompletes {
				t.Errorf("Complete sent %d times, want %d", completes, tt.wantCompletes)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatalf("succeeded: %+v", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Recovered != tt.wantRecovered {
				t.Errorf("Recovered = %v", out.Recovered)
			}
			if out.ETag == "" || out.Key != "k" {
				t.Errorf("output %+v", out)
			}
		})
	}
}

// AbortMultipartUpload of a gone upload succeeds; other errors do not.
func TestAbortNoSuchUpload(t *testing.T) {
	status, code := 404, "NoSuchUpload"
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		w.Header().Set("x-amz-request-id", "RQ")
		writeXML(w, status, `<Error><Code>`+code+`</Code></Error>`)
	})
	c := newTestClient(t, s.config(SignatureV4))
	out, err := c.AbortMultipartUpload(context.Background(), &AbortMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "U"})
	if err != nil || out.RequestID != "RQ" {
		t.Errorf("abort of a gone upload: %+v %v", out, err)
	}
	status, code = 403, "AccessDenied"
	if _, err := c.AbortMultipartUpload(context.Background(), &AbortMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "U"}); !IsAccessDenied(err) {
		t.Errorf("abort denied: %v", err)
	}
}

// HeadObject reads size, ETag, metadata and the OBS upload ID from the
// headers of either dialect.
func TestHeadObjectInfo(t *testing.T) {
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		h := w.Header()
		h.Set("Content-Length", "1234")
		h.Set("ETag", `"abc-2"`)
		h.Set("Last-Modified", "Mon, 15 Aug 2022 16:50:12 GMT")
		h.Set("Content-Type", "text/plain")
		h.Set("x-obs-meta-owner", "me")
		h.Set("x-amz-meta-mode", "0644")
		h.Set("x-obs-uploadId", "U")
		h.Set("x-obs-version-id", "V")
		h.Set("x-obs-storage-class", "WARM")
	})
	c := newTestClient(t, s.config(SignatureOBS))
	out, err := c.HeadObject(context.Background(), &HeadObjectInput{Bucket: "bkt", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	want := ObjectInfo{Key: "k", Size: 1234, ETag: `"abc-2"`, LastModified: time.Date(2022, 8, 15, 16, 50, 12, 0, time.UTC),
		ContentType: "text/plain", StorageClass: "WARM", Metadata: map[string]string{"owner": "me", "mode": "0644"},
		VersionID: "V", UploadID: "U"}
	if fmt.Sprint(out.ObjectInfo) != fmt.Sprint(want) {
		t.Errorf("ObjectInfo = %+v\nwant %+v", out.ObjectInfo, want)
	}
}

// Logs (at debug level, through retries) and errors never contain the
// secret key, the security token, the SSE-C key or the Authorization header.
func TestSecretsNeverLogged(t *testing.T) {
	s := newScriptedS3(t, true, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if n%3 != 0 {
			w.Header().Set("x-obs-request-id", fmt.Sprintf("REQ%d", n))
			writeXML(w, 503, `<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>`)
			return
		}
		w.Header().Set("ETag", `"sse-etag"`)
		w.Header().Set("x-obs-server-side-encryption-customer-algorithm", "AES256")
		w.Header().Set("x-obs-server-side-encryption-customer-key-MD5", r.Header.Get("x-obs-server-side-encryption-customer-key-MD5")+
			r.Header.Get("x-amz-server-side-encryption-customer-key-MD5"))
		if r.Method == "POST" {
			writeXML(w, 200, `<InitiateMultipartUploadResult><UploadId>U</UploadId></InitiateMultipartUploadResult>`)
		}
	})
	var auths []string
	for _, sig := range []Signature{SignatureOBS, SignatureV4} {
		cfg := s.config(sig)
		log, buf := debugLogger()
		cfg.Logger = log
		c := newTestClient(t, cfg)
		ctx := context.Background()
		if _, err := c.InitiateMultipartUpload(ctx, &InitiateMultipartUploadInput{Bucket: "bkt", Key: "k",
			SSE: SSE{SseC: "AES256", SseCKey: sseCKey}}); err != nil {
			t.Fatal(err)
		}
		out, err := c.UploadPart(ctx, &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U",
			Body: strings.NewReader("secret data"), SseC: "AES256", SseCKey: sseCKey})
		if err != nil {
			t.Fatal(err)
		}
		if out.SseC != "AES256" || out.SseCKeyMD5 == "" {
			t.Errorf("SSE-C echo %+v", out)
		}
		// A final failure, logged and returned.
		cfg.Retry.MaxAttempts = 2
		c2 := newTestClient(t, cfg)
		_, err = c2.UploadPart(ctx, &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 2, UploadID: "U",
			Body: strings.NewReader("x"), SseC: "AES256", SseCKey: sseCKey})
		if err == nil {
			// n%3 may have lined up; fine either way.
			t.Log("second UploadPart succeeded")
		} else {
			assertNoSecrets(t, err.Error(), testSecret, testToken, sseCKey)
		}
		logs := buf.String()
		if !strings.Contains(logs, "retrying") || !strings.Contains(logs, "level=debug") {
			t.Errorf("log capture did not work:\n%s", logs)
		}
		for _, r := range s.requests() {
			auths = append(auths, r.Header.Get("Authorization"))
		}
		secrets := []string{testSecret, testToken, sseCKey, "Authorization", "Signature="}
		for _, a := range auths {
			if i := strings.LastIndexAny(a, ":="); i > 0 && len(a)-i > 10 {
				secrets = append(secrets, a[i+1:]) // the signature itself
			}
		}
		assertNoSecrets(t, logs, secrets...)
	}
	// The SSE-C key was in fact sent, with its MD5, on both requests.
	for _, r := range s.requests() {
		h := r.Header
		if h.Get("X-Obs-Server-Side-Encryption-Customer-Key") != sseCKey && h.Get("X-Amz-Server-Side-Encryption-Customer-Key") != sseCKey {
			t.Errorf("%s %s: no SSE-C key", r.Method, r.URI)
		}
	}
}

// The V4 signature the client computes is accepted by a verifier that
// recomputes it from the request as received by the server (host, path and
// query exactly as on the wire).
func TestV4SignatureVerifiedServerSide(t *testing.T) {
	var bad []string
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if msg := verifyV4(r, "AK", testSecret, DefaultRegion); msg != "" {
			bad = append(bad, msg)
		}
		w.Header().Set("ETag", `"`+md5hex(body)+`"`)
		if r.Method == "GET" {
			writeXML(w, 200, `<ListBucketResult></ListBucketResult>`)
		}
	})
	c := newTestClient(t, s.config(SignatureV4))
	ctx := context.Background()
	keys := []string{"plain", "a b/c+d", "日本語/ключ", "~tilde*star!'()", "100%/#?&="}
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &PutObjectInput{Bucket: "bkt", Key: k, Body: strings.NewReader(k), ContentType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ListObjects(ctx, &ListObjectsInput{Bucket: "bkt", Prefix: "a b/é", Delimiter: "/", Marker: "x+y"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range bad {
		t.Error(m)
	}
}

// verifyV4 recomputes a V4 header signature from a received request, the
// way MinIO does, with the independent helpers of this file.
func verifyV4(r *http.Request, ak, sk, region string) string {
	auth := r.Header.Get("Authorization")
	var cred, signed, sig string
	for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if cred != ak+"/"+amzDate[:8]+"/"+region+"/s3/aws4_request" {
		return "bad credential " + cred
	}
	var b strings.Builder
	b.WriteString(r.Method + "\n" + r.URL.EscapedPath() + "\n")
	// Canonical query from the received raw query: decode, re-encode, sort.
	type kv struct{ k, v string }
	var pairs []kv
	for _, p := range strings.Split(r.URL.RawQuery, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		dk, _ := url.PathUnescape(k)
		dv, _ := url.PathUnescape(v)
		pairs = append(pairs, kv{encodeRFC3986(dk, false), encodeRFC3986(dv, false)})
	}
	for i := 1; i < len(pairs); i++ {
		for j := i; j > 0 && (pairs[j].k < pairs[j-1].k || pairs[j].k == pairs[j-1].k && pairs[j].v < pairs[j-1].v); j-- {
			pairs[j], pairs[j-1] = pairs[j-1], pairs[j]
		}
	}
	var qs []string
	for _, p := range pairs {
		qs = append(qs, p.k+"="+p.v)
	}
	b.WriteString(strings.Join(qs, "&") + "\n")
	for _, name := range strings.Split(signed, ";") {
		v := r.Header.Get(name)
		if name == "host" {
			v = r.Host
		}
		b.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
	}
	b.WriteString("\n" + signed + "\n" + r.Header.Get("X-Amz-Content-Sha256"))
	if want := refSigV4(sk, amzDate, region, b.String()); want != sig {
		return fmt.Sprintf("%s %s: signature mismatch\ncanonical request:\n%s", r.Method, r.RequestURI, b.String())
	}
	return ""
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	caps := map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 50: time.Second}
	for attempt, capd := range caps {
		var maxSeen time.Duration
		for i := 0; i < 2000; i++ {
			d := backoff(p, attempt)
			if d < 0 || d >= capd {
				t.Fatalf("backoff(attempt %d) = %v, want [0, %v)", attempt, d, capd)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < capd/2 {
			t.Errorf("attempt %d: largest of 2000 delays %v, cap %v: not full jitter", attempt, maxSeen, capd)
		}
	}
	if d := backoff(RetryPolicy{}, 3); d != 0 {
		t.Errorf("zero policy: %v", d)
	}
}

// One client used by many goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if n%5 == 0 {
			writeXML(w, 503, `<Error><Code>SlowDown</Code></Error>`)
			return
		}
		w.Header().Set("ETag", `"`+md5hex(body)+`"`)
	})
	cfg := s.config(SignatureV4)
	cfg.Retry.MaxAttempts = 5
	cfg.Now = steppingClock(time.Now(), time.Millisecond)
	c := newTestClient(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 1; i <= 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte(i)}, 1000+i)
			out, err := c.UploadPart(context.Background(), &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: i,
				UploadID: "U", Body: bytes.NewReader(data)})
			if err == nil && out.ETag != `"`+md5hex(data)+`"` {
				err = fmt.Errorf("part %d: ETag %s", i, out.ETag)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBucketOperations(t *testing.T) {
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		switch r.Method {
		case "HEAD":
			if strings.HasPrefix(r.URL.Path, "/missing") {
				w.WriteHeader(404)
			}
		case "PUT", "DELETE":
			w.WriteHeader(200)
		}
	})
	cfg := s.config(SignatureV4)
	cfg.Region = "cn-north-4"
	c := newTestClient(t, cfg)
	ctx := context.Background()
	if err := c.HeadBucket(ctx, "bkt"); err != nil {
		t.Error(err)
	}
	if err := c.HeadBucket(ctx, "missing"); !IsNotFound(err) {
		t.Errorf("HeadBucket missing: %v", err)
	}
	if err := c.CreateBucket(ctx, "newbkt"); err != nil {
		t.Error(err)
	}
	if err := c.DeleteBucket(ctx, "newbkt"); err != nil {
		t.Error(err)
	}
	reqs := s.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	if reqs[0].URI != "/bkt/" || reqs[2].URI != "/newbkt/" {
		t.Errorf("URIs %q %q", reqs[0].URI, reqs[2].URI)
	}
	if !strings.Contains(string(reqs[2].Body), "<LocationConstraint>cn-north-4</LocationConstraint>") ||
		reqs[2].Header.Get("Content-Md5") != md5b64(reqs[2].Body) {
		t.Errorf("CreateBucket body %q", reqs[2].Body)
	}
	if !strings.Contains(reqs[0].Header.Get("Authorization"), "/cn-north-4/s3/aws4_request") {
		t.Errorf("region not signed: %s", reqs[0].Header.Get("Authorization"))
	}
}

func TestDeleteObjects(t *testing.T) {
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		w.Header().Set("x-obs-request-id", "DR")
		writeXML(w, 200, `<DeleteResult `+obsNS+`><Deleted><Key>a</Key><VersionId>v1</VersionId></Deleted>`+
			`<Error><Key>b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>`)
	})
	c := newTestClient(t, s.config(SignatureOBS))
	out, err := c.DeleteObjects(context.Background(), &DeleteObjectsInput{Bucket: "bkt",
		Objects: []ObjectID{{Key: "a", VersionID: "v1"}, {Key: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if out.RequestID != "DR" || len(out.Deleted) != 1 || out.Deleted[0].Key != "a" || out.Deleted[0].VersionID != "v1" ||
		len(out.Errors) != 1 || out.Errors[0].Code != "AccessDenied" {
		t.Errorf("DeleteObjects = %+v", out)
	}
	r := s.requests()[0]
	if r.Method != "POST" || r.URI != "/bkt/?delete" {
		t.Errorf("%s %s", r.Method, r.URI)
	}
	want := `<Delete><Quiet>false</Quiet><Object><Key>a</Key><VersionId>v1</VersionId></Object><Object><Key>b</Key></Object></Delete>`
	if string(r.Body) != want {
		t.Errorf("body %s\nwant %s", r.Body, want)
	}
}

// A Body that cannot be re-read is buffered, so it can be hashed and
// retried; the bytes sent on every attempt are the same.
func TestPutObjectNonSeekableBodyRetried(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10000)
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if n == 1 {
			hijackClose(t, w)
			return
		}
		w.Header().Set("ETag", `"`+md5hex(body)+`"`)
		w.Header().Set("x-amz-version-id", "V9")
	})
	c := newTestClient(t, s.config(SignatureV2))
	out, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k",
		Body: io.MultiReader(bytes.NewReader(data[:500]), bytes.NewReader(data[500:])), ContentType: "text/plain",
		Metadata: map[string]string{"Mtime": "1700000000"}})
	if err != nil {
		t.Fatal(err)
	}
	if out.VersionID != "V9" || out.ETag != `"`+md5hex(data)+`"` {
		t.Errorf("PutObject = %+v", out)
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d attempts", len(reqs))
	}
	last := reqs[1]
	if !bytes.Equal(last.Body, data) || last.Header.Get("Content-Type") != "text/plain" ||
		last.Header.Get("X-Amz-Meta-Mtime") != "1700000000" {
		t.Errorf("request %d bytes, headers %v", len(last.Body), last.Header)
	}
}

// watchedBody is a part body that notes reads running when, or started
// after, the caller was told the upload returned.
type watchedBody struct {
	n        int64
	mu       sync.Mutex
	active   int
	returned bool
	late     int
}

func (b *watchedBody) ReadAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	b.active++
	if b.returned {
		b.late++
	}
	b.mu.Unlock()
	time.Sleep(time.Millisecond) // a slow source: the response wins the race
	b.mu.Lock()
	b.active--
	b.mu.Unlock()
	if off >= b.n {
		return 0, io.EOF
	}
	k := copy(p, make([]byte, min(int64(len(p)), b.n-off)))
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

// returnedNow marks the return of the call and reports the reads running.
func (b *watchedBody) returnedNow() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.returned = true
	return b.active
}

func (b *watchedBody) lateReads() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.late
}

// A server that answers before it has read the body (403 at once) makes
// net/http return while its writer goroutine still sends the body. The
// client must not be reading the caller's body when UploadPart returns,
// nor afterwards: the write-back layer reuses that memory at once.
func TestBodyNeverReadAfterReturn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeXML(w, 403, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Config{Endpoint: srv.URL, AccessKey: "AK", SecretKey: testSecret, Signature: SignatureV4, Retry: fastRetry})
	for range 5 {
		body := &watchedBody{n: 8 << 20}
		_, err := c.UploadPart(context.Background(), &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U",
			Body: io.NewSectionReader(body, 0, body.n), ContentMD5: md5b64(make([]byte, 8<<20))})
		active := body.returnedNow()
		if Code(err) != "AccessDenied" {
			t.Fatalf("err = %v, want AccessDenied", err)
		}
		if active > 0 {
			t.Fatalf("UploadPart returned while %d reads of the body were running", active)
		}
		time.Sleep(50 * time.Millisecond)
		if late := body.lateReads(); late > 0 {
			t.Fatalf("%d reads of the body after UploadPart returned", late)
		}
	}
}
