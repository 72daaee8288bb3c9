package writeback

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/obsclient/obsfake"
	"github.com/sirupsen/logrus"
)

// TestModel drives one File with random writes at random offsets,
// truncates, reads, flushes and reopens, against an in-memory model of the
// file, with hostile and small caches, tight memory budgets and injected
// store failures. Invariants:
//   - reads always return the model's bytes;
//   - after a successful Flush the store holds exactly the model's bytes;
//   - after a failure the store holds a state the file really had (the last
//     commit, or an early commit the layer made on its own, which may catch
//     a write spanning pages between two of them) — never a mix — and no
//     multipart upload is left.
//
// Every transition of a part is checked (checkInvariants, parts.go), and
// between operations, with nothing in flight, the write buffer holds
// exactly the bytes the files' buffers reserve.
//
// Reproduce a failure with OBSFS_MODEL_SEED=<seed>; sweep seeds with
// OBSFS_MODEL_SEEDS=<first>-<last>.
func TestModel(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	if s := os.Getenv("OBSFS_MODEL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = []uint64{n}
	}
	if s := os.Getenv("OBSFS_MODEL_SEEDS"); s != "" {
		a, b, ok := strings.Cut(s, "-")
		first, err1 := strconv.ParseUint(a, 10, 64)
		last, err2 := strconv.ParseUint(b, 10, 64)
		if !ok || err1 != nil || err2 != nil || last < first {
			t.Fatalf("OBSFS_MODEL_SEEDS=%q: want <first>-<last>", s)
		}
		seeds = nil
		for n := first; n <= last; n++ {
			seeds = append(seeds, n)
		}
	}
	ops := 300
	if testing.Short() {
		ops = 100
	}
	for _, budget := range []int64{4 * testPage, 8 * testPage, 32 * testPage} {
		for cname, mk := range map[string]func(*testing.T) Cache{
			"hostile":   func(*testing.T) Cache { return hostileCache{} },
			"small":     func(t *testing.T) Cache { return mustCache(t, 2*testPage) },
			"ristretto": func(t *testing.T) Cache { return mustCache(t, 64<<20) },
		} {
			for _, faults := range []float64{0, 0.02} {
				for _, seed := range seeds {
					name := fmt.Sprintf("budget=%dpages/cache=%s/faults=%v/seed=%d", budget/testPage, cname, faults, seed)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						runModel(t, seed, ops, budget, mk(t), faults)
					})
				}
			}
		}
	}
}

func mustCache(t *testing.T, n int64) Cache {
	c, err := NewBlockCache(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

const modelMax = 14 * testPage // parts of 1, 1, 2, 2, 4, 4 pages (PartSize one page, TierParts 2); the larger ones are staged with small budgets

func runModel(t *testing.T, seed uint64, nops int, budget int64, cache Cache, faultRate float64) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, seed*7919+1))
	fr := rand.New(rand.NewPCG(seed+100, 3))
	store := obsfake.New()
	store.MinPartSize = pageSize
	var injecting atomic.Bool
	var frMu = make(chan struct{}, 1)
	store.Fault = func(op string, in any) error {
		if !injecting.Load() || op == "AbortMultipartUpload" || op == "HeadObject" {
			return nil
		}
		frMu <- struct{}{}
		hit := fr.Float64() < faultRate
		<-frMu
		if hit {
			return &obsclient.Error{Status: 503, Code: "ServiceUnavailable", RequestID: "injected-" + op}
		}
		return nil
	}
	trace := os.Getenv("OBSFS_MODEL_TRACE") != ""
	m := newTestManager(t, store, cache, func(c *Config) {
		c.WriteBuffer = budget
		if trace {
			l := logrus.New()
			l.SetLevel(logrus.DebugLevel)
			c.Logger = logrus.NewEntry(l)
		}
	})
	logf := func(format string, args ...any) {
		if trace {
			t.Logf(format, args...)
		}
	}
	if trace {
		store.Fault = func(inner func(string, any) error) func(string, any) error {
			return func(op string, in any) error {
				err := inner(op, in)
				if err != nil {
					t.Logf("fault on %s", op)
				}
				return err
			}
		}(store.Fault)
	}
	key := "model/file"
	var cur []byte       // the file as the application sees it
	var committed []byte // what the last commit stored
	exists := false
	states := map[[16]byte]bool{} // states the file had since the last commit
	note := func() {
		if faultRate > 0 { // only failures need the history
			states[md5.Sum(cur)] = true
		}
	}
	// noteParts notes the states a write of data at off passes through:
	// it is applied page by page, in order, and a commit the layer makes
	// on its own (memory pressure, a part that must be committed to be
	// patched) may catch it between two pages, as a crash can catch any
	// filesystem in the middle of a write(2).
	noteParts := func(off int64, data []byte) {
		if faultRate == 0 {
			return
		}
		for b := (off/testPage + 1) * testPage; b < off+int64(len(data)); b += testPage {
			st := bytes.Clone(cur)
			if b > int64(len(st)) {
				st = append(st, make([]byte, b-int64(len(st)))...)
			}
			copy(st[off:b], data[:b-off])
			states[md5.Sum(st)] = true
		}
	}
	f := m.Open(key, Version{})
	note()

	fail := func(step int, what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrDiscarded) && obsclient.Code(err) != "ServiceUnavailable" {
			t.Fatalf("seed %d step %d: %s failed with an error that was not injected: %v", seed, step, what, err)
		}
		if ferr := f.Flush(ctx); ferr == nil {
			t.Fatalf("seed %d step %d: flush after a failure succeeded", seed, step)
		}
		got, ok := store.Object(key)
		if (!ok && exists) || (ok && !states[md5.Sum(got)]) {
			t.Fatalf("seed %d step %d: after a failure the store holds %d bytes matching no state the file had", seed, step, len(got))
		}
		if n := store.Uploads(); n != 0 {
			t.Fatalf("seed %d step %d: %d multipart uploads left after a failure", seed, step, n)
		}
		f.Close()
		// Start again from what the store holds.
		if ok {
			cur, committed, exists = got, append([]byte(nil), got...), true
			h, err := store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: testBucket, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			f = m.Open(key, Version{Exists: true, Size: h.Size, ETag: h.ETag})
		} else {
			cur, committed, exists = nil, nil, false
			f = m.Open(key, Version{})
		}
		clear(states)
		note()
	}

	for step := 0; step < nops; step++ {
		checkBudgetQuiet(t, m, seed, step)
		injecting.Store(faultRate > 0)
		switch op := r.IntN(20); {
		case op < 9: // write
			var off int64
			switch r.IntN(5) {
			case 0:
				off = int64(len(cur)) // append
			case 1:
				off = int64(r.IntN(len(cur) + 1))
			case 2:
				off = int64(len(cur) + r.IntN(2*testPage)) // past the end: a hole
			default:
				off = int64(r.IntN(modelMax))
			}
			n := 1 + r.IntN(testPage)
			if r.IntN(10) == 0 {
				n = 1 + r.IntN(2*testPage)
			}
			if off+int64(n) > modelMax {
				n = int(modelMax - off)
			}
			if n <= 0 {
				continue
			}
			data := randBytes(r, n)
			logf("step %d: write %d at %d", step, n, off)
			noteParts(off, data)
			if _, err := f.WriteAt(ctx, data, off); err != nil {
				fail(step, "write", err)
				continue
			}
			if int(off)+n > len(cur) {
				cur = append(cur, make([]byte, int(off)+n-len(cur))...)
			}
			copy(cur[off:], data)
			note()
		case op < 11: // truncate
			size := int64(r.IntN(modelMax + 1))
			if r.IntN(3) == 0 {
				size = int64(r.IntN(len(cur) + 1))
			}
			logf("step %d: truncate %d", step, size)
			if err := f.Truncate(ctx, size); err != nil {
				fail(step, "truncate", err)
				continue
			}
			if int(size) <= len(cur) {
				cur = cur[:size]
			} else {
				cur = append(cur, make([]byte, int(size)-len(cur))...)
			}
			note()
		case op < 16: // read
			off := int64(r.IntN(len(cur) + 2))
			buf := make([]byte, 1+r.IntN(3*testPage))
			n, err := f.ReadAt(ctx, buf, off)
			if err != nil && err != io.EOF {
				if f.Err() != nil {
					fail(step, "read", err)
				} else if obsclient.Code(err) != "ServiceUnavailable" {
					t.Fatalf("seed %d step %d: read: %v", seed, step, err)
				}
				continue
			}
			want := []byte{}
			if off < int64(len(cur)) {
				want = cur[off:min(int(off)+len(buf), len(cur))]
			}
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("seed %d step %d: read %d bytes at %d: differs from the model (got %d bytes, want %d)", seed, step, len(buf), off, n, len(want))
			}
			if int64(n) < int64(len(buf)) && err != io.EOF {
				t.Fatalf("seed %d step %d: short read without EOF", seed, step)
			}
		case op < 18: // flush
			logf("step %d: flush", step)
			if err := f.Flush(ctx); err != nil {
				fail(step, "flush", err)
				continue
			}
			injecting.Store(false)
			got, ok := store.Object(key)
			if !ok || !bytes.Equal(got, cur) {
				t.Fatalf("seed %d step %d: after flush the store holds %d bytes (exists %v), the file %d; %s", seed, step, len(got), ok, len(cur), firstDiff(got, cur))
			}
			committed, exists = append([]byte(nil), cur...), true
			_ = committed
			clear(states)
			note()
		default: // reopen
			logf("step %d: reopen", step)
			if err := f.Close(); err != nil {
				fail(step, "close", err)
				continue
			}
			injecting.Store(false)
			got, ok := store.Object(key)
			if !ok || !bytes.Equal(got, cur) {
				t.Fatalf("seed %d step %d: after close the store holds %d bytes, the file %d; %s", seed, step, len(got), len(cur), firstDiff(got, cur))
			}
			if n := store.Uploads(); n != 0 {
				t.Fatalf("seed %d step %d: %d uploads left after close", seed, step, n)
			}
			h, err := store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: testBucket, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			committed, exists = append([]byte(nil), cur...), true
			_ = committed
			f = m.Open(key, Version{Exists: true, Size: h.Size, ETag: h.ETag})
			clear(states)
			note()
		}
	}
	injecting.Store(false)
	if err := f.Close(); err != nil {
		// An upload started while faults were injected may fail now.
		if obsclient.Code(err) != "ServiceUnavailable" {
			t.Fatalf("seed %d: final close: %v", seed, err)
		}
		got, ok := store.Object(key)
		if (!ok && exists) || (ok && faultRate > 0 && !states[md5.Sum(got)]) {
			t.Fatalf("seed %d: after a failed final close the store holds a state the file never had", seed)
		}
	} else if got, _ := store.Object(key); !bytes.Equal(got, cur) {
		t.Fatalf("seed %d: final object differs", seed)
	}
	if store.Uploads() != 0 {
		t.Fatalf("seed %d: uploads left", seed)
	}
}

// firstDiff describes where two byte slices first differ.
func firstDiff(a, b []byte) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			j := i
			for j < min(len(a), len(b)) && a[j] != b[j] {
				j++
			}
			return fmt.Sprintf("first difference at %d (page %d), differing run to %d", i, i/testPage, j)
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}

// checkBudgetQuiet checks, when nothing runs in the background (no part
// uploading or copied, no early commit), that the write buffer holds
// exactly what the open files' buffers reserve: no budget leaked or
// charged twice. With work in flight it checks nothing.
func checkBudgetQuiet(t *testing.T, m *Manager, seed uint64, step int) {
	t.Helper()
	m.mu.Lock()
	busy := m.relieving
	files := make([]*File, 0, len(m.files))
	for f := range m.files {
		files = append(files, f)
	}
	m.mu.Unlock()
	if busy || m.inflight.Load() > 0 {
		return
	}
	var reserved int64
	for _, f := range files {
		f.mu.Lock()
		if f.run != nil || f.stagedBusy > 0 {
			busy = true
		}
		reserved += f.parts.reserved
		f.mu.Unlock()
	}
	if used := m.budget.used.Load(); !busy && m.inflight.Load() == 0 && used != reserved {
		t.Fatalf("seed %d step %d: the write buffer holds %d bytes, the files' buffers reserve %d", seed, step, used, reserved)
	}
}
