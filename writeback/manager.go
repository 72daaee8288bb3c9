package writeback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/semaphore"
)

// Config configures a Manager.
type Config struct {
	// Bucket all keys live in.
	Bucket string
	// PartSize is the size of the first tier of parts, a multiple of
	// pageSize (1 MiB). Default 8 MiB. S3 and MinIO need at least 5 MiB.
	PartSize int64
	// TierParts is how many parts each size tier has before the part size
	// doubles. Default 1000 (so 8 MiB parts allow ≈ 7.8 TiB per file).
	TierParts int
	// Concurrency is the number of part uploads and copies in flight across
	// all files. Default 8.
	Concurrency int
	// WriteBuffer is the memory budget, in bytes, for data not yet durable
	// in the store, across all files. Default 512 MiB. It must hold at least
	// two parts of the first tier.
	WriteBuffer int64
	// Cache holds clean pages; nil caches nothing.
	Cache Cache
	// ReadAhead is the memory, across all files, for data fetched ahead of
	// sequential readers and not yet read. Default 256 MiB.
	ReadAhead int64
	// SSE is applied to every object written (KMS on Initiate/Put, SSE-C on
	// every request touching the data).
	SSE obsclient.SSE
	// Logger; default discards.
	Logger *logrus.Entry
	// StagingPrefix is where parts too large for the write buffer are
	// assembled as temporary objects (see staged.go). Default
	// ".obsfs-staging/".
	StagingPrefix string
	// AbortTimeout bounds the AbortMultipartUpload issued after a failure.
	// Default 1 minute.
	AbortTimeout time.Duration
	// Journal records uploads and temporary objects until they are
	// finished (journal.go); default none.
	Journal Journal
	// CommitTimeout: a commit fails with ErrStalled once its store work has
	// made no progress (no request completed, no byte of a part sent) for
	// this long; a commit that progresses may take longer. Default 2
	// minutes (DefaultCommitTimeout); 0 means the default, negative is
	// refused.
	CommitTimeout time.Duration
	// PoisonFreedPages overwrites every page buffer returned to the pool
	// (page.go), so that a use after release reads garbage instead of
	// plausible bytes. A testing aid: it costs a memset per page.
	PoisonFreedPages bool
	// Conditions says how a commit makes sure it replaces the version its
	// file is based on (conditions.go). Default ConditionsStore.
	Conditions ConditionMode
}

// Defaults for Config.
const (
	DefaultPartSize    = 8 << 20
	DefaultTierParts   = 1000
	DefaultConcurrency = 8
	DefaultWriteBuffer = 512 << 20
	DefaultReadAhead   = 256 << 20
	// DefaultCommitTimeout is Config.CommitTimeout's default.
	DefaultCommitTimeout = 2 * time.Minute
	// DefaultStagingPrefix is where staged parts are assembled.
	DefaultStagingPrefix = ".obsfs-staging/"
)

func (c Config) withDefaults() Config {
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.TierParts == 0 {
		c.TierParts = DefaultTierParts
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.WriteBuffer == 0 {
		c.WriteBuffer = DefaultWriteBuffer
	}
	if c.Cache == nil {
		c.Cache = NopCache{}
	}
	if c.ReadAhead == 0 {
		c.ReadAhead = DefaultReadAhead
	}
	if c.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		c.Logger = logrus.NewEntry(l)
	}
	if c.AbortTimeout == 0 {
		c.AbortTimeout = time.Minute
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.StagingPrefix == "" {
		c.StagingPrefix = DefaultStagingPrefix
	}
	if c.Journal == nil {
		c.Journal = nopJournal{}
	}
	return c
}

// Validate reports the first problem with c after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := obsclient.ValidateBucketName(c.Bucket); err != nil {
		return err
	}
	if _, err := newLayout(c.PartSize, c.TierParts); err != nil {
		return err
	}
	if c.PartSize > obsclient.MaxPartSize {
		return fmt.Errorf("part size %d exceeds 5 GiB", c.PartSize)
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("upload concurrency %d must be at least 1", c.Concurrency)
	}
	if c.WriteBuffer < 2*c.PartSize {
		return fmt.Errorf("write buffer %d must hold at least two parts (2 × %d)", c.WriteBuffer, c.PartSize)
	}
	if c.ReadAhead < 0 {
		return errors.New("negative read-ahead buffer")
	}
	if c.AbortTimeout < 0 {
		return errors.New("negative abort timeout")
	}
	if c.CommitTimeout < 0 {
		return errors.New("negative commit timeout")
	}
	if c.Conditions < ConditionsStore || c.Conditions > ConditionsOff {
		return fmt.Errorf("unknown condition mode %d", int(c.Conditions))
	}
	return nil
}

// Manager owns the mount-wide resources of the write-back layer: the
// memory budget, the upload concurrency limit, the clean-page cache, and
// the set of open files.
//
// Lock order: File.mu, then Manager.mu. Never hold Manager.mu while
// calling into a File.
type Manager struct {
	cfg   Config
	store Store
	lay   layout
	log   *logrus.Entry

	budget  *budget
	pages   *pagePool           // page buffers, recycled
	uploads *semaphore.Weighted // part uploads/copies in flight
	fill    *semaphore.Weighted // bytes of commit-time buffers outside the budget
	// raBudget bounds prefetched bytes not yet read; gets bounds prefetch
	// GETs in flight.
	raBudget *semaphore.Weighted
	gets     *semaphore.Weighted

	ctx    context.Context // cancelled by Close: background work stops
	cancel context.CancelFunc

	inflight atomic.Int64 // sealed parts queued or uploading, all files
	// committedFiles and committedBytes count the commits (an object
	// written, each time) and their bytes (Committed: the summary at
	// unmount).
	committedFiles, committedBytes atomic.Int64
	clock                          atomic.Int64 // logical time for eviction order

	stats *stats       // counters for Stats (stats.go)
	zeros *zeroObjects // hidden objects of zeros that holes are copied from (zeros.go)

	mu        sync.Mutex
	files     map[*File]struct{} // guarded by mu
	outcomes  *outcomes          // recent commits and failures (progress.go)
	relieving bool               // guarded by mu: a pressure commit is running
}

// Committed returns how many commits this manager has made (one per
// object version written: a file created, then written and closed, may
// make two) and their bytes.
func (m *Manager) Committed() (files, bytes int64) {
	return m.committedFiles.Load(), m.committedBytes.Load()
}

// noteCommitted counts a committed object of size bytes and logs it (at
// debug level: one line per file is noise at info; the mount sums them up).
func (m *Manager) noteCommitted(size int64, fields logrus.Fields) {
	m.committedFiles.Add(1)
	m.committedBytes.Add(size)
	m.log.WithFields(fields).Debug("committed object")
}

// New validates cfg and returns a Manager writing through store.
func New(store Store, cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	lay, _ := newLayout(cfg.PartSize, cfg.TierParts)
	ctx, cancel := context.WithCancel(context.Background())
	st := &stats{}
	cfg = st.instrument(cfg)
	m := &Manager{
		cfg: cfg, store: store, lay: lay, log: cfg.Logger, pages: newPagePool(pageSize, cfg.PoisonFreedPages),
		uploads:  semaphore.NewWeighted(int64(cfg.Concurrency)),
		fill:     semaphore.NewWeighted(max(cfg.WriteBuffer/4, 2*cfg.PartSize)),
		raBudget: semaphore.NewWeighted(cfg.ReadAhead),
		gets:     semaphore.NewWeighted(int64(cfg.Concurrency)),
		ctx:      ctx, cancel: cancel,
		files: map[*File]struct{}{}, outcomes: newOutcomes(OutcomeLimit),
	}
	m.stats = st
	m.zeros = newZeroObjects(cfg.StagingPrefix)
	m.budget = newBudget(cfg.WriteBuffer, m.relieve)
	return m, nil
}

// MisreleasedPages counts releases of page references that were not held:
// a bug, always 0 in a correct program (tests check it; the pages
// concerned are never recycled twice).
func (m *Manager) MisreleasedPages() int64 { return m.pages.misreleased.Load() }

// Journal returns Config.Journal (a no-op one by default), for the
// temporary objects other layers create under the staging prefix.
func (m *Manager) Journal() Journal { return m.cfg.Journal }

// MaxFileSize is the largest file the part layout allows.
func (m *Manager) MaxFileSize() int64 { return m.lay.maxSize() }

func (m *Manager) register(f *File) {
	m.mu.Lock()
	m.files[f] = struct{}{}
	m.mu.Unlock()
}

func (m *Manager) unregister(f *File) {
	m.mu.Lock()
	delete(m.files, f)
	m.mu.Unlock()
}

// relieve runs while a writer waits for write-buffer space. If parts are
// uploading, their completion will free space and nothing is done.
// Otherwise all the space is held by partly written parts that nothing will
// upload on its own, so the least recently written dirty file is committed
// in the background (it becomes durable early; later writes patch it). A
// file that has failed goes first: its buffers are lost anyway, and only
// its cleanup (Flush) releases them — left to its close, they could hold
// the whole buffer while every writer waits (a staged part's File failed
// under its parent's write: model test seed 86).
func (m *Manager) relieve() {
	if m.inflight.Load() > 0 {
		return
	}
	m.mu.Lock()
	if m.relieving {
		m.mu.Unlock()
		return
	}
	files := make([]*File, 0, len(m.files))
	for f := range m.files {
		files = append(files, f)
	}
	m.mu.Unlock()
	var victim *File
	var oldest int64
	var victimFailed bool
	for _, f := range files {
		held, last, failed := f.heldState()
		if failed {
			last = math.MinInt64 // before any file still being written
		}
		if held > 0 && (victim == nil || last < oldest) {
			victim, oldest, victimFailed = f, last, failed
		}
	}
	if victim == nil {
		return
	}
	m.mu.Lock()
	if m.relieving {
		m.mu.Unlock()
		return
	}
	m.relieving = true
	m.mu.Unlock()
	m.stats.earlyCommits.Add(1)
	go func() {
		defer func() {
			m.mu.Lock()
			m.relieving = false
			m.mu.Unlock()
		}()
		if victimFailed {
			victim.log().Info("write buffer full: releasing the buffers of this failed file")
			victim.Flush(m.ctx) // its error was logged when it failed
			return
		}
		victim.log().Info("write buffer full of partly written parts: committing this file early")
		if err := victim.Flush(m.ctx); err != nil {
			victim.log().WithError(err).Error("early commit under memory pressure failed")
		}
	}()
}

// Drain commits every dirty file, waiting up to ctx. It returns the files'
// errors joined.
func (m *Manager) Drain(ctx context.Context) error {
	m.mu.Lock()
	files := make([]*File, 0, len(m.files))
	for f := range m.files {
		files = append(files, f)
	}
	m.mu.Unlock()
	var errs []error
	for _, f := range files {
		if err := f.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Key(), err))
		}
	}
	return errors.Join(errs...)
}

// Close aborts what is still pending (files that Drain could not commit)
// and stops background work. Files must not be used afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	files := make([]*File, 0, len(m.files))
	for f := range m.files {
		files = append(files, f)
	}
	m.mu.Unlock()
	for _, f := range files {
		f.Discard()
	}
	m.dropZeros()
	m.cancel()
}

// abort aborts an upload on a fresh context, so that cancellation of the
// operation that failed never leaks an upload.
func (m *Manager) abort(key, uploadID string) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.AbortTimeout)
	defer cancel()
	_, err := m.store.AbortMultipartUpload(ctx, &obsclient.AbortMultipartUploadInput{
		Bucket: m.cfg.Bucket, Key: key, UploadID: uploadID})
	log := m.log.WithFields(logrus.Fields{"key": key, "upload_id": uploadID})
	if err != nil {
		log.WithError(err).WithField("req_id", obsclient.RequestID(err)).
			Error("aborting multipart upload failed: the upload is left in the bucket")
		return
	}
	m.cfg.Journal.EndUpload(uploadID)
	log.Info("aborted multipart upload")
}
