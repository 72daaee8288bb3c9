package obsclient

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// This file holds helpers shared by the tests: an independent HMAC
// implementation of both signature families (so the golden end-to-end tests
// do not just call the code under test twice), a capturing RoundTripper, and
// small builders.

// refSigV2 is Base64(HMAC-SHA1(secret, sts)), written independently of
// signatureV2.
func refSigV2(secret, sts string) string {
	m := hmac.New(sha1.New, []byte(secret))
	io.WriteString(m, sts)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// refSigV4 derives the V4 key and signs the string-to-sign built from the
// canonical request cr, independently of signatureV4/stringToSignV4.
func refSigV4(secret, amzDate, region, cr string) string {
	mac := func(k []byte, s string) []byte {
		m := hmac.New(sha256.New, k)
		io.WriteString(m, s)
		return m.Sum(nil)
	}
	day := amzDate[:8]
	sum := sha256.Sum256([]byte(cr))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + day + "/" + region + "/s3/aws4_request\n" + hex.EncodeToString(sum[:])
	k := mac([]byte("AWS4"+secret), day)
	k = mac(k, region)
	k = mac(k, "s3")
	k = mac(k, "aws4_request")
	return hex.EncodeToString(mac(k, sts))
}

func md5b64(p []byte) string {
	s := md5.Sum(p)
	return base64.StdEncoding.EncodeToString(s[:])
}

func md5hex(p []byte) string {
	s := md5.Sum(p)
	return hex.EncodeToString(s[:])
}

// captured is one request seen by a fakeTransport, with its body read.
type captured struct {
	Method  string
	Host    string
	URI     string // RequestURI: escaped path and raw query, as on the wire
	Path    string // escaped path
	Query   string // raw query
	Header  http.Header
	Body    []byte
	Attempt int
}

// fakeTransport is a RoundTripper that records every request and answers
// with respond (or a 200 echoing an ETag of the body's MD5).
type fakeTransport struct {
	mu      sync.Mutex
	reqs    []captured // guarded by mu
	respond func(c captured) *http.Response
}

func (f *fakeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		var err error
		b, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	c := captured{Method: r.Method, Host: r.URL.Host, URI: r.URL.RequestURI(), Path: r.URL.EscapedPath(),
		Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: b, Attempt: len(f.reqs) + 1}
	if r.Host != "" {
		c.Host = r.Host
	}
	f.reqs = append(f.reqs, c)
	f.mu.Unlock()
	var resp *http.Response
	if f.respond != nil {
		resp = f.respond(c)
	} else {
		resp = newResponse(200, http.Header{"Etag": {`"` + md5hex(b) + `"`}}, "")
	}
	resp.Request = r
	return resp, nil
}

func (f *fakeTransport) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

func newResponse(status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		StatusCode:    status,
		Status:        http.StatusText(status),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
	}
}

// fixedClock returns a clock frozen at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// steppingClock returns a clock that starts at t and advances by step on
// every call (so that every attempt is signed with a new date).
func steppingClock(t time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now := t
		t = t.Add(step)
		return now
	}
}

// fastRetry makes retries take about a millisecond.
var fastRetry = RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxElapsed: 10 * time.Second}

// newTestClient builds a client or fails the test.
func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// debugLogger returns a logger at debug level writing into a buffer.
func debugLogger() (*logrus.Entry, *syncBuffer) {
	buf := &syncBuffer{}
	l := logrus.New()
	l.Out = buf
	l.Level = logrus.DebugLevel
	l.Formatter = &logrus.TextFormatter{DisableColors: true}
	return logrus.NewEntry(l), buf
}
