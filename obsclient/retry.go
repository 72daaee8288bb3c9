package obsclient

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/sirupsen/logrus"
)

// do runs req with retries within its window (RetryPolicy.MaxElapsed). On
// success the handler has consumed the response, or kept its body, which
// then holds the window until it is closed.
//
// Failures: a non-retryable one is returned as it is; when retrying stops
// (the window ended, the attempts ran out, the caller's context ended) the
// result is a *RetryError wrapping the last failure.
func (c *Client) do(ctx context.Context, req *request) error {
	p := c.cfg.Retry
	cl := &call{req: req, ctx: ctx, start: time.Now(), window: p.MaxElapsed, obs: c.cfg.Observer}
	cl.wctx, cl.cancelW = context.WithDeadline(ctx, cl.start.Add(p.MaxElapsed))
	kept := false
	defer func() {
		if !kept {
			cl.cancelW()
		}
	}()
	var last error // the last failure of an attempt
	stalls := 0    // attempts of this request that stalled
	giveUp := func(attempts int, window bool, cut string) error {
		e := &RetryError{Op: req.op, Attempts: attempts, Elapsed: time.Since(cl.start), Cut: cut, Last: last}
		switch {
		case ctx.Err() != nil:
			e.Ctx, e.Cut = ctx.Err(), ""
		case window:
			e.Window = p.MaxElapsed
		}
		return e
	}
	// The last attempt, for the Observer: reported when do returns,
	// unless it was reported as retried.
	var pend *Attempt
	if cl.obs != nil {
		defer func() {
			if pend != nil {
				cl.obs.ObserveAttempt(*pend)
			}
		}()
	}
	for attempt := 1; ; attempt++ {
		var d, ds time.Duration // stall and send deadlines; 0: none
		if !c.cfg.Stall.Disabled && !slowOps[req.op] {
			d, ds = c.lat.deadlines(req.op, stalls)
		}
		t0 := time.Now()
		var stalled *stall
		var keep bool
		var err error
		if !c.cfg.Stall.Disabled && hedgedOps[req.op] {
			err = c.hedged(cl, req, attempt)
		} else if h, ok := c.lat.smallHedgeDelay(req.op, d, c.smallHedgeFloor, req.bodySize()); ok && d > 0 && smallHedgeable(req) {
			stalled, keep, err = c.hedgedSmall(cl, req, attempt, d, ds, h)
		} else {
			stalled, keep, err = c.attempt(cl, req, attempt, d, ds)
		}
		if cl.obs != nil {
			pend = &Attempt{Op: req.op, Status: cl.status, Duration: time.Since(t0), Sent: cl.sent}
		}
		if err == nil {
			kept = keep
			return nil
		}
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case stalled != nil && cl.wctx.Err() == nil:
			if !stalled.sending {
				c.lat.record(req.op, d)
			}
			err = cl.stallError(stalled)
			stalls++
		}
		if pend != nil {
			pend.Code = FailureCode(err)
		}
		switch {
		case ctx.Err() != nil:
			return giveUp(attempt, false, "")
		case cl.wctx.Err() != nil:
			return giveUp(attempt, true, "an attempt")
		}
		if !IsRetryable(err) {
			return err
		}
		last = err
		if p.MaxAttempts != UnlimitedAttempts && attempt >= p.MaxAttempts {
			return giveUp(attempt, false, "")
		}
		delay := time.Duration(0) // a stall is retried at once
		if stalled == nil {
			delay = backoff(p, attempt)
		}
		if deadline, _ := cl.wctx.Deadline(); time.Until(deadline) <= delay {
			return giveUp(attempt, true, "")
		}
		if req.beforeRetry != nil {
			if done, ferr := req.beforeRetry(cl.wctx, err); done {
				return ferr
			}
		}
		if pend != nil {
			pend.Retried = true
			cl.obs.ObserveAttempt(*pend)
			pend = nil
		}
		c.log.WithFields(logrus.Fields{"op": req.op, "bucket": req.bucket, "key": req.key,
			"attempt": attempt, "req_id": RequestID(err), "delay": delay}).
			WithError(err).Warn("obs request failed, retrying")
		if serr := c.sleep(cl.wctx, delay); serr != nil {
			return giveUp(attempt, ctx.Err() == nil, "")
		}
	}
}

// backoff returns the full-jitter delay before retry number attempt (1-based).
func backoff(p RetryPolicy, attempt int) time.Duration {
	capd := p.BaseDelay
	for i := 1; i < attempt && capd < p.MaxDelay; i++ {
		capd *= 2
	}
	if capd > p.MaxDelay {
		capd = p.MaxDelay
	}
	if capd <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(capd)))
}

// lastFailure returns the failure of the last attempt behind err: the
// Last of a *RetryError, or err itself.
func lastFailure(err error) error {
	var re *RetryError
	if errors.As(err, &re) {
		return re.Last
	}
	return err
}
