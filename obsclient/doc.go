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
//   - Idempotent requests are retried on network errors, stalls, 408/429/5xx
//     and the retryable error codes with full-jitter exponential backoff; the
//     body is rewound and the request re-signed on every attempt. Complete is
//     retried only after the client has established that the previous
//     attempt did not take effect.
//   - One time window per logical request (RetryPolicy.MaxElapsed) bounds
//     all its attempts, the waits between them, the attempt running when it
//     ends, and the reading of a response body the caller keeps (GetObject)
//     until it is closed. Within it attempts are unlimited by default. When
//     retrying stops the error is a *RetryError wrapping the last failure
//     (request ID included); when the caller's context ends the call returns
//     at once, wrapping ctx.Err() and the last failure.
//   - A stalled attempt costs less than its timeout (StallPolicy): one whose
//     response has not begun well past the recent latency of its kind is
//     abandoned and retried on another connection; a kept response body
//     that stops flowing fails the read with ErrStalled. A Complete, which
//     may legitimately take long, is hedged instead: a second identical
//     Complete is sent while the first keeps waiting, and the first
//     success is used. Small idempotent requests (HEAD, GET, listings,
//     PutObject, UploadPart, DeleteObject) get such a hedge well before
//     their deadline, so that a stall costs a fraction of a second.
//   - Secrets (secret key, security token, SSE-C keys, Authorization) never
//     appear in logs or error strings.
//
// A *Client is safe for concurrent use by many goroutines. Config.Observer
// (observe.go) hears every attempt, for metrics, without this package
// depending on a metrics library.
//
// Tests of code that consumes the client should not use it directly: the
// packages that need a store define the interface they consume (for example
// writeback.Store) and test against the in-memory fake in package
// obsclient/obsfake, which has fault hooks. The client itself is tested with
// golden signature vectors and against a real MinIO (see integration/).
package obsclient
