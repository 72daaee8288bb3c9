package integration

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/obsclient"
)

// Benchmarks of obsclient against the shared MinIO on this machine. Run:
//
//	go test -run '^$' -bench 'UploadPart8MiB|ClientCPU' -benchtime 20x ./integration/
//
// MinIO runs on the same cores as the client, so MiB/s is a property of the
// pair (the reference ceiling on a 2-core box is about 310 MiB/s with
// minio-go, see minio-test-server.md). Do not run them with -race: it
// multiplies the client's CPU cost.

// benchPartSize is the part size of both benchmarks.
const benchPartSize = 8 << 20

// benchUpload prepares what a benchmark needs: the shared server's client,
// a bucket and one random part, made once.
func benchUpload(b *testing.B) (c *obsclient.Client, bucket string, part []byte) {
	b.Helper()
	s := miniotest.Shared(b, miniotest.Options{})
	return s.Client(b, nil), s.Bucket(b, b.Name()), randomBytes(b, benchPartSize)
}

// uploadConcurrently initiates an upload of key and uploads b.N parts
// with the same content, concurrency of them in flight at any time, part
// numbers 1, 2, ... (wrapping at 10000: re-uploading a number replaces
// the part). The upload is aborted when the benchmark ends. The timer runs
// only while parts are uploaded.
func uploadConcurrently(b *testing.B, c *obsclient.Client, bucket, key string, part []byte, concurrency int) {
	b.Helper()
	b.StopTimer()
	ctx := context.Background()
	up, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		b.Fatalf("InitiateMultipartUpload: %v", err)
	}
	defer func() {
		actx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := c.AbortMultipartUpload(actx, &obsclient.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadID: up.UploadID}); err != nil {
			b.Errorf("AbortMultipartUpload: %v", err)
		}
	}()

	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error // guarded by mu
	var wg sync.WaitGroup
	b.StartTimer()
	for range concurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				_, err := c.UploadPart(ctx, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID,
					PartNumber: int(i%obsclient.MaxPartNumber) + 1, Body: bytes.NewReader(part)})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(b.N)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	// b.SetBytes reports decimal MB/s; this is the binary unit.
	if secs := b.Elapsed().Seconds(); secs > 0 {
		b.ReportMetric(float64(b.N)*float64(len(part))/(1<<20)/secs, "MiB/s")
	}
}

// BenchmarkUploadPart8MiB measures the throughput of UploadPart with 8 MiB
// parts and 1 to 16 parts in flight, in MiB/s (and, through b.SetBytes, in
// decimal MB/s).
func BenchmarkUploadPart8MiB(b *testing.B) {
	c, bucket, part := benchUpload(b)
	for _, concurrency := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", concurrency), func(b *testing.B) {
			b.SetBytes(benchPartSize)
			b.ReportAllocs()
			uploadConcurrently(b, c, bucket, fmt.Sprintf("bench/concurrency-%d", concurrency), part, concurrency)
		})
	}
}

// BenchmarkClientCPUPerGiB measures the client's own CPU time per GiB
// uploaded (Content-MD5, signing, HTTP framing, the kernel's share of the
// socket writes), with 4 parts of 8 MiB in flight. MinIO is another
// process, so this process's rusage is the client's cost alone (plus the
// benchmark's trivial loop and the garbage collector, which are part of the
// cost of using the client). Metrics: cpu-s/GiB (user+system), and the
// user-s/GiB and sys-s/GiB parts.
func BenchmarkClientCPUPerGiB(b *testing.B) {
	c, bucket, part := benchUpload(b)
	b.SetBytes(benchPartSize)
	b.ReportAllocs()
	user0, sys0 := rusage(b)
	uploadConcurrently(b, c, bucket, "bench/cpu", part, 4)
	user1, sys1 := rusage(b)
	gib := float64(b.N) * benchPartSize / (1 << 30)
	user, sys := (user1 - user0).Seconds(), (sys1 - sys0).Seconds()
	b.ReportMetric((user+sys)/gib, "cpu-s/GiB")
	b.ReportMetric(user/gib, "user-s/GiB")
	b.ReportMetric(sys/gib, "sys-s/GiB")
}

// rusage returns the user and system CPU time this process has used.
// RUSAGE_SELF excludes child processes such as MinIO.
func rusage(b *testing.B) (user, sys time.Duration) {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
