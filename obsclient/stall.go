package obsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptrace"
	"slices"
	"sync"
	"time"
)

// Stall detection (see StallPolicy): each attempt of an operation that is
// not slow by nature gets a watchdog. It runs while the client waits on the
// store: from the end of the request until the first response byte, and
// during each read of the response body, with a deadline derived from the
// recent latency of the kind; and while the request is sent (from the
// moment the attempt has a connection, re-armed by every read of the
// request body, so a store that stops reading it counts) with the send
// deadline, which is more generous: the gaps of an upload depend on the
// network and the load more than on the store. When it fires it cancels the
// attempt's context, which makes net/http close that connection, so the
// retry goes out on another one.

const (
	// stallMultiplier times the p90 latency of a kind is its deadline.
	stallMultiplier = 8
	// stallSamples latencies are kept per kind; stallMinSamples must be
	// known before they replace StallPolicy.Initial.
	stallSamples    = 64
	stallMinSamples = 8
)

// slowOps have no stall deadline: the server may legitimately think for a
// long time before answering (assembling or copying objects, deleting many).
var slowOps = map[string]bool{
	"CompleteMultipartUpload": true,
	"CopyObject":              true,
	"UploadPartCopy":          true,
	"DeleteObjects":           true,
}

// whatSending is what the send deadline waits for.
const whatSending = "sending stopped"

// leavesGarbage are operations whose abandoned attempt may leave something
// behind (an Initiate the server performed creates an upload nobody will
// use): their stall deadline is never below StallPolicy.Initial, so that a
// store merely slow under load does not get them abandoned.
var leavesGarbage = map[string]bool{
	"InitiateMultipartUpload": true,
}

// errStallCause is the cause of an attempt context cancelled by its watchdog.
var errStallCause = errors.New("stall deadline passed")

// latencies holds the recent time-to-first-byte of each operation kind and
// the stall deadline derived from it.
type latencies struct {
	p    StallPolicy
	mu   sync.Mutex
	kind map[string]*latencyRing // guarded by mu
}

// latencyRing is the last stallSamples latencies of one kind.
type latencyRing struct {
	buf      [stallSamples]time.Duration
	n, next  int
	deadline time.Duration // derived from buf; 0 until stallMinSamples
	p90      time.Duration // of buf; 0 until stallMinSamples
}

func newLatencies(p StallPolicy) *latencies {
	return &latencies{p: p, kind: map[string]*latencyRing{}}
}

// anyKind is the ring of the latencies of every kind, the fallback of a
// kind with too few of its own.
const anyKind = ""

// record adds one latency of kind op. Those of hedged kinds (slow by
// nature) are kept out of the ring of every kind.
func (l *latencies) record(op string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kinds := []string{op, anyKind}
	if hedgedOps[op] {
		kinds = kinds[:1]
	}
	for _, k := range kinds {
		r := l.kind[k]
		if r == nil {
			r = &latencyRing{}
			l.kind[k] = r
		}
		r.add(d, l.p)
	}
}

// add records d and derives the ring's deadline.
func (r *latencyRing) add(d time.Duration, p StallPolicy) {
	r.buf[r.next] = d
	r.next = (r.next + 1) % stallSamples
	r.n = min(r.n+1, stallSamples)
	if r.n < stallMinSamples {
		return
	}
	s := slices.Clone(r.buf[:r.n])
	slices.Sort(s)
	r.p90 = s[(r.n*9+9)/10-1] // the ceil(0.9 n)-th smallest
	r.deadline = min(max(stallMultiplier*r.p90, p.Floor), p.Max)
}

// deadlines are the stall deadline d and the send deadline ds of an
// attempt of kind op after stalls stalls of the same request. d comes from
// the kind's latencies, or from those of every kind while it has too few,
// or is Initial while those are too few as well. ds is twice the learned
// deadline, at least 2 Floors (a pause in an upload depends on the network
// and the load more than on the store's latency), or Initial before any is
// learned. Both double with each stall.
func (l *latencies) deadlines(op string, stalls int) (d, ds time.Duration) {
	l.mu.Lock()
	d, ds = l.p.Initial, l.p.Initial
	learned := false
	if r := l.kind[op]; r != nil && r.deadline > 0 {
		d, learned = r.deadline, true
	} else if r := l.kind[anyKind]; r != nil && r.deadline > 0 {
		d, learned = r.deadline, true
	}
	l.mu.Unlock()
	if learned {
		ds = max(2*d, 2*l.p.Floor)
	}
	if leavesGarbage[op] {
		d = max(d, l.p.Initial)
	}
	return l.doubled(d, stalls), l.doubled(ds, stalls)
}

// doubled is d doubled stalls times, at most Max.
func (l *latencies) doubled(d time.Duration, stalls int) time.Duration {
	for i := 0; i < stalls && d < l.p.Max; i++ {
		d *= 2
	}
	return min(d, l.p.Max)
}

// watchdog cancels an attempt that waits on the store for longer than d,
// or pauses sending for longer than ds. A nil *watchdog does nothing
// (operations without a stall deadline).
type watchdog struct {
	d, ds  time.Duration
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	timer     *time.Timer // guarded by mu; the armed timer, nil if none
	gen       uint64      // guarded by mu; invalidates a timer being stopped
	connected bool        // guarded by mu; the attempt has a connection
	responded bool        // guarded by mu; the first response byte came
	armed     stall       // guarded by mu; what the armed timer waits for
	fired     *stall      // guarded by mu; the deadline that passed
}

func newWatchdog(d, ds time.Duration, cancel context.CancelCauseFunc) *watchdog {
	return &watchdog{d: d, ds: ds, cancel: cancel}
}

// armLocked (re)starts the deadline dur, waiting for what. w.mu is held.
func (w *watchdog) armLocked(dur time.Duration, what string) {
	if w.fired != nil {
		return
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.gen++
	g := w.gen
	w.armed = stall{sending: what == whatSending, what: what, after: dur}
	w.timer = time.AfterFunc(dur, func() { w.expire(g) })
}

// disarmLocked stops the deadline. w.mu is held.
func (w *watchdog) disarmLocked() {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.gen++
}

func (w *watchdog) expire(g uint64) {
	w.mu.Lock()
	if g != w.gen || w.fired != nil {
		w.mu.Unlock()
		return
	}
	st := w.armed
	w.fired, w.timer = &st, nil
	w.mu.Unlock()
	w.cancel(errStallCause)
}

// gotConn: the attempt has a connection and starts sending.
func (w *watchdog) gotConn() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.responded {
		w.connected = true
		w.armLocked(w.ds, whatSending)
	}
}

// sending: the transport read more of the request body.
func (w *watchdog) sending() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.connected && !w.responded {
		w.armLocked(w.ds, whatSending)
	}
}

// sent: the request is sent; the response is awaited.
func (w *watchdog) sent() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.responded {
		w.armLocked(w.d, "no response")
	}
}

// firstByte: the response began.
func (w *watchdog) firstByte() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.responded = true
	w.disarmLocked()
}

// readStart and readEnd bracket one read of the response body.
func (w *watchdog) readStart() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armLocked(w.d, "the response body sent nothing")
}

func (w *watchdog) readEnd() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.disarmLocked()
}

// stop disarms the watchdog for good (the attempt is over).
func (w *watchdog) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.responded = true
	w.disarmLocked()
}

// stall describes the deadline that passed, nil if none did.
func (w *watchdog) stall() *stall {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// stall is a deadline that passed.
type stall struct {
	sending bool // the request was being sent (the send deadline)
	what    string
	after   time.Duration
}

// trace hooks the watchdog into net/http and records the attempt's time to
// first byte (from the end of the request) as a latency of kind op.
func (w *watchdog) trace(l *latencies, op string) *httptrace.ClientTrace {
	var mu sync.Mutex
	var wrote time.Time // guarded by mu
	return &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { w.gotConn() },
		WroteRequest: func(httptrace.WroteRequestInfo) {
			mu.Lock()
			wrote = time.Now()
			mu.Unlock()
			w.sent()
		},
		GotFirstResponseByte: func() {
			w.firstByte()
			mu.Lock()
			t := wrote
			mu.Unlock()
			if !t.IsZero() {
				l.record(op, time.Since(t))
			}
		},
	}
}

// call is one logical request: the caller's context and the retry window
// around all its attempts.
type call struct {
	req     *request
	ctx     context.Context // the caller's
	wctx    context.Context // ctx bounded by the retry window
	cancelW context.CancelFunc
	start   time.Time
	window  time.Duration
	obs     Observer // Config.Observer
	status  int      // HTTP status of the last attempt's response, 0: none
	sent    int64    // request body bytes read during the last attempt
	reqID   string   // request ID of the last attempt's response, "": none
}

// stallError is the failure of an attempt whose watchdog fired.
func (cl *call) stallError(st *stall) error {
	r := cl.req
	return &transportError{fmt.Errorf("obs %s %s/%s: %w: %s for %v", r.op, r.bucket, r.key, ErrStalled, st.what, st.after)}
}

// stallBody is a response body under the attempt's watchdog. When the
// caller keeps it (GetObject), Close releases the attempt and the window.
type stallBody struct {
	rc      io.ReadCloser
	wd      *watchdog
	cl      *call
	lat     *latencies
	attempt int
	release func() // set when the caller keeps the body; run once by Close
	once    sync.Once
}

func (b *stallBody) Read(p []byte) (int, error) {
	b.wd.readStart()
	n, err := b.rc.Read(p)
	b.wd.readEnd()
	if b.cl.obs != nil && n > 0 && b.cl.req.op == "GetObject" {
		b.cl.obs.ObserveFetched(n)
	}
	if err != nil && err != io.EOF {
		err = b.readError(err)
	}
	return n, err
}

// readError explains a failed body read: the caller's context ended, the
// body stalled, or the retry window ended; other errors are transport
// failures, returned as they come.
func (b *stallBody) readError(err error) error {
	cl := b.cl
	switch {
	case cl.ctx.Err() != nil:
		return fmt.Errorf("obs %s: reading the response body: %w", cl.req.op, cl.ctx.Err())
	case b.wd.stall() != nil:
		b.lat.record(cl.req.op, b.wd.d)
		return cl.stallError(b.wd.stall())
	case cl.wctx.Err() != nil:
		return &RetryError{Op: cl.req.op, Attempts: b.attempt, Elapsed: time.Since(cl.start), Window: cl.window,
			Cut: "the response body"}
	}
	return err
}

func (b *stallBody) Close() error {
	err := b.rc.Close()
	b.once.Do(func() {
		b.wd.stop()
		if b.release != nil {
			b.release()
		}
	})
	return err
}
