package miniotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Module and Version name the pinned MinIO release (keep in step with the
// Makefile's MINIO_MODULE and MINIO_VERSION).
const (
	Module  = "github.com/minio/minio"
	Version = "v0.0.0-20260212201848-7aac2a2c5b7c"
)

// EnvBinary is the environment variable naming the MinIO binary to use. The
// Makefile exports it.
const EnvBinary = "OBSFS_MINIO_BIN"

// Build limits: go install of MinIO takes about 2 minutes on a warm machine.
const (
	buildTimeout = 10 * time.Minute
	// lockTimeout bounds the wait for another process's build.
	lockTimeout = buildTimeout + 2*time.Minute
)

// bin caches the outcome of the first lookup in this test binary, so that a
// failed build is not retried by every test.
var bin struct {
	mu   sync.Mutex
	done bool
	path string
	err  error
}

// Binary returns the path of the pinned MinIO binary: $OBSFS_MINIO_BIN if
// it is set and names an executable file, else
// <cache>/minio-<Version>/bin/minio where <cache> is $XDG_CACHE_HOME/obsfs
// or $HOME/.cache/obsfs. If that is missing too it builds it there with go
// install (once per machine, under a file lock; this takes minutes).
//
// If it cannot get the binary it ends the test through RequireCI: a failure
// under CI, a skip otherwise.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := binary(t.Logf)
	if err != nil {
		RequireCI(t, "miniotest: no MinIO binary: %v (`make minio` builds it)", err)
	}
	return path
}

// binary is Binary without the testing.TB: the path or why there is none.
func binary(logf func(string, ...any)) (string, error) {
	bin.mu.Lock()
	defer bin.mu.Unlock()
	if !bin.done {
		bin.path, bin.err = locateOrBuild(logf)
		bin.done = true
	}
	return bin.path, bin.err
}

// DefaultBinaryPath is where the Makefile and Binary put the pinned binary.
func DefaultBinaryPath() (string, error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no XDG_CACHE_HOME and no home directory: %w", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "obsfs", "minio-"+Version, "bin", "minio"), nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func locateOrBuild(logf func(string, ...any)) (string, error) {
	env := os.Getenv(EnvBinary)
	if env != "" && isExecutable(env) {
		return env, nil
	}
	path, err := DefaultBinaryPath()
	if err != nil {
		return "", err
	}
	if isExecutable(path) {
		return path, nil
	}
	if env != "" && env != path {
		logf("miniotest: $%s=%s is not an executable file; using %s", EnvBinary, env, path)
	}
	if err := build(path, logf); err != nil {
		return "", fmt.Errorf("building MinIO %s into %s: %w", Version, path, err)
	}
	return path, nil
}

// build installs the pinned MinIO as path. It holds an exclusive flock on
// a file next to the binary's directory while it checks and builds, so
// concurrent test binaries wait for one build instead of racing. The binary
// is built into a temporary directory and renamed into place, so path never
// names a partial file.
func build(path string, logf func(string, ...any)) error {
	binDir := filepath.Dir(path)
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(filepath.Dir(binDir), "build.lock"), lockTimeout, logf)
	if err != nil {
		return err
	}
	defer unlock()
	if isExecutable(path) { // another process built it while we waited
		return nil
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not on PATH: %w", err)
	}
	tmpBin, err := os.MkdirTemp(binDir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpBin)
	// Run outside any module so that the project's go.mod and a go.work
	// cannot influence the build.
	workDir, err := os.MkdirTemp("", "miniotest-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workDir)

	logf("miniotest: building MinIO %s into %s (about 2 minutes the first time)", Version, binDir)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "install", Module+"@"+Version)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "GOBIN="+tmpBin, "GOFLAGS=-mod=mod", "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w after %v", ctx.Err(), buildTimeout)
		}
		return fmt.Errorf("go install %s@%s: %w\n%s", Module, Version, err, tail(out.Bytes(), 4096))
	}
	if err := os.Rename(filepath.Join(tmpBin, "minio"), path); err != nil {
		return err
	}
	logf("miniotest: built MinIO in %v", time.Since(start).Round(time.Second))
	return nil
}

// lockFile takes an exclusive flock on name, waiting up to timeout, and
// returns the function that releases it.
func lockFile(name string, timeout time.Duration, logf func(string, ...any)) (unlock func(), err error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", name, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("locking %s: still held by another build after %v", name, timeout)
		}
		if !logged {
			logf("miniotest: waiting for another process building MinIO (lock %s)", name)
			logged = true
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// tail returns the last n bytes of b as a string.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
