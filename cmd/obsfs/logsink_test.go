package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// failAfter is a writer whose writes fail from the n+1st on.
type failAfter struct {
	n   int
	buf bytes.Buffer
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, &os.PathError{Op: "write", Path: "/dev/stderr", Err: syscall.EPIPE}
	}
	f.n--
	return f.buf.Write(p)
}

// TestLogSinkFailsOver checks that a failing output is replaced by the
// fallback after one warning there, that the record that failed is not
// lost, and that the logger never sees an error.
func TestLogSinkFailsOver(t *testing.T) {
	l := logrus.New()
	l.SetFormatter(&logrus.TextFormatter{DisableColors: true})
	primary := &failAfter{n: 2}
	var fallback bytes.Buffer
	opened := 0
	sink := newLogSink(primary, "stderr", l, "")
	sink.fallback = func() (io.Writer, string) { opened++; return &fallback, "the fallback" }
	l.SetOutput(sink)
	for i := range 5 {
		l.WithField("i", i).Info("record")
	}
	if got := strings.Count(primary.buf.String(), "msg=record"); got != 2 {
		t.Errorf("primary got %d records, want 2:\n%s", got, primary.buf.String())
	}
	lines := strings.Split(strings.TrimSuffix(fallback.String(), "\n"), "\n")
	if len(lines) != 4 || opened != 1 {
		t.Fatalf("fallback opened %d times, got %d lines, want 1 warning + 3 records:\n%s", opened, len(lines), fallback.String())
	}
	for _, want := range []string{"level=warning", `msg="log output failed: logging to the fallback from now on"`, "output=stderr", "broken pipe"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("warning %q lacks %q", lines[0], want)
		}
	}
	for i, line := range lines[1:] {
		if want := "i=" + string(rune('2'+i)); !strings.Contains(line, want) {
			t.Errorf("fallback line %d %q, want the record with %s", i+1, line, want)
		}
	}
}

// TestSyslogFallback checks the fallback itself: records reach a syslog
// socket at their level's priority, and without a syslog they go nowhere.
func TestSyslogFallback(t *testing.T) {
	dir, err := os.MkdirTemp("", "obsfs-syslog-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w, name := openSyslog("unixgram:" + sock)
	if name != "syslog" {
		t.Fatalf("openSyslog named %q, want syslog", name)
	}
	// LOG_DAEMON (3<<3) plus the severity.
	for line, prio := range map[string]string{
		`time="t" level=error msg=e`:   "<27>",
		`time="t" level=warning msg=w`: "<28>",
		`time="t" level=info msg=i`:    "<30>",
		`time="t" level=debug msg=d`:   "<31>",
	} {
		if _, err := w.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got := string(buf[:n])
		if !strings.HasPrefix(got, prio) || !strings.Contains(got, "obsfs[") || !strings.HasSuffix(strings.TrimSuffix(got, "\n"), line) {
			t.Errorf("syslog got %q for %q, want priority %s", got, line, prio)
		}
	}
	if w, name := openSyslog("unixgram:" + filepath.Join(dir, "none")); w != io.Discard || !strings.HasPrefix(name, "nowhere (no syslog: ") {
		t.Errorf("without a syslog: %T, %q; want io.Discard, nowhere", w, name)
	}
}
