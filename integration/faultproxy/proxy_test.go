package faultproxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
)

// seen is one request as the upstream received it.
type seen struct {
	RequestURI       string
	Host             string
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Body             []byte
}

// upstream is a local HTTP server that records what it receives.
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []seen // guarded by mu
	calls atomic.Int64
	// respond writes the response; default: 200 "ok".
	respond func(w http.ResponseWriter, r *http.Request)
}

func newUpstream(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *upstream {
	t.Helper()
	u := &upstream{respond: respond}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("upstream: reading body: %v", err)
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{RequestURI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(),
			ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding, Body: body})
		u.mu.Unlock()
		if u.respond != nil {
			u.respond(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

func newProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatalf("faultproxy.New(%q): %v", target, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing the proxy: %v", err)
		}
	})
	return p
}

// rawRequest writes req verbatim to the proxy and reads one response.
func rawRequest(t *testing.T, p *faultproxy.Proxy, req string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(req, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	return resp, body
}

func TestForwardIsByteExact(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("ETag", `"abc"`)
		h["X-Amz-Meta-Multi"] = []string{"1", "2"}
		h.Set("Content-Type", "application/octet-stream")
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h.Set("Content-Length", fmt.Sprint(len(big)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(big)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	p := newProxy(t, up.URL)

	tests := []struct {
		name, target string
	}{
		{"encoded path and query", "/bucket/a%20b%2Bc%2fd%7E%E6%97%A5/x;y=1!$&'()*,:@?uploadId=a%2Bb%2f&partNumber=3&uploads&x=%20+y"},
		{"lower-case escapes", "/b/%c3%bcml%2b"},
		{"double slash", "//b//key/"},
		{"dot segments", "/b/./a/../c"},
		{"empty query", "/b/k?"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := "PUT " + tc.target + " HTTP/1.1\r\n" +
				"Host: signed.example:1234\r\n" +
				"X-Amz-Meta-A: 1\r\n" +
				"X-Amz-Meta-A: 2\r\n" +
				"X-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\n" +
				"Authorization: AWS4-HMAC-SHA256 Credential=x\r\n" +
				"Content-Length: 5\r\n" +
				"Connection: keep-alive\r\n" +
				"\r\nhello"
			resp, _ := rawRequest(t, p, req)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d, want 201", resp.StatusCode)
			}
			got := up.last(t)
			if got.RequestURI != tc.target {
				t.Errorf("upstream request-target %q, want %q", got.RequestURI, tc.target)
			}
			if got.Host != "signed.example:1234" {
				t.Errorf("upstream Host %q, want the client's", got.Host)
			}
			if got.ContentLength != 5 || len(got.TransferEncoding) != 0 || string(got.Body) != "hello" {
				t.Errorf("upstream body: length %d, transfer-encoding %v, body %q; want 5, none, hello",
					got.ContentLength, got.TransferEncoding, got.Body)
			}
			if v := got.Header.Values("X-Amz-Meta-A"); len(v) != 2 || v[0] != "1" || v[1] != "2" {
				t.Errorf("upstream X-Amz-Meta-A %q, want [1 2]", v)
			}
			for _, name := range []string{"X-Amz-Content-Sha256", "Authorization"} {
				if got.Header.Get(name) == "" {
					t.Errorf("upstream lacks %s", name)
				}
			}
			for _, name := range []string{"User-Agent", "Accept-Encoding", "X-Forwarded-For", "Connection"} {
				if v, ok := got.Header[name]; ok {
					t.Errorf("upstream got %s: %q, which the client did not send", name, v)
				}
			}
			recs := p.Requests()
			last := recs[len(recs)-1]
			wantPath, wantQuery, _ := strings.Cut(tc.target, "?")
			if last.RawPath != wantPath || last.RawQuery != wantQuery || last.Status != 201 {
				t.Errorf("record %v, want path %q query %q status 201", last, wantPath, wantQuery)
			}
		})
	}

	t.Run("responses", func(t *testing.T) {
		for _, method := range []string{"GET", "HEAD"} {
			resp, body := rawRequest(t, p, method+" /b/k HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp.ContentLength != int64(len(big)) || len(resp.TransferEncoding) != 0 {
				t.Errorf("%s: Content-Length %d, Transfer-Encoding %v; want %d and none",
					method, resp.ContentLength, resp.TransferEncoding, len(big))
			}
			if method == "GET" && !bytes.Equal(body, big) {
				t.Errorf("GET: body of %d bytes differs from the upstream's", len(body))
			}
			if v := resp.Header.Values("X-Amz-Meta-Multi"); len(v) != 2 || resp.Header.Get("ETag") != `"abc"` {
				t.Errorf("%s: response headers %v", method, resp.Header)
			}
		}
	})
	t.Run("empty PUT keeps Content-Length 0", func(t *testing.T) {
		rawRequest(t, p, "PUT /b/empty HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
		got := up.last(t)
		if got.ContentLength != 0 || len(got.TransferEncoding) != 0 || got.Header.Get("Content-Length") != "0" {
			t.Errorf("upstream: length %d, transfer-encoding %v, header %q", got.ContentLength, got.TransferEncoding, got.Header.Get("Content-Length"))
		}
	})
}

func TestStatusRulesOrderAndTimes(t *testing.T) {
	up := newUpstream(t, nil)
	p := newProxy(t, up.URL)
	first := p.AddRule(faultproxy.Rule{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStatus, Status: 500, Times: 1})
	always := p.AddRule(faultproxy.Rule{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStatus, Status: 503, Code: "SlowDown"})
	other := p.AddRule(faultproxy.Rule{PathContains: "no-such-path", Action: faultproxy.ActionStatus, Status: 404})

	put := func(target string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("PUT", p.URL()+target, strings.NewReader("data"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	var statuses []int
	for range 3 {
		resp, body := put("/b/k?partNumber=1&uploadId=u")
		statuses = append(statuses, resp.StatusCode)
		id := resp.Header.Get("x-amz-request-id")
		if !strings.HasPrefix(id, "faultproxy-") || !strings.Contains(body, "<RequestId>"+id+"</RequestId>") ||
			!strings.Contains(body, "<Message>injected</Message>") {
			t.Errorf("injected error: request id %q, body %s", id, body)
		}
		if resp.StatusCode == 503 && !strings.Contains(body, "<Code>SlowDown</Code>") {
			t.Errorf("503 body %s lacks the rule's code", body)
		}
		if resp.StatusCode == 500 && !strings.Contains(body, "<Code>InternalError</Code>") {
			t.Errorf("500 body %s lacks the derived code", body)
		}
	}
	if fmt.Sprint(statuses) != "[500 503 503]" {
		t.Errorf("statuses %v, want [500 503 503]", statuses)
	}
	if resp, _ := put("/b/k"); resp.StatusCode != 200 {
		t.Errorf("unmatched PUT: status %d, want 200 from upstream", resp.StatusCode)
	}
	if up.calls.Load() != 1 {
		t.Errorf("upstream saw %d requests, want 1 (faults never reach it)", up.calls.Load())
	}
	if p.Hits(first) != 1 || p.Hits(always) != 2 || p.Hits(other) != 0 {
		t.Errorf("hits %d, %d, %d; want 1, 2, 0", p.Hits(first), p.Hits(always), p.Hits(other))
	}
	if n := p.Count("PUT", "partNumber"); n != 3 {
		t.Errorf("Count(PUT, partNumber) = %d, want 3", n)
	}
	if n := p.Count("", ""); n != 4 {
		t.Errorf("Count(\"\", \"\") = %d, want 4", n)
	}

	p.ClearRules()
	if resp, _ := put("/b/k?partNumber=1&uploadId=u"); resp.StatusCode != 200 {
		t.Errorf("after ClearRules: status %d, want 200", resp.StatusCode)
	}
	if p.Hits(always) != 2 {
		t.Errorf("ClearRules changed the hit count to %d", p.Hits(always))
	}
	p.ClearRequests()
	if n := p.Count("", ""); n != 0 {
		t.Errorf("Count after ClearRequests = %d", n)
	}

	// A forward rule in front spares the first requests.
	spare := p.AddRule(faultproxy.Rule{Method: "GET", Action: faultproxy.ActionForward, Times: 2})
	p.AddRule(faultproxy.Rule{Method: "GET", Action: faultproxy.ActionStatus, Status: 200, Code: "InternalError"})
	statuses = statuses[:0]
	var bodies []string
	for range 3 {
		resp, err := http.Get(p.URL() + "/b/k")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		bodies = append(bodies, string(body))
	}
	if bodies[0] != "ok" || bodies[1] != "ok" || !strings.Contains(bodies[2], "<Code>InternalError</Code>") {
		t.Errorf("bodies %q: want ok, ok, then an error inside a 200", bodies)
	}
	if fmt.Sprint(statuses) != "[200 200 200]" || p.Hits(spare) != 2 {
		t.Errorf("statuses %v hits %d", statuses, p.Hits(spare))
	}
}

func TestResetIsECONNRESET(t *testing.T) {
	up := newUpstream(t, nil)
	p := newProxy(t, up.URL)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	for _, after := range []int64{0, 1000} {
		t.Run(fmt.Sprintf("after %d bytes", after), func(t *testing.T) {
			id := p.AddRule(faultproxy.Rule{Method: "PUT", Action: faultproxy.ActionReset, ResetAfter: after, Times: 1})
			body := bytes.Repeat([]byte("x"), 4<<20)
			req, _ := http.NewRequest("PUT", p.URL()+"/b/k", bytes.NewReader(body))
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got status %d, want a connection error", resp.StatusCode)
			}
			// While the client is still sending, net/http reports the reset
			// seen by its reader or the failed write, whichever comes first.
			var ne net.Error
			if !errors.As(err, &ne) {
				t.Errorf("error %v, want a net.Error", err)
			}
			if after == 0 && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("error %v after the whole body was read, want ECONNRESET", err)
			}
			if p.Hits(id) != 1 {
				t.Errorf("hits %d", p.Hits(id))
			}
		})
	}
	if up.calls.Load() != 0 {
		t.Errorf("upstream saw %d requests, want 0", up.calls.Load())
	}
	recs := p.Requests()
	if len(recs) != 2 || !recs[0].Reset || recs[0].Result() != "reset" {
		t.Errorf("records %v", recs)
	}
	// The next request goes through.
	resp, err := client.Post(p.URL()+"/b/k", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d after the fault", resp.StatusCode)
	}
}

func TestResetAfterForward(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(bytes.Repeat([]byte("r"), 100<<10))
	})
	p := newProxy(t, up.URL)
	p.AddRule(faultproxy.Rule{Method: "POST", Query: "uploadId", Action: faultproxy.ActionResetAfterForward, Times: 1})
	resp, err := http.Post(p.URL()+"/b/k?uploadId=u", "application/xml", strings.NewReader("<Complete/>"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d, want a connection error", resp.StatusCode)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("error %v, want ECONNRESET", err)
	}
	if got := up.last(t); string(got.Body) != "<Complete/>" {
		t.Errorf("upstream got body %q", got.Body)
	}
	recs := p.Requests()
	if len(recs) != 1 || recs[0].UpstreamStatus != http.StatusAccepted || !recs[0].Reset || recs[0].Status != 0 {
		t.Errorf("records %v", recs)
	}
}

func TestTruncateResponse(t *testing.T) {
	const size = 100_001
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("chunked") {
			_, _ = w.Write(make([]byte, 10))
			_ = http.NewResponseController(w).Flush() // no Content-Length from here on
			_, _ = w.Write(make([]byte, size-10))
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		_, _ = w.Write(make([]byte, size))
	})
	p := newProxy(t, up.URL)
	for _, q := range []string{"", "?chunked"} {
		t.Run("query "+q, func(t *testing.T) {
			id := p.AddRule(faultproxy.Rule{Method: "GET", Action: faultproxy.ActionTruncateResponse, Times: 1})
			resp, err := http.Get(p.URL() + "/b/k" + q)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ContentLength != size {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, size)
			}
			body, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("reading the body: %v, want unexpected EOF", err)
			}
			if len(body) != size/2 {
				t.Errorf("got %d bytes, want %d", len(body), size/2)
			}
			if p.Hits(id) != 1 {
				t.Errorf("hits %d", p.Hits(id))
			}
			recs := p.Requests()
			if r := recs[len(recs)-1]; !r.Truncated || r.Status != 200 || r.Result() != "truncated 200" {
				t.Errorf("record %v", r)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	up := newUpstream(t, nil)
	p := newProxy(t, up.URL)
	const delay = 50 * time.Millisecond
	p.AddRule(faultproxy.Rule{Method: "GET", Action: faultproxy.ActionDelay, Delay: delay, Times: 1})
	start := time.Now()
	resp, err := http.Get(p.URL() + "/b/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d < delay {
		t.Errorf("answered after %v, before the %v delay", d, delay)
	}

	// A client that gives up during a long delay does not hold up Close.
	p.AddRule(faultproxy.Rule{Method: "GET", Action: faultproxy.ActionDelay, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.URL()+"/b/k", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a request delayed by an hour succeeded")
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a delayed request")
	}
}

func TestParallelRulesFireExactlyTimes(t *testing.T) {
	up := newUpstream(t, nil)
	p := newProxy(t, up.URL)
	const times, workers, each = 10, 16, 8
	id := p.AddRule(faultproxy.Rule{Method: "PUT", Action: faultproxy.ActionStatus, Status: 503, Times: times})
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/b/k%d-%d", p.URL(), w, i), strings.NewReader("body"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 503 {
					failed.Add(1)
				}
				_ = p.Requests()
				_ = p.Count("PUT", "")
			}
		})
	}
	wg.Wait()
	if failed.Load() != times || p.Hits(id) != times {
		t.Errorf("%d requests failed, hits %d; want %d", failed.Load(), p.Hits(id), times)
	}
	if n := p.Count("PUT", ""); n != workers*each {
		t.Errorf("Count = %d, want %d", n, workers*each)
	}
	if n := up.calls.Load(); n != workers*each-times {
		t.Errorf("upstream saw %d, want %d", n, workers*each-times)
	}
}

func TestRuleValidate(t *testing.T) {
	tests := []struct {
		name string
		rule faultproxy.Rule
		ok   bool
	}{
		{"status", faultproxy.Rule{Action: faultproxy.ActionStatus, Status: 503}, true},
		{"error in 200", faultproxy.Rule{Action: faultproxy.ActionStatus, Status: 200, Code: "InternalError"}, true},
		{"reset", faultproxy.Rule{Action: faultproxy.ActionReset, ResetAfter: 10, Times: 1}, true},
		{"delay", faultproxy.Rule{Action: faultproxy.ActionDelay, Delay: time.Second}, true},
		{"slow reset", faultproxy.Rule{Action: faultproxy.ActionResetAfterForward, Delay: time.Second}, true},
		{"no action", faultproxy.Rule{Method: "PUT"}, false},
		{"unknown action", faultproxy.Rule{Action: 99}, false},
		{"status without status", faultproxy.Rule{Action: faultproxy.ActionStatus}, false},
		{"1xx status", faultproxy.Rule{Action: faultproxy.ActionStatus, Status: 100}, false},
		{"status on reset", faultproxy.Rule{Action: faultproxy.ActionReset, Status: 503}, false},
		{"negative times", faultproxy.Rule{Action: faultproxy.ActionReset, Times: -1}, false},
		{"negative delay", faultproxy.Rule{Action: faultproxy.ActionForward, Delay: -1}, false},
		{"delay without delay", faultproxy.Rule{Action: faultproxy.ActionDelay}, false},
		{"ResetAfter on truncate", faultproxy.Rule{Action: faultproxy.ActionTruncateResponse, ResetAfter: 1}, false},
		{"stall", faultproxy.Rule{Action: faultproxy.ActionStall, Probability: 0.05, For: time.Minute}, true},
		{"stall response", faultproxy.Rule{Action: faultproxy.ActionStallResponse}, true},
		{"probability above 1", faultproxy.Rule{Action: faultproxy.ActionStall, Probability: 1.5}, false},
		{"negative probability", faultproxy.Rule{Action: faultproxy.ActionStall, Probability: -0.1}, false},
		{"negative For", faultproxy.Rule{Action: faultproxy.ActionStall, For: -time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rule.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				defer func() {
					if recover() == nil {
						t.Error("AddRule accepted an invalid rule")
					}
				}()
				p := newProxy(t, "http://127.0.0.1:1")
				p.AddRule(tc.rule)
			}
		})
	}
}

func TestQueryAndPathSelectors(t *testing.T) {
	up := newUpstream(t, nil)
	p := newProxy(t, up.URL)
	tests := []struct {
		rule   faultproxy.Rule
		target string
		match  bool
	}{
		{faultproxy.Rule{Query: "uploads"}, "/b/k?uploads", true},
		{faultproxy.Rule{Query: "uploads"}, "/b/k?uploads=", true},
		{faultproxy.Rule{Query: "uploads"}, "/b/k?uploadId=x", false},
		{faultproxy.Rule{Query: "uploadId"}, "/b/k?partNumber=1&uploadId=x", true},
		{faultproxy.Rule{Query: "partNumber"}, "/b/k?x=partNumber", false},
		{faultproxy.Rule{Query: "a b"}, "/b/k?a%20b=1", true},
		{faultproxy.Rule{PathContains: "a b"}, "/b/a%20b", true},
		{faultproxy.Rule{PathContains: "a%20b"}, "/b/a%20b", true},
		{faultproxy.Rule{PathContains: "日本"}, "/b/%E6%97%A5%E6%9C%AC", true},
		{faultproxy.Rule{PathContains: "zzz"}, "/b/a", false},
		{faultproxy.Rule{Method: "get"}, "/b/a", true},
		{faultproxy.Rule{Method: "PUT"}, "/b/a", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%+v %s", tc.rule, tc.target), func(t *testing.T) {
			p.ClearRules()
			r := tc.rule
			r.Action, r.Status = faultproxy.ActionStatus, 418
			p.AddRule(r)
			resp, err := http.Get(p.URL() + tc.target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode == 418; got != tc.match {
				t.Errorf("matched=%v, want %v", got, tc.match)
			}
		})
	}
}

func TestNewRefusesBadTargets(t *testing.T) {
	for _, target := range []string{"", "127.0.0.1:9000", "ftp://h:1", "http://h:1/path", "http://h:1?q", "http://u@h:1"} {
		if p, err := faultproxy.New(target); err == nil {
			p.Close()
			t.Errorf("New(%q) succeeded", target)
		}
	}
	if p, err := faultproxy.NewTLS("http://127.0.0.1:1", nil); err != nil {
		t.Errorf("NewTLS with nil config: %v", err)
	} else {
		p.Close()
	}
}

func TestUpstreamDownIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := newProxy(t, "http://"+addr)
	resp, err := http.Get(p.URL() + "/b/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	if recs := p.Requests(); len(recs) != 1 || recs[0].Err == "" {
		t.Errorf("records %v", recs)
	}
}

func TestTLSUpstream(t *testing.T) {
	var host atomic.Value
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		_, _ = io.WriteString(w, "secure")
	}))
	up.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	up.StartTLS()
	defer up.Close()
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	p, err := faultproxy.NewTLS(up.URL, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	resp, body := rawRequest(t, p, "GET /b/k HTTP/1.1\r\nHost: signed.example:1234\r\n\r\n")
	if resp.StatusCode != 200 || string(body) != "secure" || host.Load() != "signed.example:1234" {
		t.Errorf("status %d body %q upstream Host %v", resp.StatusCode, body, host.Load())
	}

	// Without the CA the upstream's certificate is refused: 502.
	untrusted := newProxy(t, up.URL)
	if resp, _ := rawRequest(t, untrusted, "GET /b/k HTTP/1.1\r\nHost: h\r\n\r\n"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("untrusted upstream: status %d, want 502", resp.StatusCode)
	}
	if _, err := faultproxy.NewTLS("http://127.0.0.1:1", &tls.Config{}); err == nil {
		t.Error("NewTLS accepted a TLS configuration for an http target")
	}
}

func TestStall(t *testing.T) {
	up := newUpstream(t, nil)
	p := newProxy(t, up.URL)
	id := p.AddRule(faultproxy.Rule{Method: "PUT", Action: faultproxy.ActionStall})

	// The client's own deadline ends the wait; the server never sees it.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "PUT", p.URL()+"/b/k", strings.NewReader("payload"))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a stalled request was answered")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stalled request: %v, want the client's deadline", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("ended after %v, before the client's deadline", d)
	}
	if up.calls.Load() != 0 {
		t.Errorf("the server saw %d requests", up.calls.Load())
	}
	if p.Hits(id) != 1 {
		t.Errorf("hits %d", p.Hits(id))
	}
	waitRecord(t, p, func(r faultproxy.RequestRecord) bool { return r.Stalled && r.Result() == "stalled" })

	// A client that never gives up is released by Close.
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Post(p.URL()+"/b/k2", "", strings.NewReader("x"))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	req2, _ := http.NewRequest("PUT", p.URL()+"/b/k3", strings.NewReader("y"))
	go func() {
		resp, err := http.DefaultClient.Do(req2)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitHits(t, p, id, 2)
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a stalled request")
	}
	for i := 0; i < 2; i++ {
		select {
		case <-errc:
		case <-time.After(10 * time.Second):
			t.Fatal("a client stayed stalled after Close")
		}
	}
}

func TestStallResponse(t *testing.T) {
	const size = 10_000
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		_, _ = w.Write(bytes.Repeat([]byte("a"), size))
	})
	p := newProxy(t, up.URL)
	p.AddRule(faultproxy.Rule{Method: "GET", Action: faultproxy.ActionStallResponse, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.URL()+"/b/k", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the status and headers should arrive: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != size {
		t.Errorf("status %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatal("a stalled body ended cleanly")
	}
	if len(body) != size/2 {
		t.Errorf("got %d bytes before the stall, want %d", len(body), size/2)
	}
	waitRecord(t, p, func(r faultproxy.RequestRecord) bool { return r.Result() == "stalled 200" && !r.Truncated })
	// The rule is used up: the next request is whole.
	resp2, err := http.Get(p.URL() + "/b/k")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if b, err := io.ReadAll(resp2.Body); err != nil || len(b) != size {
		t.Errorf("second request: %d bytes, %v", len(b), err)
	}
}

func TestProbabilityIsSeededAndSparesTimes(t *testing.T) {
	up := newUpstream(t, nil)
	pattern := func(seed int64) (string, int) {
		p := newProxy(t, up.URL)
		p.Seed(seed)
		id := p.AddRule(faultproxy.Rule{Method: "GET", Action: faultproxy.ActionStatus, Status: 503,
			Probability: 0.3, Times: 20})
		var b strings.Builder
		for i := 0; i < 200; i++ {
			resp, err := http.Get(p.URL() + "/b/k")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 503 {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String(), p.Hits(id)
	}
	a, hits := pattern(7)
	if hits != 20 || strings.Count(a, "x") != 20 {
		t.Errorf("Times 20 with probability 0.3: %d hits, %d faults (%s)", hits, strings.Count(a, "x"), a)
	}
	// 20 firings at p=0.3 take about 67 requests: the faults are spread,
	// not the first 20 in a row.
	if strings.HasPrefix(a, strings.Repeat("x", 20)) || strings.LastIndex(a, "x") < 30 {
		t.Errorf("faults not drawn with probability 0.3: %s", a)
	}
	if b, _ := pattern(7); b != a {
		t.Errorf("same seed, different faults:\n%s\n%s", a, b)
	}
	if c, _ := pattern(8); c == a {
		t.Errorf("another seed gave the same faults: %s", a)
	}
}

func TestForEndsTheRule(t *testing.T) {
	up := newUpstream(t, nil)
	p := newProxy(t, up.URL)
	const window = 300 * time.Millisecond
	added := time.Now()
	p.AddRule(faultproxy.Rule{Method: "GET", Action: faultproxy.ActionStatus, Status: 503, Code: "SlowDown", For: window})
	faulted := 0
	for {
		resp, err := http.Get(p.URL() + "/b/k")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 {
			break
		}
		faulted++
		time.Sleep(10 * time.Millisecond)
		if time.Since(added) > time.Minute {
			t.Fatal("the rule still fires a minute later")
		}
	}
	if faulted == 0 {
		t.Error("the rule never fired")
	}
	if since := time.Since(added); since < window {
		t.Errorf("the rule stopped after %v, before its %v", since, window)
	}
}

// waitRecord waits until a recorded request satisfies ok.
func waitRecord(t *testing.T, p *faultproxy.Proxy, ok func(faultproxy.RequestRecord) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range p.Requests() {
			if ok(r) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no such record among %v", p.Requests())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitHits waits until rule id has fired n times.
func waitHits(t *testing.T, p *faultproxy.Proxy, id, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Hits(id) < n {
		if time.Now().After(deadline) {
			t.Fatalf("rule %d fired %d times, want %d", id, p.Hits(id), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
