package obsclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Hedging small requests (see StallPolicy): an attempt of an idempotent
// small request (smallHedgedOps) whose response has not begun after its
// hedge delay gets one second, identical request on another connection
// while the first keeps waiting under its stall deadline, which stays the
// backstop. The first success is used and the other request is cancelled;
// a failure of one waits for the other. A stalled request then costs about
// its hedge delay instead of its stall deadline, and a healthy but slow one
// is never cut by it: it only gets company.
//
// The two requests' handlers run one at a time, and the first to succeed
// wins: the other's handler, if it gets that far, fails with errHedgeLost
// without touching the caller's result, so handlers need nothing special.
//
// Sending a request twice is safe for these: reads change nothing, a
// DeleteObject deletes once, and PutObject and UploadPart send the same
// bytes (a body is a window of a ReaderAt, read anew by each request) to
// the same key or part number, so whichever the store applies last leaves
// the same content and, without server-side encryption, the same ETag (the
// MD5 of the bytes). Requests with server-side-encryption headers (whose
// ETag may differ between two uploads of the same bytes) or conditional
// headers on a write (the second could fail its condition because of the
// first) are not hedged. InitiateMultipartUpload is not hedged either: a
// second Initiate creates a second upload that would have to be found and
// aborted; its stall deadline, never below Initial, stays its only cut.
//
// The extra load is bounded: one hedge per attempt, bodies of at most
// smallHedgeMaxBody, and at most smallHedgeSlots hedges in flight per
// client (one client serves a mount); an attempt finding none free is not
// hedged.

// smallHedgedOps are hedged beside their stall deadline.
var smallHedgedOps = map[string]bool{
	"HeadObject":           true,
	"GetObject":            true, // until the response headers; a stalled body is fetched again
	"ListObjects":          true,
	"ListParts":            true,
	"ListMultipartUploads": true,
	"PutObject":            true,
	"UploadPart":           true,
	"DeleteObject":         true,
}

const (
	// smallHedgeMultiplier times the p90 latency of a kind is its hedge
	// delay: half its stall deadline (stallMultiplier).
	smallHedgeMultiplier = 4
	// DefaultSmallHedgeFloor is the least hedge delay of a small request:
	// on a loaded machine a healthy small request may take a few hundred
	// milliseconds, and each hedge it gets is a request more for the store.
	DefaultSmallHedgeFloor = 500 * time.Millisecond
	// hedgeBodyRate is how fast a store is assumed to take in a request
	// body it has received (checksums, writing), at the least: a body of n
	// bytes adds n/hedgeBodyRate to the hedge delay, since a kind's
	// latencies (PutObject) mix small bodies and large ones. 8 MiB add 2 s,
	// more than the stall deadline of most kinds: large bodies are then
	// not hedged.
	hedgeBodyRate = 4 << 20 // bytes per second
	// smallHedgeMaxBody is the largest request body hedged (a part of the
	// first 1000 is 8 MiB).
	smallHedgeMaxBody = 16 << 20
	// smallHedgeSlots is how many small-request hedges may be in flight
	// at once per client.
	smallHedgeSlots = 8
)

// errHedgeLost fails the handler of the request that answered second.
var errHedgeLost = errors.New("obsclient: the other request of a hedged attempt answered first")

// bodySize is the size of req's body, 0 if none.
func (req *request) bodySize() int64 {
	if req.body == nil {
		return 0
	}
	return req.body.n
}

// smallHedgeable reports whether req may be hedged (see above).
func smallHedgeable(req *request) bool {
	if !smallHedgedOps[req.op] {
		return false
	}
	if req.body != nil && req.body.n > smallHedgeMaxBody {
		return false
	}
	write := req.method != http.MethodGet && req.method != http.MethodHead
	for k := range req.header {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "server-side-encryption") {
			return false
		}
		if write && strings.HasPrefix(lk, "if-") {
			return false
		}
	}
	return true
}

// smallHedgeDelay is the hedge delay of an attempt of kind op whose stall
// deadline is d and whose body has size bytes: smallHedgeMultiplier × the
// p90 of the kind's latencies (of every kind's while it has too few), or
// d/2 while no p90 is known; at least floor; plus size/hedgeBodyRate. ok
// is false when that is not below d (no hedge then).
func (l *latencies) smallHedgeDelay(op string, d, floor time.Duration, size int64) (h time.Duration, ok bool) {
	l.mu.Lock()
	var p90 time.Duration
	if r := l.kind[op]; r != nil && r.p90 > 0 {
		p90 = r.p90
	} else if r := l.kind[anyKind]; r != nil && r.p90 > 0 {
		p90 = r.p90
	}
	l.mu.Unlock()
	h = d / 2
	if p90 > 0 {
		h = smallHedgeMultiplier * p90
	}
	h = max(h, floor) + time.Duration(size*int64(time.Second)/hedgeBodyRate)
	return h, h > 0 && h < d
}

// smallLeg is the outcome of one of the two requests of a hedged attempt.
type smallLeg struct {
	leg
	stalled *stall
	kept    bool
}

// hedgedSmall runs attempt n of req (smallHedgeable) like attempt, with
// stall deadline d and send deadline ds for each of its requests, hedging
// it when the first request's response has not begun delay after the
// request was sent. It returns when one request succeeded (the other is
// cancelled and waited for) or both failed: then with the first request's
// failure, unless that one is final and the hedge's retryable.
func (c *Client) hedgedSmall(cl *call, req *request, n int, d, ds, delay time.Duration) (stalled *stall, kept bool, err error) {
	results := make(chan smallLeg, 2)
	fire := make(chan struct{}, 1)

	// The first request's progress.
	w := &firstByteWatch{}
	trace := w.trace(delay, fire, nil)
	waiting := func() bool {
		done, responded := w.state()
		return !done && !responded
	}

	// The handlers run one at a time; the first success wins.
	var hmu sync.Mutex
	won := false // guarded by hmu
	hreq := *req
	if req.handle != nil {
		hreq.handle = func(resp *http.Response) error {
			hmu.Lock()
			defer hmu.Unlock()
			if won {
				return errHedgeLost
			}
			err := req.handle(resp)
			if err == nil || err == errKeepBody {
				won = true
			}
			return err
		}
	}

	// A request that keeps the response body (GetObject) keeps its context
	// too: the body's Close cancels it, with the call's window.
	pctx, cancelP := context.WithCancel(cl.wctx)
	hctx, cancelH := context.WithCancel(cl.wctx)
	var keptP, keptH bool // set before the deferred cancels run
	defer func() {
		if !keptP {
			cancelP()
		}
		if !keptH {
			cancelH()
		}
	}()
	run := func(ctx context.Context, hedge bool) {
		lc := *cl // status, sent and reqID of this request alone
		lc.wctx = ctx
		t0 := time.Now()
		st, k, err := c.attempt(&lc, &hreq, n, d, ds)
		if !hedge {
			w.finish()
		}
		results <- smallLeg{leg: leg{hedge: hedge, err: err, status: lc.status, sent: lc.sent, reqID: lc.reqID,
			dur: time.Since(t0)}, stalled: st, kept: k}
	}
	go run(httptrace.WithClientTrace(pctx, trace), false)

	running, hedgeSent := 1, false
	var failed []smallLeg
	observeHedge := func(l smallLeg, won bool) {
		if cl.obs == nil {
			return
		}
		code := FailureCode(l.err)
		if l.err == nil && !won || errors.Is(l.err, errHedgeLost) {
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
			select {
			case c.smallHedges <- struct{}{}:
			default:
				c.log.WithFields(logrus.Fields{"op": req.op, "bucket": req.bucket, "key": req.key}).
					Debug("obs request has no response yet; not hedged, too many hedges in flight")
				continue
			}
			hedgeSent = true
			running++
			go func() {
				defer func() { <-c.smallHedges }()
				run(hctx, true)
			}()
			c.log.WithFields(logrus.Fields{"op": req.op, "bucket": req.bucket, "key": req.key, "attempt": n,
				"after": delay}).Debug("obs request has no response yet, hedging")
		case l := <-results:
			running--
			// A success wins; so does a final failure (NoSuchKey, a
			// refused condition...): it is the store's answer.
			answer := l.err == nil || !IsRetryable(l.err) && l.stalled == nil &&
				!errors.Is(l.err, errHedgeLost) && cl.wctx.Err() == nil
			if answer {
				// The winner. Cancel the other request and wait for it.
				if l.hedge {
					keptH = l.kept
					cancelP()
				} else {
					keptP = l.kept
					cancelH()
				}
				for ; running > 0; running-- {
					other := <-results
					if other.hedge {
						observeHedge(other, false)
					}
				}
				if l.hedge && hedgeSent {
					observeHedge(l, true)
					w.recordUnanswered(c.lat, req.op)
					c.log.WithFields(logrus.Fields{"op": req.op, "bucket": req.bucket, "key": req.key,
						"attempt": n, "req_id": l.reqID, "after": delay}).
						Info("obs request had no response; a hedged second request answered first")
				}
				cl.status, cl.sent, cl.reqID = l.status, l.sent, l.reqID
				return nil, l.kept, l.err
			}
			if l.hedge {
				observeHedge(l, false)
			}
			failed = append(failed, l)
			if running > 0 {
				continue
			}
			// Both failed, neither with an answer: the first request's
			// failure decides (a stall of it is retried at once).
			first := failed[0]
			if len(failed) == 2 && failed[0].hedge {
				first = failed[1]
			}
			cl.status, cl.sent, cl.reqID = first.status, first.sent, first.reqID
			return first.stalled, false, first.err
		}
	}
}
