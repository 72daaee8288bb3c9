package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/obsfs/obsfs/fs"
	"github.com/obsfs/obsfs/obsclient"
)

func TestCheckMetricsAddr(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9464", "[::1]:9464", "localhost:9464", ":9464", "0.0.0.0:1", "metrics.example.com:65535"} {
		if err := checkMetricsAddr(addr); err != nil {
			t.Errorf("%q refused: %v", addr, err)
		}
	}
	for addr, want := range map[string]string{
		"127.0.0.1":           "want HOST:PORT",
		"9464":                "want HOST:PORT",
		"::1:9464":            "want HOST:PORT",
		"127.0.0.1:":          "port must be a number within 1..65535",
		"127.0.0.1:0":         "port must be a number within 1..65535",
		"127.0.0.1:65536":     "port must be a number within 1..65535",
		"127.0.0.1:http":      "port must be a number within 1..65535",
		"127.0.0.1:+80":       "port must be a number within 1..65535",
		"bad_host:9464":       `"bad_host" is neither an IP address nor a host name`,
		"-host:9464":          "neither an IP address nor a host name",
		"http://x:9464":       "want HOST:PORT",
		"127.0.0.1:9464/path": "port must be a number",
	} {
		err := checkMetricsAddr(addr)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line containing %q", addr, err, want)
		}
	}
}

// A bad --metrics-addr is a usage error: one line, exit status 2, before
// anything else happens.
func TestMetricsAddrUsageError(t *testing.T) {
	cleanEnv(t)
	_, err := parseArgs([]string{"bucket", "/mnt", "--endpoint", testEndpoint, "-o", "metrics_addr=127.0.0.1:99999"})
	if err == nil || !strings.Contains(err.Error(), `--metrics-addr "127.0.0.1:99999": the port must be a number within 1..65535`) {
		t.Fatalf("parseArgs: %v", err)
	}
	if code := run([]string{"bucket", t.TempDir(), "--endpoint", testEndpoint, "--metrics-addr", "nowhere", "-f"}); code != 2 {
		t.Fatalf("exit status %d, want 2", code)
	}
}

// An address in use is refused with one line naming it.
func TestListenMetricsInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = listenMetrics(ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr "+ln.Addr().String()+": ") ||
		!strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("listen on a port in use: %v", err)
	}
	s, err := listenMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.stop()
}

// BenchmarkFUSEObserve is the cost metrics add to each FUSE WRITE: the
// wrapper's two clock reads, the histogram and the byte counter (compare
// with the tens of microseconds a WRITE round trip takes).
func BenchmarkFUSEObserve(b *testing.B) {
	m := newMetrics()
	raw := fs.Instrument(nopRaw{fuse.NewDefaultRawFileSystem()}, m)
	data := make([]byte, 128<<10)
	in := &fuse.WriteIn{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			raw.Write(nil, in, data)
		}
	})
}

// nopRaw accepts every write.
type nopRaw struct{ fuse.RawFileSystem }

func (nopRaw) Write(_ <-chan struct{}, _ *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	return uint32(len(data)), fuse.OK
}

// BenchmarkStoreObserve is the cost metrics add to each store attempt.
func BenchmarkStoreObserve(b *testing.B) {
	m := newMetrics()
	a := obsclient.Attempt{Op: "UploadPart", Status: 200, Duration: 30 * time.Millisecond, Sent: 8 << 20}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveAttempt(a)
		}
	})
}

// A hedge is counted by outcome and kept out of the attempts (requests
// made stay the duration count less the retries).
func TestHedgeMetrics(t *testing.T) {
	m := newMetrics()
	const op = "CompleteMultipartUpload"
	m.ObserveAttempt(obsclient.Attempt{Op: op, Status: 200, Duration: 3 * time.Second})
	m.ObserveAttempt(obsclient.Attempt{Op: op, Status: 200, Duration: time.Millisecond, Hedge: true})
	m.ObserveAttempt(obsclient.Attempt{Op: op, Status: 404, Code: "NoSuchUpload", Hedge: true})
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range mt.GetLabel() {
				if l.GetName() == "outcome" {
					name += "/" + l.GetValue()
				}
			}
			switch {
			case mt.Counter != nil:
				got[name] += mt.GetCounter().GetValue()
			case mt.Histogram != nil:
				got[name] += float64(mt.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{"obsfs_store_hedges_total/won": 1, "obsfs_store_hedges_total/lost": 1,
		"obsfs_store_request_duration_seconds": 1, "obsfs_store_errors_total": 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
