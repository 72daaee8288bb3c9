package obsclient

import (
	"context"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Hedging (see StallPolicy): CompleteMultipartUpload has no stall deadline,
// since a store may think for long before it answers one (it assembles the
// parts; S3 and MinIO send keep-alive whitespace meanwhile, OBS may send
// nothing). Abandoning such an attempt would lose its answer, so instead an
// attempt whose response has not begun after the hedge delay gets a second,
// identical request on another connection while the first keeps waiting.
// The first success is used and the other request is cancelled; a failure
// of one waits for the other. At most one hedge is sent per attempt, and
// it takes nothing a caller could be waiting for (no slot, no budget).
//
// Sending a Complete twice is safe: the server applies at most one, and the
// other gets NoSuchUpload (or the same success). A hedge that gets
// NoSuchUpload while the first request still waits checks, read-only
// (request.hedgeResolve: ListParts, HEAD), whether the upload has
// completed; only a positive answer is used, so this check may run beside
// the first request. The check that decides whether to retry after both
// failed (request.beforeRetry) runs after both have ended, as for any
// attempt.

// hedgedOps get a hedge instead of a stall deadline.
var hedgedOps = map[string]bool{
	"CompleteMultipartUpload": true,
}

// DefaultHedgeFloor is the least hedge delay: a Complete legitimately takes
// a second or two on a loaded store, and a hedge costs the store a second
// assembly attempt.
const DefaultHedgeFloor = 3 * time.Second

// hedgeDelay is how long an attempt of kind op waits for its first
// response byte before it is hedged: its stall deadline (8 × the p90 of the
// kind's latencies, or of all kinds' while it has too few, or Initial),
// at least floor, at most Max. Latencies of hedged kinds are kept apart
// from the other kinds' (latencies.record).
func (l *latencies) hedgeDelay(op string, floor time.Duration) time.Duration {
	d, _ := l.deadlines(op, 0)
	return min(max(d, floor), max(l.p.Max, floor))
}

// leg is the outcome of one of the two requests of a hedged attempt.
type leg struct {
	hedge  bool
	err    error
	status int
	sent   int64
	reqID  string
	dur    time.Duration
}

// hedged runs attempt n of req (an op of hedgedOps), hedging it if its
// response has not begun after the hedge delay. It returns nil when either
// request succeeded; when both failed, the failure that leaves the outcome
// open (retryable) if there is one, so that the caller checks before
// retrying, else the first request's. It returns only after both requests
// have ended (the loser is cancelled, which ends it at once), and the
// caller's context or the window ending cancels both.
func (c *Client) hedged(cl *call, req *request, n int) error {
	delay := c.lat.hedgeDelay(req.op, c.hedgeFloor)
	results := make(chan leg, 2)
	fire := make(chan struct{}, 1)

	// The first request's progress; its latency is recorded when it
	// answers.
	w := &firstByteWatch{}
	trace := w.trace(delay, fire, func(d time.Duration) { c.lat.record(req.op, d) })
	waiting := func() bool { // the first request is still waiting
		done, _ := w.state()
		return !done
	}

	pctx, cancelP := context.WithCancel(cl.wctx)
	hctx, cancelH := context.WithCancel(cl.wctx)
	defer cancelP()
	defer cancelH()
	run := func(ctx context.Context, hedge bool) {
		lc := *cl // status, sent and reqID of this request alone
		lc.wctx = ctx
		t0 := time.Now()
		_, _, err := c.attempt(&lc, req, n, 0, 0)
		if err != nil && hedge && IsNoSuchUpload(err) && req.hedgeResolve != nil && waiting() && ctx.Err() == nil {
			if req.hedgeResolve(ctx) {
				err = nil
			}
		}
		if !hedge {
			w.finish()
		}
		results <- leg{hedge: hedge, err: err, status: lc.status, sent: lc.sent, reqID: lc.reqID, dur: time.Since(t0)}
	}
	go run(httptrace.WithClientTrace(pctx, trace), false)

	running, hedgeSent := 1, false
	var failed []leg
	observeHedge := func(l leg, won bool) {
		if cl.obs == nil {
			return
		}
		code := FailureCode(l.err)
		if l.err == nil && !won {
			code = FailureCode(context.Canceled)
		}
		cl.obs.ObserveAttempt(Attempt{Op: req.op, Status: l.status, Duration: l.dur, Sent: l.sent, Code: code, Hedge: true})
	}
	for {
		select {
		case <-fire:
			if hedgeSent || !waiting() {
				continue
			}
			hedgeSent = true
			running++
			// The hedge's own latency is recorded by a watchdog-less trace.
			go run(httptrace.WithClientTrace(hctx, (*watchdog)(nil).trace(c.lat, req.op)), true)
			c.log.WithFields(logrus.Fields{"op": req.op, "bucket": req.bucket, "key": req.key, "attempt": n,
				"after": delay}).Debug("obs request has no response yet, hedging")
		case l := <-results:
			running--
			if l.err == nil {
				// The winner. Cancel the other request and wait for it.
				cancelP()
				cancelH()
				for ; running > 0; running-- {
					other := <-results
					if other.hedge {
						observeHedge(other, false)
					}
				}
				if l.hedge {
					observeHedge(l, true)
					w.recordUnanswered(c.lat, req.op)
					c.log.WithFields(logrus.Fields{"op": req.op, "bucket": req.bucket, "key": req.key,
						"attempt": n, "req_id": l.reqID, "after": delay}).
						Info("obs request had no response; a hedged second request answered first")
				}
				cl.status, cl.sent, cl.reqID = l.status, l.sent, l.reqID
				return nil
			}
			if l.hedge {
				observeHedge(l, false)
			}
			failed = append(failed, l)
			if running > 0 {
				continue
			}
			if hedgeSent {
				w.recordUnanswered(c.lat, req.op)
			}
			first := failed[0]
			if len(failed) == 2 {
				p, h := failed[0], failed[1]
				if p.hedge {
					p, h = h, p
				}
				first = p
				if !IsRetryable(p.err) && IsRetryable(h.err) {
					first = h
				}
				other := p
				if first.hedge == other.hedge {
					other = h
				}
				c.log.WithFields(logrus.Fields{"op": req.op, "bucket": req.bucket, "key": req.key,
					"attempt": n, "req_id": RequestID(other.err)}).WithError(other.err).
					Debug("obs request and its hedge both failed; reporting the other failure")
			}
			cl.status, cl.sent, cl.reqID = first.status, first.sent, first.reqID
			return first.err
		}
	}
}

// firstByteWatch times the first request of a hedged pair: the hedge
// delay runs from the end of its request until its first response byte.
type firstByteWatch struct {
	mu        sync.Mutex
	wrote     time.Time   // guarded by mu: when the request was sent
	responded bool        // guarded by mu: its response began (or was given up on)
	timer     *time.Timer // guarded by mu
	done      bool        // guarded by mu: the first request has ended
}

// trace is the first request's trace: delay after the request was sent
// without a response byte, it signals fire (without blocking); when the
// response begins it calls onFirstByte, if set, with the latency.
func (w *firstByteWatch) trace(delay time.Duration, fire chan struct{}, onFirstByte func(time.Duration)) *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.wrote.IsZero() && !w.responded && !w.done {
				w.wrote = time.Now()
				w.timer = time.AfterFunc(delay, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			}
		},
		GotFirstResponseByte: func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.responded = true
			if w.timer != nil {
				w.timer.Stop()
			}
			if onFirstByte != nil && !w.wrote.IsZero() {
				onFirstByte(time.Since(w.wrote))
			}
		},
	}
}

// finish marks the first request ended.
func (w *firstByteWatch) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// state reports whether the first request ended, and whether its
// response began.
func (w *firstByteWatch) state() (done, responded bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done, w.responded
}

// recordUnanswered records, for a first request that was hedged and never
// answered, the time it waited as its latency, so that a merely slow store
// raises the hedge delay instead of being hedged on every request.
func (w *firstByteWatch) recordUnanswered(lat *latencies, op string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.responded && !w.wrote.IsZero() {
		w.responded = true
		lat.record(op, time.Since(w.wrote))
	}
}
