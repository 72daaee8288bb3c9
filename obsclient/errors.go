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
)

// ErrInvalidArgument is wrapped by every error the client returns for input
// it refuses before sending a request.
var ErrInvalidArgument = errors.New("obsclient: invalid argument")

// ErrChecksumMismatch is wrapped when a response contradicts what was sent:
// an ETag that is not the MD5 of an unencrypted part or object, or a
// response missing the confirmation it must carry.
var ErrChecksumMismatch = errors.New("obsclient: checksum mismatch")

// Error is a failure reported by the service: the seed's CommonMsg. It is
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
// succeed: network failures, 408/429/500/502/503/504 and the codes
// RequestTimeout, SlowDown, InternalError, ServiceUnavailable and
// OperationAborted. Cancellation of the caller's context is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
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
