package miniotest

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// shared holds the servers of Shared, one per Options value. A start
// failure is remembered so that later tests fail at once instead of
// waiting for their own timeout.
var shared struct {
	mu      sync.Mutex // held while a shared server starts
	servers map[Options]*Server
	errs    map[Options]error
}

// Shared returns the test binary's server for opts, starting it on first
// use. Tests that share a server must still use buckets of their own
// (Server.Bucket). The server outlives the test: the package's TestMain must
// call StopShared after m.Run, or the data directory is left behind:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		miniotest.StopShared()
//		os.Exit(code)
//	}
//
// Failures are handled as by Start. If the shared server has died, the
// test fails with the tail of its log.
func Shared(t testing.TB, opts Options) *Server {
	t.Helper()
	path := Binary(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if err := shared.errs[opts]; err != nil {
		t.Fatalf("miniotest: shared server %+v did not start earlier: %v", opts, err)
	}
	if s := shared.servers[opts]; s != nil {
		if s.Exited() {
			t.Fatalf("miniotest: shared MinIO at %s has exited (%v); log tail:\n%s", s.Endpoint, s.waitErr, s.LogTail(4096))
		}
		return s
	}
	s, err := start(path, opts, t.Logf)
	if err != nil {
		if shared.errs == nil {
			shared.errs = map[Options]error{}
		}
		shared.errs[opts] = err
		t.Fatalf("miniotest: shared server: %v", err)
	}
	if shared.servers == nil {
		shared.servers = map[Options]*Server{}
	}
	shared.servers[opts] = s
	return s
}

// StopShared stops every server started by Shared and removes their data
// directories. Call it from TestMain after m.Run. It returns the problems
// (a server that had died, a directory it could not remove) and also
// prints them on standard error, for callers that ignore the result. Later
// calls of Shared start new servers.
func StopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	var errs []error
	for opts, s := range shared.servers {
		if err := s.stop(); err != nil {
			err = fmt.Errorf("miniotest: stopping shared MinIO %+v at %s: %w", opts, s.Endpoint, err)
			fmt.Fprintln(os.Stderr, err)
			errs = append(errs, err)
		}
	}
	shared.servers, shared.errs = nil, nil
	return errors.Join(errs...)
}
