package obsclient

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the retry window and the stall deadline. Time bounds here are
// upper bounds with ample margin (what is checked is "well before the
// 60 s timeout that would otherwise apply"), or lower bounds, which load
// cannot break: a stall cannot be detected before its deadline.

// quickStalls detects stalls after a few hundred milliseconds.
var quickStalls = StallPolicy{Floor: 100 * time.Millisecond, Initial: 300 * time.Millisecond, Max: 10 * time.Second}

// hangUntilGone blocks the handler until the client goes away or the test
// ends, and reports whether the client went away.
func hangUntilGone(r *http.Request, release <-chan struct{}) bool {
	select {
	case <-r.Context().Done():
		return true
	case <-release:
		return false
	}
}

// releaseOnCleanup returns a channel closed when the test ends (before its
// servers close, since cleanups run last-registered first).
func releaseOnCleanup(t *testing.T) <-chan struct{} {
	ch := make(chan struct{})
	t.Cleanup(func() { close(ch) })
	return ch
}

func TestLatenciesDeadline(t *testing.T) {
	p := StallPolicy{Floor: time.Second, Max: time.Minute, Initial: 10 * time.Second}
	l := newLatencies(p)
	if d := l.deadlineOf("GetObject", 0); d != 10*time.Second {
		t.Errorf("no samples: %v, want Initial", d)
	}
	for i := 0; i < stallMinSamples-1; i++ {
		l.record("GetObject", time.Millisecond)
	}
	if d := l.deadlineOf("GetObject", 0); d != 10*time.Second {
		t.Errorf("%d samples: %v, want Initial", stallMinSamples-1, d)
	}
	l.record("GetObject", time.Millisecond)
	if d := l.deadlineOf("GetObject", 0); d != time.Second {
		t.Errorf("fast samples: %v, want the floor", d)
	}
	if d := l.deadlineOf("UploadPart", 0); d != time.Second {
		t.Errorf("a kind not seen yet: %v, want the deadline of all kinds", d)
	}
	if d := l.deadlineOf("InitiateMultipartUpload", 1); d != 20*time.Second {
		t.Errorf("Initiate: %v, want Initial doubled once", d)
	}
	for i := 0; i < stallMinSamples; i++ {
		l.record("UploadPart", 2*time.Second)
	}
	if d := l.deadlineOf("UploadPart", 0); d != 16*time.Second {
		t.Errorf("a slower kind: %v, want its own 16s", d)
	}
	if d := l.deadlineOf("GetObject", 0); d != time.Second {
		t.Errorf("GetObject after UploadPart was slow: %v, want its own 1s", d)
	}
	// Doubling per stall of the same request, up to Max.
	for stalls, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if d := l.deadlineOf("GetObject", stalls); d != want {
			t.Errorf("%d stalls: %v, want %v", stalls, d, want)
		}
	}
	if d := l.deadlineOf("GetObject", 40); d != time.Minute {
		t.Errorf("40 stalls: %v, want Max", d)
	}
	// 8 × p90 of a ring of 64: a few slow samples do not move it.
	l = newLatencies(p)
	for i := 0; i < 64; i++ {
		l.record("k", 500*time.Millisecond)
	}
	if d := l.deadlineOf("k", 0); d != 4*time.Second {
		t.Errorf("500ms samples: %v, want 4s", d)
	}
	for i := 0; i < 6; i++ { // 6 of 64 slow: still under 10 %
		l.record("k", 30*time.Second)
	}
	if d := l.deadlineOf("k", 0); d != 4*time.Second {
		t.Errorf("6/64 slow: %v, want 4s (p90 unmoved)", d)
	}
	for i := 0; i < 2; i++ {
		l.record("k", 30*time.Second)
	}
	if d := l.deadlineOf("k", 0); d != time.Minute {
		t.Errorf("8/64 slow: %v, want Max", d)
	}
}

func TestRetryableClassification(t *testing.T) {
	slow := &Error{Status: 503, Code: "SlowDown", RequestID: "R1"}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"stall", (&call{req: &request{op: "GetObject"}}).stallError(&stall{what: "no response", after: time.Second}), true},
		{"bare ErrStalled", ErrStalled, true},
		{"window ended", &RetryError{Op: "PutObject", Window: time.Minute, Last: slow}, false},
		{"attempts ran out", &RetryError{Op: "PutObject", Attempts: 3, Last: slow}, false},
		{"caller cancelled", &RetryError{Op: "PutObject", Ctx: context.Canceled, Last: slow}, false},
		{"caller deadline", &RetryError{Op: "PutObject", Ctx: context.DeadlineExceeded, Last: &transportError{io.ErrUnexpectedEOF}}, false},
		{"429", &Error{Status: 429}, true},
		{"500", &Error{Status: 500}, true},
		{"502", &Error{Status: 502}, true},
		{"504", &Error{Status: 504}, true},
		{"SlowDown", slow, true},
	}
	for _, c := range cases {
		if got := IsRetryable(c.err); got != c.want {
			t.Errorf("%s: IsRetryable(%v) = %v", c.name, c.err, got)
		}
	}
	re := &RetryError{Op: "PutObject", Attempts: 7, Elapsed: 61 * time.Second, Window: time.Minute, Last: slow}
	if RequestID(re) != "R1" || Code(re) != "SlowDown" {
		t.Errorf("RetryError hides the last failure: id %q code %q", RequestID(re), Code(re))
	}
	if s := re.Error(); !strings.Contains(s, "retrying for 1m1s") || !strings.Contains(s, "request id R1") {
		t.Errorf("message %q does not say how long it retried, or lost the request id", s)
	}
}

// Attempts are unlimited by default: 20 SlowDowns in a row are ridden out;
// MaxAttempts still caps them.
func TestUnlimitedAttempts(t *testing.T) {
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if n <= 20 {
			w.Header().Set("x-amz-request-id", "REQ"+strconv.Itoa(n))
			writeXML(w, 503, `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		w.Header().Set("ETag", `"`+md5hex(body)+`"`)
	})
	cfg := s.config(SignatureV4)
	cfg.Retry = RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxElapsed: time.Minute}
	cfg.Stall.Disabled = true // counts attempts exactly: no stall retry on a loaded machine
	c := newTestClient(t, cfg)
	if _, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k", Body: strings.NewReader("x")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if n := len(s.requests()); n != 21 {
		t.Errorf("%d requests, want 21", n)
	}

	before := len(s.requests())
	cfg.Retry.MaxAttempts = 3
	s.mu.Lock()
	s.handle = func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		w.Header().Set("x-amz-request-id", "REQ"+strconv.Itoa(n))
		writeXML(w, 503, `<Error><Code>SlowDown</Code></Error>`)
	}
	s.mu.Unlock()
	c = newTestClient(t, cfg)
	_, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k", Body: strings.NewReader("x")})
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 3 || re.Window != 0 {
		t.Fatalf("err = %v, want a *RetryError after 3 attempts", err)
	}
	if n := len(s.requests()) - before; n != 3 {
		t.Errorf("MaxAttempts 3: %d requests", n)
	}
	if id := RequestID(err); id != "REQ"+strconv.Itoa(before+3) {
		t.Errorf("request id %q, want the last attempt's", id)
	}
}

// The window bounds the whole request: retries of quick failures stop when
// it ends, and the error says so and wraps the last failure.
func TestRetryWindowBetweenAttempts(t *testing.T) {
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		w.Header().Set("x-amz-request-id", "REQ"+strconv.Itoa(n))
		writeXML(w, 500, `<Error><Code>InternalError</Code></Error>`)
	})
	cfg := s.config(SignatureV4)
	const window = 500 * time.Millisecond
	cfg.Retry = RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxElapsed: window}
	c := newTestClient(t, cfg)
	t0 := time.Now()
	_, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k", Body: strings.NewReader("x")})
	took := time.Since(t0)
	var re *RetryError
	if !errors.As(err, &re) || re.Window != window {
		t.Fatalf("err = %v, want a *RetryError for the window", err)
	}
	if took > window+3*time.Second {
		t.Errorf("took %v with a %v window", took, window)
	}
	// The window may cut the last attempt before it reaches the server.
	n := len(s.requests())
	if (re.Attempts != n && re.Attempts != n+1) || n < 2 {
		t.Errorf("error says %d attempts, server saw %d", re.Attempts, n)
	}
	// The last failure is the server's last answer, or the one before if
	// the window cut the attempt the server answered last.
	if e := AsError(err); e == nil || e.Status != 500 ||
		(e.RequestID != "REQ"+strconv.Itoa(n) && e.RequestID != "REQ"+strconv.Itoa(n-1)) {
		t.Errorf("last failure not wrapped with its request id (server saw %d requests): %v", n, err)
	}
	if !strings.Contains(err.Error(), "gave up after retrying for") {
		t.Errorf("message %q", err)
	}
}

// The attempt running when the window ends is cut off (stall detection off,
// so only the window can end it).
func TestRetryWindowCutsRunningAttempt(t *testing.T) {
	release := releaseOnCleanup(t)
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if n == 1 {
			writeXML(w, 503, `<Error><Code>SlowDown</Code><RequestId>FIRST</RequestId></Error>`)
			return
		}
		hangUntilGone(r, release)
	})
	cfg := s.config(SignatureV4)
	const window = 400 * time.Millisecond
	cfg.Retry = RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxElapsed: window}
	cfg.Stall.Disabled = true
	c := newTestClient(t, cfg)
	t0 := time.Now()
	_, err := c.ListObjects(context.Background(), &ListObjectsInput{Bucket: "bkt"})
	took := time.Since(t0)
	var re *RetryError
	if !errors.As(err, &re) || re.Window != window || re.Cut != "an attempt" {
		t.Fatalf("err = %v, want the window to cut an attempt", err)
	}
	if took < window || took > window+3*time.Second {
		t.Errorf("took %v with a %v window", took, window)
	}
	if Code(err) != "SlowDown" {
		t.Errorf("last failure lost: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("window end reads as the caller's deadline: %v", err)
	}
}

// A response body the caller keeps is bounded by the window too.
func TestRetryWindowBoundsKeptBody(t *testing.T) {
	release := releaseOnCleanup(t)
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		w.Header().Set("Content-Length", "1000000")
		w.WriteHeader(200)
		io.WriteString(w, strings.Repeat("a", 1000))
		w.(http.Flusher).Flush()
		hangUntilGone(r, release)
	})
	cfg := s.config(SignatureV4)
	const window = 500 * time.Millisecond
	cfg.Retry = RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxElapsed: window}
	cfg.Stall.Disabled = true
	c := newTestClient(t, cfg)
	t0 := time.Now()
	out, err := c.GetObject(context.Background(), &GetObjectInput{Bucket: "bkt", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	n, err := io.Copy(io.Discard, out.Body)
	took := time.Since(t0)
	var re *RetryError
	if !errors.As(err, &re) || re.Cut != "the response body" {
		t.Fatalf("read %d bytes, err = %v, want the window to cut the body", n, err)
	}
	if n != 1000 || took > window+3*time.Second {
		t.Errorf("read %d bytes in %v", n, took)
	}
}

// The caller's cancel ends the request at once with ctx.Err() and the last
// failure.
func TestCallerCancelWrapsLastFailure(t *testing.T) {
	release := releaseOnCleanup(t)
	started := make(chan struct{}, 10)
	s := newScriptedS3(t, false, func(w http.ResponseWriter, r *http.Request, body []byte, n int) {
		if n == 1 {
			writeXML(w, 503, `<Error><Code>SlowDown</Code><RequestId>FIRST</RequestId></Error>`)
			return
		}
		started <- struct{}{}
		hangUntilGone(r, release)
	})
	cfg := s.config(SignatureV4)
	cfg.Retry = RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxElapsed: time.Hour}
	c := newTestClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.ListObjects(ctx, &ListObjectsInput{Bucket: "bkt"})
		done <- err
	}()
	<-started
	t0 := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || RequestID(err) != "FIRST" || IsRetryable(err) {
			t.Errorf("err = %v, want context.Canceled wrapped with the 503 of request FIRST", err)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Errorf("took %v to return after cancel", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no return after cancel")
	}
}

// connLog is an httptest server that notes on which connection each request
// came and whether the client closed the connection of a request it
// stalled.
type connLog struct {
	srv      *httptest.Server
	mu       sync.Mutex
	addrs    []string    // guarded by mu; remote address per request
	arrivals []time.Time // guarded by mu
	gone     chan int    // request numbers whose client went away
}

func newConnLog(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int) (stall bool)) *connLog {
	release := make(chan struct{})
	l := &connLog{gone: make(chan int, 100)}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.addrs = append(l.addrs, r.RemoteAddr)
		l.arrivals = append(l.arrivals, time.Now())
		n := len(l.addrs)
		l.mu.Unlock()
		if handle(w, r, n) {
			if hangUntilGone(r, release) {
				l.gone <- n
			}
		}
	}))
	t.Cleanup(l.srv.Close)
	t.Cleanup(func() { close(release) })
	return l
}

func (l *connLog) snapshot() ([]string, []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.addrs...), append([]time.Time(nil), l.arrivals...)
}

func (l *connLog) config() Config {
	return Config{Endpoint: l.srv.URL, AccessKey: "AK", SecretKey: testSecret, Signature: SignatureV4,
		Retry: RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxElapsed: time.Minute},
		Stall: quickStalls}
}

// An attempt whose response does not begin within the stall deadline is
// abandoned, its connection closed, and retried on another connection long
// before the 60 s header timeout; the body is sent again.
func TestStallRetriedEarlyOnFreshConnection(t *testing.T) {
	data := bytes.Repeat([]byte("stall"), 100_000)
	l := newConnLog(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		body, _ := io.ReadAll(r.Body)
		if n == 1 {
			return true // read the request, answer nothing
		}
		if !bytes.Equal(body, data) {
			w.WriteHeader(400)
			return false
		}
		w.Header().Set("ETag", `"`+md5hex(body)+`"`)
		return false
	})
	c := newTestClient(t, l.config())
	t0 := time.Now()
	if _, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k", Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("took %v: the stall was not cut early", d)
	}
	select {
	case n := <-l.gone:
		if n != 1 {
			t.Errorf("request %d abandoned, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Error("the stalled request's connection was not closed")
	}
	// (That no deadline fires early is TestStallDeadlineDoubles's: with a
	// body, a loaded server reading it slowly may end an attempt in the
	// send phase, and the server sees the request before that begins.)
	addrs, _ := l.snapshot()
	if len(addrs) < 2 {
		t.Fatalf("%d requests", len(addrs))
	}
	if addrs[1] == addrs[0] {
		t.Errorf("retry on the stalled connection %s", addrs[0])
	}
}

// startTimes is a transport that notes when each attempt starts, on the
// client's side: an attempt's deadline runs from after its start, and the
// next attempt starts after it fires, so the gaps bound the deadlines
// from above whatever the load.
type startTimes struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	starts []time.Time // guarded by mu
}

func (s *startTimes) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	s.mu.Unlock()
	return s.rt.RoundTrip(r)
}

// The deadline doubles with each stall of the same request, so a store that
// is merely slower than usual is not retried in a loop.
func TestStallDeadlineDoubles(t *testing.T) {
	l := newConnLog(t, func(w http.ResponseWriter, r *http.Request, n int) bool { return n <= 3 })
	cfg := l.config()
	tr := &startTimes{rt: &http.Transport{}}
	cfg.Transport = tr
	c := newTestClient(t, cfg)
	c.smallHedgeFloor = time.Hour // no hedges: the deadlines alone are measured
	if _, err := c.HeadObject(context.Background(), &HeadObjectInput{Bucket: "bkt", Key: "k"}); err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	tr.mu.Lock()
	starts := append([]time.Time(nil), tr.starts...)
	tr.mu.Unlock()
	if len(starts) < 4 {
		t.Fatalf("%d attempts, want at least 4", len(starts))
	}
	for i, want := range []time.Duration{quickStalls.Initial, 2 * quickStalls.Initial, 4 * quickStalls.Initial} {
		if gap := starts[i+1].Sub(starts[i]); gap < want {
			t.Errorf("attempt %d started %v after the one before, before its %v deadline", i+2, gap, want)
		}
	}
}

// A store that stops reading the request body is a stall as well, after the
// send deadline (Initial).
func TestStallWhileSending(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 32<<20) // more than the socket buffers hold
	l := newConnLog(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			return true // never read the body
		}
		h := md5.New()
		io.Copy(h, r.Body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(h.Sum(nil))+`"`)
		return false
	})
	cfg := l.config()
	cfg.Stall.Initial = time.Second
	c := newTestClient(t, cfg)
	t0 := time.Now()
	if _, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k", Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if d := time.Since(t0); d > 30*time.Second {
		t.Errorf("took %v: the stalled upload was not cut early", d)
	}
	if addrs, _ := l.snapshot(); len(addrs) < 2 {
		t.Errorf("%d requests", len(addrs))
	}
}

// A kept response body that stops flowing fails the read with ErrStalled
// (retryable) well before the 60 s I/O timeout, and a re-fetch works.
func TestBodyStallReturnsErrStalled(t *testing.T) {
	const size = 1 << 20
	l := newConnLog(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(200)
		if n == 1 {
			w.Write(bytes.Repeat([]byte{1}, size/2))
			w.(http.Flusher).Flush()
			return true
		}
		w.Write(bytes.Repeat([]byte{1}, size))
		return false
	})
	c := newTestClient(t, l.config())
	t0 := time.Now()
	out, err := c.GetObject(context.Background(), &GetObjectInput{Bucket: "bkt", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, out.Body)
	out.Body.Close()
	if !errors.Is(err, ErrStalled) || !IsRetryable(err) {
		t.Fatalf("read %d bytes, err = %v, want a retryable ErrStalled", n, err)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("stall noticed after %v", d)
	}
	if n > size/2 {
		t.Errorf("read %d bytes, more than the %d sent", n, size/2)
	}
	// The caller fetches again, as often as a (spurious, on a loaded
	// machine) stall requires.
	for try := 1; ; try++ {
		out, err = c.GetObject(context.Background(), &GetObjectInput{Bucket: "bkt", Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if errors.Is(err, ErrStalled) && try < 3 {
			continue
		}
		if err != nil || n != size {
			t.Errorf("re-fetch: %d bytes, %v", n, err)
		}
		break
	}
}

// A body the client consumes itself (a listing) that stalls is retried.
func TestBodyStallInsideRequestRetried(t *testing.T) {
	list := `<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>`
	l := newConnLog(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Content-Length", strconv.Itoa(len(list)))
		w.WriteHeader(200)
		if n == 1 {
			io.WriteString(w, list[:40])
			w.(http.Flusher).Flush()
			return true
		}
		io.WriteString(w, list)
		return false
	})
	c := newTestClient(t, l.config())
	out, err := c.ListObjects(context.Background(), &ListObjectsInput{Bucket: "bkt"})
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	if len(out.Contents) != 1 {
		t.Errorf("listing %+v", out)
	}
	if addrs, _ := l.snapshot(); len(addrs) < 2 {
		t.Errorf("%d requests", len(addrs))
	}
}

// Operations slow by nature are not cut by the stall deadline; the same
// delay on another operation is (which shows the delay is long enough).
func TestSlowOperationsExempt(t *testing.T) {
	const delay = 1500 * time.Millisecond // 5× quickStalls.Initial
	var mu sync.Mutex
	delayed := map[string]bool{} // guarded by mu; first request per method+query delayed
	l := newConnLog(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		io.Copy(io.Discard, r.Body)
		kind := r.Method + " " + r.URL.RawQuery
		mu.Lock()
		first := !delayed[kind]
		delayed[kind] = true
		mu.Unlock()
		if first {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return false
			}
		}
		switch {
		case r.Method == http.MethodHead:
		case r.Header.Get("x-amz-copy-source") != "" && r.URL.Query().Has("partNumber"):
			writeXML(w, 200, `<CopyPartResult><ETag>"p"</ETag></CopyPartResult>`)
		case r.Header.Get("x-amz-copy-source") != "":
			writeXML(w, 200, `<CopyObjectResult><ETag>"c"</ETag></CopyObjectResult>`)
		case r.URL.Query().Has("delete"):
			writeXML(w, 200, `<DeleteResult><Deleted><Key>a</Key></Deleted></DeleteResult>`)
		case r.URL.Query().Has("uploadId"):
			writeXML(w, 200, `<CompleteMultipartUploadResult><ETag>"x-1"</ETag></CompleteMultipartUploadResult>`)
		}
		return false
	})
	c := newTestClient(t, l.config())
	c.hedgeFloor = time.Minute // a hedged Complete is hedge_test.go's; here: not cut
	ctx := context.Background()
	ops := []struct {
		name string
		run  func() error
	}{
		{"CompleteMultipartUpload", func() error {
			_, err := c.CompleteMultipartUpload(ctx, &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "U",
				Parts: []CompletedPart{{PartNumber: 1, ETag: `"e"`}}})
			return err
		}},
		{"CopyObject", func() error {
			_, err := c.CopyObject(ctx, &CopyObjectInput{Bucket: "bkt", Key: "k2", SourceBucket: "bkt", SourceKey: "k"})
			return err
		}},
		{"UploadPartCopy", func() error {
			_, err := c.UploadPartCopy(ctx, &UploadPartCopyInput{Bucket: "bkt", Key: "k", UploadID: "U", PartNumber: 1,
				SourceBucket: "bkt", SourceKey: "k"})
			return err
		}},
		{"DeleteObjects", func() error {
			_, err := c.DeleteObjects(ctx, &DeleteObjectsInput{Bucket: "bkt", Objects: []ObjectID{{Key: "a"}}})
			return err
		}},
	}
	var wg sync.WaitGroup
	for _, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := op.run(); err != nil {
				t.Errorf("%s: %v", op.name, err)
			}
		}()
	}
	wg.Wait()
	if addrs, _ := l.snapshot(); len(addrs) != len(ops) {
		t.Errorf("%d requests for %d operations: some were cut by the stall deadline", len(addrs), len(ops))
	}
	before, _ := l.snapshot()
	if _, err := c.HeadObject(ctx, &HeadObjectInput{Bucket: "bkt", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if after, _ := l.snapshot(); len(after)-len(before) < 2 {
		t.Errorf("HeadObject delayed %v: %d requests, want a retry after the stall deadline", delay, len(after)-len(before))
	}
}

// CloseIdleConnections drops kept-alive connections.
func TestCloseIdleConnections(t *testing.T) {
	var mu sync.Mutex
	closed := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			mu.Lock()
			closed++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newTestClient(t, Config{Endpoint: srv.URL, AccessKey: "AK", SecretKey: testSecret})
	if err := c.HeadBucket(context.Background(), "bkt"); err != nil {
		t.Fatal(err)
	}
	c.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := closed
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle connection not closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadlineOf is the stall deadline alone.
func (l *latencies) deadlineOf(op string, stalls int) time.Duration {
	d, _ := l.deadlines(op, stalls)
	return d
}

func TestSendDeadline(t *testing.T) {
	p := StallPolicy{Floor: time.Second, Max: time.Minute, Initial: 10 * time.Second}
	l := newLatencies(p)
	if _, ds := l.deadlines("UploadPart", 1); ds != 20*time.Second {
		t.Errorf("nothing learned, one stall: send deadline %v, want Initial doubled", ds)
	}
	for i := 0; i < stallMinSamples; i++ {
		l.record("UploadPart", 10*time.Millisecond)
	}
	if d, ds := l.deadlines("UploadPart", 0); d != time.Second || ds != 2*time.Second {
		t.Errorf("fast store: deadlines %v, %v; want 1s, 2s", d, ds)
	}
	for i := 0; i < stallSamples; i++ {
		l.record("UploadPart", time.Second)
	}
	if d, ds := l.deadlines("UploadPart", 0); d != 8*time.Second || ds != 16*time.Second {
		t.Errorf("slow store: deadlines %v, %v; want 8s, 16s", d, ds)
	}
}
