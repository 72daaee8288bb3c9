package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Identity is what a mount writes into. Mounts with equal identities
// share journal names (in different slots).
type Identity struct {
	Endpoint string // as given: scheme, host and port
	Bucket   string
	Prefix   string // "" or ending in "/"
}

func (id Identity) String() string {
	s := id.Bucket
	if id.Prefix != "" {
		s += ":" + strings.TrimSuffix(id.Prefix, "/")
	}
	return s + " at " + id.Endpoint
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// name is the file name stem of the identity's journals: the bucket (for
// people listing the directory) and a hash of the whole identity.
func (id Identity) name() string {
	endpoint := strings.TrimRight(strings.ToLower(strings.TrimSpace(id.Endpoint)), "/")
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint // obsclient's default scheme
	}
	sum := sha256.Sum256([]byte(endpoint + "\x00" + id.Bucket + "\x00" + id.Prefix))
	return unsafeName.ReplaceAllString(id.Bucket, "_") + "-" + hex.EncodeToString(sum[:8])
}

// Entry is one thing started in the store and not known to be finished:
// a multipart upload (Upload, with UploadID) or a temporary object.
type Entry struct {
	Upload   bool
	Key      string
	UploadID string
	Time     time.Time
}

func (e Entry) id() string {
	if e.Upload {
		return "u:" + e.UploadID
	}
	return "o:" + e.Key
}

// record is one line of the journal.
type record struct {
	Op       string    `json:"op"`
	Key      string    `json:"key,omitempty"`
	UploadID string    `json:"upload_id,omitempty"`
	Time     time.Time `json:"time,omitzero"`
}

const (
	opUpload    = "upload"
	opUploadEnd = "upload-end"
	opObject    = "object"
	opObjectEnd = "object-end"
)

// Options tune a Journal; the zero value is the default.
type Options struct {
	// MaxSlots bounds the live mounts of one identity. Default 64.
	MaxSlots int
	// CompactBytes: a journal larger than this with entries pending is
	// rewritten with only those. Default 1 MiB.
	CompactBytes int64
	// Info is written into the lock file (e.g. the mountpoint), for people
	// and for the message of a later mount finding the slot busy.
	Info string
	// Now is the clock of records. Default time.Now.
	Now func() time.Time
}

// Journal is one mount's journal. Its methods are safe for concurrent
// use.
type Journal struct {
	dir, stem string // stem: dir/name-slot
	slot      int
	lock      *os.File
	opts      Options

	mu      sync.Mutex
	f       *os.File         // guarded by mu: the journal, appending; nil before Settle
	size    int64            // guarded by mu: bytes of f
	live    map[string]Entry // guarded by mu
	closed  bool             // guarded by mu
	syncs   int64            // guarded by mu: fdatasyncs of begin records
	syncDur time.Duration    // guarded by mu: their total time

	previous []Entry    // left by earlier instances, until Settle
	adopted  []deadSlot // slots of dead mounts taken over, removed by Settle
	busy     []busySlot // slots held by live mounts when Open looked
	skipped  int        // unreadable lines in the journals read
}

type deadSlot struct {
	stem string
	lock *os.File
}

type busySlot struct {
	slot   int
	holder string // the lock file's content
}

// ErrClosed is returned by Begin* after Close.
var ErrClosed = errors.New("journal: closed")

// Open takes the first free slot of id's journals in dir (creating dir,
// mode 0700, if needed), reads what the slot's previous instance left and
// takes over the journals of dead slots. The caller replays Previous and
// then calls Settle before any Begin*.
func Open(dir string, id Identity, opts Options) (*Journal, error) {
	if opts.MaxSlots <= 0 {
		opts.MaxSlots = 64
	}
	if opts.CompactBytes <= 0 {
		opts.CompactBytes = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	j := &Journal{dir: dir, opts: opts, live: map[string]Entry{}}
	name := id.name()
	for slot := 0; slot < opts.MaxSlots && j.lock == nil; slot++ {
		stem := filepath.Join(dir, name+"-"+strconv.Itoa(slot))
		lf, holder, err := lockSlot(stem)
		if err != nil {
			return nil, err
		}
		if lf == nil {
			j.busy = append(j.busy, busySlot{slot, holder})
			continue
		}
		j.stem, j.slot, j.lock = stem, slot, lf
	}
	if j.lock == nil {
		return nil, fmt.Errorf("%d mounts of %s are live on this machine (journals %s-*.lock in %s)", opts.MaxSlots, id, name, dir)
	}
	ok := false
	defer func() {
		if !ok {
			j.release()
		}
	}()
	entries, skipped, err := readJournal(j.stem + ".journal")
	if err != nil {
		return nil, err
	}
	j.previous, j.skipped = entries, skipped
	// Take over the journals of slots whose mounts died.
	matches, err := filepath.Glob(filepath.Join(dir, name+"-*.journal"))
	if err != nil {
		return nil, err
	}
	for _, m := range matches {
		stem := strings.TrimSuffix(m, ".journal")
		if stem == j.stem || !isSlotStem(stem, filepath.Join(dir, name)) {
			continue
		}
		lf, _, err := lockSlot(stem)
		if err != nil {
			return nil, err
		}
		if lf == nil {
			continue // a live mount's
		}
		entries, skipped, err := readJournal(m)
		if err != nil {
			lf.Close()
			return nil, err
		}
		j.previous = append(j.previous, entries...)
		j.skipped += skipped
		j.adopted = append(j.adopted, deadSlot{stem, lf})
	}
	if err := j.writeHolder(id); err != nil {
		return nil, err
	}
	ok = true
	return j, nil
}

// isSlotStem reports whether stem is base-N for a slot number N.
func isSlotStem(stem, base string) bool {
	n, ok := strings.CutPrefix(stem, base+"-")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// lockSlot opens and locks stem.lock without waiting. It returns nil and
// the lock file's content when a live process holds it.
func lockSlot(stem string) (*os.File, string, error) {
	path := stem + ".lock"
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, "", fmt.Errorf("journal lock: %w", err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			data, _ := io.ReadAll(io.LimitReader(f, 4096))
			f.Close()
			return nil, strings.TrimSpace(string(data)), nil
		}
		if err != nil {
			f.Close()
			return nil, "", fmt.Errorf("journal lock %s: %w", path, err)
		}
		// The holder we waited for may have removed the file before
		// unlocking (a clean unmount): then the lock is on a name nobody
		// else will find. Lock what the path names now.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return f, "", nil
		}
		f.Close()
	}
}

func (j *Journal) writeHolder(id Identity) error {
	s := fmt.Sprintf("pid %d\nidentity %s\nsince %s\n", os.Getpid(), id, j.opts.Now().UTC().Format(time.RFC3339))
	if j.opts.Info != "" {
		s += j.opts.Info + "\n"
	}
	if err := j.lock.Truncate(0); err != nil {
		return fmt.Errorf("journal lock: %w", err)
	}
	if _, err := j.lock.WriteAt([]byte(s), 0); err != nil {
		return fmt.Errorf("journal lock: %w", err)
	}
	return nil
}

// readJournal returns the entries a journal leaves pending (begun, not
// ended), in the order they were begun, and the number of lines it could
// not read. A missing file is empty.
func readJournal(path string) ([]Entry, int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading journal: %w", err)
	}
	live := map[string]Entry{}
	order := map[string]int{}
	skipped := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 0; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			skipped++ // torn by a crash while writing, most likely the last
			continue
		}
		switch r.Op {
		case opUpload:
			if r.Key != "" && r.UploadID != "" {
				e := Entry{Upload: true, Key: r.Key, UploadID: r.UploadID, Time: r.Time}
				live[e.id()], order[e.id()] = e, n
			}
		case opObject:
			if r.Key != "" {
				e := Entry{Key: r.Key, Time: r.Time}
				live[e.id()], order[e.id()] = e, n
			}
		case opUploadEnd:
			delete(live, "u:"+r.UploadID)
		case opObjectEnd:
			delete(live, "o:"+r.Key)
		default:
			skipped++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading journal %s: %w", path, err)
	}
	out := make([]Entry, 0, len(live))
	for _, e := range live {
		out = append(out, e)
	}
	sort.Slice(out, func(a, b int) bool { return order[out[a].id()] < order[out[b].id()] })
	return out, skipped, nil
}

// Path is the journal file.
func (j *Journal) Path() string { return j.stem + ".journal" }

// Slot is the journal's slot: 0 unless other mounts of the same identity
// were live when it was opened.
func (j *Journal) Slot() int { return j.slot }

// BusySlots describes the slots live mounts held when Open looked: their
// lock files' content (pid, identity, since, info).
func (j *Journal) BusySlots() []string {
	var out []string
	for _, b := range j.busy {
		out = append(out, fmt.Sprintf("slot %d: %s", b.slot, strings.ReplaceAll(b.holder, "\n", ", ")))
	}
	return out
}

// Previous returns what earlier instances left pending (this slot's and
// dead slots'), to be replayed before Settle.
func (j *Journal) Previous() []Entry { return j.previous }

// Unreadable counts the lines of the journals read that were not records
// (a torn last line after a crash).
func (j *Journal) Unreadable() int { return j.skipped }

// Settle starts the journal afresh after the replay: keep are the
// entries the replay could not clean, which stay pending (the next mount
// tries again). The journals of dead slots are removed.
func (j *Journal) Settle(keep []Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	for _, e := range keep {
		j.live[e.id()] = e
	}
	if err := j.rewriteLocked(); err != nil {
		return err
	}
	for _, d := range j.adopted {
		_ = os.Remove(d.stem + ".journal")
		_ = os.Remove(d.stem + ".lock") // before unlocking: see lockSlot
		d.lock.Close()
	}
	j.adopted, j.previous = nil, nil
	return nil
}

// rewriteLocked replaces the journal with the pending entries: a
// temporary file, synced, renamed over it, and the directory synced.
func (j *Journal) rewriteLocked() error {
	path := j.Path()
	var buf bytes.Buffer
	entries := make([]Entry, 0, len(j.live))
	for _, e := range j.live {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(a, b int) bool { return entries[a].Time.Before(entries[b].Time) })
	for _, e := range entries {
		r := record{Op: opObject, Key: e.Key, Time: e.Time}
		if e.Upload {
			r = record{Op: opUpload, Key: e.Key, UploadID: e.UploadID, Time: e.Time}
		}
		line, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		buf.Write(append(line, '\n'))
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	nf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.size = nf, int64(buf.Len())
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// appendLocked writes one record; sync makes it durable before returning.
// A failed write is cut off again, so the next record starts on a line of
// its own.
func (j *Journal) appendLocked(r record, sync bool) error {
	if j.closed {
		return ErrClosed
	}
	if j.f == nil {
		return errors.New("journal: used before Settle")
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	line = append(line, '\n')
	if _, err := j.f.Write(line); err != nil {
		_ = j.f.Truncate(j.size)
		return fmt.Errorf("writing journal %s: %w", j.Path(), err)
	}
	if sync {
		start := time.Now()
		if err := unix.Fdatasync(int(j.f.Fd())); err != nil {
			_ = j.f.Truncate(j.size)
			return fmt.Errorf("syncing journal %s: %w", j.Path(), err)
		}
		j.syncs++
		j.syncDur += time.Since(start)
	}
	j.size += int64(len(line))
	return nil
}

// begin records e durably.
func (j *Journal) begin(e Entry, r record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.appendLocked(r, true); err != nil {
		return err
	}
	j.live[e.id()] = e
	return nil
}

// end forgets e, if pending, and compacts the journal.
func (j *Journal) end(id string, r record) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.live[id]; !ok || j.closed {
		return
	}
	delete(j.live, id)
	if len(j.live) == 0 {
		// Nothing pending: start over. Not synced (see the package doc).
		if err := j.f.Truncate(0); err == nil {
			j.size = 0
			return
		}
	}
	if j.appendLocked(r, false) != nil {
		return // the entry stays on disk: the next mount retries it, harmlessly
	}
	if j.size > j.opts.CompactBytes {
		_ = j.rewriteLocked() // on failure the longer journal is still right
	}
}

// BeginUpload records a multipart upload just initiated; it returns once
// the record is on disk.
func (j *Journal) BeginUpload(key, uploadID string) error {
	t := j.opts.Now().UTC()
	return j.begin(Entry{Upload: true, Key: key, UploadID: uploadID, Time: t},
		record{Op: opUpload, Key: key, UploadID: uploadID, Time: t})
}

// EndUpload records that an upload was completed or aborted.
func (j *Journal) EndUpload(uploadID string) {
	j.end("u:"+uploadID, record{Op: opUploadEnd, UploadID: uploadID})
}

// BeginObject records a temporary object before it can exist; it returns
// once the record is on disk.
func (j *Journal) BeginObject(key string) error {
	t := j.opts.Now().UTC()
	return j.begin(Entry{Key: key, Time: t}, record{Op: opObject, Key: key, Time: t})
}

// EndObject records that a temporary object was deleted.
func (j *Journal) EndObject(key string) {
	j.end("o:"+key, record{Op: opObjectEnd, Key: key})
}

// Pending returns the entries begun and not ended.
func (j *Journal) Pending() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Entry, 0, len(j.live))
	for _, e := range j.live {
		out = append(out, e)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
	return out
}

// Stats reports the fdatasyncs of begin records and their total time.
func (j *Journal) Stats() (syncs int64, total time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncs, j.syncDur
}

// Close ends the journal. With nothing pending the slot's files are
// removed; otherwise they stay for the next mount to replay. Later
// Begin* calls fail with ErrClosed and End* calls are ignored.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	var err error
	if j.f != nil {
		err = j.f.Close()
		j.f = nil
	}
	if len(j.live) == 0 && len(j.previous) == 0 {
		_ = os.Remove(j.Path())
		_ = os.Remove(j.stem + ".lock") // before unlocking: see lockSlot
	}
	j.release()
	return err
}

// release unlocks the slot and the adopted ones.
func (j *Journal) release() {
	for _, d := range j.adopted {
		d.lock.Close()
	}
	j.adopted = nil
	if j.lock != nil {
		j.lock.Close()
		j.lock = nil
	}
}
