package writeback

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Stats follows the life of a file: parts in flight and an open upload
// while uploads are held, write-buffer bytes up to the limit and the time
// a writer waited for them, then nothing left once the file is committed.
func TestStats(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	hold := make(chan struct{})
	store.Fault = func(op string, in any) error {
		if op == "UploadPart" {
			<-hold
		}
		return nil
	}
	m := newTestManager(t, store, hostileCache{}, nil)
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the manager's cleanup
	if s := m.Stats(); s.BufferLimit != 16*pageSize || s.BufferUsed != 0 || s.OpenUploads != 0 || !s.OldestUpload.IsZero() {
		t.Fatalf("fresh manager: %+v", s)
	}
	f := m.Open("stats/obj", Version{})
	data := randBytes(rand.New(rand.NewPCG(7, 8)), 20*int(pageSize)+5)
	wrote := make(chan error, 1)
	go func() {
		_, err := f.WriteAt(ctx, data, 0) // waits: 20 parts > 16 pages of budget
		wrote <- err
	}()
	waitStats(t, m, func(s Stats) bool {
		return s.BufferUsed > s.BufferLimit/2 && s.OpenUploads == 1 && s.PartsInFlight > 0
	})
	select {
	case err := <-wrote:
		t.Fatalf("a write larger than the write buffer returned (%v) while no part could upload", err)
	default:
	}
	s := m.Stats()
	if s.PartsInFlight < 1 || s.OldestUpload.IsZero() || time.Since(s.OldestUpload) < 0 {
		t.Errorf("while uploads are held: %+v", s)
	}
	release()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// An uploader leaves the in-flight count just after the file saw its
	// part done, so the counts settle a moment after Flush.
	waitStats(t, m, func(s Stats) bool { return s.PartsInFlight == 0 })
	s = m.Stats()
	if s.BufferUsed != 0 || s.OpenUploads != 0 || !s.OldestUpload.IsZero() || s.BufferWait <= 0 {
		t.Errorf("after the commit: %+v", s)
	}
	// A read of a committed object's page misses the (hostile) cache.
	miss := s.CacheMisses
	g := m.Open("stats/obj", f.Version())
	buf := make([]byte, 10)
	if _, err := g.ReadAt(ctx, buf, 0); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if s := m.Stats(); s.CacheMisses <= miss || s.CacheHits != 0 {
		t.Errorf("after a read: %+v (misses before %d)", s, miss)
	}
}

// waitStats polls m.Stats until ok (at most 20 s).
func waitStats(t *testing.T, m *Manager, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(m.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("stats never reached the state: %+v", m.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// More partly written files than the write buffer holds: the manager
// commits some early, and Stats counts those commits and the writers'
// wait.
func TestStatsEarlyCommits(t *testing.T) {
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.WriteBuffer = 4 * pageSize })
	r := rand.New(rand.NewPCG(9, 11))
	var files []*File
	for i := 0; i < 8; i++ {
		f := m.Open("early/"+string(rune('a'+i)), Version{})
		writeAll(t, f, randBytes(r, int(pageSize)*7/10), int(pageSize)/10)
		files = append(files, f)
	}
	s := m.Stats()
	if s.EarlyCommits < 1 || s.BufferWait <= 0 {
		t.Errorf("8 partly written files in a buffer of 4 pages: %+v", s)
	}
	for _, f := range files {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
