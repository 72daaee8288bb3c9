package writeback

import (
	"sort"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Progress of the files being written, and the outcome of recent commits,
// for `obsfs status`. The state is read from the files themselves
// (Manager.Progress) plus a few counters each File keeps in its progress
// field; the outcomes of the last OutcomeLimit commits and failures are
// kept by key, least recently recorded dropped first.

// OutcomeLimit is how many outcomes (commits and failures, by key) a
// Manager remembers.
const OutcomeLimit = 1000

// FileProgress is one file with changes not yet in the store.
type FileProgress struct {
	Key string
	// Written is the file's length: the bytes its next commit stores.
	Written int64
	// Durable is the bytes in parts of the file's multipart upload that
	// the store acknowledged (a file smaller than one part is stored by a
	// single request: 0 until it succeeds).
	Durable    int64
	PartsDone  int
	PartsTotal int
	// Committing is true while the file's commit runs (after close or
	// fsync, or early under memory pressure).
	Committing bool
	// Started is the first write since the file was opened or last
	// committed; Rate is Durable over the time since then, bytes/s.
	Started time.Time
	Rate    float64
}

// Outcome is how the last commit of a key ended.
type Outcome struct {
	Key       string
	Committed bool // false: failed
	Time      time.Time
	Size      int64  // committed
	ETag      string // committed
	Err       error  // failed: the file's sticky error
	RequestID string // of the failed request, or of the commit's last one
}

// fileProgress holds the counters a File keeps for Progress; atomic, so
// that the hooks in file.go need no lock of their own.
type fileProgress struct {
	started     atomic.Int64 // Unix nanoseconds of the first write since open or commit; 0: none
	commitBytes atomic.Int64 // bytes of parts finished by the running commit
	commitParts atomic.Int64 // parts finished by the running commit
}

// noteWrite marks the start of a round of writes.
func (p *fileProgress) noteWrite() {
	if p.started.Load() == 0 {
		p.started.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// partDone counts a part the running commit finished.
func (p *fileProgress) partDone(n int64) {
	p.commitBytes.Add(n)
	p.commitParts.Add(1)
}

// reset starts a new round after a commit.
func (p *fileProgress) reset() {
	p.started.Store(0)
	p.commitBytes.Store(0)
	p.commitParts.Store(0)
}

// outcomes is the bounded record of recent outcomes by key.
type outcomes struct {
	c *lru.Cache[string, Outcome]
}

func newOutcomes(n int) *outcomes {
	c, _ := lru.New[string, Outcome](n) // n > 0: no error
	return &outcomes{c: c}
}

// recordCommitLocked notes f's successful commit of ver to key. Called
// with f.mu held.
func (f *File) recordCommitLocked(key string, ver Version, reqID string) {
	f.prog.reset()
	if f.nested {
		return // a staged part's temporary object
	}
	f.m.outcomes.c.Add(key, Outcome{Key: key, Committed: true, Time: time.Now(), Size: ver.Size, ETag: ver.ETag, RequestID: reqID})
}

// recordFailureLocked notes f's failure err (the first; it is sticky).
// Called with f.mu held.
func (f *File) recordFailureLocked(err error, reqID string) {
	if f.nested || err == ErrDiscarded {
		return
	}
	f.m.outcomes.c.Add(f.key, Outcome{Key: f.key, Time: time.Now(), Err: err, RequestID: reqID})
}

// progress returns f's state, and false if f has nothing pending (clean,
// failed, or a staged part's File).
func (f *File) progress(now time.Time) (FileProgress, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nested || f.err != nil || (!f.dirty && f.run == nil) {
		return FileProgress{}, false
	}
	p := FileProgress{Key: f.key, Written: f.size, Committing: f.run != nil, PartsTotal: 1}
	if f.size >= f.lay.partSize(0) || f.forceMultipart || f.up != nil {
		p.PartsTotal = f.lay.numParts(f.size)
	}
	for _, pt := range f.parts.m {
		if pt.state == partUploaded {
			p.Durable += pt.done.size
			p.PartsDone++
		}
	}
	p.Durable += f.prog.commitBytes.Load()
	p.PartsDone += int(f.prog.commitParts.Load())
	p.Durable, p.PartsDone = min(p.Durable, p.Written), min(p.PartsDone, p.PartsTotal)
	if s := f.prog.started.Load(); s != 0 {
		p.Started = time.Unix(0, s)
		if d := now.Sub(p.Started).Seconds(); d > 0 {
			p.Rate = float64(p.Durable) / d
		}
	}
	return p, true
}

// Progress returns every open file with changes not yet in the store,
// by key.
func (m *Manager) Progress() []FileProgress {
	now := time.Now()
	var out []FileProgress
	for _, f := range m.openFiles() {
		if p, ok := f.progress(now); ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Key < out[b].Key })
	return out
}

// Lookup answers for one key: the file's progress if it is open with
// changes not yet in the store (pending), else the outcome of its last
// commit or failure if it is among the last OutcomeLimit recorded.
func (m *Manager) Lookup(key string) (pending *FileProgress, last *Outcome) {
	now := time.Now()
	for _, f := range m.openFiles() {
		if p, ok := f.progress(now); ok && p.Key == key {
			return &p, nil
		}
	}
	if o, ok := m.outcomes.c.Peek(key); ok { // Peek: asking does not keep a record
		return nil, &o
	}
	return nil, nil
}

// RecentFailures returns up to n of the most recent failures, newest
// first.
func (m *Manager) RecentFailures(n int) []Outcome {
	all := m.outcomes.c.Values() // oldest first
	var out []Outcome
	for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
		if !all[i].Committed {
			out = append(out, all[i])
		}
	}
	return out
}

// openFiles returns the files open now.
func (m *Manager) openFiles() []*File {
	m.mu.Lock()
	defer m.mu.Unlock()
	files := make([]*File, 0, len(m.files))
	for f := range m.files {
		files = append(files, f)
	}
	return files
}
