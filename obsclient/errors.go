package obsclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// ErrInvalidArgument is wrapped by every error the client returns for input
// it refuses before sending a request.
var ErrInvalidArgument = errors.New("obsclient: invalid argument")

// ErrChecksumMismatch is wrapped when a response contradicts what was sent:
// an ETag that is not the MD5 of an unencrypted part or object, or a
// response missing the confirmation it must carry.
var ErrChecksumMismatch = errors.New("obsclient: checksum mismatch")

// ErrStalled is wrapped by the failure of an attempt whose response did
// not begin, or whose request or response body moved no byte, within the
// stall deadline (see StallPolicy). The client retries such attempts itself;
// a caller sees it when reading a response body it kept (GetObject's Body)
// stops: the read fails with an error wrapping ErrStalled and the
// connection is closed, and the caller may fetch the rest again. Such an
// error is retryable (IsRetryable).
var ErrStalled = errors.New("obsclient: stalled")

// RetryError is returned when a request that failed in a retryable way
// stops being retried: its retry window (RetryPolicy.MaxElapsed) ended,
// its attempts (RetryPolicy.MaxAttempts) ran out, or the caller's context
// ended. It wraps the caller's ctx.Err() (when that is why) and the last
// failure, so errors.Is(err, context.Canceled), AsError and RequestID see
// through it. IsRetryable reports false for it: the client has already
// retried for as long as it was allowed to.
type RetryError struct {
	Op       string        // the API, e.g. "UploadPart"
	Attempts int           // attempts started
	Elapsed  time.Duration // since the first attempt began
	// Window is the retry window when its end stopped the request, else 0.
	Window time.Duration
	// Cut names what the end of the window interrupted ("an attempt", "the
	// response body"), "" if it came between attempts.
	Cut string
	// Ctx is the caller's ctx.Err() when the caller's context ended.
	Ctx error
	// Last is the last failure of an attempt; nil if none had failed.
	Last error
}

func (e *RetryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "obs %s: ", e.Op)
	switch {
	case e.Ctx != nil:
		fmt.Fprintf(&b, "%v after %d attempts in %v", e.Ctx, e.Attempts, e.Elapsed.Round(time.Millisecond))
	case e.Window > 0:
		fmt.Fprintf(&b, "gave up after retrying for %v (%d attempts, retry window %v)", e.Elapsed.Round(time.Millisecond), e.Attempts, e.Window)
		if e.Cut != "" {
			fmt.Fprintf(&b, "; the window ended during %s", e.Cut)
		}
	default:
		fmt.Fprintf(&b, "gave up after %d attempts in %v", e.Attempts, e.Elapsed.Round(time.Millisecond))
	}
	if e.Last != nil {
		fmt.Fprintf(&b, "; last failure: %v", e.Last)
	}
	return b.String()
}

func (e *RetryError) Unwrap() []error {
	var errs []error
	if e.Ctx != nil {
		errs = append(errs, e.Ctx)
	}
	if e.Last != nil {
		errs = append(errs, e.Last)
	}
	return errs
}

// Error is a failure reported by the service: its status, error code and
// message, and the IDs that locate the request in the service's logs. It is
// built from the status line, the XML <Error> body (which may arrive inside a
// 200 response) and the response headers of either dialect.
type Error struct {
	Status    int    // HTTP status code (200 for an error inside a 200 body)
	Code      string // e.g. "NoSuchKey", "BadDigest"
	Message   string
	HostID    string
	RequestID string // x-obs-request-id / x-amz-request-id, or <RequestId>
	ID2       string // x-obs-id-2 / x-amz-id-2
	Indicator string // x-reserved-indicator (OBS detailed error code)
	Resource  string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "obs: status %d", e.Status)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	if e.Indicator != "" {
		b.WriteString(" (indicator ")
		b.WriteString(e.Indicator)
		b.WriteString(")")
	}
	return b.String()
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Code returns the service error code in err's chain, or "".
func Code(err error) string {
	if e := AsError(err); e != nil {
		return e.Code
	}
	return ""
}

// RequestID returns the request ID of the service error in err's chain, or "".
func RequestID(err error) string {
	if e := AsError(err); e != nil {
		return e.RequestID
	}
	return ""
}

// IsNotFound reports whether err says the bucket, key, version or upload
// does not exist.
func IsNotFound(err error) bool {
	e := AsError(err)
	if e == nil {
		return false
	}
	switch e.Code {
	case "NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NoSuchVersion":
		return true
	}
	return e.Status == 404
}

// IsNoSuchUpload reports whether err says the multipart upload does not
// exist (it was completed or aborted).
func IsNoSuchUpload(err error) bool { return Code(err) == "NoSuchUpload" }

// IsPreconditionFailed reports a failed If-Match / copy-source-if-match.
func IsPreconditionFailed(err error) bool {
	e := AsError(err)
	return e != nil && (e.Status == 412 || e.Code == "PreconditionFailed")
}

// IsAccessDenied reports a 403 from the service (bad credentials, missing
// permission, clock skew).
func IsAccessDenied(err error) bool {
	e := AsError(err)
	return e != nil && e.Status == 403
}

// retryableCodes are service codes worth another attempt whatever the status.
var retryableCodes = map[string]bool{
	"RequestTimeout":     true,
	"SlowDown":           true,
	"InternalError":      true,
	"ServiceUnavailable": true,
	"OperationAborted":   true,
}

// IsRetryable reports whether another attempt of the same request may
// succeed: network failures, stalls (ErrStalled), 408/429/500/502/503/504
// and the codes RequestTimeout, SlowDown, InternalError, ServiceUnavailable
// and OperationAborted. Cancellation of the caller's context is not
// retryable, nor is a *RetryError: the client has retried already.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var re *RetryError
	if errors.As(err, &re) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrStalled) {
		return true
	}
	// Problems no retry can fix: an unknown host, a certificate that does
	// not verify.
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return false
	}
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	if errors.As(err, &certErr) || errors.As(err, &hostErr) || errors.As(err, &authErr) {
		return false
	}
	// A timeout of one attempt (dial, TLS handshake, response headers) is
	// worth another; the caller's own deadline is checked by the caller
	// (Client.do stops when its ctx is done).
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && ne != context.DeadlineExceeded {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrInvalidArgument) {
		return false
	}
	if e := AsError(err); e != nil {
		if retryable, ok := retryableCodes[e.Code]; ok {
			return retryable
		}
		switch e.Status {
		case 408, 429, 500, 502, 503, 504:
			return true
		}
		return false
	}
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var te *transportError
	return errors.As(err, &te)
}

// transportError marks a failure to get a complete response (connection
// reset, truncated body, malformed response); it is always retryable.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }
