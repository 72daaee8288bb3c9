// Package faultproxy is a fault-injecting HTTP reverse proxy for tests. It
// listens on a free 127.0.0.1 port and sits between an S3/OBS client (an
// obsclient.Client, or the obsfs binary) and a real server such as MinIO, so
// that a test can prove that retries recover from 503s and connection resets
// and that unrecoverable failures surface as errors.
//
// Guarantees:
//
//   - Requests are forwarded unchanged as far as a signature can tell: the
//     method, the request-target's path exactly as received (never decoded,
//     cleaned or re-encoded), the raw query, every end-to-end header
//     including Host (the client signed the proxy's host:port and the server
//     verifies against the Host header it receives), and the body, streamed
//     with its Content-Length. Hop-by-hop headers (Connection, Keep-Alive,
//     Transfer-Encoding, ...) are per connection and are not forwarded.
//   - Responses are streamed back with their status and end-to-end headers
//     unchanged, Content-Length included.
//   - Rules are evaluated in the order they were added; the first rule that
//     matches the request and has firings left fires. Matching and counting
//     are atomic, so with Times: n exactly n requests get the fault however
//     many run in parallel.
//   - A *Proxy is safe for concurrent use. Close waits for every request it
//     is handling to finish.
//
// Faults: ActionStatus answers with an S3 XML error without contacting the
// server; ActionReset resets the TCP connection (SO_LINGER 0, so the client
// sees ECONNRESET) before the server sees the request; ActionResetAfterForward
// lets the server perform the request and then resets the connection instead
// of answering (the ambiguous failure); ActionTruncateResponse sends the
// status, the headers and half of the body, then closes the connection;
// ActionDelay waits before forwarding; ActionStall reads the request and
// then answers nothing until the client gives up or the proxy closes (a store
// that stops answering); ActionStallResponse sends the status, the headers
// and half of the body and then stalls the same way. Rule.Probability makes a
// rule fire on a random share of its requests (repeatable with Proxy.Seed),
// and Rule.For limits it to a time window (a throttling episode). ActionForward forwards unchanged,
// which lets a rule at the front of the list spare the first n requests.
//
// The proxy speaks plain HTTP/1.1 to its clients; the upstream may be HTTP
// or HTTPS (NewTLS). It is a test tool: it has no timeouts of its own and
// logs nothing; what happened to each request is in Requests.
//
// The package's own tests run obsclient through the proxy against a real
// MinIO shared by the test binary (integration/miniotest, which builds the
// pinned binary when it is missing): if MinIO cannot be had they are
// skipped, except under CI=true, where they fail; with -short (make unit)
// they are skipped and say so.
package faultproxy
