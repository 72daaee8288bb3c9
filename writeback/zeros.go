package writeback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// Holes cost no upload: a run of zeros that a program never wrote (a
// truncate up, a write past the end) becomes parts copied server-side
// from a hidden object of zeros, never zero bytes sent.
//
// The zero objects live under the staging prefix, one set per manager
// (so a mount never deletes another's): level 0 is one part of the base
// size, uploaded once; level k is eight copies of level k-1, made with
// UploadPartCopy and no bytes sent, up to the 5 GiB a copy part may
// hold. A hole of n bytes copies [0, n) of the smallest level of at
// least n bytes, building the levels up to it on first use. A 4 TiB hole
// thus costs one base part sent, about 40 requests to build the levels
// once per mount, and one copy per 5 GiB. They are journaled like staged
// parts and deleted by Manager.Close; after a crash the journal's replay
// or `obsfs cleanup` removes them.
type zeroObjects struct {
	build  *semaphore.Weighted // one builder at a time, waits end with ctx
	prefix string

	mu     sync.Mutex
	levels []Version // guarded by mu: levels built so far, in order
}

// zeroFanout is how many copies of a level make the next.
const zeroFanout = 8

func newZeroObjects(stagingPrefix string) *zeroObjects {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &zeroObjects{build: semaphore.NewWeighted(1), prefix: stagingPrefix + hex.EncodeToString(b[:]) + "/zeros-"}
}

// levelSize is the size of zero level k.
func (m *Manager) zeroLevelSize(k int) int64 {
	s := m.lay.base
	for ; k > 0 && s < m.lay.maxPart; k-- {
		s = min(s*zeroFanout, m.lay.maxPart)
	}
	return s
}

func (z *zeroObjects) key(size int64) string { return z.prefix + strconv.FormatInt(size, 10) }

// zeroSource returns a zero object of at least n bytes (n at most the
// largest copy part), building it if needed.
func (m *Manager) zeroSource(ctx context.Context, n int64) (source, error) {
	z := m.zeros
	want := 0
	for m.zeroLevelSize(want) < n {
		if m.zeroLevelSize(want+1) == m.zeroLevelSize(want) {
			return source{}, fmt.Errorf("internal error: a hole part of %d bytes exceeds the largest zero object", n)
		}
		want++
	}
	get := func() (source, bool) {
		z.mu.Lock()
		defer z.mu.Unlock()
		if want < len(z.levels) {
			v := z.levels[want]
			return source{key: z.key(v.Size), obj: v}, true
		}
		return source{}, false
	}
	if s, ok := get(); ok {
		return s, nil
	}
	if err := z.build.Acquire(ctx, 1); err != nil {
		return source{}, err
	}
	defer z.build.Release(1)
	for {
		if s, ok := get(); ok {
			return s, nil
		}
		z.mu.Lock()
		k := len(z.levels)
		var prev Version
		if k > 0 {
			prev = z.levels[k-1]
		}
		z.mu.Unlock()
		v, err := m.buildZeroLevel(ctx, k, prev)
		if err != nil {
			return source{}, fmt.Errorf("making the zero object for holes: %w", err)
		}
		z.mu.Lock()
		z.levels = append(z.levels, v)
		z.mu.Unlock()
	}
}

// buildZeroLevel makes level k from level k-1 (prev), or uploads level 0.
func (m *Manager) buildZeroLevel(ctx context.Context, k int, prev Version) (Version, error) {
	size := m.zeroLevelSize(k)
	key := m.zeros.key(size)
	if err := m.cfg.Journal.BeginObject(key); err != nil {
		return Version{}, err
	}
	log := m.log.WithFields(logrus.Fields{"key": key, "bytes": size})
	if k == 0 {
		body := zeroReader{size}
		out, err := m.store.PutObject(ctx, &obsclient.PutObjectInput{
			Bucket: m.cfg.Bucket, Key: key, Body: io.NewSectionReader(body, 0, size),
			ContentMD5: body.contentMD5(), SSE: m.cfg.SSE})
		if err != nil {
			return Version{}, err
		}
		log.Debug("uploaded the zero object for holes")
		return Version{Exists: true, Size: size, ETag: out.ETag}, nil
	}
	init, err := m.store.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{
		Bucket: m.cfg.Bucket, Key: key, SSE: m.cfg.SSE})
	if err != nil {
		return Version{}, err
	}
	id := init.UploadID
	if err := m.cfg.Journal.BeginUpload(key, id); err != nil {
		m.abort(key, id)
		return Version{}, err
	}
	n := int((size + prev.Size - 1) / prev.Size)
	parts := make([]obsclient.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(zeroFanout)
	for i := range n {
		g.Go(func() error {
			l := min(prev.Size, size-int64(i)*prev.Size)
			out, err := m.copyPart(gctx, key, id, i+1, m.zeros.key(prev.Size), prev.ETag, 0, l)
			if err != nil {
				return err
			}
			parts[i] = obsclient.CompletedPart{PartNumber: i + 1, ETag: out.ETag}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		m.abort(key, id)
		return Version{}, err
	}
	out, err := m.store.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{
		Bucket: m.cfg.Bucket, Key: key, UploadID: id, Parts: parts})
	if err != nil {
		m.abort(key, id)
		return Version{}, err
	}
	m.cfg.Journal.EndUpload(id)
	log.Debug("made a zero object for holes")
	return Version{Exists: true, Size: size, ETag: out.ETag}, nil
}

// forgetZeros drops the zero objects from memory after a copy from one
// failed as missing or changed (someone removed the staging directory):
// the next hole builds them again.
func (m *Manager) forgetZeros() {
	m.zeros.mu.Lock()
	m.zeros.levels = nil
	m.zeros.mu.Unlock()
}

// dropZeros deletes the zero objects (at Close), each within the abort
// timeout.
func (m *Manager) dropZeros() {
	m.zeros.mu.Lock()
	levels := m.zeros.levels
	m.zeros.levels = nil
	m.zeros.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range levels {
		key := m.zeros.key(v.Size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.AbortTimeout)
			defer cancel()
			if _, err := m.store.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: m.cfg.Bucket, Key: key}); err != nil {
				m.log.WithField("key", key).WithError(err).Error("deleting a zero object failed")
				return
			}
			m.cfg.Journal.EndObject(key)
		}()
	}
	wg.Wait()
}
