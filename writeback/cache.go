package writeback

import (
	"fmt"

	"github.com/dgraph-io/ristretto/v2"
)

// BlockCache is the ristretto-backed Cache of clean pages, bounded in
// bytes. Its cost of an entry is the memory of the value (its capacity). It holds one
// reference to each page it stores, released when ristretto lets the
// entry go (eviction, rejection by the admission policy, replacement,
// deletion, Close).
type BlockCache struct {
	c *ristretto.Cache[string, *Page]
}

var _ Cache = (*BlockCache)(nil)

// NewBlockCache returns a cache holding at most maxBytes of values.
func NewBlockCache(maxBytes int64) (*BlockCache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("cache size %d must be positive", maxBytes)
	}
	items := max(maxBytes/pageSize, 64)
	c, err := ristretto.NewCache(&ristretto.Config[string, *Page]{
		NumCounters:        items * 10,
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
		OnExit: func(p *Page) {
			if p != nil {
				p.Release()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating block cache: %w", err)
	}
	return &BlockCache{c: c}, nil
}

func (b *BlockCache) Get(key string) *Page {
	p, ok := b.c.Get(key)
	if !ok || p == nil || !p.acquire() {
		return nil
	}
	return p
}

func (b *BlockCache) Set(key string, p *Page) {
	if !p.acquire() {
		return
	}
	// A Set that ristretto drops at once never reaches OnExit. The cost is
	// the memory the page pins.
	if !b.c.Set(key, p, int64(cap(p.b))) {
		p.Release()
	}
}

func (b *BlockCache) Del(key string) { b.c.Del(key) }

// Wait blocks until the Sets made so far are applied (ristretto buffers
// them): for tests that look at what the cache admitted.
func (b *BlockCache) Wait() { b.c.Wait() }

// Close stops the cache's goroutines and drops everything.
func (b *BlockCache) Close() { b.c.Close() }

// objectPageKey names page idx of one committed version of an object.
func objectPageKey(key, etag string, idx int64) string {
	return fmt.Sprintf("o\x00%s\x00%s\x00%d", key, etag, idx)
}

// uploadPageKey names page idx of a part uploaded to an upload that is not
// completed yet (its bytes are not readable from the store).
func uploadPageKey(uploadID string, idx int64) string {
	return fmt.Sprintf("u\x00%s\x00%d", uploadID, idx)
}
