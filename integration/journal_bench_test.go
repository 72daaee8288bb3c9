package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
)

// BenchmarkJournalCost measures what the crash journal costs on the write
// path: `cp -r` of 32 files of 9 MiB (each a multipart upload of two parts,
// so each journals one begin record, fdatasync'd, and one end record)
// into a mount with the journal and into one without (--debug-no-journal),
// alternating which goes first. Many mid-sized files are the journal's
// worst case: its cost is per upload, not per byte. Metrics: journal-MiB/s,
// nojournal-MiB/s and journal-ratio (journal ÷ no journal; 1 is free).
func BenchmarkJournalCost(b *testing.B) {
	const files, size = 32, 9 << 20
	srv := miniotest.Shared(b, miniotest.Options{})
	on := mounttest.Start(b, srv, mounttest.Options{Bench: true})
	off := mounttest.Start(b, srv, mounttest.Options{Bench: true, Args: []string{"--debug-no-journal"}})
	c := srv.Client(b, nil)
	src := filepath.Join(b.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range files {
		writeLocal(b, filepath.Join(src, fmt.Sprintf("f%02d", i)), uint64(i), size)
	}
	copyInto := func(m *mounttest.Mount, dir string) time.Duration {
		start := time.Now()
		if out, err := exec.Command("cp", "-r", src, m.Path(dir)).CombinedOutput(); err != nil {
			b.Fatalf("cp -r into the mount: %v: %s", err, out)
		}
		return time.Since(start)
	}
	var tOn, tOff time.Duration
	i := 0
	for b.Loop() {
		dir := fmt.Sprintf("run-%d", i)
		var dOn, dOff time.Duration
		if i%2 == 0 {
			dOn, dOff = copyInto(on, dir), copyInto(off, dir)
		} else {
			dOff, dOn = copyInto(off, dir), copyInto(on, dir)
		}
		b.StopTimer()
		tOn, tOff = tOn+dOn, tOff+dOff
		total := int64(files) * size
		b.Logf("iteration %d: journal %.0f MiB/s, no journal %.0f MiB/s, ratio %.3f",
			i, mibps(total, dOn), mibps(total, dOff), dOff.Seconds()/dOn.Seconds())
		for _, m := range []*mounttest.Mount{on, off} {
			var keys []string
			for f := range files {
				keys = append(keys, m.Key(fmt.Sprintf("%s/f%02d", dir, f)))
			}
			e2eDelete(b, c, m.Bucket, keys...)
		}
		i++
		b.StartTimer()
	}
	b.StopTimer()
	total := int64(i) * files * size
	b.ReportMetric(mibps(total, tOn), "journal-MiB/s")
	b.ReportMetric(mibps(total, tOff), "nojournal-MiB/s")
	b.ReportMetric(tOff.Seconds()/tOn.Seconds(), "journal-ratio")
	on.RequireNoUploads(b)
	off.RequireNoUploads(b)
}
