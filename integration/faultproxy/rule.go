package faultproxy

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Action is what a rule does to the requests it matches.
type Action int

// Actions. The zero Action is invalid, so that a Rule whose Action was
// forgotten is refused rather than silently forwarding.
const (
	// ActionForward forwards the request unchanged (after Delay). Put it in
	// front of a fault rule to spare the first Times matching requests.
	ActionForward Action = iota + 1
	// ActionStatus reads the request body, then answers with Status, an S3
	// XML error body carrying Code and the header x-amz-request-id:
	// faultproxy-N, without contacting the server.
	ActionStatus
	// ActionReset reads ResetAfter bytes of the request body (all of it when
	// ResetAfter is 0), then resets the TCP connection (SO_LINGER 0): the
	// client sees ECONNRESET and the server never sees the request.
	ActionReset
	// ActionResetAfterForward forwards the request and reads the server's
	// whole response, so the server has performed it, then resets the client
	// connection instead of answering: the ambiguous failure.
	ActionResetAfterForward
	// ActionDelay waits Delay, then forwards the request. It is
	// ActionForward under a clearer name.
	ActionDelay
	// ActionTruncateResponse forwards the request, sends the status, the
	// headers (Content-Length included) and the first half of the body,
	// then closes the connection. An empty body cannot be truncated: the
	// client then gets a complete response, but the connection is still
	// closed.
	ActionTruncateResponse
	// ActionStall reads the whole request body and then sends nothing: the
	// request hangs until the client gives up (closes the connection) or
	// the proxy is closed. The server never sees the request. It stands
	// for a store that stops answering.
	ActionStall
	// ActionStallResponse forwards the request, sends the status, the
	// headers and the first half of the body, and then stalls like
	// ActionStall with the connection open: a response that stops flowing.
	ActionStallResponse
)

func (a Action) String() string {
	switch a {
	case ActionForward:
		return "forward"
	case ActionStatus:
		return "status"
	case ActionReset:
		return "reset"
	case ActionResetAfterForward:
		return "reset-after-forward"
	case ActionDelay:
		return "delay"
	case ActionTruncateResponse:
		return "truncate-response"
	case ActionStall:
		return "stall"
	case ActionStallResponse:
		return "stall-response"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Rule selects requests and says which fault they get. The selectors Method,
// Query and PathContains are ANDed; an empty selector matches everything.
type Rule struct {
	// Method is the HTTP method ("PUT", "GET"...); "" matches any.
	Method string
	// Query is the name of a query parameter that must be present, with or
	// without a value: "partNumber", "uploadId", "uploads". "" matches any.
	Query string
	// PathContains must be a substring of the request path, either as
	// received (percent-encoded) or decoded. "" matches any.
	PathContains string

	Action Action
	// Status is the status code ActionStatus answers with, 200–599. A 200
	// with an error body is how S3 reports some failures of Complete and
	// copies.
	Status int
	// Code is the S3 error code of ActionStatus's body ("SlowDown",
	// "InternalError"...). "" derives one from Status.
	Code string
	// Times is how many matching requests get the fault; 0 means all of
	// them, forever. A rule whose Times are used up no longer matches.
	Times int
	// Delay is waited before the action, whatever the action (a slow error,
	// a slow reset...). The wait ends early if the client goes away.
	Delay time.Duration
	// ResetAfter is, for ActionReset, how many bytes of the request body to
	// read before resetting; 0 reads the whole body, so the client is
	// waiting for the response when the reset comes.
	ResetAfter int64
	// Probability, when in (0, 1), makes the rule fire on each matching
	// request with that probability (drawn from the proxy's generator, see
	// Proxy.Seed); a request it spares goes on to the next rules and does
	// not use up Times. 0 means always, like 1.
	Probability float64
	// For, when positive, limits the rule to this long after AddRule: from
	// then on it no longer matches (a throttling episode of a set length).
	For time.Duration
}

// Validate reports the first problem with r, or nil.
func (r Rule) Validate() error {
	if r.Action < ActionForward || r.Action > ActionStallResponse {
		return fmt.Errorf("faultproxy: rule has no valid Action (%v)", r.Action)
	}
	if r.Action == ActionStatus && (r.Status < 200 || r.Status > 599) {
		return fmt.Errorf("faultproxy: ActionStatus needs a Status in 200..599, not %d", r.Status)
	}
	if r.Action != ActionStatus && (r.Status != 0 || r.Code != "") {
		return fmt.Errorf("faultproxy: Status and Code apply only to ActionStatus, not %v", r.Action)
	}
	if r.Times < 0 {
		return fmt.Errorf("faultproxy: negative Times %d", r.Times)
	}
	if r.Delay < 0 {
		return fmt.Errorf("faultproxy: negative Delay %v", r.Delay)
	}
	if r.ResetAfter < 0 || (r.ResetAfter != 0 && r.Action != ActionReset) {
		return fmt.Errorf("faultproxy: ResetAfter %d: must be >= 0 and applies only to ActionReset", r.ResetAfter)
	}
	if r.Probability < 0 || r.Probability > 1 || r.Probability != r.Probability {
		return fmt.Errorf("faultproxy: Probability %v: must be in [0, 1]", r.Probability)
	}
	if r.For < 0 {
		return fmt.Errorf("faultproxy: negative For %v", r.For)
	}
	if r.Action == ActionDelay && r.Delay == 0 {
		return fmt.Errorf("faultproxy: ActionDelay with no Delay")
	}
	return nil
}

// matches reports whether the request's method, path and query satisfy r's
// selectors (ignoring Times).
func (r *Rule) matches(method, rawPath, path, rawQuery string) bool {
	if r.Method != "" && !strings.EqualFold(r.Method, method) {
		return false
	}
	if r.PathContains != "" && !strings.Contains(rawPath, r.PathContains) && !strings.Contains(path, r.PathContains) {
		return false
	}
	if r.Query != "" && !hasQueryParam(rawQuery, r.Query) {
		return false
	}
	return true
}

// hasQueryParam reports whether the raw query has a parameter named name,
// with or without a value ("uploads" and "uploads=" both count).
func hasQueryParam(rawQuery, name string) bool {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, _, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if k == name {
			return true
		}
	}
	return false
}

// errorCode names the S3 error of an injected status when the rule gives none.
func errorCode(status int) string {
	switch status {
	case 400:
		return "BadRequest"
	case 403:
		return "AccessDenied"
	case 404:
		return "NoSuchKey"
	case 408:
		return "RequestTimeout"
	case 409:
		return "OperationAborted"
	case 412:
		return "PreconditionFailed"
	case 429, 503:
		return "SlowDown"
	case 500:
		return "InternalError"
	}
	if status >= 500 {
		return "ServiceUnavailable"
	}
	return "InjectedFault"
}
