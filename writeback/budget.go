package writeback

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// budget is the mount-wide limit on bytes not yet durable in the store.
// Writers acquire before they fill a buffer and the bytes are released
// after their upload succeeded (or the data was discarded). A writer that
// would exceed the limit waits; while it waits, relieve is called
// periodically so that the manager can make room (see Manager.relieve).
type budget struct {
	limit   int64
	sem     *semaphore.Weighted
	relieve func()
	used    atomic.Int64 // bytes held, for Stats
	waited  atomic.Int64 // nanoseconds writers spent waiting, for Stats
}

func newBudget(limit int64, relieve func()) *budget {
	return &budget{limit: limit, sem: semaphore.NewWeighted(limit), relieve: relieve}
}

// acquire takes n bytes (n <= limit), waiting as long as it takes. It
// returns only ctx's error.
func (b *budget) acquire(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	if b.sem.TryAcquire(n) {
		b.used.Add(n)
		return nil
	}
	t0 := time.Now()
	defer func() { b.waited.Add(int64(time.Since(t0))) }()
	for {
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := b.sem.Acquire(wctx, n)
		cancel()
		if err == nil {
			b.used.Add(n)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if b.relieve != nil {
			b.relieve()
		}
	}
}

func (b *budget) release(n int64) {
	if n > 0 {
		b.used.Add(-n)
		b.sem.Release(n)
	}
}
