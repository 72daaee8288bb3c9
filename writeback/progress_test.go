package writeback

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/obsfs/obsfs/obsclient"
)

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProgressWhileUploadingThenCommitted(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	release := make(chan struct{})
	store.Fault = func(op string, in any) error {
		if op == "UploadPart" && in.(*obsclient.UploadPartInput).PartNumber == 3 {
			<-release // part 3 stays in flight until the test has looked
		}
		return nil
	}
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.TierParts = 1000 })
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the manager's cleanup, which waits for the part
	const key = "progress/obj"
	data := randBytes(rand.New(rand.NewPCG(5, 6)), 5*int(pageSize)+17)
	f := m.Open(key, Version{})
	writeAll(t, f, data, 64<<10)

	var p FileProgress
	waitUntil(t, "parts 1, 2, 4 and 5 are durable", func() bool {
		ps := m.Progress()
		if len(ps) != 1 {
			t.Fatalf("progress lists %d files, want 1: %+v", len(ps), ps)
		}
		p = ps[0]
		return p.PartsDone == 4
	})
	if p.Key != key || p.Written != int64(len(data)) || p.Durable != 4*pageSize || p.PartsTotal != 6 || p.Committing {
		t.Fatalf("progress %+v, want key %q, written %d, durable %d, 4 of 6 parts, not committing", p, key, len(data), 4*pageSize)
	}
	if p.Started.IsZero() || p.Rate <= 0 {
		t.Errorf("progress %+v: no start time or rate", p)
	}
	if pend, last := m.Lookup(key); pend == nil || last != nil || pend.Durable != p.Durable {
		t.Fatalf("Lookup = %+v, %+v; want pending with %d durable", pend, last, p.Durable)
	}
	unblock()
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ps := m.Progress(); len(ps) != 0 {
		t.Fatalf("committed file still listed: %+v", ps)
	}
	out, err := store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: testBucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	pend, last := m.Lookup(key)
	if pend != nil || last == nil || !last.Committed || last.ETag != out.ETag || last.Size != int64(len(data)) || last.RequestID == "" {
		t.Fatalf("Lookup after commit = %+v, %+v; want committed with ETag %s", pend, last, out.ETag)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, last := m.Lookup(key); last == nil || !last.Committed {
		t.Fatalf("outcome forgotten after close: %+v", last)
	}
	if pend, last := m.Lookup("progress/never"); pend != nil || last != nil {
		t.Fatalf("unknown key answered %+v, %+v", pend, last)
	}
}

func TestProgressRecordsFailureWithRequestID(t *testing.T) {
	store := newFake()
	store.Fault = func(op string, in any) error {
		if op == "CompleteMultipartUpload" {
			return &obsclient.Error{Status: 403, Code: "AccessDenied", RequestID: "req-denied"}
		}
		return nil
	}
	m := newTestManager(t, store, hostileCache{}, nil)
	const key = "progress/fails"
	f := m.Open(key, Version{})
	writeAll(t, f, randBytes(rand.New(rand.NewPCG(7, 8)), 2*int(pageSize)+1), 64<<10)
	if err := f.Close(); err == nil {
		t.Fatal("close succeeded despite a failing complete")
	}
	pend, last := m.Lookup(key)
	if pend != nil || last == nil || last.Committed || last.Err == nil || last.RequestID != "req-denied" {
		t.Fatalf("Lookup = %+v, %+v; want failed with request id req-denied", pend, last)
	}
	if fs := m.RecentFailures(10); len(fs) != 1 || fs[0].Key != key {
		t.Fatalf("recent failures %+v", fs)
	}
	if ps := m.Progress(); len(ps) != 0 {
		t.Fatalf("failed file listed as pending: %+v", ps)
	}
}

func TestOutcomesAreBounded(t *testing.T) {
	m := newTestManager(t, newFake(), hostileCache{}, nil)
	m.outcomes = newOutcomes(3)
	for i := range 5 {
		f := m.Open(fmt.Sprintf("bounded/%d", i), Version{})
		writeAll(t, f, []byte("x"), 1)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		_, last := m.Lookup(fmt.Sprintf("bounded/%d", i))
		if known := last != nil; known != (i >= 2) {
			t.Errorf("bounded/%d known %v, want only the last 3 known", i, known)
		}
	}
}
