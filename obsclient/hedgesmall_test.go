package obsclient

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the hedged small requests (hedgesmall.go). The stall deadline is
// 30 s (smallStalls' Floor), the hedge delay about 250 ms (latencies of 10 ms
// learned, smallHedgeFloor lowered); a stalled request hangs until its
// client goes away or hedgeStall passes; a call must end within hedgeBound
// (10 s), far above the hedge delay and far below the deadline.

var smallStalls = StallPolicy{Floor: 30 * time.Second, Initial: 30 * time.Second, Max: time.Minute}

// smallServer counts the requests of each method and hands each to answer
// with its number (from 1) and its body.
type smallServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	n      int      // guarded by mu
	bodies [][]byte // guarded by mu
	gone   chan int // requests whose client went away while they hung
}

func newSmallServer(t *testing.T, answer func(s *smallServer, n int, body []byte, w http.ResponseWriter, r *http.Request)) *smallServer {
	s := &smallServer{gone: make(chan int, 10)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.n++
		n := s.n
		s.bodies = append(s.bodies, body)
		s.mu.Unlock()
		answer(s, n, body, w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// hang holds request n until its client goes away (reported on gone) or
// hedgeStall passes.
func (s *smallServer) hang(n int, r *http.Request) {
	select {
	case <-r.Context().Done():
		s.gone <- n
	case <-time.After(hedgeStall):
	}
}

func (s *smallServer) requests() (int, [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, append([][]byte(nil), s.bodies...)
}

// smallHedgeClient is a client of s whose ops have learned latencies of
// 10 ms: stall deadline 30 s, hedge delay 250 ms.
func smallHedgeClient(t *testing.T, s *smallServer, obs Observer) (*Client, *syncBuffer) {
	log, buf := debugLogger()
	c := newTestClient(t, Config{Endpoint: s.srv.URL, AccessKey: "AK", SecretKey: testSecret, Signature: SignatureV4,
		Retry:  RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxElapsed: time.Minute},
		Stall:  smallStalls,
		Logger: log, Observer: obs})
	c.smallHedgeFloor = 250 * time.Millisecond // the first request reaches the server well before its hedge
	for range stallMinSamples {
		c.lat.record("warm-up", 10*time.Millisecond)
	}
	return c, buf
}

func md5Hex(p []byte) string {
	sum := md5.Sum(p)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// A stalled HEAD, GET, PutObject and UploadPart is answered by its hedge
// within hedgeBound: exactly two requests, the same body sent twice, the
// first request cancelled, the hedge counted as won.
func TestSmallHedgeAnswersStalledRequest(t *testing.T) {
	payload := bytes.Repeat([]byte("hedge"), 1000)
	cases := []struct {
		name string
		call func(c *Client) error
		body bool // the request has payload as its body
	}{
		{"HeadObject", func(c *Client) error {
			out, err := c.HeadObject(context.Background(), &HeadObjectInput{Bucket: "bkt", Key: "k"})
			if err == nil && out.ETag != `"hedge"` {
				err = fmt.Errorf("ETag %s, want the hedge's", out.ETag)
			}
			return err
		}, false},
		{"GetObject", func(c *Client) error {
			out, err := c.GetObject(context.Background(), &GetObjectInput{Bucket: "bkt", Key: "k"})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			data, err := io.ReadAll(out.Body)
			if err == nil && !bytes.Equal(data, payload) {
				err = fmt.Errorf("read %d bytes, want the %d of the hedge", len(data), len(payload))
			}
			return err
		}, false},
		{"PutObject", func(c *Client) error {
			out, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k", Body: bytes.NewReader(payload)})
			if err == nil && out.ETag != md5Hex(payload) {
				err = fmt.Errorf("ETag %s, want %s", out.ETag, md5Hex(payload))
			}
			return err
		}, true},
		{"UploadPart", func(c *Client) error {
			out, err := c.UploadPart(context.Background(), &UploadPartInput{Bucket: "bkt", Key: "k", UploadID: "U",
				PartNumber: 3, Body: bytes.NewReader(payload)})
			if err == nil && out.ETag != md5Hex(payload) {
				err = fmt.Errorf("ETag %s, want %s", out.ETag, md5Hex(payload))
			}
			return err
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSmallServer(t, func(s *smallServer, n int, body []byte, w http.ResponseWriter, r *http.Request) {
				if n == 1 {
					s.hang(n, r)
					return
				}
				w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
				if r.Method == http.MethodPut {
					w.Header().Set("ETag", md5Hex(body))
					return
				}
				w.Header().Set("ETag", `"hedge"`)
				w.Header().Set("Content-Length", fmt.Sprint(len(payload)))
				if r.Method == http.MethodGet {
					w.Write(payload)
				}
			})
			obs := &recordingObserver{}
			c, logs := smallHedgeClient(t, s, obs)
			t0 := time.Now()
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(t0); d >= hedgeBound {
				t.Errorf("the call took %v: the stall was waited out", d)
			}
			select {
			case n := <-s.gone:
				if n != 1 {
					t.Errorf("request %d cancelled, want 1", n)
				}
			case <-time.After(hedgeBound):
				t.Error("the first request was not cancelled")
			}
			n, bodies := s.requests()
			if n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
			if tc.body {
				for i, b := range bodies {
					if !bytes.Equal(b, payload) {
						t.Errorf("request %d sent %d bytes, want the %d of the payload", i+1, len(b), len(payload))
					}
				}
			}
			if k := strings.Count(logs.String(), "hedged second request answered first"); k != 1 {
				t.Errorf("%d info lines about the hedge, want 1", k)
			}
			obs.mu.Lock()
			defer obs.mu.Unlock()
			var hedges []Attempt
			for _, a := range obs.attempts {
				if a.Hedge {
					hedges = append(hedges, a)
				}
			}
			if len(hedges) != 1 || hedges[0].Code != "" || hedges[0].Op != tc.name {
				t.Errorf("hedge attempts %+v, want one %s that won", hedges, tc.name)
			}
		})
	}
}

// The hedge fails (503) while the first request is still waiting; the
// first then answers, late, and its answer is the result: two requests,
// no retry.
func TestSmallHedgeFailsFirstAnswersLate(t *testing.T) {
	hedgeFailed := make(chan struct{})
	s := newSmallServer(t, func(s *smallServer, n int, _ []byte, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select {
			case <-hedgeFailed:
			case <-r.Context().Done():
				return
			case <-time.After(hedgeStall):
			}
			w.Header().Set("ETag", `"first"`)
			return
		}
		w.Header().Set("x-amz-error-code", "SlowDown")
		w.WriteHeader(503)
		close(hedgeFailed)
	})
	obs := &recordingObserver{}
	c, _ := smallHedgeClient(t, s, obs)
	t0 := time.Now()
	out, err := c.HeadObject(context.Background(), &HeadObjectInput{Bucket: "bkt", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d >= hedgeBound {
		t.Errorf("HeadObject took %v", d)
	}
	if out.ETag != `"first"` {
		t.Errorf("ETag %s, want the first request's", out.ETag)
	}
	if n, _ := s.requests(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, a := range obs.attempts {
		if a.Hedge && a.Code == "" || !a.Hedge && (a.Code != "" || a.Retried) {
			t.Errorf("attempt %+v: want a failed hedge and one successful attempt", a)
		}
	}
}

// A final answer of the hedge (404) is the result at once, though the first
// request still waits.
func TestSmallHedgeNotFoundIsTheAnswer(t *testing.T) {
	s := newSmallServer(t, func(s *smallServer, n int, _ []byte, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			s.hang(n, r)
			return
		}
		w.WriteHeader(404)
	})
	c, _ := smallHedgeClient(t, s, nil)
	t0 := time.Now()
	_, err := c.HeadObject(context.Background(), &HeadObjectInput{Bucket: "bkt", Key: "k"})
	if !IsNotFound(err) {
		t.Fatalf("HeadObject: %v, want 404", err)
	}
	if d := time.Since(t0); d >= hedgeBound {
		t.Errorf("HeadObject took %v", d)
	}
	if n, _ := s.requests(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// InitiateMultipartUpload is never hedged (a second one would create a
// second upload): an Initiate answering after 4 hedge delays is one
// request.
func TestInitiateNotHedged(t *testing.T) {
	s := newSmallServer(t, func(s *smallServer, n int, _ []byte, w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		writeXML(w, 200, `<InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><UploadId>U`+fmt.Sprint(n)+`</UploadId></InitiateMultipartUploadResult>`)
	})
	c, _ := smallHedgeClient(t, s, nil)
	out, err := c.InitiateMultipartUpload(context.Background(), &InitiateMultipartUploadInput{Bucket: "bkt", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.requests(); n != 1 || out.UploadID != "U1" {
		t.Errorf("%d requests, upload %s; want 1, U1", n, out.UploadID)
	}
}

// The hedge delay: half the deadline before latencies are known, then 4 ×
// p90 at least the floor, plus 1 s per 4 MiB of body; none when that
// reaches the deadline.
func TestSmallHedgeDelay(t *testing.T) {
	l := newLatencies(StallPolicy{Floor: time.Second, Initial: 10 * time.Second, Max: time.Minute})
	check := func(op string, size int64, wantH time.Duration, wantOK bool) {
		t.Helper()
		d, _ := l.deadlines(op, 0)
		h, ok := l.smallHedgeDelay(op, d, DefaultSmallHedgeFloor, size)
		if h != wantH || ok != wantOK {
			t.Errorf("%s of %d bytes (deadline %v): hedge delay %v, %v; want %v, %v", op, size, d, h, ok, wantH, wantOK)
		}
	}
	check("HeadObject", 0, 5*time.Second, true)
	for range stallMinSamples {
		l.record("HeadObject", 10*time.Millisecond)
		l.record("GetObject", 200*time.Millisecond)
	}
	check("HeadObject", 0, DefaultSmallHedgeFloor, true)                   // deadline 1 s (Floor)
	check("HeadObject", 1<<20, DefaultSmallHedgeFloor+time.Second/4, true) // 1 MiB: +250 ms
	check("HeadObject", 8<<20, DefaultSmallHedgeFloor+2*time.Second, false)
	check("GetObject", 0, 800*time.Millisecond, true) // deadline 1.6 s
}
