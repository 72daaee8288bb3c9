package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

// The soak's mount: small budgets, so that writers wait for the write
// buffer, early commits happen and the cache turns over.
const (
	soakPartSize    = 5 << 20
	soakWriteBuffer = 32 << 20
	soakCacheSize   = 16 << 20
	soakReadAhead   = 16 << 20
	// soakOverhead is what obsfs holds beyond its three budgets: the Go
	// runtime and binary, goroutine stacks, go-fuse's request buffers, the
	// HTTP connections' 256 KiB buffers, and the garbage the collector has
	// not caught up with (obsfs sets the soft memory limit to the budgets +
	// 48 MiB). Measured peak for this mount: see README "Testing".
	soakOverhead = 96 << 20

	soakWriters   = 6
	soakReaders   = 6
	soakKeepFiles = 6 // committed files per writer kept readable; older ones are unlinked
	// soakFaultRate is the share of requests that get a fault. A request
	// is retried as long as --op-timeout's window allows (2 min), so no
	// number of faults in a row fails it for good; the rate is what keeps
	// the soak's throughput useful.
	soakFaultRate = 0.05

	// soakOpBound is the watchdog's bound on a single system call on the
	// mount. The store operations behind one FUSE operation are to be
	// bounded by --op-timeout (2 minutes by default); the margin covers a
	// loaded machine. Transient faults at soakFaultRate cost seconds.
	soakOpBound = 2*time.Minute + 30*time.Second
)

// mixedFaults adds to p a random mix of transient faults that obsfs must
// ride out, on about rate of all requests: 503 SlowDown, 500, connection
// resets before the server sees the request (after all or part of its
// body) and after it performed it (the ambiguous failure), truncated
// response bodies and slow responses. The draws are repeatable with seed.
// It returns the rule IDs by fault name, for Hits.
//
// Stalls (a server that stops answering, or stops sending a body it
// began) are injected on GETs only: obsclient cuts an idempotent request
// that stalls well past its usual latency and retries it, so each costs
// seconds. A PUT may be a copy (a staged part, UploadPartCopy), which is
// not cut early and would cost its full timeout.
//
// Left out: on InitiateMultipartUpload, the faults that hide a performed
// request (reset after forward, truncated response): the client retries
// the Initiate, and the upload the first one created is in no journal
// (obsclient.InitiateMultipartUpload says so), which the soak's final
// check would report.
func mixedFaults(p *faultproxy.Proxy, rate float64, seed int64) map[string]int {
	p.Seed(seed)
	ids := map[string]int{}
	add := func(name string, share float64, r faultproxy.Rule) {
		r.Probability = rate * share
		ids[name] = p.AddRule(r)
	}
	// Initiate: only faults the server never sees, then forward (the
	// catch-all keeps the rules below off it).
	add("initiate-503", 0.5, faultproxy.Rule{Method: "POST", Query: "uploads", Action: faultproxy.ActionStatus, Status: 503, Code: "SlowDown"})
	add("initiate-reset", 0.5, faultproxy.Rule{Method: "POST", Query: "uploads", Action: faultproxy.ActionReset})
	p.AddRule(faultproxy.Rule{Method: "POST", Query: "uploads", Action: faultproxy.ActionForward})

	add("503-slowdown", 0.25, faultproxy.Rule{Action: faultproxy.ActionStatus, Status: 503, Code: "SlowDown"})
	add("500-internal", 0.15, faultproxy.Rule{Action: faultproxy.ActionStatus, Status: 500, Code: "InternalError"})
	add("reset", 0.1, faultproxy.Rule{Action: faultproxy.ActionReset})
	add("reset-mid-body", 0.1, faultproxy.Rule{Action: faultproxy.ActionReset, ResetAfter: 64 << 10})
	add("reset-after-forward", 0.15, faultproxy.Rule{Action: faultproxy.ActionResetAfterForward})
	add("truncate-response", 0.15, faultproxy.Rule{Action: faultproxy.ActionTruncateResponse})
	add("slow-response", 0.1, faultproxy.Rule{Action: faultproxy.ActionDelay, Delay: 300 * time.Millisecond})
	add("stall-get", 0.1, faultproxy.Rule{Method: "GET", Action: faultproxy.ActionStall})
	add("stall-get-body", 0.05, faultproxy.Rule{Method: "GET", Action: faultproxy.ActionStallResponse})
	return ids
}

// soakSize draws a file size: empty and tiny files, sizes around the
// part size, and files of a few parts (some with a staged part).
func soakSize(rng *rand.Rand) int64 {
	switch r := rng.IntN(100); {
	case r < 5:
		return 0
	case r < 25:
		return 1 + rng.Int64N(4<<10)
	case r < 50:
		return 4<<10 + rng.Int64N(1<<20)
	case r < 65:
		return 1<<20 + rng.Int64N(soakPartSize-1<<20)
	case r < 75:
		edges := []int64{soakPartSize - 1, soakPartSize, soakPartSize + 1, 2 * soakPartSize, 2*soakPartSize + 1}
		return edges[rng.IntN(len(edges))]
	default:
		return soakPartSize + rng.Int64N(2*soakPartSize+soakPartSize/2)
	}
}

// soakFile is a file a writer committed: its content is stream(seed)'s
// first size bytes.
type soakFile struct {
	name    string
	seed    uint64
	size    int64
	readers int // guarded by soakRegistry.mu
}

// soakRegistry holds the committed files readers may pick.
type soakRegistry struct {
	mu      sync.Mutex
	cond    *sync.Cond
	live    []*soakFile // guarded by mu
	deleted []string    // guarded by mu
}

func newSoakRegistry() *soakRegistry {
	r := &soakRegistry{}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *soakRegistry) add(f *soakFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live = append(r.live, f)
}

// acquire picks a committed file and keeps it from being unlinked until
// release; nil if there is none yet.
func (r *soakRegistry) acquire(rng *rand.Rand) *soakFile {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.live) == 0 {
		return nil
	}
	f := r.live[rng.IntN(len(r.live))]
	f.readers++
	return f
}

func (r *soakRegistry) release(f *soakFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f.readers--
	if f.readers == 0 {
		r.cond.Broadcast()
	}
}

// retire makes f unreadable for new readers and waits until its current
// readers are done.
func (r *soakRegistry) retire(f *soakFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live = slices.DeleteFunc(r.live, func(g *soakFile) bool { return g == f })
	for f.readers > 0 {
		r.cond.Wait()
	}
}

func (r *soakRegistry) unlinked(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deleted = append(r.deleted, name)
}

// snapshot returns the names of the live files under dir/.
func (r *soakRegistry) snapshot(dir string) map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := map[string]bool{}
	for _, f := range r.live {
		if d, base := filepath.Split(f.name); d == dir+"/" {
			names[base] = true
		}
	}
	return names
}

// watchdog times every system call the soak makes on the mount and trips
// when one has run longer than its bound, finished or not.
type watchdog struct {
	bound time.Duration
	trip  func(msg string) // called once, from the watchdog's goroutine

	mu       sync.Mutex
	next     int64
	inflight map[int64]wdOp // guarded by mu
	count    map[string]int // guarded by mu; finished operations by kind
	slowest  map[string]time.Duration
	tripped  bool
}

type wdOp struct {
	kind, name string
	start      time.Time
}

func newWatchdog(bound time.Duration, trip func(string)) *watchdog {
	return &watchdog{bound: bound, trip: trip, inflight: map[int64]wdOp{}, count: map[string]int{}, slowest: map[string]time.Duration{}}
}

// do runs f as one operation of kind on name.
func (w *watchdog) do(kind, name string, f func() error) error {
	w.mu.Lock()
	w.next++
	id := w.next
	start := time.Now()
	w.inflight[id] = wdOp{kind, name, start}
	w.mu.Unlock()
	err := f()
	d := time.Since(start)
	w.mu.Lock()
	delete(w.inflight, id)
	w.count[kind]++
	w.slowest[kind] = max(w.slowest[kind], d)
	w.mu.Unlock()
	if d > w.bound {
		w.fire(fmt.Sprintf("%s %s took %v, over the bound of %v", kind, name, d.Round(time.Millisecond), w.bound))
	}
	return err
}

// check trips if an operation in flight has passed the bound.
func (w *watchdog) check() {
	w.mu.Lock()
	var late []string
	for _, op := range w.inflight {
		if d := time.Since(op.start); d > w.bound {
			late = append(late, fmt.Sprintf("%s %s running for %v", op.kind, op.name, d.Round(time.Second)))
		}
	}
	w.mu.Unlock()
	if len(late) > 0 {
		sort.Strings(late)
		w.fire(fmt.Sprintf("operations over the bound of %v: %s", w.bound, strings.Join(late, "; ")))
	}
}

func (w *watchdog) fire(msg string) {
	w.mu.Lock()
	first := !w.tripped
	w.tripped = true
	w.mu.Unlock()
	if first {
		w.trip(msg)
	}
}

func (w *watchdog) hasTripped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tripped
}

func (w *watchdog) summary() (total int, kinds string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for k, n := range w.count {
		total += n
		parts = append(parts, fmt.Sprintf("%s %d (slowest %v)", k, n, w.slowest[k].Round(time.Millisecond)))
	}
	sort.Strings(parts)
	return total, strings.Join(parts, ", ")
}

// vmStatus reads a field of /proc/PID/status in bytes.
func vmStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// compareStream reads r to its end through buf and compares it with the
// first size bytes of stream(seed) from offset off; each Read is one
// watchdog operation.
func compareStream(wd *watchdog, name string, r io.Reader, seed uint64, off, size int64, buf []byte) error {
	want := io.LimitReader(stream(seed), off+size)
	if _, err := io.CopyN(io.Discard, want, off); err != nil {
		return err
	}
	wbuf := make([]byte, len(buf))
	pos := off
	for {
		var n int
		err := wd.do("read", name, func() (err error) { n, err = r.Read(buf); return err })
		if n > 0 {
			if _, werr := io.ReadFull(want, wbuf[:n]); werr != nil {
				return fmt.Errorf("%s: %d bytes past the expected %d", name, pos+int64(n)-off, size)
			}
			if !bytes.Equal(buf[:n], wbuf[:n]) {
				i := 0
				for buf[i] == wbuf[i] {
					i++
				}
				return fmt.Errorf("%s: wrong byte at offset %d (of %d)", name, pos+int64(i), off+size)
			}
			pos += int64(n)
		}
		if errors.Is(err, io.EOF) {
			if pos != off+size {
				return fmt.Errorf("%s: ended at offset %d, want %d", name, pos, off+size)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: read at offset %d: %w", name, pos, err)
		}
	}
}

// envDuration is the duration in the environment variable name, or def.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q is not a positive duration", name, v)
	}
	return d
}

// TestSoak runs writers and readers of files of mixed sizes against the
// real binary over MinIO through the fault proxy (about soakFaultRate of
// the requests get a transient fault) for OBSFS_SOAK_DURATION (default
// 20 s; make stress: 10 minutes). Writers write, close and read back each
// file, then publish it to the readers, and unlink their older files;
// readers read committed files whole or in ranges and compare. It fails
// on any wrong byte or error, on any system call on the mount that runs
// over soakOpBound (a watchdog, which then dumps obsfs's goroutines), when
// obsfs's RSS passes its budgets + soakOverhead, when goroutines of obsfs
// remain after unmount (mounttest), and unless the bucket holds exactly
// the committed files, byte-exact out of band, and no multipart upload.
// OBSFS_SOAK_SEED replays a run's workload and fault draws (their
// interleaving follows the scheduler); OBSFS_SOAK_RACE=1 runs obsfs built
// with -race.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a soak")
	}
	duration := envDuration(t, "OBSFS_SOAK_DURATION", 20*time.Second)
	opBound := envDuration(t, "OBSFS_SOAK_OP_BOUND", soakOpBound) // lower it to see the watchdog trip
	seed := time.Now().UnixNano()
	if v := os.Getenv("OBSFS_SOAK_SEED"); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("OBSFS_SOAK_SEED=%q: %v", v, err)
		}
		seed = s
	}
	race := os.Getenv("OBSFS_SOAK_RACE") == "1"
	t.Logf("soak seed %d (rerun with OBSFS_SOAK_SEED=%d), %v, operation bound %v, obsfs race build %v", seed, seed, duration, opBound, race)

	srv := miniotest.Shared(t, miniotest.Options{})
	proxy, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	m := mounttest.Start(t, srv, mounttest.Options{Endpoint: proxy.URL(), Race: race, Args: []string{
		"--part-size", strconv.Itoa(soakPartSize), "--write-buffer", strconv.Itoa(soakWriteBuffer),
		"--cache-size", strconv.Itoa(soakCacheSize), "--read-ahead-buffer", strconv.Itoa(soakReadAhead),
		"--upload-concurrency", "4", "--parts-per-tier", "2"}})
	t.Cleanup(func() { // before the mount's own cleanup (the log goes with its directory)
		if t.Failed() {
			path := filepath.Join(os.TempDir(), fmt.Sprintf("obsfs-soak-%d.log", seed))
			if err := os.WriteFile(path, []byte(m.Log()), 0o644); err == nil {
				t.Logf("obsfs's whole log: %s", path)
			}
		}
	})
	faults := mixedFaults(proxy, soakFaultRate, seed)
	// An obsfs built with -race is not bounded: the race detector's shadow
	// memory grows with the heap and with every goroutine ever started
	// (measured: 444 MiB after 1 minute, over 700 MiB after 7). Past
	// rssAbort, in either build, obsfs is stopped: a runaway must not take
	// the machine's memory.
	rssLimit := int64(soakWriteBuffer + soakCacheSize + soakReadAhead + soakOverhead)
	rssAbort := max(4*rssLimit, 1<<30)
	if race {
		rssLimit, rssAbort = 1<<62, 4<<30
	}

	ctx, stop := context.WithTimeout(context.Background(), duration)
	defer stop()
	// The watchdog trips inside a worker's or the background goroutine,
	// which the test waits for.
	wd := newWatchdog(opBound, func(msg string) {
		t.Errorf("watchdog: %s; stopping obsfs with SIGQUIT for its goroutine dump (blocked calls then fail)", msg)
		stop()
		dump := m.Quit(t)
		if len(dump) > 256<<10 {
			dump = dump[:256<<10] + "\n[...]"
		}
		t.Logf("obsfs's goroutines:\n%s", dump)
	})

	// Background: the watchdog's check, RSS samples, and forgetting the
	// proxy's request records (a long soak makes millions).
	var peakRSS, samples int64
	var requests int
	overLimit := false
	bgDone := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-bgDone:
				return
			case <-tick.C:
			}
			wd.check()
			if rss, err := vmStatus(m.Pid(), "VmRSS"); err == nil {
				peakRSS, samples = max(peakRSS, rss), samples+1
				if rss > rssLimit && !overLimit {
					overLimit = true
					t.Errorf("obsfs RSS %d MiB over the limit %d MiB", rss>>20, rssLimit>>20)
				}
				if rss > rssAbort {
					wd.fire(fmt.Sprintf("obsfs RSS %d MiB, over %d MiB", rss>>20, rssAbort>>20))
				}
			}
			if i%50 == 0 {
				requests += len(proxy.Requests())
				proxy.ClearRequests()
			}
		}
	}()

	reg := newSoakRegistry()
	var statsMu sync.Mutex
	var filesWritten, filesRead int
	var bytesWritten, bytesRead int64
	failed := func(err error) {
		t.Error(err)
		stop()
	}
	var wg sync.WaitGroup
	for w := range soakWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			dir := fmt.Sprintf("w%d", w)
			if err := wd.do("mkdir", dir, func() error { return os.Mkdir(m.Path(dir), 0o755) }); err != nil {
				failed(err)
				return
			}
			var mine []*soakFile
			buf := make([]byte, 1<<20)
			for i := 0; ctx.Err() == nil; i++ {
				f := &soakFile{name: fmt.Sprintf("%s/f%05d", dir, i), seed: rng.Uint64(), size: soakSize(rng)}
				if err := soakWrite(wd, m.Path(f.name), f, rng, buf); err != nil {
					failed(err)
					return
				}
				if err := soakVerify(wd, m.Path(f.name), f, buf); err != nil {
					failed(fmt.Errorf("reading back after close: %w (the bucket: %s)", err, soakObject(m, f)))
					return
				}
				reg.add(f)
				mine = append(mine, f)
				statsMu.Lock()
				filesWritten++
				bytesWritten += f.size
				statsMu.Unlock()
				if len(mine) > soakKeepFiles {
					old := mine[0]
					mine = mine[1:]
					reg.retire(old)
					if err := wd.do("unlink", old.name, func() error { return os.Remove(m.Path(old.name)) }); err != nil {
						failed(err)
						return
					}
					reg.unlinked(old.name)
				}
			}
		}()
	}
	for r := range soakReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(1000+r)))
			buf := make([]byte, 1<<20)
			for ctx.Err() == nil {
				if rng.IntN(20) == 0 {
					if err := soakReaddir(wd, m, reg, fmt.Sprintf("w%d", rng.IntN(soakWriters))); err != nil {
						failed(err)
						return
					}
					continue
				}
				f := reg.acquire(rng)
				if f == nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				n, err := soakRead(wd, m.Path(f.name), f, rng, buf)
				reg.release(f)
				if err != nil {
					failed(fmt.Errorf("%w (the bucket: %s)", err, soakObject(m, f)))
					return
				}
				statsMu.Lock()
				filesRead++
				bytesRead += n
				statsMu.Unlock()
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	elapsed := time.Since(start)
	close(bgDone)
	bg.Wait()
	requests += len(proxy.Requests())

	ops, kinds := wd.summary()
	var hits []string
	injected := 0
	for name, id := range faults {
		hits = append(hits, fmt.Sprintf("%s %d", name, proxy.Hits(id)))
		injected += proxy.Hits(id)
	}
	sort.Strings(hits)
	t.Logf("%v: %d files written (%d MiB), %d read (%d MiB): %.1f MiB/s; %d operations, %.0f/s: %s",
		elapsed.Round(time.Second), filesWritten, bytesWritten>>20, filesRead, bytesRead>>20,
		float64(bytesWritten+bytesRead)/(1<<20)/elapsed.Seconds(), ops, float64(ops)/elapsed.Seconds(), kinds)
	t.Logf("%d requests, %d faults injected (%.1f %%): %s", requests, injected, 100*float64(injected)/float64(max(requests, 1)), strings.Join(hits, ", "))
	if wd.hasTripped() {
		return // obsfs is gone
	}
	hwm, err := vmStatus(m.Pid(), "VmHWM")
	if err != nil {
		t.Fatalf("obsfs: %v", err) // it died
	}
	t.Logf("obsfs RSS: peak %d MiB (VmHWM), highest of %d samples %d MiB; limit %d MiB = budgets %d MiB + overhead %d MiB%s",
		hwm>>20, samples, peakRSS>>20, (soakWriteBuffer+soakCacheSize+soakReadAhead+soakOverhead)>>20,
		(soakWriteBuffer+soakCacheSize+soakReadAhead)>>20, soakOverhead>>20, map[bool]string{true: " (not enforced: race build)"}[race])
	if peak := max(hwm, peakRSS); peak > rssLimit { // the kernel updates VmHWM lazily
		t.Errorf("obsfs peak RSS %d MiB over the limit %d MiB", peak>>20, rssLimit>>20)
	}
	if t.Failed() {
		return
	}
	if filesWritten < soakWriters || filesRead == 0 {
		t.Errorf("the soak did too little to count: %d files written, %d read", filesWritten, filesRead)
	}

	// Unmount (mounttest checks the exit and that no goroutine was left),
	// then the bucket, out of band.
	m.Unmount(t)
	log := m.Log()
	t.Logf("obsfs log: %s", logSummary(log))
	if errs := logLines(log, "level=error", 5); errs != "" {
		t.Logf("obsfs's errors (retried, or of operations the soak does not see):\n%s", errs)
	}
	soakCheckBucket(t, m, reg)
}

// soakObject describes f's object in the bucket, for a failure message.
func soakObject(m *mounttest.Mount, f *soakFile) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := m.Client.GetObject(ctx, &obsclient.GetObjectInput{Bucket: m.Bucket, Key: m.Key(f.name)})
	if err != nil {
		return err.Error()
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return err.Error()
	}
	want, _ := io.ReadAll(io.LimitReader(stream(f.seed), f.size))
	i := 0
	for i < len(data) && i < len(want) && data[i] == want[i] {
		i++
	}
	return fmt.Sprintf("%d bytes, ETag %s, last modified %v, equal to the expected %d bytes for its first %d",
		len(data), out.ETag, out.LastModified, f.size, i)
}

// soakWrite creates f.name and writes its content in chunks of random
// sizes, sometimes through a read-write descriptor and sometimes with an
// fsync half way, then closes it (which commits).
func soakWrite(wd *watchdog, path string, f *soakFile, rng *rand.Rand, buf []byte) error {
	flags := os.O_WRONLY
	if rng.IntN(4) == 0 {
		flags = os.O_RDWR
	}
	var fd *os.File
	if err := wd.do("open", f.name, func() (err error) {
		fd, err = os.OpenFile(path, flags|os.O_CREATE|os.O_TRUNC, 0o644)
		return err
	}); err != nil {
		return err
	}
	syncAt := int64(-1)
	if f.size > 0 && rng.IntN(8) == 0 {
		syncAt = rng.Int64N(f.size)
	}
	src := io.LimitReader(stream(f.seed), f.size)
	var off int64
	for off < f.size {
		n := min(f.size-off, chunkSize(rng))
		if _, err := io.ReadFull(src, buf[:n]); err != nil {
			fd.Close()
			return err
		}
		if err := wd.do("write", f.name, func() error { _, err := fd.Write(buf[:n]); return err }); err != nil {
			fd.Close()
			return fmt.Errorf("write %s at %d: %w", f.name, off, err)
		}
		if off < syncAt && syncAt <= off+n {
			if err := wd.do("fsync", f.name, fd.Sync); err != nil {
				fd.Close()
				return fmt.Errorf("fsync %s at %d: %w", f.name, off+n, err)
			}
		}
		off += n
	}
	if err := wd.do("close", f.name, fd.Close); err != nil {
		return fmt.Errorf("close %s (%d bytes): %w", f.name, f.size, err)
	}
	return nil
}

// chunkSize draws the size of one write or read: small ones, and large
// ones up to 1 MiB (the FUSE maximum).
func chunkSize(rng *rand.Rand) int64 {
	if rng.IntN(4) == 0 {
		return 1 + rng.Int64N(8<<10)
	}
	return 64<<10 + rng.Int64N(1<<20-64<<10+1)
}

// readChunk draws the buffer size of one reader: 4 KiB to 1 MiB.
func readChunk(rng *rand.Rand) int64 {
	if rng.IntN(4) == 0 {
		return 4<<10 + rng.Int64N(60<<10)
	}
	return 64<<10 + rng.Int64N(1<<20-64<<10+1)
}

// soakVerify stats and reads f whole through the mount.
func soakVerify(wd *watchdog, path string, f *soakFile, buf []byte) error {
	var st os.FileInfo
	if err := wd.do("stat", f.name, func() (err error) { st, err = os.Stat(path); return err }); err != nil {
		return err
	}
	if st.Size() != f.size {
		return fmt.Errorf("%s: stat size %d, want %d", f.name, st.Size(), f.size)
	}
	var fd *os.File
	if err := wd.do("open", f.name, func() (err error) { fd, err = os.Open(path); return err }); err != nil {
		return err
	}
	err := compareStream(wd, f.name, fd, f.seed, 0, f.size, buf)
	if cerr := wd.do("close", f.name, fd.Close); err == nil {
		err = cerr
	}
	return err
}

// soakRead reads a committed file: whole, or a random range with pread,
// in chunks of random sizes. It returns the bytes read.
func soakRead(wd *watchdog, path string, f *soakFile, rng *rand.Rand, buf []byte) (int64, error) {
	if f.size == 0 || rng.IntN(3) != 0 {
		if err := soakVerify(wd, path, f, buf[:readChunk(rng)]); err != nil {
			return 0, err
		}
		return f.size, nil
	}
	var fd *os.File
	if err := wd.do("open", f.name, func() (err error) { fd, err = os.Open(path); return err }); err != nil {
		return 0, err
	}
	off := rng.Int64N(f.size)
	n := 1 + rng.Int64N(min(f.size-off, 3<<20))
	err := compareStream(wd, f.name, io.NewSectionReader(fd, off, n), f.seed, off, n, buf[:readChunk(rng)])
	if cerr := wd.do("close", f.name, fd.Close); err == nil {
		err = cerr
	}
	return n, err
}

// soakReaddir lists dir: every file live before and after the listing
// must be in it.
func soakReaddir(wd *watchdog, m *mounttest.Mount, reg *soakRegistry, dir string) error {
	before := reg.snapshot(dir)
	var ents []os.DirEntry
	err := wd.do("readdir", dir, func() (err error) { ents, err = os.ReadDir(m.Path(dir)); return err })
	if errors.Is(err, os.ErrNotExist) && len(before) == 0 {
		return nil // its writer has not made it yet
	}
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, e := range ents {
		listed[e.Name()] = true
	}
	for name := range reg.snapshot(dir) {
		if before[name] && !listed[name] {
			return fmt.Errorf("readdir %s: committed file %s missing", dir, name)
		}
	}
	return nil
}

// soakCheckBucket checks, out of band, that the bucket holds exactly the
// committed files (and the writers' directory markers), byte-exact, and no
// multipart upload.
func soakCheckBucket(t *testing.T, m *mounttest.Mount, reg *soakRegistry) {
	t.Helper()
	ctx := t.Context()
	want := map[string]*soakFile{}
	for _, f := range reg.live {
		want[m.Key(f.name)] = f
	}
	for w := range soakWriters {
		want[m.Key(fmt.Sprintf("w%d/", w))] = nil
	}
	got := map[string]int64{}
	for marker := ""; ; {
		out, err := m.Client.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: m.Bucket, Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			got[o.Key] = o.Size
		}
		if !out.IsTruncated {
			break
		}
		marker = out.NextMarker
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("the bucket holds %s, which is no committed file (unlinked: %v)", key, slices.Contains(reg.deleted, strings.TrimPrefix(key, m.Prefix)))
		}
	}
	for key, f := range want {
		size, ok := got[key]
		switch {
		case !ok:
			t.Errorf("%s is missing from the bucket", key)
		case f == nil:
		case size != f.size:
			t.Errorf("%s: %d bytes in the bucket, want %d", key, size, f.size)
		default:
			out, err := m.Client.GetObject(ctx, &obsclient.GetObjectInput{Bucket: m.Bucket, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := md5Of(t, out.Body), md5Of(t, io.LimitReader(stream(f.seed), f.size)); got != want {
				t.Errorf("%s: content differs out of band", key)
			}
			out.Body.Close()
		}
	}
	m.RequireNoUploads(t)
	t.Logf("bucket: %d committed files exact out of band, %d unlinked ones absent, no multipart upload left", len(reg.live), len(reg.deleted))
}

// logSummary counts a logrus log's warning and error lines by message.
func logSummary(log string) string {
	counts := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		level, ok := logField(line, "level")
		if !ok || (level != "warning" && level != "error") {
			continue
		}
		msg, _ := logField(line, "msg")
		counts[level+": "+msg]++
	}
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%dx %s", n, k))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "no warning or error"
	}
	return strings.Join(parts, "; ")
}

// logField returns the value of key=value in a logrus text line, unquoted.
func logField(line, key string) (string, bool) {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return "", false
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		if q, err := strconv.QuotedPrefix(v); err == nil {
			u, _ := strconv.Unquote(q)
			return u, true
		}
	}
	v, _, _ = strings.Cut(v, " ")
	return v, true
}

// logLines returns up to n lines of log that contain sub.
func logLines(log, sub string, n int) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, sub) && len(out) < n {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
