package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
)

// throttleEpisode is how long TestThrottlingIsRiddenOut throttles.
const throttleEpisode = 60 * time.Second

// TestThrottlingIsRiddenOut answers every request with 503 SlowDown for
// 60 s, starting while `cp` of 256 MiB into the mount is under way: the
// writer waits on the (small) write buffer instead of failing, cp and its
// close return 0 once the throttling stops, the object is byte-exact out of
// band, and no multipart upload is left.
func TestThrottlingIsRiddenOut(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out 60 s of throttling")
	}
	t.Parallel() // mostly waiting: let other parallel tests use the time
	srv := miniotest.Shared(t, miniotest.Options{})
	proxy, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	// A write buffer far smaller than the file: cp cannot finish before the
	// throttling starts, and its writes wait for buffer space meanwhile.
	m := mounttest.Start(t, srv, mounttest.Options{Endpoint: proxy.URL(), Args: []string{"--write-buffer", "32MiB"}})
	const size = 256 << 20
	local := filepath.Join(t.TempDir(), "src")
	writeLocal(t, local, 91, size)
	want := md5Of(t, mustOpen(t, local))

	type result struct {
		out []byte
		err error
		end time.Time
	}
	done := make(chan result, 1)
	go func() {
		out, err := exec.Command("cp", local, m.Path("throttled")).CombinedOutput()
		done <- result{out, err, time.Now()}
	}()
	// Throttle once the first parts went through, while cp is writing.
	deadline := time.Now().Add(2 * time.Minute)
	for proxy.Count("PUT", "partNumber") < 2 {
		select {
		case r := <-done:
			t.Fatalf("cp ended (%v: %s) before two parts were uploaded", r.err, r.out)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no part uploaded within 2 minutes")
		}
	}
	start := time.Now()
	rule := proxy.AddRule(faultproxy.Rule{Action: faultproxy.ActionStatus, Status: 503, Code: "SlowDown", For: throttleEpisode})

	var r result
	select {
	case r = <-done:
	case <-time.After(throttleEpisode + 5*time.Minute):
		t.Fatal("cp still running 5 minutes after the throttling ended")
	}
	if r.err != nil {
		t.Fatalf("cp: %v: %s", r.err, r.out)
	}
	throttled := proxy.Hits(rule)
	t.Logf("cp returned %v after the throttling began; %d requests throttled", r.end.Sub(start).Round(time.Second), throttled)
	// The copy cannot complete while every request is refused: if it did,
	// the throttling missed it and this test checked nothing.
	if r.end.Sub(start) < throttleEpisode {
		t.Errorf("cp returned %v after the throttling began, before it ended", r.end.Sub(start))
	}
	if throttled < 8 {
		t.Errorf("only %d requests throttled", throttled)
	}
	if got, n := objectMD5(t, m, "throttled"); got != want || n != size {
		t.Errorf("object: %d bytes md5 %x, want %d bytes md5 %x", n, got, size, want)
	}
	m.RequireNoUploads(t)
}

func mustOpen(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// faultTree writes a tree of 300 files of mixed sizes under root: 240
// small (0–64 KiB), 48 medium (256 KiB–4 MiB) and 12 large (9–20 MiB,
// multipart with the default 8 MiB parts), in 20 directories.
func faultTree(b testing.TB, root string) (files int, bytes int64) {
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 300; i++ {
		var size int64
		switch {
		case i%25 == 0:
			size = 9<<20 + rng.Int64N(11<<20)
		case i%5 == 0:
			size = 256<<10 + rng.Int64N(4<<20-256<<10)
		default:
			size = rng.Int64N(64 << 10)
		}
		p := filepath.Join(root, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%03d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		writeLocal(b, p, uint64(1000+i), size)
		files++
		bytes += size
	}
	return files, bytes
}

// BenchmarkTreeCopyFaults copies a 300-file tree of mixed sizes into a
// mount with `cp -r`, once through a fault-free proxy and once through one
// that gives about 8 % of requests a fault: a 503 SlowDown, a connection
// reset, or a 40 s stall (the store answers 40 s late, if the client still
// waits). Every copy is checked out of band. Metrics: clean-s, faulted-s
// and faulted/clean, the ratio of the copy times (goal: at most 3).
func BenchmarkTreeCopyFaults(b *testing.B) {
	srv := miniotest.Shared(b, miniotest.Options{})
	tree := filepath.Join(b.TempDir(), "tree")
	files, size := faultTree(b, tree)
	b.Logf("tree: %d files, %.0f MiB", files, float64(size)/(1<<20))

	newMount := func(faults bool) (*mounttest.Mount, *faultproxy.Proxy) {
		proxy, err := faultproxy.New(srv.Endpoint)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { proxy.Close() })
		if faults {
			// Three rules of probability p each: 1-(1-p)^3 ≈ 8 % of requests.
			const p = 0.0274
			proxy.Seed(1)
			proxy.AddRule(faultproxy.Rule{Action: faultproxy.ActionStatus, Status: 503, Code: "SlowDown", Probability: p})
			proxy.AddRule(faultproxy.Rule{Action: faultproxy.ActionReset, Probability: p})
			proxy.AddRule(faultproxy.Rule{Action: faultproxy.ActionDelay, Delay: 40 * time.Second, Probability: p})
		}
		return mounttest.Start(b, srv, mounttest.Options{Endpoint: proxy.URL(), Bench: true}), proxy
	}
	clean, _ := newMount(false)
	faulted, fproxy := newMount(true)

	copyTree := func(m *mounttest.Mount, name string) time.Duration {
		t0 := time.Now()
		if out, err := exec.Command("cp", "-r", tree, m.Path(name)).CombinedOutput(); err != nil {
			b.Fatalf("cp -r into the mount: %v: %s", err, out)
		}
		return time.Since(t0)
	}
	var cleanT, faultedT time.Duration
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("tree-%d", i)
		c := copyTree(clean, name)
		f := copyTree(faulted, name)
		b.StopTimer()
		b.Logf("iteration %d: clean %.1fs, faulted %.1fs, ratio %.2f", i, c.Seconds(), f.Seconds(), f.Seconds()/c.Seconds())
		checkTreeOutOfBand(b, clean, tree, name)
		checkTreeOutOfBand(b, faulted, tree, name)
		cleanT += c
		faultedT += f
		i++
		b.StartTimer()
	}
	b.StopTimer()
	clean.RequireNoUploads(b)
	faulted.RequireNoUploads(b)
	recs := fproxy.Requests()
	byAction := map[faultproxy.Action]int{}
	var delayed []string
	for _, r := range recs {
		byAction[r.Action]++
		if r.Action == faultproxy.ActionDelay {
			delayed = append(delayed, r.Method+" "+r.RawQuery)
		}
	}
	b.Logf("delayed: %q", delayed)
	b.Logf("faulted proxy: %d requests, %d SlowDown, %d resets, %d delayed 40 s",
		len(recs), byAction[faultproxy.ActionStatus], byAction[faultproxy.ActionReset], byAction[faultproxy.ActionDelay])
	e2eLogWarnings(b, faulted)
	if dst := os.Getenv("OBSFS_BENCH_KEEP_LOG"); dst != "" {
		_ = os.WriteFile(dst, []byte(faulted.Log()), 0o644)
	}
	b.ReportMetric(cleanT.Seconds()/float64(i), "clean-s")
	b.ReportMetric(faultedT.Seconds()/float64(i), "faulted-s")
	b.ReportMetric(faultedT.Seconds()/cleanT.Seconds(), "faulted/clean")
}
