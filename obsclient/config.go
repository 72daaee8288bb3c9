package obsclient

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Signature selects the request-signing dialect.
type Signature string

const (
	// SignatureOBS is the native OBS header signature: "OBS AK:sig",
	// HMAC-SHA1, x-obs- headers.
	SignatureOBS Signature = "obs"
	// SignatureV2 is AWS Signature V2: "AWS AK:sig", HMAC-SHA1, x-amz-
	// headers. OBS and MinIO accept it.
	SignatureV2 Signature = "v2"
	// SignatureV4 is AWS Signature V4 with x-amz-content-sha256:
	// UNSIGNED-PAYLOAD (the only payload mode OBS accepts).
	SignatureV4 Signature = "v4"
)

// ParseSignature parses "obs", "v2" or "v4" (case-insensitive).
func ParseSignature(s string) (Signature, error) {
	switch Signature(strings.ToLower(strings.TrimSpace(s))) {
	case SignatureOBS:
		return SignatureOBS, nil
	case SignatureV2:
		return SignatureV2, nil
	case SignatureV4:
		return SignatureV4, nil
	}
	return "", fmt.Errorf("%w: unknown signature %q (want obs, v2 or v4)", ErrInvalidArgument, s)
}

// headerPrefix is the prefix of every extension header in this dialect.
func (s Signature) headerPrefix() string {
	if s == SignatureOBS {
		return "x-obs-"
	}
	return "x-amz-"
}

// MetaPrefix is the prefix of user-metadata headers in this dialect
// ("x-obs-meta-" or "x-amz-meta-").
func (s Signature) MetaPrefix() string { return s.headerPrefix() + "meta-" }

// kmsValue is the wire value of the SSE-KMS algorithm in this dialect.
func (s Signature) kmsValue() string {
	if s == SignatureOBS {
		return "kms"
	}
	return "aws:kms"
}

// Addressing selects how the bucket appears in request URLs.
type Addressing int

const (
	// AddressingAuto uses path style for IP-literal and localhost endpoints
	// and virtual-hosted style otherwise (as the OBS SDKs do).
	AddressingAuto Addressing = iota
	// AddressingPath puts the bucket in the path: https://host/bucket/key.
	AddressingPath
	// AddressingVirtualHost puts the bucket in the host name:
	// https://bucket.host/key. OBS public endpoints require it.
	AddressingVirtualHost
)

// RetryPolicy bounds the retries of one logical request.
//
// MaxElapsed is one time window around the whole request: every attempt,
// the waits between them, and the attempt running when it expires (it is
// cut off), and, for a response whose body the caller reads after the call
// returned (GetObject), the reading of that body until it is closed. Within
// the window, retryable failures (network errors, resets, timeouts, stalls,
// 408/429/500/502/503/504, SlowDown...) are retried with full-jitter
// exponential backoff, as often as the window allows unless MaxAttempts
// caps them.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, including the first:
	// 1 disables retries, UnlimitedAttempts (the default) retries for as
	// long as the window lasts.
	MaxAttempts int
	// BaseDelay is the backoff cap of the first retry; it doubles per retry
	// up to MaxDelay. The actual sleep is uniform in [0, cap) (full jitter).
	// Defaults 200ms and 10s.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxElapsed is the request's time window, counted from the start of
	// its first attempt. Default 3 minutes.
	MaxElapsed time.Duration
}

// UnlimitedAttempts as RetryPolicy.MaxAttempts retries a request for as
// long as its window (MaxElapsed) lasts.
const UnlimitedAttempts = -1

// StallPolicy configures the stall deadline: an attempt whose response has
// not begun, or whose request or response body has moved no byte, within
// the deadline is abandoned (its connection closed) and retried at once. A
// response body the caller reads after the call returned fails the read
// with an error wrapping ErrStalled instead.
//
// The deadline of an operation kind (the API: GetObject, UploadPart...) is
// 8 times the 90th percentile of the time to first response byte of its
// last 64 attempts, within [Floor, Max]; until 8 of the kind are known, the
// same of the last 64 attempts of any kind, or Initial until 8 of those are
// known. A stall counts as an attempt that took the deadline.
// InitiateMultipartUpload, whose abandoned attempt may leave an unused
// upload behind, gets at least Initial. It doubles after each
// stall of the same request, up to Max. CompleteMultipartUpload,
// CopyObject, UploadPartCopy and DeleteObjects, slow by nature, have no
// stall deadline: ResponseHeaderTimeout and IOTimeout bound them. A
// Complete whose response has not begun after the same deadline computed
// from Complete's own latencies, at least DefaultHedgeFloor (3 s), is
// hedged instead: a second identical Complete goes out on another
// connection while the first keeps waiting, and the first success is used
// (hedge.go). Small idempotent requests (HEAD, GET until its headers,
// listings, PutObject and UploadPart of at most 16 MiB, DeleteObject) are
// hedged too, before their deadline: after 4 times their kind's p90, or
// half the deadline while no p90 is known, at least DefaultSmallHedgeFloor
// (500 ms), plus 1 s per 4 MiB of request body (not at all if that reaches
// the deadline), a second identical request goes out and the first answer
// is used; the deadline stays the backstop. At most 8 such hedges are in
// flight per client (hedgesmall.go). Disabled turns hedging off as well.
type StallPolicy struct {
	// Disabled turns stall detection off: only ResponseHeaderTimeout and
	// IOTimeout bound an attempt.
	Disabled bool
	// Floor is the least deadline. Default 1s: a local store on a loaded
	// machine may pause for a second, and a spurious retry costs little.
	Floor time.Duration
	// Max is the largest deadline. Default 60s.
	Max time.Duration
	// Initial is the deadline while fewer than 8 latencies are known.
	// Default 10s.
	//
	// A pause in sending a request (no byte of it taken by the store) is a
	// stall after twice the learned deadline, at least 2 Floors, or after
	// Initial until a deadline is learned; doubled per stall likewise.
	Initial time.Duration
}

// Config configures a Client. The zero value is not usable: Endpoint,
// AccessKey and SecretKey are required. New applies the defaults documented
// on each field and refuses invalid values; it never clamps silently.
type Config struct {
	// Endpoint is the service address: "https://obs.cn-north-4.myhuaweicloud.com",
	// "http://127.0.0.1:9000" or a bare host[:port] (the scheme then
	// defaults to https). It must not contain a path or a query.
	Endpoint string
	// Region is signed into V4 requests. Default "us-east-1".
	Region string

	AccessKey     string
	SecretKey     string
	SecurityToken string // temporary credentials; sent as x-obs/x-amz-security-token

	// Signature is the signing dialect. Default SignatureV4.
	Signature Signature
	// Addressing is path style vs virtual-hosted. Default AddressingAuto.
	Addressing Addressing

	// TLS: certificates are verified against the system pool, or RootCAs if
	// set. InsecureSkipVerify turns verification off (never the default).
	RootCAs            *x509.CertPool
	InsecureSkipVerify bool

	// ConnectTimeout bounds TCP connect and TLS handshake. Default 10s.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request (including its body) has been written. Default 60s.
	ResponseHeaderTimeout time.Duration
	// IOTimeout fails an attempt whose connection makes no progress (no
	// byte read or written) for this long, so a stalled transfer is retried
	// instead of hanging. Default 60s.
	IOTimeout time.Duration
	// MaxIdleConnsPerHost sizes the keep-alive pool. It should be at least
	// the number of requests the caller keeps in flight. Default 128.
	MaxIdleConnsPerHost int

	// Retry is the retry policy; zero fields take defaults.
	Retry RetryPolicy
	// Stall is the stall deadline policy; zero fields take defaults.
	Stall StallPolicy

	// Logger receives debug traces and retry warnings. Default: a logger
	// that discards everything.
	Logger *logrus.Entry

	// Now is the clock used for signing. Default time.Now.
	Now func() time.Time

	// Transport replaces the HTTP transport (tests, proxies). When set, the
	// TLS and timeout fields above that configure a transport are ignored.
	Transport http.RoundTripper

	// UserAgent is sent with every request. Default "obsfs-obsclient/1".
	UserAgent string

	// Observer, if set, is told about every attempt (observe.go).
	Observer Observer
}

// Defaults for Config.
const (
	DefaultRegion                = "us-east-1"
	DefaultConnectTimeout        = 10 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultIOTimeout             = 60 * time.Second
	DefaultMaxIdleConnsPerHost   = 128
	DefaultMaxAttempts           = UnlimitedAttempts
	DefaultBaseDelay             = 200 * time.Millisecond
	DefaultMaxDelay              = 10 * time.Second
	DefaultMaxElapsed            = 3 * time.Minute
	DefaultUserAgent             = "obsfs-obsclient/1"
	DefaultStallFloor            = time.Second
	DefaultStallMax              = 60 * time.Second
	DefaultStallInitial          = 10 * time.Second
)

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Signature == "" {
		c.Signature = SignatureV4
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if c.IOTimeout == 0 {
		c.IOTimeout = DefaultIOTimeout
	}
	if c.MaxIdleConnsPerHost == 0 {
		c.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = DefaultMaxAttempts
	}
	if c.Retry.BaseDelay == 0 {
		c.Retry.BaseDelay = DefaultBaseDelay
	}
	if c.Retry.MaxDelay == 0 {
		c.Retry.MaxDelay = DefaultMaxDelay
	}
	if c.Retry.MaxElapsed == 0 {
		c.Retry.MaxElapsed = DefaultMaxElapsed
	}
	if c.Stall.Floor == 0 {
		c.Stall.Floor = DefaultStallFloor
	}
	if c.Stall.Max == 0 {
		c.Stall.Max = max(DefaultStallMax, c.Stall.Floor)
	}
	if c.Stall.Initial == 0 {
		c.Stall.Initial = min(max(DefaultStallInitial, c.Stall.Floor), c.Stall.Max)
	}
	if c.Logger == nil {
		l := logrus.New()
		l.Out = io.Discard
		c.Logger = logrus.NewEntry(l)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return c
}

// Validate reports the first problem with c (after defaults are applied), or
// nil. Its messages never contain secrets.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, err := parseEndpoint(c.Endpoint); err != nil {
		return err
	}
	if c.AccessKey == "" {
		return fmt.Errorf("%w: access key is empty", ErrInvalidArgument)
	}
	if c.SecretKey == "" {
		return fmt.Errorf("%w: secret key is empty", ErrInvalidArgument)
	}
	if strings.ContainsAny(c.AccessKey, ":\r\n ") {
		return fmt.Errorf("%w: access key contains a colon, space or newline", ErrInvalidArgument)
	}
	if strings.ContainsAny(c.SecurityToken, "\r\n") {
		return fmt.Errorf("%w: security token contains a newline", ErrInvalidArgument)
	}
	if _, err := ParseSignature(string(c.Signature)); err != nil {
		return err
	}
	if c.Addressing < AddressingAuto || c.Addressing > AddressingVirtualHost {
		return fmt.Errorf("%w: unknown addressing mode %d", ErrInvalidArgument, c.Addressing)
	}
	if strings.ContainsAny(c.Region, "/ \r\n") {
		return fmt.Errorf("%w: region %q contains a slash, space or newline", ErrInvalidArgument, c.Region)
	}
	switch {
	case c.ConnectTimeout < 0:
		return fmt.Errorf("%w: negative connect timeout", ErrInvalidArgument)
	case c.ResponseHeaderTimeout < 0:
		return fmt.Errorf("%w: negative response header timeout", ErrInvalidArgument)
	case c.IOTimeout < 0:
		return fmt.Errorf("%w: negative I/O timeout", ErrInvalidArgument)
	case c.MaxIdleConnsPerHost < 0:
		return fmt.Errorf("%w: negative connection pool size", ErrInvalidArgument)
	case c.Retry.MaxAttempts < 1 && c.Retry.MaxAttempts != UnlimitedAttempts:
		return fmt.Errorf("%w: retry max attempts %d: want at least 1, or UnlimitedAttempts", ErrInvalidArgument, c.Retry.MaxAttempts)
	case c.Retry.BaseDelay < 0 || c.Retry.MaxDelay < 0 || c.Retry.MaxElapsed < 0:
		return fmt.Errorf("%w: negative retry delay", ErrInvalidArgument)
	case c.Retry.BaseDelay > c.Retry.MaxDelay:
		return fmt.Errorf("%w: retry base delay %v exceeds max delay %v", ErrInvalidArgument, c.Retry.BaseDelay, c.Retry.MaxDelay)
	case c.Stall.Floor < 0 || c.Stall.Max < 0 || c.Stall.Initial < 0:
		return fmt.Errorf("%w: negative stall deadline", ErrInvalidArgument)
	case c.Stall.Floor > c.Stall.Max || c.Stall.Initial < c.Stall.Floor || c.Stall.Initial > c.Stall.Max:
		return fmt.Errorf("%w: stall deadlines: want Floor %v <= Initial %v <= Max %v", ErrInvalidArgument, c.Stall.Floor, c.Stall.Initial, c.Stall.Max)
	}
	return nil
}

// endpoint is a parsed Config.Endpoint.
type endpoint struct {
	scheme string // "http" or "https"
	host   string // host[:port] as given (port omitted when default)
	hostIP bool   // host is an IP literal or localhost
}

func parseEndpoint(s string) (endpoint, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return endpoint{}, fmt.Errorf("%w: endpoint is empty", ErrInvalidArgument)
	}
	if strings.Contains(s, "@") {
		// User info may carry credentials: refuse without echoing it.
		return endpoint{}, fmt.Errorf("%w: endpoint must not contain user info (set AccessKey/SecretKey instead)", ErrInvalidArgument)
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("%w: endpoint %q: %v", ErrInvalidArgument, s, errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("%w: endpoint %q: scheme must be http or https", ErrInvalidArgument, s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return endpoint{}, fmt.Errorf("%w: endpoint %q has no host", ErrInvalidArgument, s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return endpoint{}, fmt.Errorf("%w: endpoint %q must be scheme://host[:port] without path, query or user", ErrInvalidArgument, s)
	}
	host := u.Host
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = u.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	name := u.Hostname()
	isIP := net.ParseIP(name) != nil || name == "localhost"
	return endpoint{scheme: u.Scheme, host: host, hostIP: isIP}, nil
}
