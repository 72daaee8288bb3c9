// Package obsclient is a signed HTTP client for Huawei OBS and S3-compatible
// object stores (MinIO, Amazon S3, Ceph RGW).
//
// It speaks three signature dialects: the native OBS header signature
// ("OBS AK:sig", x-obs- headers), AWS Signature V2 ("AWS AK:sig", x-amz-
// headers) and AWS Signature V4 with UNSIGNED-PAYLOAD, which is the only
// payload mode OBS accepts. Every header the client sends carries the
// dialect's prefix.
//
// Guarantees:
//
//   - Every request is validated before it is sent (bucket and key naming,
//     part numbers, part sizes, SSE parameters); bad input returns an error
//     wrapping ErrInvalidArgument and nothing goes on the wire.
//   - Every request carrying a body sends Content-MD5; for unencrypted parts
//     and objects the returned ETag is checked against it.
//   - Failures of the service are returned as *Error, filled from the XML
//     body and the response headers of either dialect, including errors
//     that arrive inside a 200 response (CompleteMultipartUpload, copies).
//   - Idempotent requests are retried on network errors, 408/429/5xx and the
//     retryable error codes with full-jitter exponential backoff; the body is
//     rewound and the request re-signed on every attempt. Complete is retried
//     only after the client has established that the previous attempt did
//     not take effect.
//   - Secrets (secret key, security token, SSE-C keys, Authorization) never
//     appear in logs or error strings.
//
// A *Client is safe for concurrent use by many goroutines.
//
// Tests of code that consumes the client should not use it directly: the
// packages that need a store define the interface they consume (for example
// writeback.Store) and test against the in-memory fake in package
// obsclient/obsfake, which has fault hooks. The client itself is tested with
// golden signature vectors and against a real MinIO (see integration/).
package obsclient
