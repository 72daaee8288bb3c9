// Package miniotest starts real MinIO servers for tests: the pinned MinIO
// binary, on 127.0.0.1, with a fresh data directory and random credentials,
// over HTTP or HTTPS, with or without a static SSE-KMS key.
//
// Typical use:
//
//	func TestPutGet(t *testing.T) {
//		s := miniotest.Start(t, miniotest.Options{TLS: true})
//		c := s.Client(t, nil)
//		bucket := s.Bucket(t, t.Name())
//		...
//	}
//
// or, to share one server per Options value among the tests of a package,
// Shared(t, opts) plus a TestMain that calls StopShared after m.Run.
//
// Guarantees:
//
//   - The binary is the pinned MinIO version (see Version and Binary); it is
//     built once per machine into the obsfs cache directory when missing,
//     under a file lock, so parallel test binaries never build it twice.
//   - A server returned by Start or Shared has answered GET
//     /minio/health/live with 200 (without the "not initialized" status
//     header) and an authenticated request signed with its credentials, so
//     it is ours, not another process on a reused port, and ready for S3
//     calls.
//   - Each server has its own free port, its own data directory and its own
//     credentials; nothing is shared with the user's ~/.minio or MINIO_*
//     environment. With TLS the certificate is fresh and self-signed for
//     127.0.0.1, and clients trust it through Server.CAPool (verification is
//     never turned off). AWS_CA_BUNDLE and proxy variables do not matter.
//   - Start registers a cleanup that stops the server (SIGTERM, then SIGKILL
//     after 10s) and removes its data directory, including MinIO's trash.
//     StopShared does the same for shared servers. On Linux the server is
//     also killed if the test binary dies.
//   - MinIO always runs with MINIO_CI_CD=1, so it behaves the same locally
//     and in CI (MinIO itself changes its memory pool and disk checks when
//     CI is set).
//
// The CI rule (STYLE.md rule 21): a test that needs MinIO and cannot get it
// fails when the environment variable CI is "true" or "1", and is skipped
// otherwise with a message saying that `make minio` builds the binary.
// RequireCI is the single place that implements the rule; Binary, Start and
// Shared use it. Once the binary exists, a server that fails to start is
// always a test failure, with the tail of the MinIO log in the message.
package miniotest
