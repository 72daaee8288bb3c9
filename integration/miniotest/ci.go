package miniotest

import (
	"os"
	"strings"
	"testing"
)

// InCI reports whether the tests run in CI: the environment variable CI is
// "true" or "1" (case-insensitive).
func InCI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return strings.EqualFold(v, "true") || v == "1"
}

// RequireCI reports that a test cannot get something it needs (MinIO,
// FUSE, ...): under CI it fails the test with t.Fatalf, otherwise it skips
// it with t.Skipf. Either way it ends the test (runtime.Goexit).
func RequireCI(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true, so this is a failure, not a skip: "+format, args...)
		return
	}
	t.Skipf(format, args...)
}
