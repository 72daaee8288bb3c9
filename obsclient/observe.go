package obsclient

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Observer is told about every HTTP attempt the client makes and about
// the object bytes it receives, for metrics (cmd/obsfs feeds Prometheus
// collectors from it). Calls come from many goroutines at once, on the
// request's path: they must be cheap and must not block.
type Observer interface {
	// ObserveAttempt is called once per attempt, when the client has
	// decided whether to retry it.
	ObserveAttempt(a Attempt)
	// ObserveFetched is called with the number of object bytes read from a
	// GetObject response body, as the caller reads them.
	ObserveFetched(n int)
}

// Attempt describes one HTTP attempt of a request.
type Attempt struct {
	// Op is the API operation: "PutObject", "UploadPart", "GetObject"...
	Op string
	// Status is the HTTP status of the response, 0 if none arrived
	// (network error, stall, cancellation).
	Status int
	// Duration runs from the start of the attempt until its response was
	// handled (for GetObject: its headers; the body is read later).
	Duration time.Duration
	// Sent is the number of request body bytes the transport read from
	// the payload during the attempt.
	Sent int64
	// Code names the failure, "" on success: the store's error code
	// ("NoSuchKey", "SlowDown"...), "HTTP<status>" when the response gave
	// none, or "Stalled", "Network", "Canceled", "DeadlineExceeded",
	// "Other" for attempts without a response.
	Code string
	// Retried reports that the client retries the request after this
	// attempt (Code says why).
	Retried bool
	// Hedge reports a hedged second request, sent while the attempt's
	// first one still waited for a response (CompleteMultipartUpload):
	// Code is "" if its answer was used, "Canceled" if the first request
	// answered first, else its failure. The attempt itself is reported
	// as well, with the outcome of the pair.
	Hedge bool
}

// FailureCode names err for metrics: see Attempt.Code.
func FailureCode(err error) string {
	if err == nil {
		return ""
	}
	if e := AsError(err); e != nil {
		if e.Code != "" {
			return e.Code
		}
		return "HTTP" + strconv.Itoa(e.Status)
	}
	var te *transportError
	switch {
	case errors.Is(err, ErrStalled):
		return "Stalled"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "DeadlineExceeded"
	case errors.As(err, &te):
		return "Network"
	}
	return "Other"
}
