package obsclient

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Client is a signed OBS/S3 client. Create it with New; it is safe for
// concurrent use.
type Client struct {
	cfg    Config
	ep     endpoint
	signer signer
	http   *http.Client
	log    *logrus.Entry
	lat    *latencies // recent latencies per operation kind, for stall deadlines
	// hedgeFloor is the least hedge delay (hedge.go); tests lower it.
	hedgeFloor time.Duration
	// smallHedgeFloor is the least hedge delay of a small request
	// (hedgesmall.go); tests lower it.
	smallHedgeFloor time.Duration
	// smallHedges holds a token for each small-request hedge in flight.
	smallHedges chan struct{}
	// sleep waits for d or until ctx is done; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// New validates cfg, applies its defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ep, _ := parseEndpoint(cfg.Endpoint)
	rt := cfg.Transport
	if rt == nil {
		dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
		rt = &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &deadlineConn{Conn: c, timeout: cfg.IOTimeout}, nil
			},
			TLSClientConfig: &tls.Config{
				RootCAs:            cfg.RootCAs,
				InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // opt-in only
				MinVersion:         tls.VersionTLS12,
			},
			TLSHandshakeTimeout:   cfg.ConnectTimeout,
			ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
			MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
			IdleConnTimeout:       90 * time.Second,
			DisableCompression:    true, // byte ranges must stay exact
			ForceAttemptHTTP2:     false,
			WriteBufferSize:       256 << 10,
			ReadBufferSize:        256 << 10,
		}
	}
	c := &Client{
		cfg: cfg,
		ep:  ep,
		signer: signer{sig: cfg.Signature, region: cfg.Region, accessKey: cfg.AccessKey,
			secretKey: cfg.SecretKey, token: cfg.SecurityToken},
		http: &http.Client{
			Transport: rt,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		log:             cfg.Logger,
		lat:             newLatencies(cfg.Stall),
		hedgeFloor:      DefaultHedgeFloor,
		smallHedgeFloor: DefaultSmallHedgeFloor,
		smallHedges:     make(chan struct{}, smallHedgeSlots),
		sleep:           sleepCtx,
	}
	return c, nil
}

// CloseIdleConnections closes the kept-alive connections that carry no
// request now (for example after the store was restarted, or at unmount).
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// deadlineConn fails a Read or Write that makes no progress for timeout.
// (An idle pooled connection therefore closes after timeout, like an idle
// timeout.)
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// Signature returns the dialect the client signs with.
func (c *Client) Signature() Signature { return c.cfg.Signature }

// HTTPS reports whether the endpoint is HTTPS (required for SSE).
func (c *Client) HTTPS() bool { return c.ep.scheme == "https" }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// body is a request payload that can be re-read for every attempt: a
// window of an io.ReaderAt. Late reads by the transport of an abandoned
// attempt cannot disturb a new attempt, since ReadAt keeps no position.
type body struct {
	r   io.ReaderAt
	off int64
	n   int64
	md5 string // base64 Content-MD5
}

func (b *body) reader() io.Reader { return io.NewSectionReader(b.r, b.off, b.n) }

// fencedBody is the body of one attempt. net/http may go on reading a
// request body after Do returned (a response that came before the body
// was sent); fence, run before the attempt returns, waits for a read in
// progress and fails every later one, so that once a call returns the
// client never touches the caller's bytes again (callers reuse them).
//
// Every read also tells the attempt's watchdog that the request is still
// being sent.
type fencedBody struct {
	mu     sync.Mutex
	r      io.Reader
	wd     *watchdog
	fenced bool
	n      int64 // bytes read
}

func (b *fencedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fenced {
		return 0, errBodyFenced
	}
	b.wd.sending()
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// fence stops further reads and returns the number of bytes read.
func (b *fencedBody) fence() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fenced = true
	return b.n
}

var errBodyFenced = errors.New("obsclient: request body read after the request returned")

// bytesBody wraps an in-memory payload and computes its MD5.
func bytesBody(p []byte) *body {
	sum := md5.Sum(p)
	return &body{r: bytes.NewReader(p), n: int64(len(p)), md5: base64.StdEncoding.EncodeToString(sum[:])}
}

// hashBody fills b.md5 by reading the window once, unless given.
func hashBody(b *body, given string) error {
	if given != "" {
		b.md5 = given
		return nil
	}
	h := md5.New()
	n, err := io.Copy(h, b.reader())
	if err != nil {
		return fmt.Errorf("reading body to compute Content-MD5: %w", err)
	}
	if n != b.n {
		return fmt.Errorf("reading body to compute Content-MD5: got %d of %d bytes", n, b.n)
	}
	b.md5 = base64.StdEncoding.EncodeToString(h.Sum(nil))
	return nil
}

// request is one logical API call.
type request struct {
	op     string // API name, for logs and errors
	method string
	bucket string
	key    string // "" for bucket-level requests
	query  url.Values
	header http.Header // dialect-prefixed headers, Content-Type, Range...
	body   *body
	// ok says which statuses are success; default 2xx.
	ok func(status int) bool
	// handle consumes a successful response inside the attempt, so that a
	// decoding failure or an error inside a 200 body is retried like any
	// other. It must not keep resp.Body unless it returns errKeepBody.
	handle func(resp *http.Response) error
	// beforeRetry, if set, runs before each retry of a retryable failure.
	// It returns done=true to stop with err as the final result.
	beforeRetry func(ctx context.Context, failure error) (done bool, err error)
	// hedgeResolve, if set, runs when a hedge (hedge.go) got NoSuchUpload
	// while the first request still waits; it returns true, having set
	// the result, if the store shows the request took effect. For ops of
	// hedgedOps, handle runs for both requests at once, may not keep the
	// body, and must keep the result of the first success.
	hedgeResolve func(ctx context.Context) bool
}

// errKeepBody is returned by a handler that hands resp.Body to the caller.
var errKeepBody = errors.New("keep body")

// url builds the request URL for bucket/key with the given query.
func (c *Client) buildURL(bucket, key string, q url.Values) (u *url.URL, pathStyle bool) {
	pathStyle = c.cfg.Addressing == AddressingPath ||
		(c.cfg.Addressing == AddressingAuto && c.ep.hostIP) ||
		bucket == "" || strings.Contains(bucket, ".") && c.ep.scheme == "https" && c.cfg.Addressing == AddressingAuto
	u = &url.URL{Scheme: c.ep.scheme, Host: c.ep.host, RawQuery: encodeQuery(q)}
	var path, raw string
	switch {
	case bucket == "":
		path, raw = "/", "/"
	case pathStyle:
		path, raw = "/"+bucket+"/"+key, "/"+bucket+"/"+encodeKey(key)
	default:
		u.Host = bucket + "." + c.ep.host
		path, raw = "/"+key, "/"+encodeKey(key)
	}
	u.Path, u.RawPath = path, raw
	return u, pathStyle
}

// attempt sends req once, under a watchdog with stall deadline d and send
// deadline ds (none if d is 0). kept says the handler kept the response body: it is then a
// *stallBody whose Close releases the attempt and the call's window.
func (c *Client) attempt(cl *call, req *request, n int, d, ds time.Duration) (stalled *stall, kept bool, err error) {
	actx, cancelA := context.WithCancelCause(cl.wctx)
	var wd *watchdog
	if d > 0 {
		wd = newWatchdog(d, ds, cancelA)
		actx = httptrace.WithClientTrace(actx, wd.trace(c.lat, req.op))
	}
	defer func() {
		if !kept {
			wd.stop()
			cancelA(nil)
		}
		stalled = wd.stall()
	}()
	u, pathStyle := c.buildURL(req.bucket, req.key, req.query)
	var rbody io.Reader
	var size int64
	cl.status, cl.sent, cl.reqID = 0, 0, ""
	if req.body != nil {
		fb := &fencedBody{r: req.body.reader(), wd: wd}
		defer func() { cl.sent = fb.fence() }()
		rbody, size = fb, req.body.n
	}
	hr, err := http.NewRequestWithContext(actx, req.method, u.String(), rbody)
	if err != nil {
		return nil, false, fmt.Errorf("obs %s: building request: %w", req.op, err)
	}
	hr.URL = u // keep our exact path encoding
	hr.ContentLength = size
	if req.body != nil && size == 0 {
		hr.Body = http.NoBody
	}
	hr.GetBody = nil
	for k, vs := range req.header {
		hr.Header[k] = append([]string(nil), vs...)
	}
	if req.body != nil {
		hr.Header.Set("Content-MD5", req.body.md5)
	}
	hr.Header.Set("User-Agent", c.cfg.UserAgent)
	c.signer.sign(hr, req.bucket, pathStyle, c.cfg.Now())

	t0 := time.Now()
	resp, err := c.http.Do(hr)
	if err != nil {
		if actx.Err() != nil {
			return nil, false, actx.Err()
		}
		return nil, false, &transportError{fmt.Errorf("obs %s %s/%s: %w", req.op, req.bucket, req.key, scrubURLError(err))}
	}
	cl.status, cl.reqID = resp.StatusCode, c.requestID(resp.Header)
	wb := &stallBody{rc: resp.Body, wd: wd, cl: cl, lat: c.lat, attempt: n}
	resp.Body = wb
	defer func() {
		if !kept {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		}
	}()
	if c.log.Logger.IsLevelEnabled(logrus.DebugLevel) {
		c.log.WithFields(logrus.Fields{"op": req.op, "bucket": req.bucket, "key": req.key,
			"status": resp.StatusCode, "req_id": c.requestID(resp.Header), "bytes": size,
			"dur": time.Since(t0), "attempt": n}).Debug("obs request")
	}
	ok := req.ok
	if ok == nil {
		ok = func(s int) bool { return s >= 200 && s < 300 }
	}
	if !ok(resp.StatusCode) {
		return nil, false, c.responseError(req, resp)
	}
	if req.handle == nil {
		return nil, false, nil
	}
	if err := req.handle(resp); err != nil {
		if err == errKeepBody {
			wb.release = func() {
				cancelA(nil)
				cl.cancelW()
			}
			return nil, true, nil
		}
		var e *Error
		if errors.As(err, &e) {
			c.fillFromHeaders(e, resp.Header)
		}
		return nil, false, err
	}
	return nil, false, nil
}

// scrubURLError drops the URL from a *url.Error: it may carry a signed
// query, and the caller's message already names the operation.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *Client) requestID(h http.Header) string {
	if v := h.Get("x-obs-request-id"); v != "" {
		return v
	}
	return h.Get("x-amz-request-id")
}

// fillFromHeaders completes e with the request ID, id-2 and indicator
// headers of either dialect (keeping values the XML body already gave).
func (c *Client) fillFromHeaders(e *Error, h http.Header) {
	if e.RequestID == "" {
		e.RequestID = c.requestID(h)
	}
	if e.ID2 == "" {
		e.ID2 = firstHeader(h, "x-obs-id-2", "x-amz-id-2")
	}
	if e.Indicator == "" {
		e.Indicator = h.Get("x-reserved-indicator")
	}
	if e.Code == "" {
		e.Code = firstHeader(h, "x-obs-error-code", "x-amz-error-code", "x-minio-error-code")
	}
	if e.Message == "" {
		e.Message = firstHeader(h, "x-obs-error-message", "x-amz-error-message", "x-minio-error-desc")
	}
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// responseError builds the *Error of a non-success response.
func (c *Client) responseError(req *request, resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	if req.method != http.MethodHead {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if len(bytes.TrimSpace(data)) > 0 {
			var xe xmlError
			if err := decodeXML(bytes.NewReader(data), "Error", resp.StatusCode, &xe); err == nil {
				e.Code, e.Message, e.Resource, e.RequestID, e.HostID = xe.Code, xe.Message, xe.Resource, xe.RequestID, xe.HostID
			} else if ie := AsError(err); ie != nil {
				*e = *ie
			}
		}
	}
	c.fillFromHeaders(e, resp.Header)
	if e.Code == "" {
		e.Code = defaultCode(resp.StatusCode)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// defaultCode names a bodiless error response (HEAD) by its status.
func defaultCode(status int) string {
	switch status {
	case 400:
		return "BadRequest"
	case 403:
		return "AccessDenied"
	case 404:
		return "NotFound"
	case 405:
		return "MethodNotAllowed"
	case 409:
		return "Conflict"
	case 412:
		return "PreconditionFailed"
	case 416:
		return "InvalidRange"
	case 503:
		return "ServiceUnavailable"
	}
	if status >= 500 {
		return "InternalError"
	}
	return ""
}

// prefixed returns the dialect-prefixed header name for suffix.
func (c *Client) prefixed(suffix string) string { return c.cfg.Signature.headerPrefix() + suffix }

// setSSE adds SSE request headers. kms says whether SSE-KMS headers belong
// on this request (Initiate, Put, Copy destination); SSE-C headers always do.
func (c *Client) setSSE(h http.Header, s SSE, kms bool) {
	if kms && s.SseKms != "" {
		h.Set(c.prefixed("server-side-encryption"), c.cfg.Signature.kmsValue())
		if s.SseKmsKey != "" {
			if c.cfg.Signature == SignatureOBS {
				h.Set("x-obs-server-side-encryption-kms-key-id", s.SseKmsKey)
			} else {
				h.Set("x-amz-server-side-encryption-aws-kms-key-id", s.SseKmsKey)
			}
		}
	}
	if s.SseC != "" {
		c.setSSEC(h, "", s.SseC, s.SseCKey)
	}
}

// setSSEC adds SSE-C headers; infix is "" or "copy-source-".
func (c *Client) setSSEC(h http.Header, infix, alg, key string) {
	raw, _ := base64.StdEncoding.DecodeString(key)
	sum := md5.Sum(raw)
	h.Set(c.prefixed(infix+"server-side-encryption-customer-algorithm"), alg)
	h.Set(c.prefixed(infix+"server-side-encryption-customer-key"), key)
	h.Set(c.prefixed(infix+"server-side-encryption-customer-key-MD5"), base64.StdEncoding.EncodeToString(sum[:]))
}

// SSEResult is the encryption a response confirms.
type SSEResult struct {
	SseKms     string // "kms" when the data is KMS-encrypted
	SseKmsKey  string
	SseC       string // "AES256" when SSE-C was applied
	SseCKeyMD5 string
}

func (c *Client) sseResult(h http.Header) SSEResult {
	var r SSEResult
	alg := firstHeader(h, "x-obs-server-side-encryption", "x-amz-server-side-encryption")
	if alg == "kms" || alg == "aws:kms" {
		r.SseKms = "kms"
		r.SseKmsKey = firstHeader(h, "x-obs-server-side-encryption-kms-key-id", "x-amz-server-side-encryption-aws-kms-key-id")
	}
	r.SseC = firstHeader(h, "x-obs-server-side-encryption-customer-algorithm", "x-amz-server-side-encryption-customer-algorithm")
	r.SseCKeyMD5 = firstHeader(h, "x-obs-server-side-encryption-customer-key-MD5", "x-amz-server-side-encryption-customer-key-MD5")
	return r
}

// encrypted reports whether a response says the data is server-side
// encrypted in a way that makes the ETag something other than the MD5.
func (c *Client) encrypted(h http.Header) bool {
	r := c.sseResult(h)
	return r.SseKms != "" || r.SseC != ""
}

// checkETag verifies that an unencrypted upload's ETag is the hex MD5 of
// what was sent.
func checkETag(op, etag, md5b64 string) error {
	raw, err := base64.StdEncoding.DecodeString(md5b64)
	if err != nil {
		return nil // the caller gave a malformed MD5; the server judged it
	}
	want := fmt.Sprintf("%x", raw)
	if !strings.EqualFold(trimETag(etag), want) {
		return fmt.Errorf("obs %s: %w: ETag %s, sent Content-MD5 hex %s", op, ErrChecksumMismatch, etag, want)
	}
	return nil
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

// metaHeaders adds user metadata with the dialect prefix. Names are
// lowercased (HTTP headers are case-insensitive); values must be
// printable ASCII, which the caller enforces (see ValidateMetadata).
func (c *Client) metaHeaders(h http.Header, meta map[string]string) {
	for k, v := range meta {
		h.Set(c.cfg.Signature.MetaPrefix()+strings.ToLower(k), v)
	}
}

// ValidateMetadata checks user metadata: names are non-empty tokens of
// letters, digits, '-' and '_'; values are printable ASCII; the total stays
// within the 8 KB OBS limit.
func ValidateMetadata(meta map[string]string) error {
	total := 0
	for k, v := range meta {
		if k == "" {
			return invalid("metadata name is empty")
		}
		for i := 0; i < len(k); i++ {
			ch := k[i]
			if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_') {
				return invalid("metadata name %q may contain only letters, digits, '-' and '_'", k)
			}
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return invalid("metadata %q value must be printable ASCII", k)
			}
		}
		total += len(k) + len(v)
	}
	if total > 8*1024 {
		return invalid("metadata of %d bytes exceeds 8 KB", total)
	}
	return nil
}

// metadataFrom extracts user metadata (names lowercased, prefix removed)
// from response headers of either dialect.
func metadataFrom(h http.Header) map[string]string {
	var m map[string]string
	for k, vs := range h {
		lk := strings.ToLower(k)
		var name string
		switch {
		case strings.HasPrefix(lk, "x-obs-meta-"):
			name = lk[len("x-obs-meta-"):]
		case strings.HasPrefix(lk, "x-amz-meta-"):
			name = lk[len("x-amz-meta-"):]
		default:
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = strings.Join(vs, ",")
	}
	return m
}
