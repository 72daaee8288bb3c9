package main

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// logSink is the log's output in the foreground or with --log-file: that
// writer until a write to it fails (the reader of the pipe on stderr went
// away, as with `obsfs -f 2>&1 | tee log` when tee ends; a full disk),
// then the fallback — syslog if it can be reached, else nothing — after
// one warning there saying so. A mount must not depend on its log: the
// sink never returns an error (logrus would report it on stderr, the very
// output that failed), and obsfs handles SIGPIPE so that a write to a
// closed pipe is such an error instead of the end of the process.
type logSink struct {
	mu       sync.Mutex
	w        io.Writer // guarded by mu: where records go
	name     string    // guarded by mu: what w is, for the warning
	failed   bool      // guarded by mu: w is the fallback already
	fallback func() (io.Writer, string)
	warning  func(msg string, fields logrus.Fields) []byte // formats the warning as a record
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(p)
	if err == nil || s.failed {
		return len(p), nil
	}
	s.failed = true
	from := s.name
	s.w, s.name = s.fallback()
	_, _ = s.w.Write(s.warning("log output failed: logging to "+s.name+" from now on",
		logrus.Fields{"output": from, "error": err.Error()}))
	_, _ = s.w.Write(p) // the record that failed
	return len(p), nil
}

// newLogSink returns the sink for w (named name) of logger l, falling back
// to the syslog at addr ("network:address", "" for the local one).
func newLogSink(w io.Writer, name string, l *logrus.Logger, addr string) *logSink {
	return &logSink{
		w: w, name: name,
		fallback: func() (io.Writer, string) { return openSyslog(addr) },
		warning: func(msg string, fields logrus.Fields) []byte {
			e := logrus.NewEntry(l).WithFields(fields)
			e.Time, e.Level, e.Message = time.Now(), logrus.WarnLevel, msg
			line, err := l.Formatter.Format(e)
			if err != nil {
				return []byte("obsfs: " + msg + "\n")
			}
			return line
		},
	}
}

// openSyslog connects to the syslog at addr ("network:address", "" for
// the local one); when there is none, records go nowhere.
func openSyslog(addr string) (io.Writer, string) {
	var w *syslog.Writer
	var err error
	if network, raddr, ok := strings.Cut(addr, ":"); ok {
		w, err = syslog.Dial(network, raddr, syslog.LOG_DAEMON|syslog.LOG_INFO, "obsfs")
	} else {
		w, err = syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "obsfs")
	}
	if err != nil {
		return io.Discard, fmt.Sprintf("nowhere (no syslog: %v)", err)
	}
	return syslogLines{w}, "syslog"
}

// syslogLines sends logrus text records to syslog at their level's
// priority.
type syslogLines struct{ w *syslog.Writer }

func (s syslogLines) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := ""
	if _, rest, ok := strings.Cut(msg, "level="); ok {
		level, _, _ = strings.Cut(rest, " ")
	}
	var err error
	switch level {
	case "panic", "fatal", "error":
		err = s.w.Err(msg)
	case "warning":
		err = s.w.Warning(msg)
	case "debug", "trace":
		err = s.w.Debug(msg)
	default:
		err = s.w.Info(msg)
	}
	return len(p), err
}

// logFile is the --log-file output: records are appended to it, and
// Reopen (on SIGHUP) opens the path anew, so that after logrotate renamed
// the file later records go to a new file of that name.
type logFile struct {
	path string
	mu   sync.Mutex
	f    *os.File // guarded by mu
}

func openLogFile(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, f: f}, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen switches to a new open of the path; on failure the old file is
// kept.
func (l *logFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// syslogReachable says whether a syslog answers at addr
// ("network:address", "" for the local one).
func syslogReachable(addr string) bool {
	w, name := openSyslog(addr)
	if c, ok := w.(syslogLines); ok {
		c.w.Close()
	}
	return name == "syslog"
}

// fallbackLogPath is where a daemon logs when there is no syslog and no
// --log-file: a file per bucket in the state directory.
func fallbackLogPath(o *options) string {
	return filepath.Join(o.stateDir, "obsfs-"+unsafeFileChars.ReplaceAllString(o.bucket, "_")+".log")
}

var unsafeFileChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)
