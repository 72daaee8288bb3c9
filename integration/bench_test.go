package integration

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

// End-to-end benchmarks: the real obsfs binary on a real FUSE mount against
// the shared MinIO, each measured in the same run, iteration by iteration,
// against what a good direct obsclient caller achieves with the same
// resources (same part or range size, same number of requests in flight).
// Run them with `make bench`, or:
//
//	go test -run '^$' -bench '1GiB' -benchtime 3x -timeout 60m ./integration/
//
// The metric to read is ratio (mount MiB/s ÷ direct MiB/s over all
// iterations; the goal is ≥ 0.9), with ratio-median, the median of the
// iterations' own ratios, which a noisy neighbour moves less. MinIO,
// obsfs, cp and this process share the machine's cores, so absolute MiB/s
// are a property of the machine (minio-test-server.md has the ceilings of
// a 2-core box), and where the cores are the bottleneck (they are on 2
// cores, for both sides) the ratio is that of the CPU time per GiB of the
// two paths, MinIO's included: direct- and mount-machine-cpu-s/GiB measure
// it (all CPUs, from /proc/stat), obsfs-cpu-s/GiB is obsfs's share. b's own ns/op covers both halves of an iteration and means
// nothing on its own. Whatever else runs on the machine shows in the
// numbers (the load average is logged). Do not run them with -race.
// OBSFS_TEST_DEBUG=1 makes obsfs log at debug level.

const (
	// e2eSize is the size of the file copied and read.
	e2eSize = 1 << 30
	// e2eConcurrency is obsfs's default --upload-concurrency, and the
	// number of requests in flight of both direct callers. (The part and
	// range size is benchPartSize, obsfs's default --part-size.)
	e2eConcurrency = 8
	// e2eReadBuffer is the buffer of the reader of the mounted file.
	e2eReadBuffer = 1 << 20
)

// e2eCRC is the checksum the readers compute on the fly; it runs at many
// GB/s, so it costs both readers the same small share.
var e2eCRC = crc32.MakeTable(crc32.Castagnoli)

// e2eFile is a local file of random bytes and what its object must be.
type e2eFile struct {
	path string
	size int64
	crc  uint32
	// etag is the ETag of a multipart upload of the file in benchPartSize
	// parts (quoted): MD5 of the parts' MD5s, "-" and the number of parts.
	etag string
}

// e2eLocalFile writes a file of e2eSize random bytes into b's temporary
// directory.
func e2eLocalFile(b *testing.B) e2eFile {
	b.Helper()
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rand.Uint32())
	}
	src := rand.NewChaCha8(seed)
	f := e2eFile{path: filepath.Join(b.TempDir(), "random-1GiB"), size: e2eSize}
	out, err := os.Create(f.path)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	buf := make([]byte, benchPartSize)
	partSums := md5.New()
	nparts := 0
	for off := int64(0); off < f.size; off += benchPartSize {
		p := buf[:min(benchPartSize, f.size-off)]
		_, _ = src.Read(p) // ChaCha8.Read never fails
		if _, err := out.Write(p); err != nil {
			b.Fatal(err)
		}
		sum := md5.Sum(p)
		partSums.Write(sum[:])
		f.crc = crc32.Update(f.crc, e2eCRC, p)
		nparts++
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	f.etag = fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(partSums.Sum(nil)), nparts)
	return f
}

// e2eRun is one timed run of one side: its wall time and the CPU time
// the whole machine spent meanwhile (MinIO's, obsfs's, the readers' and
// writers', the kernel's).
type e2eRun struct{ wall, machine time.Duration }

// e2eMeasure times fn.
func e2eMeasure(b *testing.B, fn func()) e2eRun {
	b.Helper()
	c0, t0 := machineCPU(b), time.Now()
	fn()
	return e2eRun{wall: time.Since(t0), machine: machineCPU(b) - c0}
}

// machineCPU is the CPU time all CPUs have spent busy (user, nice,
// system, irq, softirq) since boot, from /proc/stat.
func machineCPU(b *testing.B) time.Duration {
	b.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq ...
	if len(f) < 8 || f[0] != "cpu" {
		b.Fatalf("unexpected /proc/stat: %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatalf("unexpected /proc/stat: %q", line)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// e2eTally accumulates one side of a comparison.
type e2eTally struct {
	bytes   int64
	time    time.Duration
	machine time.Duration // the whole machine's CPU time during the runs
	cpu     time.Duration // obsfs's CPU time, for the mount side
	ratios  []float64     // mount side: the ratio of each iteration
}

func (t *e2eTally) add(n int64, r e2eRun) { t.bytes += n; t.time += r.wall; t.machine += r.machine }

// e2ePair records one iteration of both sides: its paired ratio (the two
// ran back to back, so slow drifts of the machine cancel out).
func e2ePair(direct, mount *e2eTally, n int64, d, m e2eRun) float64 {
	direct.add(n, d)
	mount.add(n, m)
	r := d.wall.Seconds() / m.wall.Seconds()
	mount.ratios = append(mount.ratios, r)
	return r
}

// perGiB is seconds of d per GiB of the tally.
func (t *e2eTally) perGiB(d time.Duration) float64 {
	if t.bytes == 0 {
		return 0
	}
	return d.Seconds() / (float64(t.bytes) / (1 << 30))
}

// medianRatio is the median of the per-iteration ratios: robust to an
// iteration that a noisy neighbour slowed down.
func (t *e2eTally) medianRatio() float64 {
	if len(t.ratios) == 0 {
		return 0
	}
	r := append([]float64(nil), t.ratios...)
	sort.Float64s(r)
	if n := len(r); n%2 == 1 {
		return r[n/2]
	} else {
		return (r[n/2-1] + r[n/2]) / 2
	}
}

// mibps is the throughput over all iterations (total bytes ÷ total time).
func (t *e2eTally) mibps() float64 {
	if t.time <= 0 {
		return 0
	}
	return float64(t.bytes) / (1 << 20) / t.time.Seconds()
}

func mibps(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

// e2eFirst names the side that runs first in iteration i: they alternate,
// so that neither always finds MinIO busy with the other's aftermath.
func e2eFirst(i int) string {
	if i%2 == 0 {
		return "direct"
	}
	return "mount"
}

// e2eDirectUpload uploads the file at path to key as obsfs would: a
// multipart upload in benchPartSize parts read from the file, e2eConcurrency
// parts in flight, then Complete. On failure the upload is aborted.
func e2eDirectUpload(ctx context.Context, c *obsclient.Client, bucket, key, path string, size int64) error {
	up, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		return err
	}
	nparts := int((size + benchPartSize - 1) / benchPartSize)
	parts := make([]obsclient.CompletedPart, nparts)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e2eConcurrency)
	for i := range nparts {
		g.Go(func() error {
			out, err := c.UploadPart(gctx, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID,
				PartNumber: i + 1, SourceFile: path, Offset: int64(i) * benchPartSize, PartSize: benchPartSize})
			if err != nil {
				return err
			}
			parts[i] = obsclient.CompletedPart{PartNumber: i + 1, ETag: out.ETag}
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		_, err = c.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{Bucket: bucket, Key: key,
			UploadID: up.UploadID, Parts: parts})
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, aerr := c.AbortMultipartUpload(actx, &obsclient.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadID: up.UploadID}); aerr != nil {
			err = errors.Join(err, fmt.Errorf("abort: %w", aerr))
		}
		return fmt.Errorf("direct upload of %q: %w", key, err)
	}
	return nil
}

// e2eDirectRead reads key with ranged GETs of benchPartSize, e2eConcurrency
// in flight, and writes the ranges to w in order: the best a direct reader
// does with obsfs's resources. The object's size comes from a HEAD, which
// is part of the work (a mount does a lookup too).
func e2eDirectRead(ctx context.Context, c *obsclient.Client, bucket, key string, w io.Writer) (int64, error) {
	head, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		return 0, err
	}
	size := head.Size
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type chunk struct {
		buf  []byte
		n    int
		err  error
		done chan struct{}
	}
	free := make(chan []byte, e2eConcurrency) // a buffer per range in flight or being written
	for range e2eConcurrency {
		free <- make([]byte, benchPartSize)
	}
	queue := make(chan *chunk, e2eConcurrency) // in object order
	go func() {
		defer close(queue)
		for off := int64(0); off < size; off += benchPartSize {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			ch := &chunk{buf: buf, n: int(min(benchPartSize, size-off)), done: make(chan struct{})}
			go func(off int64) {
				defer close(ch.done)
				out, err := c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: key,
					Range: &obsclient.Range{Start: off, End: off + int64(ch.n) - 1}, IfMatch: head.ETag})
				if err != nil {
					ch.err = err
					return
				}
				defer out.Body.Close()
				_, ch.err = io.ReadFull(out.Body, ch.buf[:ch.n])
			}(off)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	var total int64
	for ch := range queue {
		<-ch.done
		if ch.err != nil {
			return total, ch.err
		}
		if _, err := w.Write(ch.buf[:ch.n]); err != nil {
			return total, err
		}
		total += int64(ch.n)
		free <- ch.buf
	}
	return total, ctx.Err()
}

// e2eReadFile reads path sequentially with an e2eReadBuffer buffer and
// writes it to w. (io.Copy would not do: *os.File's WriteTo falls back to
// small buffers for writers that are not files or sockets.)
func e2eReadFile(path string, w io.Writer) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, e2eReadBuffer)
	var total int64
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// e2eCheckObject checks out of band that key holds exactly the bytes of
// f: size and multipart ETag from a HEAD, or, when the parts were cut
// differently (another ETag), size and checksum of a full GET.
func e2eCheckObject(b *testing.B, c *obsclient.Client, bucket, key string, f e2eFile) {
	b.Helper()
	ctx := context.Background()
	head, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		b.Fatalf("checking %s: %v", key, err)
	}
	if head.Size != f.size {
		b.Fatalf("%s is %d bytes, want %d: the benchmark measured a failure", key, head.Size, f.size)
	}
	if head.ETag == f.etag {
		return
	}
	b.Logf("%s has ETag %s, not %s (parts cut differently?): checking its bytes", key, head.ETag, f.etag)
	h := crc32.New(e2eCRC)
	n, err := e2eDirectRead(ctx, c, bucket, key, h)
	if err != nil {
		b.Fatalf("reading %s back: %v", key, err)
	}
	if n != f.size || h.Sum32() != f.crc {
		b.Fatalf("%s holds other bytes than the source (%d bytes, crc32c %08x, want %08x): the benchmark measured a failure",
			key, n, h.Sum32(), f.crc)
	}
}

func e2eDelete(b *testing.B, c *obsclient.Client, bucket string, keys ...string) {
	b.Helper()
	for _, key := range keys {
		if _, err := c.DeleteObject(context.Background(), &obsclient.DeleteObjectInput{Bucket: bucket, Key: key}); err != nil {
			b.Fatalf("deleting %s: %v", key, err)
		}
	}
}

// e2eLogWarnings reports the obsfs log's warnings and errors (retries,
// failed reads), which would make a throughput number suspect.
func e2eLogWarnings(b *testing.B, m *mounttest.Mount) {
	b.Helper()
	var lines []string
	for _, line := range strings.Split(m.Log(), "\n") {
		if strings.Contains(line, "level=warn") || strings.Contains(line, "level=error") {
			lines = append(lines, line)
		}
	}
	if len(lines) > 0 {
		b.Logf("obsfs logged %d warnings or errors; the first:\n%s", len(lines), strings.Join(lines[:min(len(lines), 10)], "\n"))
	}
}

// e2eLogLoad logs the load average: MinIO, obsfs and the benchmark share
// the machine, so whatever else runs on it shows in the numbers.
func e2eLogLoad(b *testing.B, when string) {
	b.Helper()
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average %s: %s", when, strings.Join(strings.Fields(string(data))[:3], " "))
	}
}

// e2eReportRatio reports the comparison: throughput of each side, the
// ratio of the totals and the median of the iterations' ratios, obsfs's
// CPU per GiB, and the whole machine's CPU per GiB of each side. Where
// both sides keep every core busy (MinIO shares them), the ratio is about
// direct-machine-cpu-s/GiB ÷ mount-machine-cpu-s/GiB: the CPU the mount
// path spends on top of the direct one is what it loses.
func e2eReportRatio(b *testing.B, direct, mount *e2eTally) {
	b.ReportMetric(direct.mibps(), "direct-MiB/s")
	b.ReportMetric(mount.mibps(), "mount-MiB/s")
	if d := direct.mibps(); d > 0 {
		b.ReportMetric(mount.mibps()/d, "ratio")
	}
	b.ReportMetric(mount.medianRatio(), "ratio-median")
	b.ReportMetric(mount.perGiB(mount.cpu), "obsfs-cpu-s/GiB")
	b.ReportMetric(direct.perGiB(direct.machine), "direct-machine-cpu-s/GiB")
	b.ReportMetric(mount.perGiB(mount.machine), "mount-machine-cpu-s/GiB")
}

// BenchmarkCopy1GiB compares writing a 1 GiB file into the bucket with
// `cp` through the mount (until cp exits, so including the close that
// returns once the object is complete) with a direct multipart upload of
// the same file by obsclient with obsfs's part size and concurrency. The
// two alternate in order. Metrics: direct-MiB/s, mount-MiB/s, ratio
// (mount ÷ direct) and ratio-median, the machine's CPU per GiB of each
// side, obsfs-cpu-s/GiB (obsfs's user+system time during the copies) and
// obsfs-peak-RSS-MiB (VmHWM over the whole run).
func BenchmarkCopy1GiB(b *testing.B) {
	srv := miniotest.Shared(b, miniotest.Options{})
	m := mounttest.Start(b, srv, mounttest.Options{Bench: true})
	c := srv.Client(b, nil)
	src := e2eLocalFile(b)
	ctx := context.Background()

	var direct, mount e2eTally
	e2eLogLoad(b, "before")
	i := 0
	for b.Loop() {
		directKey, mountName := fmt.Sprintf("direct-%d", i), fmt.Sprintf("mount-%d", i)
		var dd, md e2eRun
		runDirect := func() {
			dd = e2eMeasure(b, func() {
				if err := e2eDirectUpload(ctx, c, m.Bucket, directKey, src.path, src.size); err != nil {
					b.Fatal(err)
				}
			})
		}
		var cpu time.Duration
		runMount := func() {
			cpu0 := m.CPUTime(b)
			md = e2eMeasure(b, func() {
				if out, err := exec.Command("cp", src.path, m.Path(mountName)).CombinedOutput(); err != nil {
					b.Fatalf("cp into the mount: %v: %s", err, out)
				}
			})
			cpu = m.CPUTime(b) - cpu0
		}
		if i%2 == 0 {
			runDirect()
			runMount()
		} else {
			runMount()
			runDirect()
		}

		b.StopTimer()
		e2eCheckObject(b, c, m.Bucket, directKey, src)
		e2eCheckObject(b, c, m.Bucket, m.Key(mountName), src)
		ratio := e2ePair(&direct, &mount, src.size, dd, md)
		mount.cpu += cpu
		b.Logf("iteration %d (%s first): direct %.0f MiB/s, mount %.0f MiB/s, ratio %.2f; machine cpu-s direct %.2f, mount %.2f (obsfs %.2f); VmHWM %d MiB",
			i, e2eFirst(i), mibps(src.size, dd.wall), mibps(src.size, md.wall), ratio,
			dd.machine.Seconds(), md.machine.Seconds(), cpu.Seconds(), m.PeakRSS(b)>>20)
		e2eDelete(b, c, m.Bucket, directKey, m.Key(mountName))
		i++
		b.StartTimer()
	}
	b.StopTimer()
	e2eLogLoad(b, "after")
	m.RequireNoUploads(b)
	e2eLogWarnings(b, m)
	e2eReportRatio(b, &direct, &mount)
	b.ReportMetric(float64(m.PeakRSS(b))/(1<<20), "obsfs-peak-RSS-MiB")
}

// BenchmarkRead1GiB compares a sequential read of a 1 GiB object through
// the mount (read(2) with a 1 MiB buffer) with a direct read by obsclient
// of ranged GETs of obsfs's part size, as many in flight as obsfs uploads,
// delivered in order. Both readers checksum what they read; the object is
// in MinIO's page cache for both (it is read once before timing starts).
//
// Each iteration mounts afresh, so that neither the kernel's page cache of
// the file nor obsfs's clean cache holds any of it: mount-MiB/s is a cold
// read. It then drops the kernel's page cache (drop_caches, root only),
// warms MinIO again with an untimed direct read, and reads the file again
// through the same mount: mount-recache-MiB/s is a read with a cold kernel
// cache but whatever obsfs's --cache-size kept. Metrics: direct-MiB/s,
// mount-MiB/s, ratio (mount ÷ direct, both cold) and ratio-median, the
// machine's CPU per GiB of each side, obsfs-cpu-s/GiB (the cold reads),
// mount-recache-MiB/s and obsfs-peak-RSS-MiB (the largest of the mounts).
func BenchmarkRead1GiB(b *testing.B) { benchRead1GiB(b, "") }

// BenchmarkRead1GiBShaped is BenchmarkRead1GiB with MinIO's replies
// limited to a bandwidth below what either side reaches here (a traffic
// class on the loopback interface: root and tc), $OBSFS_BENCH_READ_RATE,
// default 4gbit (477 MiB/s). Where the store, not the machine's CPU, is
// the limit, as with a remote store, the ratio shows whether obsfs keeps
// the link as busy as a direct reader with 8 ranged GETs in flight does.
func BenchmarkRead1GiBShaped(b *testing.B) {
	rate := os.Getenv("OBSFS_BENCH_READ_RATE")
	if rate == "" {
		rate = "4gbit"
	}
	benchRead1GiB(b, rate)
}

// benchRead1GiB is the read benchmark, with MinIO's replies shaped to
// rate (a tc rate) unless it is empty.
func benchRead1GiB(b *testing.B, rate string) {
	srv := miniotest.Shared(b, miniotest.Options{})
	c := srv.Client(b, nil)
	bucket := srv.Bucket(b, "read-1gib")
	src := e2eLocalFile(b)
	ctx := context.Background()
	const key = "random-1GiB"
	if err := e2eDirectUpload(ctx, c, bucket, key, src.path, src.size); err != nil {
		b.Fatal(err)
	}
	e2eCheckObject(b, c, bucket, key, src)
	if err := os.Remove(src.path); err != nil { // not needed any more: free the page cache
		b.Fatal(err)
	}

	// check reads key directly with a checksum; it is both the untimed warm
	// up and the check of each read.
	check := func(what string, read func(w io.Writer) (int64, error)) {
		b.Helper()
		h := crc32.New(e2eCRC)
		n, err := read(h)
		if err != nil {
			b.Fatalf("%s read: %v", what, err)
		}
		e2eCheckRead(b, what, n, h, src)
	}
	readDirect := func(w io.Writer) (int64, error) { return e2eDirectRead(ctx, c, bucket, key, w) }
	if rate != "" {
		e2eShapeReplies(b, srv.Endpoint, rate)
	}
	check("warm-up", readDirect)

	canDrop := true
	var direct, mount, recache e2eTally
	var peakRSS int64
	e2eLogLoad(b, "before")
	i := 0
	for b.Loop() {
		b.StopTimer()
		m := mounttest.Start(b, srv, mounttest.Options{Bucket: bucket, Bench: true})
		b.StartTimer()

		var dd, md e2eRun
		runDirect := func() { dd = e2eMeasure(b, func() { check("direct", readDirect) }) }
		runMount := func() {
			cpu0 := m.CPUTime(b)
			md = e2eMeasure(b, func() {
				check("mount", func(w io.Writer) (int64, error) { return e2eReadFile(m.Path(key), w) })
			})
			mount.cpu += m.CPUTime(b) - cpu0
		}
		if i%2 == 0 {
			runDirect()
			runMount()
		} else {
			runMount()
			runDirect()
		}

		b.StopTimer()
		ratio := e2ePair(&direct, &mount, src.size, dd, md)
		line := fmt.Sprintf("iteration %d (%s first): direct %.0f MiB/s, mount %.0f MiB/s (cold), ratio %.2f; machine cpu-s direct %.2f, mount %.2f",
			i, e2eFirst(i), mibps(src.size, dd.wall), mibps(src.size, md.wall), ratio, dd.machine.Seconds(), md.machine.Seconds())
		if canDrop {
			if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0); err != nil {
				b.Logf("cannot drop the page cache (%v): no mount-recache-MiB/s", err)
				canDrop = false
			} else {
				check("warm-up", readDirect)
				rd := e2eMeasure(b, func() {
					check("mount re-read", func(w io.Writer) (int64, error) { return e2eReadFile(m.Path(key), w) })
				}).wall
				recache.add(src.size, e2eRun{wall: rd})
				line += fmt.Sprintf("; re-read after drop_caches %.0f MiB/s", mibps(src.size, rd))
			}
		}
		b.Log(line)
		e2eLogWarnings(b, m)
		peakRSS = max(peakRSS, m.PeakRSS(b))
		m.Unmount(b)
		i++
		b.StartTimer()
	}
	b.StopTimer()
	e2eLogLoad(b, "after")
	e2eReportRatio(b, &direct, &mount)
	if recache.bytes > 0 {
		b.ReportMetric(recache.mibps(), "mount-recache-MiB/s")
	}
	b.ReportMetric(float64(peakRSS)/(1<<20), "obsfs-peak-RSS-MiB")
}

// e2eShapeReplies limits the bandwidth of what the server at endpoint
// (on 127.0.0.1) sends to rate, until the benchmark ends: an htb class on
// lo for the packets from its port, every other packet unlimited. It
// refuses to replace a queueing discipline lo already has.
func e2eShapeReplies(b *testing.B, endpoint, rate string) {
	b.Helper()
	i := strings.LastIndexByte(endpoint, ':')
	port, err := strconv.Atoi(strings.TrimRight(endpoint[i+1:], "/"))
	if i < 0 || err != nil {
		b.Fatalf("shaping: no port in endpoint %q", endpoint)
	}
	tc := func(args ...string) error {
		if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("tc %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	out, err := exec.Command("tc", "qdisc", "show", "dev", "lo").CombinedOutput()
	if err != nil {
		b.Fatalf("shaping needs tc (iproute2) and root: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "noqueue") {
		b.Fatalf("shaping: lo already has a queueing discipline, not replacing it:\n%s", out)
	}
	b.Cleanup(func() {
		if err := tc("qdisc", "del", "dev", "lo", "root"); err != nil {
			b.Errorf("removing the shaping of lo: %v", err)
		}
	})
	for _, args := range [][]string{
		{"qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10"},
		{"class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "100gbit"},
		{"class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate", rate, "burst", "1mb", "cburst", "1mb"},
		{"filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "u32", "match", "ip", "sport", strconv.Itoa(port), "0xffff", "flowid", "1:20"},
	} {
		if err := tc(args...); err != nil {
			b.Fatalf("shaping: %v", err)
		}
	}
	b.Logf("MinIO's replies shaped to %s (htb on lo, source port %d)", rate, port)
}

// e2eCheckRead fails the benchmark unless a read returned exactly f's
// bytes.
func e2eCheckRead(b *testing.B, what string, n int64, h hash.Hash32, f e2eFile) {
	b.Helper()
	if n != f.size || h.Sum32() != f.crc {
		b.Fatalf("%s read returned %d bytes with crc32c %08x, want %d bytes with %08x: the benchmark measured a failure",
			what, n, h.Sum32(), f.size, f.crc)
	}
}
