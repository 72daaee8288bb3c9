package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/obsclient"
)

// Peer benchmarks: the same workload through obsfs and each peer
// (peers_test.go), one after the other in each iteration (alternating
// which goes first), each on a mount of its own bucket behind a counting
// proxy. Run them with `make bench BENCH='MetadataMix|SmallFiles'
// BENCHTIME=1x`. Each logs one table line per tool (`make bench` repeats
// them in its summary) and reports per tool metrics named TOOL-...; the
// ratios are obsfs's figure over s3fs's (above 1: obsfs is faster).

// mixConfig sizes BenchmarkMetadataMix.
type mixConfig struct {
	workers  int   // in parallel, each in a directory of its own
	ops      int   // per worker
	maxSize  int64 // largest size a truncate sets
	maxWrite int   // largest write, append or read
}

// mixDefaults keep a run of both tools within minutes on a 2-core
// machine with MinIO on the same cores (which copies every byte of a
// server-side copy). $OBSFS_BENCH_MIX_OPS sets another number of
// operations per worker, $OBSFS_BENCH_MIX_MAX_MIB another largest size.
var mixDefaults = mixConfig{workers: 4, ops: 300, maxSize: 32 << 20, maxWrite: 64 << 10}

// mixOp is one kind of operation of the mix.
type mixOp int

const (
	opCreate   mixOp = iota // create an empty file (open O_CREAT|O_EXCL, close)
	opMkdir                 // make a directory
	opWrite                 // pwrite 1 B–maxWrite at a random offset up to 1 MiB past the end
	opAppend                // write 1 B–maxWrite with O_APPEND
	opRead                  // pread up to maxWrite at a random offset, compared with the model
	opTruncate              // truncate(2) to a random size up to maxSize: mostly holes
	opRename                // rename a file to a new name in a random directory
	opUnlink                // unlink a file
	opReaddir               // list a directory, compared with the model
	opStat                  // stat a file, compared with the model
	nMixOps
)

var mixOpNames = [nMixOps]string{"create", "mkdir", "write", "append", "read", "truncate", "rename", "unlink", "readdir", "stat"}

// mixWeights are the operations' relative frequencies, after fsstress's
// defaults without the operations an object store lacks (links,
// fallocate, chown...).
var mixWeights = [nMixOps]int{opCreate: 10, opMkdir: 2, opWrite: 16, opAppend: 6, opRead: 8, opTruncate: 6,
	opRename: 6, opUnlink: 4, opReaddir: 2, opStat: 4}

// mixExtent is bytes written at off.
type mixExtent struct {
	off  int64
	data []byte // never modified once in an extent (slices share it)
}

// mixFile is the model of a file: its size and the bytes written into it
// (sorted, disjoint extents within size); the rest are zeros.
type mixFile struct {
	path string // relative to the worker's directory
	size int64
	ext  []mixExtent
}

func (f *mixFile) write(off int64, p []byte) {
	end := off + int64(len(p))
	var out []mixExtent
	for _, e := range f.ext {
		eEnd := e.off + int64(len(e.data))
		if eEnd <= off || e.off >= end {
			out = append(out, e)
			continue
		}
		if e.off < off {
			out = append(out, mixExtent{e.off, e.data[:off-e.off]})
		}
		if eEnd > end {
			out = append(out, mixExtent{end, e.data[end-e.off:]})
		}
	}
	out = append(out, mixExtent{off, slices.Clone(p)})
	slices.SortFunc(out, func(a, b mixExtent) int { return int(a.off - b.off) })
	f.ext = out
	f.size = max(f.size, end)
}

func (f *mixFile) truncate(size int64) {
	var out []mixExtent
	for _, e := range f.ext {
		if e.off < size {
			out = append(out, mixExtent{e.off, e.data[:min(int64(len(e.data)), size-e.off)]})
		}
	}
	f.ext, f.size = out, size
}

// render fills p with the model's bytes at off.
func (f *mixFile) render(off int64, p []byte) {
	clear(p)
	end := off + int64(len(p))
	for _, e := range f.ext {
		eEnd := e.off + int64(len(e.data))
		if eEnd <= off || e.off >= end {
			continue
		}
		lo, hi := max(off, e.off), min(end, eEnd)
		copy(p[lo-off:hi-off], e.data[lo-e.off:hi-e.off])
	}
}

// mixWorker runs one worker's operations in its directory and keeps the
// model of its tree. Its choices depend only on its seed and its model,
// so every tool is given the same operations.
type mixWorker struct {
	root  string // its directory
	cfg   mixConfig
	rng   *rand.Rand
	dirs  []string   // relative paths of its directories, "" first
	files []*mixFile // in creation order, so that choices are deterministic
	seq   int        // numbers the names of new files and directories
	ops   [nMixOps]int
	// written is the bytes written and appended: what the mix changed.
	written int64
	buf     []byte
	// strict: a read that returns other bytes than the model's fails the
	// run (obsfs). Otherwise it is counted in wrongReads, and the run goes
	// on: a peer's data loss is a finding to report, not a reason to
	// measure nothing.
	strict     bool
	wrongReads int
	firstWrong string
}

func newMixWorker(root string, cfg mixConfig, seed uint64, id int, strict bool) *mixWorker {
	return &mixWorker{root: root, cfg: cfg, rng: rand.New(rand.NewPCG(seed, uint64(id))), dirs: []string{""},
		buf: make([]byte, cfg.maxWrite), strict: strict}
}

func (w *mixWorker) abs(rel string) string { return filepath.Join(w.root, rel) }

// pick draws the next operation; those that need a file create one while
// there is none.
func (w *mixWorker) pick() mixOp {
	total := 0
	for _, wt := range mixWeights {
		total += wt
	}
	n := w.rng.IntN(total)
	op := mixOp(0)
	for ; n >= mixWeights[op]; op++ {
		n -= mixWeights[op]
	}
	if len(w.files) == 0 && op != opMkdir && op != opReaddir {
		op = opCreate
	}
	return op
}

func (w *mixWorker) file() *mixFile { return w.files[w.rng.IntN(len(w.files))] }
func (w *mixWorker) dir() string    { return w.dirs[w.rng.IntN(len(w.dirs))] }

// parent is the relative directory of a relative path ("" at the top).
func parent(rel string) string {
	if d := path.Dir(rel); d != "." {
		return d
	}
	return ""
}

// newName is a new name for a file (f) or directory (d) in dir.
func (w *mixWorker) newName(kind, dir string) string {
	w.seq++
	return path.Join(dir, kind+strconv.Itoa(w.seq))
}

// data is n bytes of the worker's random stream.
func (w *mixWorker) data(n int) []byte {
	p := w.buf[:n]
	for i := 0; i < n; i += 8 {
		v := w.rng.Uint64()
		for j := i; j < min(i+8, n); j++ {
			p[j] = byte(v)
			v >>= 8
		}
	}
	return p
}

// checkSize compares a file's size with the model's.
func checkSize(fi os.FileInfo, f *mixFile) error {
	if !fi.Mode().IsRegular() || fi.Size() != f.size {
		return fmt.Errorf("stat: %v of %d bytes, want a regular file of %d", fi.Mode(), fi.Size(), f.size)
	}
	return nil
}

// writeAt writes p at off (append: at the end, with O_APPEND), checks the
// size with fstat, and closes.
func (w *mixWorker) writeAt(f *mixFile, off int64, p []byte, appending bool) error {
	flags := os.O_WRONLY
	if appending {
		flags |= os.O_APPEND
	}
	fd, err := os.OpenFile(w.abs(f.path), flags, 0)
	if err != nil {
		return err
	}
	if appending {
		_, err = fd.Write(p)
	} else {
		_, err = fd.WriteAt(p, off)
	}
	if err != nil {
		fd.Close()
		return err
	}
	f.write(off, p)
	w.written += int64(len(p))
	fi, err := fd.Stat()
	if err == nil {
		err = checkSize(fi, f)
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	return err
}

// step runs one operation and checks its result; it returns a
// description of it.
func (w *mixWorker) step() (string, error) {
	op := w.pick()
	w.ops[op]++
	switch op {
	case opCreate:
		f := &mixFile{path: w.newName("f", w.dir())}
		fd, err := os.OpenFile(w.abs(f.path), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			err = fd.Close()
		}
		w.files = append(w.files, f)
		return "create " + f.path, err
	case opMkdir:
		d := w.newName("d", w.dir())
		w.dirs = append(w.dirs, d)
		return "mkdir " + d, os.Mkdir(w.abs(d), 0o755)
	case opWrite:
		f := w.file()
		off := w.rng.Int64N(min(f.size+1<<20, w.cfg.maxSize))
		p := w.data(1 + w.rng.IntN(w.cfg.maxWrite))
		return fmt.Sprintf("write %s [%d, %d) (size %d)", f.path, off, off+int64(len(p)), f.size), w.writeAt(f, off, p, false)
	case opAppend:
		f := w.file()
		p := w.data(1 + w.rng.IntN(w.cfg.maxWrite))
		return fmt.Sprintf("append %d bytes to %s (size %d)", len(p), f.path, f.size), w.writeAt(f, f.size, p, true)
	case opRead:
		f := w.file()
		off := w.rng.Int64N(max(f.size, 1))
		n := min(int64(1+w.rng.IntN(w.cfg.maxWrite)), f.size-off)
		what := fmt.Sprintf("read %s [%d, %d) (size %d)", f.path, off, off+n, f.size)
		if n <= 0 {
			n = 1 // at the end of an empty file: expect nothing
		}
		fd, err := os.Open(w.abs(f.path))
		if err != nil {
			return what, err
		}
		defer fd.Close()
		got := make([]byte, n)
		k, err := fd.ReadAt(got, off)
		if err != nil && !(errors.Is(err, io.EOF) && (int64(k) == n || f.size == 0)) {
			return what, err
		}
		if f.size == 0 {
			if k != 0 {
				return what, fmt.Errorf("read %d bytes from an empty file", k)
			}
			return what, fd.Close()
		}
		want := make([]byte, n)
		f.render(off, want)
		if i := firstDiff(got, want); i >= 0 {
			err := fmt.Errorf("%s: byte %d (offset %d) is %#02x, want %#02x", what, i, off+int64(i), got[i], want[i])
			if w.strict {
				return what, err
			}
			if w.wrongReads++; w.firstWrong == "" {
				w.firstWrong = err.Error()
			}
		}
		return what, fd.Close()
	case opTruncate:
		f := w.file()
		size := w.rng.Int64N(w.cfg.maxSize + 1)
		what := fmt.Sprintf("truncate %s from %d to %d", f.path, f.size, size)
		if err := os.Truncate(w.abs(f.path), size); err != nil {
			return what, err
		}
		f.truncate(size)
		fi, err := os.Stat(w.abs(f.path))
		if err == nil {
			err = checkSize(fi, f)
		}
		return what, err
	case opRename:
		f := w.file()
		to := w.newName("f", w.dir())
		what := fmt.Sprintf("rename %s to %s", f.path, to)
		if err := os.Rename(w.abs(f.path), w.abs(to)); err != nil {
			return what, err
		}
		from := f.path
		f.path = to
		if _, err := os.Lstat(w.abs(from)); !errors.Is(err, fs.ErrNotExist) {
			return what, fmt.Errorf("the old name after the rename: %v, want ENOENT", err)
		}
		fi, err := os.Stat(w.abs(to))
		if err == nil {
			err = checkSize(fi, f)
		}
		return what, err
	case opUnlink:
		i := w.rng.IntN(len(w.files))
		f := w.files[i]
		w.files = slices.Delete(w.files, i, i+1)
		if err := os.Remove(w.abs(f.path)); err != nil {
			return "unlink " + f.path, err
		}
		if _, err := os.Lstat(w.abs(f.path)); !errors.Is(err, fs.ErrNotExist) {
			return "unlink " + f.path, fmt.Errorf("after unlink: %v, want ENOENT", err)
		}
		return "unlink " + f.path, nil
	case opReaddir:
		d := w.dir()
		what := "readdir " + d
		entries, err := os.ReadDir(w.abs(d))
		if err != nil {
			return what, err
		}
		var got, want []string
		for _, e := range entries {
			got = append(got, fmt.Sprintf("%s:%v", e.Name(), e.IsDir()))
		}
		for _, sub := range w.dirs[1:] {
			if parent(sub) == d {
				want = append(want, path.Base(sub)+":true")
			}
		}
		for _, f := range w.files {
			if parent(f.path) == d {
				want = append(want, path.Base(f.path)+":false")
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return what, fmt.Errorf("listed %v, want %v", got, want)
		}
		return what, nil
	case opStat:
		f := w.file()
		fi, err := os.Stat(w.abs(f.path))
		if err == nil {
			err = checkSize(fi, f)
		}
		return "stat " + f.path, err
	}
	panic("unknown op")
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// run runs the worker's operations until done or until another worker
// failed (stop).
func (w *mixWorker) run(stop *atomic.Bool) error {
	for i := range w.cfg.ops {
		if stop.Load() {
			return nil
		}
		t0 := time.Now()
		what, err := w.step()
		if os.Getenv("OBSFS_BENCH_MIX_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "%s %d: %s (%v) %v\n", w.root, i, what, time.Since(t0).Round(time.Millisecond), err)
		}
		if err != nil {
			stop.Store(true)
			return fmt.Errorf("%s: operation %d, %s (%v): %w", w.root, i, what, time.Since(t0).Round(time.Millisecond), err)
		}
	}
	return nil
}

// mixResult is one run of the mix through one tool.
type mixResult struct {
	ops     int
	wall    time.Duration
	written int64
	byOp    [nMixOps]int
	tally   reqTally
	// wrongReads are reads through the tool that returned other bytes
	// than written, wrongFiles files that hold other bytes in the bucket
	// afterwards (a peer's; obsfs's fail the run); first describes the
	// first of either.
	wrongReads, wrongFiles int
	first                  string
	files                  int // files at the end
}

// runMix runs the mix in directory run of m, with the given seed, and
// checks the bucket out of band afterwards. Unless strict, files of other
// bytes than the mix wrote are counted instead of failing the run.
func runMix(b *testing.B, m *peerMount, run string, cfg mixConfig, seed uint64, strict bool) mixResult {
	b.Helper()
	workers := make([]*mixWorker, cfg.workers)
	for i := range workers {
		root := m.path(fmt.Sprintf("%s/w%d", run, i))
		if err := os.MkdirAll(root, 0o755); err != nil {
			b.Fatalf("%s: %v", m.peer, err)
		}
		workers[i] = newMixWorker(root, cfg, seed, i, strict)
	}
	var stop atomic.Bool
	var g errgroup.Group
	m.proxy.ClearRequests()
	t0 := time.Now()
	for _, w := range workers {
		g.Go(func() error { return w.run(&stop) })
	}
	err := g.Wait()
	r := mixResult{wall: time.Since(t0), tally: tallyRequests(m.proxy.Requests())}
	if err != nil {
		b.Fatalf("%s: the mix failed after %v: %v", m.peer, r.wall.Round(time.Millisecond), err)
	}
	for i, w := range workers {
		for op, n := range w.ops {
			r.byOp[op] += n
			r.ops += n
		}
		r.written += w.written
		r.files += len(w.files)
		r.wrongReads += w.wrongReads
		if r.first == "" {
			r.first = w.firstWrong
		}
		wrong, first := checkMixOutOfBand(b, m, fmt.Sprintf("%s/w%d/", run, i), w, strict)
		r.wrongFiles += wrong
		if r.first == "" {
			r.first = first
		}
	}
	m.deletePrefix(b, run+"/")
	return r
}

// listKeys lists every key under prefix, with its size.
func listKeys(ctx context.Context, c *obsclient.Client, bucket, prefix string) (map[string]int64, error) {
	keys := map[string]int64{}
	in := obsclient.ListObjectsInput{Bucket: bucket, Prefix: prefix}
	for {
		out, err := c.ListObjects(ctx, &in)
		if err != nil {
			return nil, err
		}
		for _, o := range out.Contents {
			keys[o.Key] = o.Size
		}
		if !out.IsTruncated {
			return keys, nil
		}
		in.Marker = out.NextMarker
	}
}

// checkMixOutOfBand compares the objects under prefix (but directory
// markers) with worker w's model: the same names, sizes and bytes. Unless
// strict, objects of the right size but other bytes are counted, not
// failures: it returns their number and the first difference.
func checkMixOutOfBand(b *testing.B, m *peerMount, prefix string, w *mixWorker, strict bool) (wrong int, first string) {
	b.Helper()
	ctx := context.Background()
	keys, err := listKeys(ctx, m.client, m.bucket, prefix)
	if err != nil {
		b.Fatalf("%s: listing %s out of band: %v", m.peer, prefix, err)
	}
	for k := range keys {
		if strings.HasSuffix(k, "/") {
			delete(keys, k)
		}
	}
	want, got := make([]byte, 1<<20), make([]byte, 1<<20)
	for _, f := range w.files {
		key := prefix + f.path
		size, ok := keys[key]
		if !ok {
			b.Fatalf("%s: %s is not in the bucket after the mix", m.peer, key)
		}
		delete(keys, key)
		if size != f.size {
			b.Fatalf("%s: %s has %d bytes in the bucket, want %d", m.peer, key, size, f.size)
		}
		if size == 0 {
			continue
		}
		out, err := m.client.GetObject(ctx, &obsclient.GetObjectInput{Bucket: m.bucket, Key: key})
		if err != nil {
			b.Fatalf("%s: reading %s out of band: %v", m.peer, key, err)
		}
		for off := int64(0); off < size; off += int64(len(want)) {
			n := min(int64(len(want)), size-off)
			if _, err := io.ReadFull(out.Body, got[:n]); err != nil {
				out.Body.Close()
				b.Fatalf("%s: reading %s out of band at %d: %v", m.peer, key, off, err)
			}
			f.render(off, want[:n])
			if i := firstDiff(got[:n], want[:n]); i >= 0 {
				msg := fmt.Sprintf("%s in the bucket: byte %d is %#02x, want %#02x", key, off+int64(i), got[i], want[i])
				if strict {
					out.Body.Close()
					b.Fatalf("%s: %s", m.peer, msg)
				}
				if wrong++; first == "" {
					first = msg
				}
				break
			}
		}
		out.Body.Close()
	}
	if len(keys) > 0 {
		b.Fatalf("%s: objects in the bucket that the mix removed or renamed: %v", m.peer, keys)
	}
	return wrong, first
}

// BenchmarkMetadataMix runs an fsstress-like mix through obsfs and s3fs:
// 4 workers in parallel, each 300 operations in a directory of its own —
// creates, small writes at random offsets into files that truncates grow
// sparse up to 32 MiB, appends, reads, truncates, renames, unlinks,
// mkdirs, listings and stats (mixWeights), each checked where cheap
// (sizes by stat, reads and listings against the model). The operations
// are the same for every tool (seeded); every file in the bucket is
// compared with the model out of band afterwards. Per tool: ops/s, the
// requests it sent by S3 operation, the MiB it sent against the MiB the
// mix wrote, and the tool's wrong reads and files (s3fs 1.90 loses bytes
// written before a truncate(2) that extends the file). Ratio:
// obsfs/s3fs-ops/s. OBSFS_BENCH_MIX_TRACE=1 prints every operation with
// its duration on standard error.
func BenchmarkMetadataMix(b *testing.B) {
	cfg := mixDefaults
	if v := os.Getenv("OBSFS_BENCH_MIX_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("OBSFS_BENCH_MIX_OPS=%q: want a positive number of operations per worker", v)
		}
		cfg.ops = n
	}
	if v := os.Getenv("OBSFS_BENCH_MIX_MAX_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("OBSFS_BENCH_MIX_MAX_MIB=%q: want a positive number of MiB", v)
		}
		cfg.maxSize = int64(n) << 20
	}
	srv := miniotest.Shared(b, miniotest.Options{})
	mounts := mountPeers(b, srv)
	total := make([]mixResult, len(mounts))
	var counts [nMixOps]int
	var notes []string
	e2eLogLoad(b, "before")
	i := 0
	for b.Loop() {
		for j := range mounts {
			k := (i + j) % len(mounts) // alternate which goes first
			r := runMix(b, mounts[k], fmt.Sprintf("mix-%d", i), cfg, uint64(i+1), k == 0)
			b.Logf("iteration %d: %s %d ops in %.1fs, %.1f ops/s, %d requests", i, mounts[k].peer, r.ops,
				r.wall.Seconds(), float64(r.ops)/r.wall.Seconds(), r.tally.total)
			if r.wrongReads+r.wrongFiles > 0 {
				notes = append(notes, fmt.Sprintf("%s LOST DATA in iteration %d: %d reads returned other bytes than written, %d of %d files hold other bytes in the bucket; the first: %s",
					mounts[k].peer, i, r.wrongReads, r.wrongFiles, r.files, r.first))
			}
			t := &total[k]
			t.wrongReads += r.wrongReads
			t.wrongFiles += r.wrongFiles
			t.ops += r.ops
			t.wall += r.wall
			t.written += r.written
			t.tally = addTally(t.tally, r.tally)
			counts = r.byOp
		}
		i++
	}
	b.StopTimer()
	e2eLogLoad(b, "after")
	var mix []string
	for op, n := range counts {
		mix = append(mix, fmt.Sprintf("%s %d", mixOpNames[op], n))
	}
	notes = append([]string{fmt.Sprintf("the mix: %d workers × %d ops, files up to %d MiB, writes up to %d KiB; in the last iteration %s",
		cfg.workers, cfg.ops, cfg.maxSize>>20, cfg.maxWrite>>10, strings.Join(mix, ", "))}, notes...)
	lines := []string{peerTableHeader("op", "ops/s", "seconds", "MiB written", "sent/written", "wrong reads", "wrong files")}
	for k, m := range mounts {
		t := total[k]
		opsPerS := float64(t.ops) / t.wall.Seconds()
		amp := float64(t.tally.upBytes) / float64(max(t.written, 1))
		lines = append(lines, peerTableRow(m.peer, t.ops, t.tally, fmt.Sprintf("%.1f", opsPerS),
			fmt.Sprintf("%.1f", t.wall.Seconds()), fmt.Sprintf("%.1f", float64(t.written)/(1<<20)), fmt.Sprintf("%.1f", amp),
			fmt.Sprint(t.wrongReads), fmt.Sprint(t.wrongFiles)))
		b.ReportMetric(opsPerS, m.peer+"-ops/s")
		b.ReportMetric(float64(t.tally.total)/float64(t.ops), m.peer+"-req/op")
		b.ReportMetric(amp, m.peer+"-sent/written")
		b.ReportMetric(float64(t.wrongFiles), m.peer+"-wrong-files")
		if n, what := t.tally.other(); n > 0 {
			notes = append(notes, fmt.Sprintf("%s's other requests: %s", m.peer, what))
		}
	}
	printPeerTable("BenchmarkMetadataMix", lines, notes)
	reportPeerRatio(b, mounts, func(k int) float64 { return float64(total[k].ops) / total[k].wall.Seconds() }, "ops/s")
}

// reportPeerRatio reports obsfs's figure over each other peer's.
func reportPeerRatio(b *testing.B, mounts []*peerMount, figure func(k int) float64, unit string) {
	for k := 1; k < len(mounts); k++ {
		if f := figure(k); f > 0 {
			b.ReportMetric(figure(0)/f, mounts[0].peer+"/"+mounts[k].peer+"-"+unit)
		}
	}
}

func addTally(a, b reqTally) reqTally {
	if a.byOp == nil {
		a.byOp = map[string]int{}
	}
	for op, n := range b.byOp {
		a.byOp[op] += n
	}
	a.total += b.total
	a.notFound += b.notFound
	a.failed += b.failed
	a.upBytes += b.upBytes
	return a
}

// smallFiles and smallFileSize are BenchmarkSmallFiles's tree.
const (
	smallFiles    = 2000
	smallFileSize = 4 << 10
)

// smallFilesTimeout bounds the wait for the copy's objects after cp
// returned: a tool that uploads after close has that long.
const smallFilesTimeout = 5 * time.Minute

// BenchmarkSmallFiles times `cp -r` of 2,000 files of 4 KiB into a new
// directory of each tool's mount, until the last object is in the bucket
// (an out-of-band listing shows them all; their ETags, the MD5 of a
// single PUT, are checked, or their bytes if not). Per tool: files/s,
// the seconds cp took and the seconds until listed, requests per file by
// S3 operation. Ratio: obsfs/s3fs-files/s.
func BenchmarkSmallFiles(b *testing.B) {
	src := filepath.Join(b.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(12, 14))
	sums := map[string]string{}
	buf := make([]byte, smallFileSize)
	for i := range smallFiles {
		for j := 0; j < len(buf); j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		name := fmt.Sprintf("f%04d", i)
		if err := os.WriteFile(filepath.Join(src, name), buf, 0o644); err != nil {
			b.Fatal(err)
		}
		sum := md5.Sum(buf)
		sums[name] = hex.EncodeToString(sum[:])
	}
	srv := miniotest.Shared(b, miniotest.Options{})
	mounts := mountPeers(b, srv)
	type result struct {
		cp, listed time.Duration
		files      int
		tally      reqTally
	}
	total := make([]result, len(mounts))
	e2eLogLoad(b, "before")
	i := 0
	for b.Loop() {
		for j := range mounts {
			k := (i + j) % len(mounts)
			m := mounts[k]
			name := fmt.Sprintf("tree-%d", i)
			m.proxy.ClearRequests()
			t0 := time.Now()
			if out, err := exec.Command("cp", "-r", src, m.path(name)).CombinedOutput(); err != nil {
				b.Fatalf("%s: cp -r: %v: %s", m.peer, err, out)
			}
			cpDone := time.Since(t0)
			waitListed(b, m, name+"/", smallFiles)
			listed := time.Since(t0)
			tally := tallyRequests(m.proxy.Requests())
			checkSmallFiles(b, m, name+"/", src, sums)
			m.deletePrefix(b, name+"/")
			b.Logf("iteration %d: %s cp -r %.2fs, all listed after %.2fs: %.0f files/s, %d requests",
				i, m.peer, cpDone.Seconds(), listed.Seconds(), smallFiles/listed.Seconds(), tally.total)
			t := &total[k]
			t.cp += cpDone
			t.listed += listed
			t.files += smallFiles
			t.tally = addTally(t.tally, tally)
		}
		i++
	}
	b.StopTimer()
	e2eLogLoad(b, "after")
	filesPerS := func(k int) float64 { return float64(total[k].files) / total[k].listed.Seconds() }
	lines := []string{peerTableHeader("file", "files/s", "cp seconds", "listed seconds")}
	var notes []string
	for k, m := range mounts {
		t := total[k]
		lines = append(lines, peerTableRow(m.peer, t.files, t.tally, fmt.Sprintf("%.0f", filesPerS(k)),
			fmt.Sprintf("%.2f", t.cp.Seconds()), fmt.Sprintf("%.2f", t.listed.Seconds())))
		b.ReportMetric(filesPerS(k), m.peer+"-files/s")
		b.ReportMetric(float64(t.tally.total)/float64(t.files), m.peer+"-req/file")
		if n, what := t.tally.other(); n > 0 {
			notes = append(notes, fmt.Sprintf("%s's other requests: %s", m.peer, what))
		}
	}
	printPeerTable("BenchmarkSmallFiles", lines, notes)
	reportPeerRatio(b, mounts, filesPerS, "files/s")
}

// waitListed polls an out-of-band listing of prefix until it shows n
// objects other than directory markers.
func waitListed(b *testing.B, m *peerMount, prefix string, n int) {
	b.Helper()
	deadline := time.Now().Add(smallFilesTimeout)
	for {
		keys, err := listKeys(context.Background(), m.client, m.bucket, prefix)
		if err != nil {
			b.Fatalf("%s: listing %s out of band: %v", m.peer, prefix, err)
		}
		got := 0
		for k := range keys {
			if !strings.HasSuffix(k, "/") {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d of %d objects under %s in the bucket %v after cp returned", m.peer, got, n, prefix, smallFilesTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkSmallFiles checks that the objects under prefix are the files of
// src: the same names and sizes, and ETags that are their MD5 (or, for
// an object written otherwise, the same bytes).
func checkSmallFiles(b *testing.B, m *peerMount, prefix, src string, sums map[string]string) {
	b.Helper()
	ctx := context.Background()
	var keys []obsclient.ObjectInfo
	in := obsclient.ListObjectsInput{Bucket: m.bucket, Prefix: prefix}
	for {
		out, err := m.client.ListObjects(ctx, &in)
		if err != nil {
			b.Fatalf("%s: listing %s out of band: %v", m.peer, prefix, err)
		}
		keys = append(keys, out.Contents...)
		if !out.IsTruncated {
			break
		}
		in.Marker = out.NextMarker
	}
	seen := 0
	for _, o := range keys {
		name := strings.TrimPrefix(o.Key, prefix)
		if name == "" {
			continue // the directory's marker
		}
		sum, ok := sums[name]
		if !ok || o.Size != smallFileSize {
			b.Fatalf("%s: unexpected object %s of %d bytes", m.peer, o.Key, o.Size)
		}
		seen++
		if strings.Trim(o.ETag, `"`) == sum {
			continue
		}
		got := e2eObject(b, m, o.Key)
		want, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			b.Fatalf("%s: %s holds other bytes than its source", m.peer, o.Key)
		}
	}
	if seen != len(sums) {
		b.Fatalf("%s: %d objects under %s, want %d", m.peer, seen, prefix, len(sums))
	}
}

// e2eObject reads a whole object out of band.
func e2eObject(b *testing.B, m *peerMount, key string) []byte {
	b.Helper()
	out, err := m.client.GetObject(context.Background(), &obsclient.GetObjectInput{Bucket: m.bucket, Key: key})
	if err != nil {
		b.Fatalf("%s: reading %s out of band: %v", m.peer, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		b.Fatalf("%s: reading %s out of band: %v", m.peer, key, err)
	}
	return data
}

// TestMixFileModel checks the mix's sparse model of a file against a
// plain byte slice over random writes and truncates.
func TestMixFileModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var f mixFile
	var dense []byte
	for i := range 2000 {
		switch rng.IntN(4) {
		case 0:
			size := rng.Int64N(4096)
			f.truncate(size)
			if size <= int64(len(dense)) {
				dense = dense[:size]
			} else {
				dense = append(dense, make([]byte, size-int64(len(dense)))...)
			}
		default:
			off := rng.Int64N(4096)
			p := make([]byte, 1+rng.IntN(300))
			for j := range p {
				p[j] = byte(1 + rng.IntN(255))
			}
			f.write(off, p)
			if end := off + int64(len(p)); end > int64(len(dense)) {
				dense = append(dense, make([]byte, end-int64(len(dense)))...)
			}
			copy(dense[off:], p)
		}
		if f.size != int64(len(dense)) {
			t.Fatalf("step %d: size %d, want %d", i, f.size, len(dense))
		}
		off := rng.Int64N(f.size + 1)
		got := make([]byte, rng.Int64N(f.size-off+1))
		f.render(off, got)
		if j := firstDiff(got, dense[off:off+int64(len(got))]); j >= 0 {
			t.Fatalf("step %d: render at %d differs at byte %d", i, off, j)
		}
		for k := 1; k < len(f.ext); k++ {
			if prev := f.ext[k-1]; prev.off+int64(len(prev.data)) > f.ext[k].off {
				t.Fatalf("step %d: extents overlap: %d+%d > %d", i, prev.off, len(prev.data), f.ext[k].off)
			}
		}
	}
}
