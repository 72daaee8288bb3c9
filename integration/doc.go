// Package integration holds the tests and benchmarks that run obsclient
// against a real MinIO started by integration/miniotest: every API the
// filesystem uses, round-tripped and read back, in both AWS signature
// dialects, with awkward keys, with SSE-C and SSE-KMS over HTTPS, and the
// pagination of every listing.
//
// The package has no code of its own; see obsclient_test.go and
// obsclient_bench_test.go. MinIO is started once per server configuration
// (miniotest.Shared) and stopped by TestMain. Under CI=true a test that
// cannot get MinIO fails; otherwise it is skipped with the reason. With
// -short (make unit) the tests that need MinIO are skipped and say so;
// `make integration` runs them.
//
// The OBS-native signature dialect is not exercised here, because MinIO
// does not speak it; it is tested against the golden vectors of
// shared/reference/obs-protocol.md §9 in package obsclient.
package integration
