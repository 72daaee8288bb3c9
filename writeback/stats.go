package writeback

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the manager's counters and gauges, for metrics
// (cmd/obsfs exports them to Prometheus). Counters only grow.
type Stats struct {
	// PartsInFlight: sealed parts queued for upload or uploading, all files.
	PartsInFlight int64
	// BufferUsed is the write-buffer bytes held now (data not yet durable),
	// out of BufferLimit (Config.WriteBuffer).
	BufferUsed, BufferLimit int64
	// BufferWait is the time writers spent waiting for write-buffer space
	// (counter, summed over writers).
	BufferWait time.Duration
	// EarlyCommits counts commits started to make room in a full write
	// buffer (Manager.relieve), failed files' releases included.
	EarlyCommits int64
	// OpenUploads is the number of multipart uploads initiated (and
	// journaled) and not yet completed or aborted; OldestUpload is when
	// the oldest of them was initiated (zero when there is none).
	OpenUploads  int
	OldestUpload time.Time
	// CacheHits and CacheMisses count lookups of the clean-page cache.
	CacheHits, CacheMisses int64
}

// Stats returns a snapshot of the manager's counters. It is cheap and
// safe to call at any time.
func (m *Manager) Stats() Stats {
	n, oldest := m.stats.uploads.open()
	return Stats{
		PartsInFlight: m.inflight.Load(),
		BufferUsed:    m.budget.used.Load(),
		BufferLimit:   m.budget.limit,
		BufferWait:    time.Duration(m.budget.waited.Load()),
		EarlyCommits:  m.stats.earlyCommits.Load(),
		OpenUploads:   n,
		OldestUpload:  oldest,
		CacheHits:     m.stats.cache.hits.Load(),
		CacheMisses:   m.stats.cache.misses.Load(),
	}
}

// stats holds the counters behind Stats that no other structure keeps.
type stats struct {
	earlyCommits atomic.Int64
	uploads      *uploadTracker
	cache        *countingCache
}

// instrument wraps cfg's cache and journal so that their calls are
// counted; it returns the wrapped config.
func (s *stats) instrument(cfg Config) Config {
	s.cache = &countingCache{Cache: cfg.Cache}
	s.uploads = &uploadTracker{Journal: cfg.Journal, begun: map[string]time.Time{}}
	cfg.Cache, cfg.Journal = s.cache, s.uploads
	return cfg
}

// countingCache counts the hits and misses of a Cache.
type countingCache struct {
	Cache
	hits, misses atomic.Int64
}

func (c *countingCache) Get(key string) *Page {
	p := c.Cache.Get(key)
	if p != nil {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return p
}

// uploadTracker is a Journal that remembers, beside the journal it wraps,
// when each open upload began. The manager journals every multipart upload
// after it is initiated and until it is completed or aborted, so the
// journal's calls are the uploads' lives.
type uploadTracker struct {
	Journal
	mu    sync.Mutex
	begun map[string]time.Time // guarded by mu: upload ID → journaled at
}

func (u *uploadTracker) BeginUpload(key, uploadID string) error {
	if err := u.Journal.BeginUpload(key, uploadID); err != nil {
		return err
	}
	u.mu.Lock()
	u.begun[uploadID] = time.Now()
	u.mu.Unlock()
	return nil
}

func (u *uploadTracker) EndUpload(uploadID string) {
	u.Journal.EndUpload(uploadID)
	u.mu.Lock()
	delete(u.begun, uploadID)
	u.mu.Unlock()
}

// open returns the number of open uploads and when the oldest began.
func (u *uploadTracker) open() (int, time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var oldest time.Time
	for _, t := range u.begun {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return len(u.begun), oldest
}
