package integration

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
)

// BenchmarkEditLarge measures, on a 1 GiB object, what an edit, a hole
// and a rename cost through the mount, by requests (counted by the fault
// proxy, no faults) and bytes sent (request bodies), and how long a rename
// takes as one CopyObject (the default below --copy-threshold) and as a
// multipart copy of parallel UploadPartCopy parts (--copy-threshold 0),
// in the same run. Metrics: edit-requests, edit-sent-MiB, hole-sent-MiB
// (a byte written 1 GiB into a new file), rename-copyobject-s,
// rename-parallel-s and rename-ratio (parallel ÷ CopyObject time).
func BenchmarkEditLarge(b *testing.B) {
	srv := miniotest.Shared(b, miniotest.Options{})
	proxy, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { proxy.Close() })
	m := mounttest.Start(b, srv, mounttest.Options{Endpoint: proxy.URL(), Bench: true})
	mp := mounttest.Start(b, srv, mounttest.Options{Endpoint: proxy.URL(), Bench: true, Bucket: m.Bucket,
		Args: []string{"--copy-threshold", "0"}})
	const size = 1 << 30
	writeStream(b, m.Path("big"), 7, size)
	cost := func(fn func()) (reqs int, sent int64) {
		proxy.ClearRequests()
		fn()
		for _, r := range proxy.Requests() {
			sent += r.BodyBytes
		}
		return len(proxy.Requests()), sent
	}
	var editReqs, editSent, holeSent, tCopy, tPar float64
	i := 0
	for b.Loop() {
		reqs, sent := cost(func() {
			f, err := os.OpenFile(m.Path("big"), os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{byte(i)}, size/2+int64(i)); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
		editReqs, editSent = float64(reqs), float64(sent)/(1<<20)
		hole := fmt.Sprintf("hole-%d", i)
		_, sent = cost(func() {
			f, err := os.Create(m.Path(hole))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{1}, size); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
		holeSent = float64(sent) / (1 << 20)
		if err := os.Remove(m.Path(hole)); err != nil {
			b.Fatal(err)
		}
		rename := func(mnt *mounttest.Mount, from, to string) float64 {
			t0 := time.Now()
			if err := os.Rename(mnt.Path(from), mnt.Path(to)); err != nil {
				b.Fatal(err)
			}
			return time.Since(t0).Seconds()
		}
		// Alternate which rename goes first; the object ends up as "big".
		if i%2 == 0 {
			tCopy = rename(m, "big", "big2")
			tPar = rename(mp, "big2", "big")
		} else {
			tPar = rename(mp, "big", "big2")
			tCopy = rename(m, "big2", "big")
		}
		b.Logf("iteration %d: edit %v requests, %.1f MiB sent; hole at 1 GiB %.1f MiB sent; rename CopyObject %.1f s, parallel %.1f s",
			i, editReqs, editSent, holeSent, tCopy, tPar)
		i++
	}
	b.ReportMetric(editReqs, "edit-requests")
	b.ReportMetric(editSent, "edit-sent-MiB")
	b.ReportMetric(holeSent, "hole-sent-MiB")
	b.ReportMetric(tCopy, "rename-copyobject-s")
	b.ReportMetric(tPar, "rename-parallel-s")
	b.ReportMetric(tPar/tCopy, "rename-ratio")
}
