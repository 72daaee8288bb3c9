package writeback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/obsclient/obsfake"
)

// stallStore is the fake store with a store that stops answering: the
// operations named in stall hang until their context ends. GetObject
// bodies can be cut short, and UploadPart slowed down.
type stallStore struct {
	*obsfake.Store
	stall     map[string]bool // set before use
	partDelay time.Duration   // set before use: each UploadPart takes this long
	stalled   atomic.Int32    // calls hanging now
	cutBodies atomic.Int32    // the next n GetObject bodies fail half way
}

func newStallStore(ops ...string) *stallStore {
	s := &stallStore{Store: newFake(), stall: map[string]bool{}}
	for _, op := range ops {
		s.stall[op] = true
	}
	return s
}

func (s *stallStore) hang(ctx context.Context, op string) error {
	s.stalled.Add(1)
	defer s.stalled.Add(-1)
	<-ctx.Done()
	return fmt.Errorf("obs %s: %w", op, ctx.Err())
}

func (s *stallStore) UploadPart(ctx context.Context, in *obsclient.UploadPartInput) (*obsclient.UploadPartOutput, error) {
	if s.stall["UploadPart"] {
		return nil, s.hang(ctx, "UploadPart")
	}
	if s.partDelay > 0 {
		select {
		case <-time.After(s.partDelay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Store.UploadPart(ctx, in)
}

func (s *stallStore) GetObject(ctx context.Context, in *obsclient.GetObjectInput) (*obsclient.GetObjectOutput, error) {
	if s.stall["GetObject"] {
		return nil, s.hang(ctx, "GetObject")
	}
	out, err := s.Store.GetObject(ctx, in)
	if err == nil && s.cutBodies.Add(-1) >= 0 {
		out.Body = cutBody{io.LimitReader(out.Body, out.ContentLength/2), out.Body}
	}
	return out, err
}

// cutBody ends with a connection reset after its first bytes.
type cutBody struct {
	r io.Reader
	io.Closer
}

func (b cutBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = errors.New("read tcp: connection reset by peer")
	}
	return n, err
}

// within fails the test unless fn returns within limit (generous: the
// machine may be loaded) and returns fn's error.
func within(t *testing.T, limit time.Duration, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("%s did not return within %v", what, limit)
		return nil
	}
}

// eventually polls cond until it holds, failing the test after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFlushOfStalledStore: Flush returns its context's error as soon as
// the context ends; the commit goes on in the background, fails with
// ErrStalled once it has made no progress for CommitTimeout, and aborts
// its upload. The failure is sticky.
func TestFlushOfStalledStore(t *testing.T) {
	store := newStallStore("UploadPart")
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.CommitTimeout = 300 * time.Millisecond })
	f := m.Open("stalled/obj", Version{})
	writeAll(t, f, randBytes(rand.New(rand.NewPCG(5, 6)), 3*int(pageSize)+5), 64<<10)
	eventually(t, 10*time.Second, "parts stalled", func() bool { return store.stalled.Load() > 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := within(t, 10*time.Second, "Flush with a context ending", func() error { return f.Flush(ctx) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush returned %v, want its context's error", err)
	}
	eventually(t, 10*time.Second, "background commit failed", func() bool { return f.Err() != nil })
	if !errors.Is(f.Err(), ErrStalled) {
		t.Errorf("the commit failed with %v, want ErrStalled", f.Err())
	}
	eventually(t, 10*time.Second, "upload aborted", func() bool { return store.Uploads() == 0 && store.stalled.Load() == 0 })
	if _, ok := store.Object("stalled/obj"); ok {
		t.Error("an object appeared")
	}
	err = within(t, 10*time.Second, "Flush after the failure", func() error { return f.Flush(context.Background()) })
	if !errors.Is(err, ErrStalled) {
		t.Errorf("a later Flush returned %v, want the sticky ErrStalled", err)
	}
	if err := f.Close(); !errors.Is(err, ErrStalled) {
		t.Errorf("Close returned %v, want the sticky ErrStalled", err)
	}
}

// TestCommitDeadlineCountsProgress: a commit that keeps progressing may
// take longer than CommitTimeout in total.
func TestCommitDeadlineCountsProgress(t *testing.T) {
	store := newStallStore()
	store.partDelay = 50 * time.Millisecond // 20 parts, one at a time: ≥ 1s in all
	m := newTestManager(t, store, hostileCache{}, func(c *Config) {
		c.CommitTimeout, c.Concurrency, c.TierParts = 500*time.Millisecond, 1, 1000
	})
	data := randBytes(rand.New(rand.NewPCG(7, 8)), 20*int(pageSize))
	f := m.Open("slow/obj", Version{})
	start := time.Now()
	writeAll(t, f, data, int(pageSize))
	if err := f.Close(); err != nil {
		t.Fatalf("a commit that progressed failed after %v: %v", time.Since(start), err)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Logf("the upload took %v, less than the commit timeout: the test proves nothing on this machine", took)
	}
	if got, _ := store.Object("slow/obj"); !bytes.Equal(got, data) {
		t.Fatal("object differs")
	}
}

// TestWaitsEndWithTheirContext: a write waiting for write-buffer space
// and a read waiting for a running commit return their context's error
// when it ends.
func TestWaitsEndWithTheirContext(t *testing.T) {
	store := newStallStore("UploadPart")
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.WriteBuffer, c.TierParts = 2*pageSize, 1000 })
	f := m.Open("stalled/obj", Version{})
	defer f.Discard()
	writeAll(t, f, randBytes(rand.New(rand.NewPCG(9, 10)), 2*int(pageSize)), 64<<10) // two parts, stalled
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := within(t, 10*time.Second, "a write waiting for the write buffer", func() error {
		_, err := f.WriteAt(ctx, []byte("more"), 2*pageSize)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the write returned %v, want its context's error", err)
	}

	go f.Flush(context.Background()) // a commit waiting for the stalled parts
	eventually(t, 10*time.Second, "commit running", f.Committing)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = within(t, 10*time.Second, "a read waiting for the commit", func() error {
		_, err := f.ReadAt(ctx, make([]byte, 10), 0)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the read returned %v, want its context's error", err)
	}
}

// TestReadRetriesOnlyCutBodies: a read does not stack retries on the
// client's (a failed GET is one GET), but fetches again a body cut half
// way, up to maxBodyAttempts times.
func TestReadRetriesOnlyCutBodies(t *testing.T) {
	store := newStallStore()
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.PartSize = 4 * pageSize }) // one part: one GET
	data := randBytes(rand.New(rand.NewPCG(11, 12)), 3*int(pageSize))
	ver := commitObject(t, m, "read/obj", data)
	read := func() error {
		f := m.Open("read/obj", ver)
		defer f.Discard()
		buf := make([]byte, len(data))
		n, err := f.ReadAt(context.Background(), buf, 0)
		if err == nil && !bytes.Equal(buf[:n], data) {
			t.Fatal("read wrong bytes")
		}
		return err
	}
	gets := func() int { return store.Calls("GetObject") }

	store.Fault = func(op string, in any) error {
		if op == "GetObject" {
			return &obsclient.Error{Status: 503, Code: "SlowDown", RequestID: "req-slow"}
		}
		return nil
	}
	before := gets()
	if err := read(); err == nil {
		t.Fatal("read succeeded although GetObject failed")
	}
	if n := gets() - before; n != 1 {
		t.Errorf("a failed GET was made %d times; want 1 (retries are the client's)", n)
	}
	store.Fault = nil

	store.cutBodies.Store(maxBodyAttempts - 1)
	before = gets()
	if err := read(); err != nil {
		t.Fatalf("read with %d bodies cut: %v", maxBodyAttempts-1, err)
	}
	if n := gets() - before; n != maxBodyAttempts {
		t.Errorf("%d GETs; want %d", n, maxBodyAttempts)
	}

	store.cutBodies.Store(100)
	before = gets()
	if err := read(); err == nil {
		t.Fatal("read succeeded although every body was cut")
	}
	if n := gets() - before; n != maxBodyAttempts {
		t.Errorf("%d GETs of a body always cut; want %d", n, maxBodyAttempts)
	}
	store.cutBodies.Store(0)
}
