package obsclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the hedged CompleteMultipartUpload (hedge.go). A stalled request
// here hangs until the client goes away or hedgeStall passes; the time
// bounds are a third of that, far above the hedge delay (300 ms: the
// quickStalls Initial, nothing being learned), so load cannot break them.

// hedgeStall is how long a stalled Complete hangs at most.
const hedgeStall = 30 * time.Second

// hedgeBound is the most a hedged call may take in these tests.
const hedgeBound = hedgeStall / 3

// hedgeServer is a store for the hedge tests: complete(n, w, r) answers the
// n-th Complete (from 1); ListParts and HEAD are answered from pending and
// headETag.
type hedgeServer struct {
	srv      *httptest.Server
	complete func(n int, w http.ResponseWriter, r *http.Request)

	mu        sync.Mutex
	completes int      // guarded by mu
	addrs     []string // guarded by mu; remote address per Complete
	lists     int      // guarded by mu; ListParts requests
	heads     int      // guarded by mu; HEAD requests
	pending   bool     // guarded by mu; ListParts finds the upload
	headETag  string   // guarded by mu; "" : HEAD finds no object
	gone      chan int // Completes whose client went away while they hung
	listed    chan struct{}
}

func newHedgeServer(t *testing.T, complete func(s *hedgeServer, n int, w http.ResponseWriter, r *http.Request)) *hedgeServer {
	s := &hedgeServer{gone: make(chan int, 10), listed: make(chan struct{}, 10), pending: true}
	s.complete = func(n int, w http.ResponseWriter, r *http.Request) { complete(s, n, w, r) }
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPost && q.Has("uploadId"):
			s.mu.Lock()
			s.completes++
			n := s.completes
			s.addrs = append(s.addrs, r.RemoteAddr)
			s.mu.Unlock()
			s.complete(n, w, r)
		case r.Method == http.MethodGet && q.Has("uploadId"):
			s.mu.Lock()
			s.lists++
			pending := s.pending
			s.mu.Unlock()
			if pending {
				writeXML(w, 200, `<ListPartsResult><UploadId>U</UploadId><Part><PartNumber>1</PartNumber><ETag>"e"</ETag></Part></ListPartsResult>`)
			} else {
				writeXML(w, 404, `<Error><Code>NoSuchUpload</Code></Error>`)
			}
			s.listed <- struct{}{}
		case r.Method == http.MethodHead:
			s.mu.Lock()
			s.heads++
			etag := s.headETag
			s.mu.Unlock()
			if etag == "" {
				w.WriteHeader(404)
				return
			}
			w.Header().Set("ETag", etag)
			w.Header().Set("x-obs-uploadId", "U")
		default:
			t.Errorf("unexpected %s %s", r.Method, r.RequestURI)
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// hang holds the n-th Complete until its client goes away (then reports it
// on gone) or until release fires or hedgeStall passes; it reports whether
// the client went away.
func (s *hedgeServer) hang(n int, r *http.Request, release <-chan struct{}) bool {
	select {
	case <-r.Context().Done():
		s.gone <- n
		return true
	case <-release:
	case <-time.After(hedgeStall):
	}
	return false
}

func (s *hedgeServer) counts() (completes, lists, heads int, addrs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completes, s.lists, s.heads, append([]string(nil), s.addrs...)
}

func completeOK(w http.ResponseWriter, etag, reqID string) {
	w.Header().Set("x-amz-request-id", reqID)
	writeXML(w, 200, `<CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><ETag>`+etag+`</ETag></CompleteMultipartUploadResult>`)
}

func completeErr(w http.ResponseWriter, status int, code, reqID string) {
	w.Header().Set("x-amz-request-id", reqID)
	writeXML(w, status, `<Error><Code>`+code+`</Code><RequestId>`+reqID+`</RequestId></Error>`)
}

// hedgeClient is a client of s with quick stalls (hedge delay 300 ms).
func hedgeClient(t *testing.T, s *hedgeServer, obs Observer) (*Client, *syncBuffer) {
	log, buf := debugLogger()
	c := newTestClient(t, Config{Endpoint: s.srv.URL, AccessKey: "AK", SecretKey: testSecret, Signature: SignatureV4,
		Retry:  RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxElapsed: time.Minute},
		Stall:  quickStalls,
		Logger: log, Observer: obs})
	c.hedgeFloor = 100 * time.Millisecond
	return c, buf
}

func completeInput() *CompleteMultipartUploadInput {
	return &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "U",
		Parts: []CompletedPart{{PartNumber: 1, ETag: `"e"`}}}
}

// timedComplete runs Complete and fails the test if it took hedgeBound or
// more.
func timedComplete(t *testing.T, c *Client, ctx context.Context) (*CompleteMultipartUploadOutput, error) {
	t.Helper()
	t0 := time.Now()
	out, err := c.CompleteMultipartUpload(ctx, completeInput())
	if d := time.Since(t0); d >= hedgeBound {
		t.Errorf("Complete took %v: the stalled request was waited out", d)
	}
	return out, err
}

// The first Complete gets no response; the hedge answers: the call returns
// the hedge's answer long before the stall ends, with exactly two Completes
// sent on two connections, the first one cancelled, one info line logged,
// and the hedge reported to the Observer.
func TestHedgedCompleteStalled(t *testing.T) {
	s := newHedgeServer(t, func(s *hedgeServer, n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			s.hang(n, r, nil)
			return
		}
		completeOK(w, `"hedge-1"`, "HEDGE")
	})
	obs := &recordingObserver{}
	c, logs := hedgeClient(t, s, obs)
	out, err := timedComplete(t, c, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.ETag != `"hedge-1"` || out.RequestID != "HEDGE" || out.Recovered {
		t.Errorf("output %+v, want the hedge's answer", out)
	}
	select {
	case n := <-s.gone:
		if n != 1 {
			t.Errorf("Complete %d cancelled, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Error("the first Complete was not cancelled")
	}
	completes, lists, heads, addrs := s.counts()
	if completes != 2 || lists != 0 || heads != 0 {
		t.Errorf("%d Completes, %d ListParts, %d HEADs; want 2, 0, 0", completes, lists, heads)
	}
	if len(addrs) == 2 && addrs[0] == addrs[1] {
		t.Errorf("the hedge went out on the stalled connection %s", addrs[0])
	}
	if n := strings.Count(logs.String(), "hedged second request answered first"); n != 1 {
		t.Errorf("%d info lines about the hedge, want 1:\n%s", n, logs)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	var hedges, firsts []Attempt
	for _, a := range obs.attempts {
		if a.Hedge {
			hedges = append(hedges, a)
		} else {
			firsts = append(firsts, a)
		}
	}
	if len(hedges) != 1 || hedges[0].Code != "" || hedges[0].Status != 200 {
		t.Errorf("hedge attempts %+v, want one that won with 200", hedges)
	}
	if len(firsts) != 1 || firsts[0].Code != "" || firsts[0].Retried {
		t.Errorf("attempts %+v, want one successful (the pair)", firsts)
	}
}

// The hedge gets NoSuchUpload while the first Complete is still being
// applied (ListParts still finds the upload); the first then succeeds and
// its answer is the result.
func TestHedgeNoSuchUploadFirstSucceeds(t *testing.T) {
	s := newHedgeServer(t, func(s *hedgeServer, n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select { // applied once the hedge has been refused and checked
			case <-s.listed:
			case <-time.After(hedgeStall):
			case <-r.Context().Done():
				return
			}
			completeOK(w, `"first-1"`, "FIRST") // (ListParts keeps "pending": no HEAD however often it is asked)
			return
		}
		completeErr(w, 404, "NoSuchUpload", "HEDGE")
	})
	c, logs := hedgeClient(t, s, nil)
	out, err := timedComplete(t, c, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.ETag != `"first-1"` || out.RequestID != "FIRST" || out.Recovered {
		t.Errorf("output %+v, want the first request's answer", out)
	}
	if completes, _, heads, _ := s.counts(); completes != 2 || heads != 0 {
		t.Errorf("%d Completes, %d HEADs; want 2, 0", completes, heads)
	}
	if strings.Contains(logs.String(), "answered first") {
		t.Errorf("a hedge that lost is logged as the winner:\n%s", logs)
	}
}

// The first Complete was applied but its answer never comes; the hedge
// gets NoSuchUpload, and the store shows the upload gone and the object
// its result: the call succeeds (Recovered) without waiting for the first.
func TestHedgeNoSuchUploadFirstApplied(t *testing.T) {
	s := newHedgeServer(t, func(s *hedgeServer, n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			s.mu.Lock()
			s.pending, s.headETag = false, `"applied-1"`
			s.mu.Unlock()
			s.hang(n, r, nil)
			return
		}
		completeErr(w, 404, "NoSuchUpload", "HEDGE")
	})
	c, _ := hedgeClient(t, s, nil)
	out, err := timedComplete(t, c, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !out.Recovered || out.ETag != `"applied-1"` {
		t.Errorf("output %+v, want the object found by the check", out)
	}
	if completes, _, _, _ := s.counts(); completes != 2 {
		t.Errorf("%d Completes, want 2", completes)
	}
}

// The hedge fails (its connection is reset); the first Complete answers
// late and its answer is the result, with no check and no retry.
func TestHedgeFailsFirstSucceedsLate(t *testing.T) {
	hedgeDone := make(chan struct{})
	s := newHedgeServer(t, func(s *hedgeServer, n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			select {
			case <-hedgeDone:
			case <-time.After(hedgeStall):
			case <-r.Context().Done():
				return
			}
			completeOK(w, `"first-1"`, "FIRST")
		default:
			hijackClose(t, w)
			close(hedgeDone)
		}
	})
	c, _ := hedgeClient(t, s, nil)
	out, err := timedComplete(t, c, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.ETag != `"first-1"` || out.Recovered {
		t.Errorf("output %+v, want the first request's answer", out)
	}
	if completes, lists, heads, _ := s.counts(); completes != 2 || lists != 0 || heads != 0 {
		t.Errorf("%d Completes, %d ListParts, %d HEADs; want 2, 0, 0", completes, lists, heads)
	}
}

// Both requests fail for good: the call fails with the first request's
// error and request ID, without retrying and without logging a warning
// (the caller logs the failure once).
func TestHedgeBothFail(t *testing.T) {
	hedgeDone := make(chan struct{})
	s := newHedgeServer(t, func(s *hedgeServer, n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			select {
			case <-hedgeDone:
			case <-time.After(hedgeStall):
			case <-r.Context().Done():
				return
			}
			completeErr(w, 400, "InvalidPart", "FIRST")
		default:
			completeErr(w, 400, "InvalidPart", "HEDGE")
			close(hedgeDone)
		}
	})
	c, logs := hedgeClient(t, s, nil)
	_, err := timedComplete(t, c, context.Background())
	if Code(err) != "InvalidPart" || RequestID(err) != "FIRST" {
		t.Fatalf("err = %v, want InvalidPart of request FIRST", err)
	}
	if completes, lists, _, _ := s.counts(); completes != 2 || lists != 0 {
		t.Errorf("%d Completes, %d ListParts; want 2, 0", completes, lists)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=warning") || strings.Contains(line, "level=error") {
			t.Errorf("logged: %s", line)
		}
	}
}

// The caller's cancel while both requests wait returns at once, and ends
// both.
func TestHedgeCallerCancel(t *testing.T) {
	s := newHedgeServer(t, func(s *hedgeServer, n int, w http.ResponseWriter, r *http.Request) {
		s.hang(n, r, nil)
	})
	c, _ := hedgeClient(t, s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.CompleteMultipartUpload(ctx, completeInput())
		done <- err
	}()
	deadline := time.Now().Add(hedgeBound)
	for {
		if completes, _, _, _ := s.counts(); completes == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no hedge was sent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t0 := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Errorf("took %v to return after cancel", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no return after cancel")
	}
	for i := 0; i < 2; i++ {
		select {
		case <-s.gone:
		case <-time.After(10 * time.Second):
			t.Fatal("a Complete was not ended by the cancel")
		}
	}
	if completes, _, _, _ := s.counts(); completes != 2 {
		t.Errorf("%d Completes, want 2 (one hedge per attempt)", completes)
	}
}

// The hedge delay follows Complete's own latencies, at least the floor;
// they stay out of the other kinds' deadlines.
func TestHedgeDelay(t *testing.T) {
	p := StallPolicy{Floor: time.Second, Max: time.Minute, Initial: 10 * time.Second}
	l := newLatencies(p)
	const op = "CompleteMultipartUpload"
	if d := l.hedgeDelay(op, 3*time.Second); d != 10*time.Second {
		t.Errorf("nothing learned: %v, want Initial", d)
	}
	for i := 0; i < stallMinSamples; i++ {
		l.record("GetObject", time.Millisecond)
	}
	if d := l.hedgeDelay(op, 3*time.Second); d != 3*time.Second {
		t.Errorf("only other kinds learned (fast): %v, want the floor", d)
	}
	for i := 0; i < stallSamples; i++ {
		l.record(op, 2*time.Second)
	}
	if d := l.hedgeDelay(op, 3*time.Second); d != 16*time.Second {
		t.Errorf("2s Completes: %v, want 16s", d)
	}
	if d := l.deadlineOf("GetObject", 0); d != time.Second {
		t.Errorf("GetObject after slow Completes: %v, want its own 1s", d)
	}
	if d := l.deadlineOf("HeadObject", 0); d != time.Second {
		t.Errorf("a new kind after slow Completes: %v, want 1s (Completes are not in the all-kinds ring)", d)
	}
}
