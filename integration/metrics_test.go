package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one parse of a /metrics page.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics reads and parses http://addr/metrics.
func scrapeMetrics(t *testing.T, addr string) scrape {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scraping metrics: status %d, %v", resp.StatusCode, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing metrics: %v\n%s", err, body)
	}
	return fams
}

// value is the value of name's series whose labels include labels
// ("k", "v" pairs): a counter, gauge, or a histogram's sample count; the
// sum over every matching series; 0 if there is none.
func (s scrape) value(name string, labels ...string) float64 {
	f := s[name]
	if f == nil {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// requests is the number of requests of a store operation: its attempts
// less those retried.
func (s scrape) requests(op string) float64 {
	return s.value("obsfs_store_request_duration_seconds", "op", op) - s.value("obsfs_store_retries_total", "op", op)
}

// freeLoopbackPort returns a loopback address nothing listens on now.
func freeLoopbackPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestMetrics copies files of known sizes through a mount with
// --metrics-addr and checks what /metrics says against the copy: bytes
// written, bytes uploaded (and the objects' sizes out of band), the
// PutObject / UploadPart / Initiate / Complete requests the copy needed,
// an open upload while the large file is written and none after, bytes
// read and fetched by reading back, and FUSE requests by kind.
func TestMetrics(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	const part = 5 << 20 // --part-size below
	addr := freeLoopbackPort(t)
	m := mounttest.Start(t, srv, mounttest.Options{Args: []string{"--metrics-addr", addr, "--part-size", "5MiB"}})
	before := scrapeMetrics(t, addr)
	if got := before.value("obsfs_writeback_buffer_limit_bytes"); got != 512<<20 {
		t.Errorf("write-buffer limit %v, want the default 512 MiB", got)
	}

	// The large file: two parts written, then an open upload shows.
	const big = 40<<20 + 12345
	f, err := os.Create(m.Path("big"))
	if err != nil {
		t.Fatal(err)
	}
	src := io.LimitReader(stream(21), big)
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(f, io.LimitReader(src, 2*part), buf); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := scrapeMetrics(t, addr)
		if s.value("obsfs_writeback_open_uploads") == 1 && s.value("obsfs_writeback_oldest_upload_age_seconds") >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no open upload shown 60 s after two parts were written: open uploads %v",
				s.value("obsfs_writeback_open_uploads"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := io.CopyBuffer(f, src, buf); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	small := []int64{0, 1000, 100000, 3 << 20}
	total := int64(big)
	for i, n := range small {
		writeStream(t, m.Path(fmt.Sprintf("small-%d", i)), uint64(30+i), n)
		total += n
	}
	after := scrapeMetrics(t, addr)
	delta := func(name string, labels ...string) float64 {
		return after.value(name, labels...) - before.value(name, labels...)
	}

	// Out of band: the objects hold what was copied.
	var stored int64
	for _, rel := range []string{"big", "small-0", "small-1", "small-2", "small-3"} {
		h := m.Head(t, rel)
		if h == nil {
			t.Fatalf("%s missing from the bucket", rel)
		}
		stored += h.Size
		// Out of band, the number of parts: a multipart ETag ends in -N.
		if want := fmt.Sprintf("-%d\"", (big+part-1)/part); rel == "big" && !strings.HasSuffix(h.ETag, want) {
			t.Errorf("big's ETag %s: not a multipart upload of %s parts", h.ETag, want)
		}
	}
	if stored != total {
		t.Fatalf("the bucket holds %d bytes, %d were copied", stored, total)
	}
	m.RequireNoUploads(t)

	if got := delta("obsfs_fuse_written_bytes_total"); got != float64(total) {
		t.Errorf("bytes written by programs %v, want %d", got, total)
	}
	up := delta("obsfs_store_uploaded_bytes_total")
	retried := delta("obsfs_store_retries_total", "op", "PutObject") + delta("obsfs_store_retries_total", "op", "UploadPart")
	if up < float64(stored) || retried == 0 && up != float64(stored) {
		t.Errorf("bytes uploaded %v (%v PutObject/UploadPart attempts retried), the objects hold %d", up, retried, stored)
	}
	bigParts := float64((big + part - 1) / part)
	for op, want := range map[string]float64{
		"UploadPart": bigParts, "InitiateMultipartUpload": 1, "CompleteMultipartUpload": 1,
		"PutObject": float64(len(small)), "UploadPartCopy": 0, "AbortMultipartUpload": 0,
	} {
		if got := after.requests(op) - before.requests(op); got != want {
			t.Errorf("%s requests: %v, want %v", op, got, want)
		}
	}
	// An uploader leaves the in-flight count just after its file sees the
	// part done: the gauges settle to 0 a moment after the closes.
	settled := after
	for deadline := time.Now().Add(30 * time.Second); ; {
		busy := ""
		for _, name := range []string{"obsfs_writeback_open_uploads", "obsfs_writeback_oldest_upload_age_seconds",
			"obsfs_writeback_parts_in_flight", "obsfs_writeback_buffer_bytes"} {
			if v := settled.value(name); v != 0 {
				busy += fmt.Sprintf(" %s=%v", name, v)
			}
		}
		if busy == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the copy:%s, want 0", busy)
		}
		time.Sleep(20 * time.Millisecond)
		settled = scrapeMetrics(t, addr)
	}
	// (Not release: the kernel sends it after close returns.)
	for _, op := range []string{"create", "write", "flush"} {
		if got := delta("obsfs_fuse_request_duration_seconds", "op", op); got < float64(1+len(small)) {
			t.Errorf("FUSE %s requests: %v, want at least %d", op, got, 1+len(small))
		}
	}

	// Reading back: a file written out of band is fetched from the store.
	const oob = 6<<20 + 7
	putRandom(t, m, "oob", 40, oob)
	before = scrapeMetrics(t, addr)
	got, err := os.ReadFile(m.Path("oob"))
	if err != nil {
		t.Fatal(err)
	}
	if md5Of(t, bytes.NewReader(got)) != md5Of(t, io.LimitReader(stream(40), oob)) {
		t.Fatal("read back wrong bytes")
	}
	after = scrapeMetrics(t, addr)
	// Each page is read from obsfs once, unless the kernel dropped it
	// from its cache before the program read it (memory pressure).
	if r := delta("obsfs_fuse_read_bytes_total"); r < oob || r > 2*oob {
		t.Errorf("bytes read by programs %v, want %d", r, oob)
	}
	if f := delta("obsfs_store_fetched_bytes_total"); f < oob {
		t.Errorf("bytes fetched %v, want at least the file's %d", f, oob)
	}
	if n := after.requests("GetObject") - before.requests("GetObject"); n < 1 {
		t.Errorf("%v GetObject requests for a read of an object not cached", n)
	}
	if d := delta("obsfs_cache_misses_total"); d < 1 {
		t.Errorf("cache misses grew by %v reading an object not cached", d)
	}
	if n := delta("obsfs_fuse_request_duration_seconds", "op", "read"); n < 1 {
		t.Errorf("%v FUSE read requests", n)
	}
	t.Logf("uploaded %v bytes, fetched %v bytes in this test; %s",
		after.value("obsfs_store_uploaded_bytes_total"), after.value("obsfs_store_fetched_bytes_total"),
		strconv.Itoa(int(after.value("obsfs_store_request_duration_seconds")))+" store attempts")
}

// TestMetricsRetriesAndErrors injects two SlowDown answers to parts and
// one AccessDenied to a small file's PUT (through the fault proxy) and
// checks the retries by cause, the errors by code, and that the retried
// parts were each uploaded once more.
func TestMetricsRetriesAndErrors(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	const part = 5 << 20
	addr := freeLoopbackPort(t)
	m, p := proxied(t, srv, mounttest.Options{Args: []string{"--metrics-addr", addr, "--part-size", "5MiB"}})
	p.AddRule(faultproxy.Rule{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStatus, Status: 503,
		Code: "SlowDown", Times: 2})
	p.AddRule(faultproxy.Rule{Method: "PUT", PathContains: "denied", Action: faultproxy.ActionStatus, Status: 403,
		Code: "AccessDenied", Times: 1})
	before := scrapeMetrics(t, addr)
	const size = 2*part + 777
	writeStream(t, m.Path("retried"), 50, size)
	f, err := os.Create(m.Path("denied"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("no")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err == nil {
		t.Fatal("close succeeded although the PUT was refused")
	}
	after := scrapeMetrics(t, addr)
	delta := func(name string, labels ...string) float64 {
		return after.value(name, labels...) - before.value(name, labels...)
	}
	if h := m.Head(t, "retried"); h == nil || h.Size != size {
		t.Fatalf("the retried file is not in the bucket whole: %+v", h)
	}
	if got := delta("obsfs_store_retries_total", "op", "UploadPart", "cause", "SlowDown"); got != 2 {
		t.Errorf("UploadPart retries for SlowDown: %v, want 2", got)
	}
	if got := delta("obsfs_store_retries_total"); got < 2 { // a stall on a loaded machine adds one
		t.Errorf("retries: %v, want at least 2", got)
	}
	if got := after.requests("UploadPart") - before.requests("UploadPart"); got != 3 {
		t.Errorf("UploadPart requests: %v, want 3", got)
	}
	if got := delta("obsfs_store_errors_total", "op", "PutObject", "code", "AccessDenied"); got != 1 {
		t.Errorf("PutObject errors AccessDenied: %v, want 1", got)
	}
	if got := delta("obsfs_store_errors_total", "op", "UploadPart"); got != 0 {
		t.Errorf("UploadPart errors: %v, want 0", got)
	}
	// The proxy answers a refused part before reading its body: the retried
	// parts count once or a little more, never less than the object.
	if up := delta("obsfs_store_uploaded_bytes_total"); up < size {
		t.Errorf("bytes uploaded %v, less than the object's %d", up, size)
	}
	if got := after.value("obsfs_writeback_open_uploads"); got != 0 {
		t.Errorf("open uploads after the closes: %v", got)
	}
}

// TestMetricsAddrInUse: an address in use fails the mount with one line
// before anything is mounted.
func TestMetricsAddrInUse(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	mounttest.RequireFUSE(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	bucket := srv.Bucket(t, "metrics")
	r := runCLI(t, mounttest.Environ(srv), bucket, dir, "--endpoint", srv.Endpoint, "--state-dir", t.TempDir(),
		"--metrics-addr", ln.Addr().String())
	if r.code != 1 || r.stderr != "obsfs: --metrics-addr "+ln.Addr().String()+": address already in use\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if mounted, _ := mounttest.IsMountPoint(dir); mounted {
		t.Errorf("%s mounted", dir)
	}
}

// BenchmarkMetricsWrite compares two mounts of one MinIO, with and without
// --metrics-addr, writing 256 MiB with dd in 128 KiB writes (many FUSE
// WRITEs: the path metrics time). They alternate in order. Metrics:
// plain-MiB/s, metrics-MiB/s, ratio (metrics ÷ plain throughput), and
// each obsfs's CPU seconds per GiB.
func BenchmarkMetricsWrite(b *testing.B) {
	srv := miniotest.Shared(b, miniotest.Options{})
	plain := mounttest.Start(b, srv, mounttest.Options{Bench: true})
	with := mounttest.Start(b, srv, mounttest.Options{Bench: true, Args: []string{"--metrics-addr", freeLoopbackPort(b)}})
	const size = 256 << 20
	var wall, cpu [2]time.Duration
	i := 0
	for b.Loop() {
		for k := range 2 {
			j := (i + k) % 2
			m := []*mounttest.Mount{plain, with}[j]
			cpu0, t0 := m.CPUTime(b), time.Now()
			if out, err := exec.Command("dd", "if=/dev/zero", "of="+m.Path(fmt.Sprintf("f%d", i)), "bs=128k",
				fmt.Sprintf("count=%d", size/(128<<10))).CombinedOutput(); err != nil {
				b.Fatalf("dd: %v: %s", err, out)
			}
			wall[j] += time.Since(t0)
			cpu[j] += m.CPUTime(b) - cpu0
		}
		i++
	}
	gib := float64(i) * size / (1 << 30)
	b.ReportMetric(gib*1024/wall[0].Seconds(), "plain-MiB/s")
	b.ReportMetric(gib*1024/wall[1].Seconds(), "metrics-MiB/s")
	b.ReportMetric(wall[0].Seconds()/wall[1].Seconds(), "ratio")
	b.ReportMetric(cpu[0].Seconds()/gib, "plain-cpu-s/GiB")
	b.ReportMetric(cpu[1].Seconds()/gib, "metrics-cpu-s/GiB")
}
