package obsclient

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Limits of the multipart protocol (reference §3.8).
const (
	MinPartNumber = 1
	MaxPartNumber = 10000
	// MinPartSize is the OBS minimum size of every part but the last
	// (100 KB). S3 and MinIO require 5 MiB; see MinPartSizeS3.
	MinPartSize = 100 * 1024
	// MinPartSizeS3 is the S3/MinIO minimum size of every part but the last.
	MinPartSizeS3 = 5 << 20
	// MaxPartSize is the maximum size of one part, and of one PutObject or
	// copy (5 GB).
	MaxPartSize = 5 << 30
	// DefaultUploadPartSize is the PartSize of an UploadPart from a
	// SourceFile when PartSize is 0: the smallest part (MinPartSize).
	DefaultUploadPartSize = 102400
	// MaxKeyLength is the maximum object key length in bytes.
	MaxKeyLength = 1024
	// MaxDeleteObjects is the maximum number of keys in one DeleteObjects.
	MaxDeleteObjects = 1000
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}

// ValidateBucketName checks the OBS bucket naming rules: 3–63 characters of
// lowercase letters, digits, hyphens and periods, starting with a letter or
// digit, not ending with a hyphen or period, no "..", ".-" or "-.", and not
// formatted as an IP address.
func ValidateBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return invalid("bucket name %q must be 3 to 63 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return invalid("bucket name %q may contain only lowercase letters, digits, hyphens and periods", b)
		}
	}
	if first, last := b[0], b[len(b)-1]; first == '-' || first == '.' || last == '-' || last == '.' {
		return invalid("bucket name %q must not start or end with a hyphen or period", b)
	}
	if strings.Contains(b, "..") {
		return invalid("bucket name %q must not contain two consecutive periods", b)
	}
	if strings.Contains(b, ".-") || strings.Contains(b, "-.") {
		return invalid("bucket name %q must not have a period next to a hyphen", b)
	}
	if ip := net.ParseIP(b); ip != nil || looksLikeIPv4(b) {
		return invalid("bucket name %q must not be formatted as an IP address", b)
	}
	return nil
}

// looksLikeIPv4 catches dotted quads that net.ParseIP refuses (leading
// zeros, out-of-range octets) but a server would still read as an address.
func looksLikeIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil || p == "" {
			return false
		}
	}
	return true
}

// ValidateKey checks an object key: 1 to 1024 bytes, no NUL.
func ValidateKey(k string) error {
	if k == "" {
		return invalid("object key is empty")
	}
	if len(k) > MaxKeyLength {
		return invalid("object key of %d bytes exceeds %d bytes", len(k), MaxKeyLength)
	}
	if strings.IndexByte(k, 0) >= 0 {
		return invalid("object key contains a NUL byte")
	}
	return nil
}

func validateBucketKey(bucket, key string) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	return ValidateKey(key)
}

func validatePartNumber(n int) error {
	if n < MinPartNumber || n > MaxPartNumber {
		return invalid("part number %d is outside %d..%d", n, MinPartNumber, MaxPartNumber)
	}
	return nil
}

func validateUploadID(id string) error {
	if id == "" {
		return invalid("upload ID is empty")
	}
	if strings.ContainsAny(id, "\x00\r\n") {
		return invalid("upload ID contains a control character")
	}
	return nil
}

func validateContentMD5(s string) error {
	if s == "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != md5.Size {
		return invalid("ContentMD5 %q is not the base64 of a 16-byte MD5", s)
	}
	return nil
}

// SSE holds the server-side-encryption parameters of a request: SSE-KMS
// or SSE-C, not both, and only over HTTPS (validate).
type SSE struct {
	// SseKms enables SSE-KMS: only "kms" is accepted (sent as "aws:kms" in
	// the V2/V4 dialects). SseKmsKey optionally names the master key.
	SseKms    string
	SseKmsKey string
	// SseC enables SSE-C: only "AES256" is accepted. SseCKey is the
	// base64 of the 256-bit key.
	SseC    string
	SseCKey string
}

func (s SSE) any() bool { return s.SseKms != "" || s.SseC != "" }

// validate checks the SSE fields; https says whether the endpoint is HTTPS.
func (s SSE) validate(https bool) error {
	if s.SseKms != "" && s.SseKms != "kms" {
		return invalid("SseKms %q: only \"kms\" is supported", s.SseKms)
	}
	if s.SseKmsKey != "" && s.SseKms == "" {
		return invalid("SseKmsKey is set without SseKms")
	}
	if s.SseKmsKey != "" && strings.ContainsAny(s.SseKmsKey, "\r\n") {
		return invalid("SseKmsKey contains a newline")
	}
	if s.SseC != "" && s.SseC != "AES256" {
		return invalid("SseC %q: only \"AES256\" is supported", s.SseC)
	}
	if (s.SseC == "") != (s.SseCKey == "") {
		return invalid("SseC and SseCKey must be set together")
	}
	if s.SseCKey != "" {
		raw, err := base64.StdEncoding.DecodeString(s.SseCKey)
		if err != nil || len(raw) != 32 {
			// Never echo the key itself.
			return invalid("SseCKey is not the base64 of a 256-bit key")
		}
	}
	if s.SseKms != "" && s.SseC != "" {
		return invalid("SseKms and SseC are mutually exclusive")
	}
	if s.any() && !https {
		return invalid("server-side encryption requires an HTTPS endpoint")
	}
	return nil
}
