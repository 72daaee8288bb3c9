package main

// Prometheus metrics (--metrics-addr). The core packages know nothing of
// Prometheus: obsclient calls an Observer once per HTTP attempt, fs
// reports every FUSE request through an OpObserver, and writeback keeps
// atomic counters read as one Stats snapshot. This file turns those into
// client_golang collectors: histograms and counters fed by the hooks, and
// a custom collector that reads the writeback snapshot at scrape time.
// Keeping client_golang here keeps its dependency tree out of the core
// packages and their tests, and the hooks are plain enough that a
// different exporter would need no change there.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/obsfs/obsfs/fs"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
)

// checkMetricsAddr validates --metrics-addr: HOST:PORT with HOST an IP
// address, a host name or empty (every interface) and PORT within
// 1..65535.
func checkMetricsAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %q: want HOST:PORT, e.g. 127.0.0.1:9464", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strings.TrimLeft(port, "0123456789") != "" {
		return fmt.Errorf("--metrics-addr %q: the port must be a number within 1..65535", addr)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostName(host) {
		return fmt.Errorf("--metrics-addr %q: %q is neither an IP address nor a host name", addr, host)
	}
	return nil
}

// validHostName reports whether h is a DNS host name: dot-separated labels
// of letters, digits and hyphens, not starting or ending with a hyphen.
func validHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// metrics holds the mount's collectors and the hooks feeding them.
type metrics struct {
	reg *prometheus.Registry

	storeDur     *prometheus.HistogramVec // op
	storeRetries *prometheus.CounterVec   // op, cause
	storeErrors  *prometheus.CounterVec   // op, code
	storeHedges  *prometheus.CounterVec   // op, outcome
	uploaded     prometheus.Counter
	fetched      prometheus.Counter

	fuseDur     *prometheus.HistogramVec // op
	fuseErrors  *prometheus.CounterVec   // op
	fuseRead    prometheus.Counter
	fuseWritten prometheus.Counter
	fuseSeries  [fs.NumOps]atomic.Pointer[fuseSeries]

	wb atomic.Pointer[writeback.Manager] // read at scrape time; nil until set
}

// fuseSeries are one request kind's series, bound once: the FUSE path
// then costs no label lookup.
type fuseSeries struct {
	dur  prometheus.Observer
	errs prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.storeDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "obsfs_store_request_duration_seconds",
		Help: "Duration of HTTP attempts to the object store, by API operation, until the response was handled (GetObject: its headers).",
		// 1 ms .. ~65 s
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	}, []string{"op"})
	m.storeRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "obsfs_store_retries_total",
		Help: "Attempts to the object store that failed and were retried, by API operation and cause (the store's error code, HTTP<status>, Stalled, Network...).",
	}, []string{"op", "cause"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "obsfs_store_errors_total",
		Help: "Requests to the object store that failed after their last attempt, by API operation and error code (NotFound of a lookup included).",
	}, []string{"op", "code"})
	m.storeHedges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "obsfs_store_hedges_total",
		Help: "Hedged second requests (a CompleteMultipartUpload, or a small idempotent request such as HeadObject, GetObject or PutObject, with no response after its hedge delay), by API operation and outcome: won (its answer was used) or lost.",
	}, []string{"op", "outcome"})
	m.uploaded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "obsfs_store_uploaded_bytes_total",
		Help: "Object data sent to the store: request bodies of PutObject and UploadPart attempts, retries included (server-side copies excluded).",
	})
	m.fetched = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "obsfs_store_fetched_bytes_total",
		Help: "Object data received from the store: GetObject response bodies read (reads, read-ahead, fills of partly written parts).",
	})
	m.fuseDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "obsfs_fuse_request_duration_seconds",
		Help: "Duration of FUSE requests served, by kind (lookup, getattr, read, write, flush...).",
		// 16 µs .. ~67 s
		Buckets: prometheus.ExponentialBuckets(16e-6, 4, 12),
	}, []string{"op"})
	m.fuseErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "obsfs_fuse_request_errors_total",
		Help: "FUSE requests answered with an error, by kind (ENOENT of a lookup included).",
	}, []string{"op"})
	m.fuseRead = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "obsfs_fuse_read_bytes_total",
		Help: "Bytes returned to programs by READ requests.",
	})
	m.fuseWritten = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "obsfs_fuse_written_bytes_total",
		Help: "Bytes accepted from programs by WRITE requests.",
	})
	m.reg.MustRegister(m.storeDur, m.storeRetries, m.storeErrors, m.storeHedges, m.uploaded, m.fetched,
		m.fuseDur, m.fuseErrors, m.fuseRead, m.fuseWritten, (*wbCollector)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveAttempt implements obsclient.Observer.
func (m *metrics) ObserveAttempt(a obsclient.Attempt) {
	if a.Hedge { // the attempt it hedged is observed as well
		outcome := "lost"
		if a.Code == "" {
			outcome = "won"
		}
		m.storeHedges.WithLabelValues(a.Op, outcome).Inc()
		return
	}
	m.storeDur.WithLabelValues(a.Op).Observe(a.Duration.Seconds())
	if a.Op == "PutObject" || a.Op == "UploadPart" {
		m.uploaded.Add(float64(a.Sent))
	}
	switch {
	case a.Code == "":
	case a.Retried:
		m.storeRetries.WithLabelValues(a.Op, a.Code).Inc()
	default:
		m.storeErrors.WithLabelValues(a.Op, a.Code).Inc()
	}
}

// ObserveFetched implements obsclient.Observer.
func (m *metrics) ObserveFetched(n int) { m.fetched.Add(float64(n)) }

// ObserveOp implements fs.OpObserver.
func (m *metrics) ObserveOp(op fs.Op, d time.Duration, ok bool) {
	s := m.fuseSeries[op].Load()
	if s == nil {
		s = &fuseSeries{dur: m.fuseDur.WithLabelValues(op.String()), errs: m.fuseErrors.WithLabelValues(op.String())}
		m.fuseSeries[op].Store(s) // a racing Store binds the same series
	}
	s.dur.Observe(d.Seconds())
	if !ok {
		s.errs.Inc()
	}
}

// ObserveRead implements fs.OpObserver.
func (m *metrics) ObserveRead(n int) { m.fuseRead.Add(float64(n)) }

// ObserveWrite implements fs.OpObserver.
func (m *metrics) ObserveWrite(n int) { m.fuseWritten.Add(float64(n)) }

// wbCollector exports writeback.Manager.Stats at scrape time.
type wbCollector metrics

var (
	descPartsInFlight = prometheus.NewDesc("obsfs_writeback_parts_in_flight",
		"Parts of files sealed for upload and not yet uploaded (queued or uploading).", nil, nil)
	descBufferBytes = prometheus.NewDesc("obsfs_writeback_buffer_bytes",
		"Write-buffer bytes held by data not yet durable in the store.", nil, nil)
	descBufferLimit = prometheus.NewDesc("obsfs_writeback_buffer_limit_bytes",
		"The write-buffer budget (--write-buffer).", nil, nil)
	descBufferWait = prometheus.NewDesc("obsfs_writeback_buffer_wait_seconds_total",
		"Time writers spent waiting for write-buffer space, summed over writers.", nil, nil)
	descEarlyCommits = prometheus.NewDesc("obsfs_writeback_early_commits_total",
		"Files committed before their close to make room in a full write buffer.", nil, nil)
	descOpenUploads = prometheus.NewDesc("obsfs_writeback_open_uploads",
		"Multipart uploads initiated and not yet completed or aborted.", nil, nil)
	descOldestUpload = prometheus.NewDesc("obsfs_writeback_oldest_upload_age_seconds",
		"Age of the oldest open multipart upload (0 when there is none).", nil, nil)
	descCacheHits = prometheus.NewDesc("obsfs_cache_hits_total",
		"Lookups of clean pages (--cache-size) that found the page.", nil, nil)
	descCacheMisses = prometheus.NewDesc("obsfs_cache_misses_total",
		"Lookups of clean pages (--cache-size) that did not find the page.", nil, nil)
)

func (c *wbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPartsInFlight, descBufferBytes, descBufferLimit, descBufferWait,
		descEarlyCommits, descOpenUploads, descOldestUpload, descCacheHits, descCacheMisses} {
		ch <- d
	}
}

func (c *wbCollector) Collect(ch chan<- prometheus.Metric) {
	wb := c.wb.Load()
	if wb == nil {
		return
	}
	s := wb.Stats()
	age := 0.0
	if !s.OldestUpload.IsZero() {
		age = time.Since(s.OldestUpload).Seconds()
	}
	g, k := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(descPartsInFlight, g, float64(s.PartsInFlight))
	ch <- prometheus.MustNewConstMetric(descBufferBytes, g, float64(s.BufferUsed))
	ch <- prometheus.MustNewConstMetric(descBufferLimit, g, float64(s.BufferLimit))
	ch <- prometheus.MustNewConstMetric(descBufferWait, k, s.BufferWait.Seconds())
	ch <- prometheus.MustNewConstMetric(descEarlyCommits, k, float64(s.EarlyCommits))
	ch <- prometheus.MustNewConstMetric(descOpenUploads, g, float64(s.OpenUploads))
	ch <- prometheus.MustNewConstMetric(descOldestUpload, g, age)
	ch <- prometheus.MustNewConstMetric(descCacheHits, k, float64(s.CacheHits))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, k, float64(s.CacheMisses))
}

// metricsServer serves /metrics on a listener taken before the mount, so
// that an address in use fails the mount before anything is mounted.
type metricsServer struct {
	ln   net.Listener
	srv  *http.Server
	once sync.Once
}

// listenMetrics takes the address; the server starts with start.
func listenMetrics(addr string) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, fmt.Errorf("--metrics-addr %s: %v", addr, rootCause(err))
	}
	return &metricsServer{ln: ln}, nil
}

// start serves m's registry until stop.
func (s *metricsServer) start(m *metrics, log *logrus.Entry) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("metrics server stopped")
		}
	}()
	log.WithField("addr", "http://"+s.ln.Addr().String()+"/metrics").Info("serving metrics")
}

// stop ends the server (or releases the listener if it never started);
// later calls do nothing.
func (s *metricsServer) stop() {
	s.once.Do(func() {
		if s.srv == nil {
			s.ln.Close()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
	})
}
