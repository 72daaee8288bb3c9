package main

import (
	"bytes"
	"runtime"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// leftoverWarning is the log message of checkGoroutines; the integration
// harness (integration/mounttest) fails any test whose log has it.
const leftoverWarning = "goroutines still running after unmount"

// ignoredCreators are the functions whose goroutines may outlive the
// unmount, matched by prefix on a goroutine's "created by" line (the
// function that ran the go statement). Each belongs to the standard
// library and is not ours to stop:
//
//   - net/http.: the HTTP transport's own goroutines: the read and write
//     loops of pooled connections (idle, or closing), and dials it finishes
//     in the background for a request that went away. A request of ours
//     always has a goroutine of ours waiting for it, and that one is
//     reported.
//   - internal/singleflight.: the resolver's DNS lookups (net.Resolver),
//     which likewise finish in the background for a dial that went away.
//   - os/signal.: the loop that delivers signals to signal.Notify's
//     channels; it lives as long as the process.
//   - runtime.: the runtime's own (GC workers, finalizers, the signal
//     mask thread); a dump shows them only with GOTRACEBACK=system.
var ignoredCreators = []string{"net/http.", "internal/singleflight.", "os/signal.", "runtime."}

// leftoverGoroutines parses a runtime.Stack(all=true) dump and returns the
// stacks of the goroutines that should have ended: all but goroutine self
// (the caller, by ID) and those of ignoredCreators. The main goroutine has
// no "created by" line; it is the caller here.
func leftoverGoroutines(dump []byte, self string) []string {
	var left []string
	for _, g := range strings.Split(strings.TrimSpace(string(dump)), "\n\n") {
		g = strings.TrimSpace(g)
		header, _, _ := strings.Cut(g, "\n")
		id, ok := goroutineID(header)
		if !ok || id == self {
			continue
		}
		if ignoredGoroutine(g) {
			continue
		}
		left = append(left, g)
	}
	return left
}

// goroutineID returns N of a "goroutine N [state]:" header line.
func goroutineID(header string) (string, bool) {
	rest, ok := strings.CutPrefix(header, "goroutine ")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, " ")
	return id, ok && id != ""
}

// ignoredGoroutine reports whether stack g was started by one of
// ignoredCreators.
func ignoredGoroutine(g string) bool {
	for _, line := range strings.Split(g, "\n") {
		creator, ok := strings.CutPrefix(strings.TrimSpace(line), "created by ")
		if !ok {
			continue
		}
		for _, p := range ignoredCreators {
			if strings.HasPrefix(creator, p) {
				return true
			}
		}
		return false
	}
	return false
}

// stackDump returns runtime.Stack of all goroutines, whole.
func stackDump(all bool) []byte {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, all)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// checkGoroutines runs after unmount, once everything was drained and
// closed: it waits up to wait for the goroutines of obsfs (and of the
// libraries it drives: go-fuse, ristretto, logrus) to end, and logs one
// warning with the stacks of those that did not. Each of them is work
// still running, or a wait that will never end, after the mount is gone.
// It returns how many were left.
func checkGoroutines(log *logrus.Entry, wait time.Duration) int {
	self, _ := goroutineID(string(bytes.SplitN(stackDump(false), []byte("\n"), 2)[0]))
	return reportLeftovers(log, wait, func() []string { return leftoverGoroutines(stackDump(true), self) })
}

// reportLeftovers polls list until it is empty or wait has passed, and
// then logs what is left, if anything, as one warning line.
func reportLeftovers(log *logrus.Entry, wait time.Duration, list func() []string) int {
	deadline := time.Now().Add(wait)
	for {
		left := list()
		if len(left) == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			log.WithField("count", len(left)).WithField("stacks", strings.Join(left, "\n\n")).Warn(leftoverWarning)
			return len(left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
