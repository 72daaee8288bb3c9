package faultproxy

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proxy is a fault-injecting reverse proxy in front of one upstream server.
// Create it with New or NewTLS and Close it when done.
//
// Lock order: mu is the only lock; it is never held across I/O.
type Proxy struct {
	target    *url.URL // upstream scheme://host:port
	transport *http.Transport
	srv       *http.Server
	url       string
	done      chan struct{} // closed when Serve returns
	stop      chan struct{} // closed by Close: stalled requests end

	mu        sync.Mutex
	closed    bool            // guarded by mu
	inflight  sync.WaitGroup  // Add only under mu, never once closed
	nextID    int             // guarded by mu; last rule ID handed out
	rules     []*ruleState    // guarded by mu; in evaluation order
	hits      map[int]int     // guarded by mu; rule ID -> firings, survives ClearRules
	records   []RequestRecord // guarded by mu
	recordGen int             // guarded by mu; bumped by ClearRequests
	faults    int             // guarded by mu; numbers injected request IDs
	serveErr  error           // guarded by mu
	rng       *rand.Rand      // guarded by mu; draws Rule.Probability
}

// ruleState is a rule with its ID and remaining firings.
type ruleState struct {
	id    int
	rule  Rule
	left  int       // firings left; <0 means unlimited
	until time.Time // zero, or when the rule stops matching (Rule.For)
}

// RequestRecord is what happened to one request.
type RequestRecord struct {
	Method   string
	RawPath  string // the request-target's path exactly as received
	RawQuery string
	// Rule is the ID of the rule that fired, 0 if none; Action is what the
	// proxy did (ActionForward when no rule fired).
	Rule   int
	Action Action
	// Status is the status line sent to the client, 0 if none was (reset,
	// or the client went away first).
	Status int
	// UpstreamStatus is the server's status, 0 if the server was not
	// contacted or did not answer.
	UpstreamStatus int
	// Reset: the connection was reset instead of answered.
	Reset bool
	// Truncated: the response body was cut short and the connection closed.
	Truncated bool
	// Stalled: the proxy stopped sending (ActionStall before the status
	// line, ActionStallResponse halfway through the body) until the client
	// went away or the proxy closed.
	Stalled bool
	// BodyBytes is the request's Content-Length (0 without a body): the
	// payload the client sent.
	BodyBytes int64
	// CopySource is the request's x-amz-copy-source (or x-obs-copy-source)
	// header, "" if none: a PUT with it is a CopyObject or UploadPartCopy.
	CopySource string
	// Err describes a failure to forward (the server unreachable, the
	// client gone), "" if none.
	Err string
}

// Result is "reset", "stalled", "stalled 200", "truncated 200", or the status sent ("503"), or
// "none" if the request got no answer at all.
func (r RequestRecord) Result() string {
	switch {
	case r.Reset:
		return "reset"
	case r.Stalled && r.Status == 0:
		return "stalled"
	case r.Stalled:
		return "stalled " + strconv.Itoa(r.Status)
	case r.Truncated:
		return "truncated " + strconv.Itoa(r.Status)
	case r.Status == 0:
		return "none"
	}
	return strconv.Itoa(r.Status)
}

func (r RequestRecord) String() string {
	s := r.Method + " " + r.RawPath
	if r.RawQuery != "" {
		s += "?" + r.RawQuery
	}
	s += " -> " + r.Result()
	if r.Rule != 0 {
		s += fmt.Sprintf(" (rule %d: %v)", r.Rule, r.Action)
	}
	if r.Err != "" {
		s += ": " + r.Err
	}
	return s
}

// New starts a proxy on a free 127.0.0.1 port in front of target,
// "http://host:port" (or "https://host:port", verified against the system
// roots; see NewTLS).
func New(target string) (*Proxy, error) { return NewTLS(target, nil) }

// NewTLS is New with the TLS configuration used towards an https target
// (nil: the defaults). The proxy itself always listens in plain HTTP.
func NewTLS(target string, upstreamTLS *tls.Config) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("faultproxy: target %q must be http(s)://host:port", target)
	}
	if upstreamTLS != nil && u.Scheme != "https" {
		return nil, fmt.Errorf("faultproxy: a TLS configuration needs an https target, not %q", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	var tlsConf *tls.Config
	if upstreamTLS != nil {
		tlsConf = upstreamTLS.Clone()
	}
	p := &Proxy{
		target: &url.URL{Scheme: u.Scheme, Host: u.Host},
		transport: &http.Transport{
			Proxy:               nil, // never an environment proxy
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     tlsConf,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true, // never add Accept-Encoding or decode bodies
			ForceAttemptHTTP2:   false,
			WriteBufferSize:     256 << 10,
			ReadBufferSize:      256 << 10,
		},
		url:  "http://" + ln.Addr().String(),
		hits: map[int]int{},
		done: make(chan struct{}),
		stop: make(chan struct{}),
		rng:  rand.New(rand.NewSource(1)),
	}
	p.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP),
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(p.done)
		err := p.srv.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) {
			p.mu.Lock()
			p.serveErr = err
			p.mu.Unlock()
		}
	}()
	return p, nil
}

// URL returns the proxy's address, "http://127.0.0.1:PORT", to use as the
// client's endpoint.
func (p *Proxy) URL() string { return p.url }

// Close stops the proxy: it closes the listener and every client
// connection, waits for the requests in progress to finish and closes the
// idle upstream connections. It returns an error if the server had failed.
// Close is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if !already {
		close(p.stop)
		_ = p.srv.Close()
		<-p.done
		p.inflight.Wait()
		p.transport.CloseIdleConnections()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.serveErr
}

// AddRule appends r to the rules and returns its ID (IDs start at 1 and are
// never reused). It panics if r is invalid (see Rule.Validate): a bad rule
// is a bug in the test.
func (p *Proxy) AddRule(r Rule) (id int) {
	if err := r.Validate(); err != nil {
		panic(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	left := r.Times
	if left == 0 {
		left = -1
	}
	rs := &ruleState{id: p.nextID, rule: r, left: left}
	if r.For > 0 {
		rs.until = time.Now().Add(r.For)
	}
	p.rules = append(p.rules, rs)
	return p.nextID
}

// Seed makes the draws of Rule.Probability repeatable: the same seed and
// the same sequence of matching requests give the same faults. Without it
// the generator is seeded with 1.
func (p *Proxy) Seed(seed int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rng = rand.New(rand.NewSource(seed))
}

// ClearRules removes every rule; requests are forwarded unchanged from then
// on. Hit counts are kept.
func (p *Proxy) ClearRules() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Hits returns how many times rule id has fired.
func (p *Proxy) Hits(id int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[id]
}

// Requests returns a copy of the records of every request received since
// the start or the last ClearRequests, in arrival order. A request is
// recorded when it arrives; its outcome fields fill in as it proceeds.
func (p *Proxy) Requests() []RequestRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]RequestRecord(nil), p.records...)
}

// ClearRequests forgets the recorded requests (Count starts again from 0).
func (p *Proxy) ClearRequests() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = nil
	p.recordGen++
}

// Count returns how many recorded requests had the given method ("" for
// any) and carried the query parameter queryParam ("" for any), whatever
// happened to them.
func (p *Proxy) Count(method, queryParam string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.records {
		if (method == "" || strings.EqualFold(method, r.Method)) &&
			(queryParam == "" || hasQueryParam(r.RawQuery, queryParam)) {
			n++
		}
	}
	return n
}

// begin registers a request: it records it and picks the rule that fires.
// ok is false once the proxy is closing.
func (p *Proxy) begin(r *http.Request, rawPath string) (rec *recorder, rule *Rule, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, false
	}
	p.inflight.Add(1)
	entry := RequestRecord{Method: r.Method, RawPath: rawPath, RawQuery: r.URL.RawQuery, Action: ActionForward,
		BodyBytes: max(r.ContentLength, 0), CopySource: r.Header.Get("x-amz-copy-source")}
	if entry.CopySource == "" {
		entry.CopySource = r.Header.Get("x-obs-copy-source")
	}
	now := time.Now()
	for _, rs := range p.rules {
		if rs.left == 0 || (!rs.until.IsZero() && now.After(rs.until)) ||
			!rs.rule.matches(r.Method, rawPath, r.URL.Path, r.URL.RawQuery) {
			continue
		}
		if pr := rs.rule.Probability; pr > 0 && pr < 1 && p.rng.Float64() >= pr {
			continue
		}
		if rs.left > 0 {
			rs.left--
		}
		p.hits[rs.id]++
		entry.Rule, entry.Action = rs.id, rs.rule.Action
		rc := rs.rule
		rule = &rc
		break
	}
	p.records = append(p.records, entry)
	return &recorder{p: p, gen: p.recordGen, idx: len(p.records) - 1}, rule, true
}

// recorder updates one request's record. After ClearRequests (a new
// generation) it writes nowhere.
type recorder struct {
	p   *Proxy
	gen int
	idx int
}

func (rc *recorder) update(f func(*RequestRecord)) {
	rc.p.mu.Lock()
	defer rc.p.mu.Unlock()
	if rc.gen == rc.p.recordGen {
		f(&rc.p.records[rc.idx])
	}
}

func (p *Proxy) nextFaultID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults++
	return "faultproxy-" + strconv.Itoa(p.faults)
}

// serveHTTP handles one client request.
func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rawPath := requestPath(r)
	rec, rule, ok := p.begin(r, rawPath)
	if !ok {
		abort(w)
		return
	}
	defer p.inflight.Done()
	if rule == nil {
		p.forward(w, r, rec, -1)
		return
	}
	if rule.Delay > 0 {
		t := time.NewTimer(rule.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			rec.update(func(e *RequestRecord) { e.Err = "client went away during the delay" })
			return
		case <-p.stop:
			t.Stop()
			rec.update(func(e *RequestRecord) { e.Err = "proxy closed during the delay" })
			abort(w)
		}
	}
	switch rule.Action {
	case ActionForward, ActionDelay:
		p.forward(w, r, rec, -1)
	case ActionStatus:
		_, _ = io.Copy(io.Discard, r.Body)
		p.replyError(w, r, rec, rule)
	case ActionReset:
		if rule.ResetAfter > 0 {
			_, _ = io.CopyN(io.Discard, r.Body, rule.ResetAfter)
		} else {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		rec.update(func(e *RequestRecord) { e.Reset = true })
		reset(w)
	case ActionResetAfterForward:
		resp, err := p.roundTrip(r)
		if err != nil {
			rec.update(func(e *RequestRecord) { e.Err = err.Error() })
		} else {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			rec.update(func(e *RequestRecord) {
				e.UpstreamStatus = resp.StatusCode
				if err != nil {
					e.Err = "reading the response: " + err.Error()
				}
			})
		}
		rec.update(func(e *RequestRecord) { e.Reset = true })
		reset(w)
	case ActionTruncateResponse:
		p.forward(w, r, rec, 0)
	case ActionStall:
		_, _ = io.Copy(io.Discard, r.Body)
		p.stall(w, r, rec)
	case ActionStallResponse:
		p.forward(w, r, rec, stallHalfway)
	}
}

// stall holds the request, sending nothing more, until the client goes away
// or the proxy is closed; then it drops the connection.
func (p *Proxy) stall(w http.ResponseWriter, r *http.Request, rec *recorder) {
	rec.update(func(e *RequestRecord) { e.Stalled = true })
	select {
	case <-r.Context().Done():
	case <-p.stop:
	}
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

// requestPath returns the path of the request-target exactly as the client
// sent it.
func requestPath(r *http.Request) string {
	raw := r.RequestURI
	if strings.HasPrefix(raw, "/") {
		raw, _, _ = strings.Cut(raw, "?")
		return raw
	}
	return r.URL.EscapedPath() // absolute-form or "*": best effort
}

// hopHeaders are per-connection headers (RFC 9110 §7.6.1) a proxy must not
// forward.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// roundTrip sends r to the upstream with its path, query, headers, Host and
// body unchanged.
func (p *Proxy) roundTrip(in *http.Request) (*http.Response, error) {
	out := in.Clone(in.Context()) // deep-copies the header; shares the body
	out.RequestURI = ""
	out.Close = false
	out.Host = in.Host // the client signed it
	u := &url.URL{Scheme: p.target.Scheme, Host: p.target.Host, RawQuery: in.URL.RawQuery, ForceQuery: in.URL.ForceQuery}
	if raw := requestPath(in); strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		// Opaque is written to the request line verbatim.
		u.Opaque = raw
	} else {
		// "//..." in Opaque would be taken for a scheme-relative URL;
		// RawPath is used verbatim whenever it is a valid encoding.
		u.Path, u.RawPath = in.URL.Path, in.URL.RawPath
	}
	out.URL = u
	removeHopHeaders(out.Header)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // stop the transport adding one
	}
	if in.ContentLength == 0 {
		out.Body = nil // the transport sends Content-Length: 0 where it belongs
	}
	return p.transport.RoundTrip(out)
}

// stallHalfway is forward's limit for ActionStallResponse.
const stallHalfway = -2

// forward proxies r and streams the response back. limit == -1 sends the
// whole body; limit == 0 sends half of it and then closes the connection;
// limit == stallHalfway sends half of it and then stalls.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, rec *recorder, limit int64) {
	resp, err := p.roundTrip(r)
	if err != nil {
		if r.Context().Err() != nil {
			rec.update(func(e *RequestRecord) { e.Err = "client went away: " + err.Error() })
			return
		}
		rec.update(func(e *RequestRecord) { e.Status, e.Err = http.StatusBadGateway, err.Error() })
		writeXMLError(w, r, http.StatusBadGateway, "BadGateway", "faultproxy: upstream: "+err.Error(), p.nextFaultID())
		return
	}
	defer resp.Body.Close()
	truncate := limit == 0 || limit == stallHalfway
	var body io.Reader = resp.Body
	length := resp.ContentLength
	if truncate && length < 0 && r.Method != http.MethodHead {
		// Unknown length: read it all, so the client is told a length the
		// proxy then fails to deliver.
		data, rerr := io.ReadAll(resp.Body)
		if rerr != nil {
			rec.update(func(e *RequestRecord) { e.UpstreamStatus, e.Err = resp.StatusCode, rerr.Error() })
			reset(w)
			return
		}
		length, body = int64(len(data)), bytes.NewReader(data)
		resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	}
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = append([]string(nil), vs...)
	}
	removeHopHeaders(h)
	rec.update(func(e *RequestRecord) {
		e.UpstreamStatus, e.Status = resp.StatusCode, resp.StatusCode
		e.Truncated = limit == 0
	})
	w.WriteHeader(resp.StatusCode)
	if truncate {
		if r.Method != http.MethodHead && length > 0 {
			_, _ = io.CopyN(w, body, length/2)
		}
		_ = http.NewResponseController(w).Flush()
		if limit == stallHalfway {
			p.stall(w, r, rec)
			return
		}
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close() // a plain close: the client sees an unexpected EOF
		}
		return
	}
	if _, err := io.Copy(w, body); err != nil {
		// Either side failed mid-body; net/http closes the connection
		// because the body is shorter than its Content-Length.
		rec.update(func(e *RequestRecord) { e.Err = "copying the response body: " + err.Error() })
	}
}

// replyError answers with rule's injected S3 error.
func (p *Proxy) replyError(w http.ResponseWriter, r *http.Request, rec *recorder, rule *Rule) {
	code := rule.Code
	if code == "" {
		code = errorCode(rule.Status)
	}
	rec.update(func(e *RequestRecord) { e.Status = rule.Status })
	writeXMLError(w, r, rule.Status, code, "injected", p.nextFaultID())
}

// xmlError is an S3 error body.
type xmlError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
}

func writeXMLError(w http.ResponseWriter, r *http.Request, status int, code, msg, reqID string) {
	body, _ := xml.Marshal(xmlError{Code: code, Message: msg, RequestID: reqID})
	body = append([]byte(xml.Header), body...)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("x-amz-request-id", reqID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead && status != http.StatusNoContent && status != http.StatusNotModified {
		_, _ = w.Write(body)
	}
}

// reset closes the client connection with a TCP RST (SO_LINGER 0).
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		abort(w)
		return
	}
	if tc, ok := conn.(interface{ SetLinger(sec int) error }); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// abort makes net/http drop the connection without a response.
func abort(http.ResponseWriter) { panic(http.ErrAbortHandler) }
