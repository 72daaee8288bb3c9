package main

// The control socket: every mount answers `obsfs status` on a Unix socket
// in its state directory, <state-dir>/run/<hash of the mountpoint>.sock.
// Only the user who mounted and root may use it: the directory is 0700
// and the socket 0600, and the server checks each peer's uid
// (SO_PEERCRED) and refuses others with a reply saying so.
//
// Protocol: one JSON request line, one JSON reply, then the server closes
// the connection.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/obsfs/obsfs/fs"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path a Unix socket address holds.
const maxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

// controlSocketPath is where the mount on mnt (absolute, clean) serves
// its control socket.
func controlSocketPath(stateDir, mnt string) string {
	sum := sha256.Sum256([]byte(mnt))
	return filepath.Join(stateDir, "run", hex.EncodeToString(sum[:8])+".sock")
}

// controlRequest is what `obsfs status` asks.
type controlRequest struct {
	Op   string `json:"op"`             // "status": the whole mount; "file": one path
	Path string `json:"path,omitempty"` // "file": relative to the mountpoint
}

// fileState is one file still being written or committed.
type fileState struct {
	Path       string    `json:"path"` // relative to the mountpoint
	Key        string    `json:"key"`
	Written    int64     `json:"bytes_written"`
	Durable    int64     `json:"bytes_durable"`
	Fraction   float64   `json:"fraction"` // durable / written (1 for an empty file)
	PartsDone  int       `json:"parts_done"`
	PartsTotal int       `json:"parts_total"`
	Committing bool      `json:"committing"`
	Started    time.Time `json:"started,omitzero"`
	Rate       float64   `json:"rate_bytes_per_second"`
	ETA        *float64  `json:"eta_seconds"` // null while the rate is unknown
}

// outcomeState is how the last commit of a path ended.
type outcomeState struct {
	Path      string    `json:"path"`
	Key       string    `json:"key"`
	State     string    `json:"state"` // "committed" or "failed"
	Time      time.Time `json:"time"`
	Size      int64     `json:"size,omitempty"`
	ETag      string    `json:"etag,omitempty"`
	Errno     string    `json:"errno,omitempty"` // e.g. "EIO", what close/fsync returned
	Cause     string    `json:"cause,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
}

// totals sums the files still being written.
type totals struct {
	Files   int      `json:"files"`
	Written int64    `json:"bytes_written"`
	Durable int64    `json:"bytes_durable"`
	Rate    float64  `json:"rate_bytes_per_second"`
	ETA     *float64 `json:"eta_seconds"`
}

// controlReply answers a controlRequest. Error is set, and nothing else
// is meaningful, when the request was refused or malformed.
type controlReply struct {
	Error      string    `json:"error,omitempty"`
	Mountpoint string    `json:"mountpoint"`
	Source     string    `json:"source"` // bucket[:prefix]
	Time       time.Time `json:"time"`
	// "status"
	Files    []fileState    `json:"files,omitempty"`
	Totals   *totals        `json:"totals,omitempty"`
	Failures []outcomeState `json:"recent_failures,omitempty"`
	// "file"
	Path    string        `json:"path,omitempty"`
	State   string        `json:"state,omitempty"` // committed, pending, failed, unknown
	Pending *fileState    `json:"pending,omitempty"`
	Outcome *outcomeState `json:"outcome,omitempty"`
}

// recentFailures is how many failures the mount's status lists.
const recentFailures = 10

// controlServer serves a mount's control socket.
type controlServer struct {
	ln     *net.UnixListener
	path   string
	mnt    string
	source string
	prefix string
	owner  uint32 // the mounting user
	wb     *writeback.Manager
	fsys   *fs.FS
	log    *logrus.Entry
	wg     sync.WaitGroup
}

// startControl listens on the control socket of the mount on mnt and
// serves it until Close.
func startControl(stateDir, mnt, bucket, prefix string, wb *writeback.Manager, fsys *fs.FS, log *logrus.Entry) (*controlServer, error) {
	path := controlSocketPath(stateDir, mnt)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is longer than %d bytes: use a shorter --state-dir", path, maxSocketPath)
	}
	// A socket left by a mount that died is removed; a live one means
	// another mount answers there (the mountpoint is taken: checked
	// before).
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s is in use by another live mount", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %v", err)
	}
	var ln *net.UnixListener
	for try := 0; ; try++ {
		dir := filepath.Dir(path)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("control socket directory: %v", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("control socket directory: %v", err)
		}
		var err error
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err == nil {
			break
		}
		// Another mount that stopped meanwhile may have removed the
		// directory it found empty (Close): make it again.
		if !errors.Is(err, os.ErrNotExist) || try == 2 {
			return nil, fmt.Errorf("control socket: %v", err)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %v", err)
	}
	source := bucket
	if prefix != "" {
		source += ":" + strings.TrimSuffix(prefix, "/")
	}
	s := &controlServer{ln: ln, path: path, mnt: mnt, source: source, prefix: prefix, owner: uint32(os.Geteuid()),
		wb: wb, fsys: fsys, log: log.WithField("socket", path)}
	s.wg.Add(1)
	go s.serve()
	s.log.Debug("control socket ready")
	return s, nil
}

// Close stops serving and removes the socket, and its directory if no
// other mount's socket is in it, so that a state directory holds nothing
// after clean unmounts.
func (s *controlServer) Close() {
	s.ln.Close() // removes the socket file (net unlinks on close)
	s.wg.Wait()
	_ = os.Remove(filepath.Dir(s.path)) // fails, harmlessly, unless empty
}

func (s *controlServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.WithError(err).Warn("control socket stopped accepting")
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

// peerUID returns the uid of the process at the other end of c.
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

// allowed reports whether uid may use the control socket of a mount by
// owner.
func allowed(uid, owner uint32) bool { return uid == owner || uid == 0 }

func (s *controlServer) handle(c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	enc := json.NewEncoder(c)
	uid, err := peerUID(c)
	if err != nil || !allowed(uid, s.owner) {
		who := "unknown uid"
		if err == nil {
			who = fmt.Sprintf("uid %d", uid)
		}
		s.log.WithField("peer", who).Warn("control socket: refused a client that is neither the mounting user nor root")
		_ = enc.Encode(controlReply{Error: fmt.Sprintf("refused: %s may not ask this mount; only the user who mounted it (uid %d) and root may", who, s.owner)})
		return
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	var req controlRequest
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		_ = enc.Encode(controlReply{Error: fmt.Sprintf("bad request: %v", err)})
		return
	}
	_ = enc.Encode(s.answer(req))
}

// answer builds the reply to req.
func (s *controlServer) answer(req controlRequest) controlReply {
	now := time.Now()
	r := controlReply{Mountpoint: s.mnt, Source: s.source, Time: now}
	switch req.Op {
	case "status":
		t := &totals{}
		for _, p := range s.wb.Progress() {
			fs, ok := s.fileState(p)
			if !ok {
				continue // outside the mount's prefix: not ours to show
			}
			r.Files = append(r.Files, fs)
			t.Files++
			t.Written += p.Written
			t.Durable += p.Durable
			t.Rate += p.Rate
		}
		t.ETA = eta(t.Written-t.Durable, t.Rate)
		r.Totals = t
		for _, o := range s.wb.RecentFailures(recentFailures) {
			r.Failures = append(r.Failures, s.outcomeState(o))
		}
	case "file":
		rel := strings.Trim(filepath.ToSlash(filepath.Clean("/"+req.Path)), "/")
		if rel == "" {
			return controlReply{Error: "bad request: a file's path is needed"}
		}
		r.Path = rel
		pend, last := s.wb.Lookup(s.fsys.KeyFor(rel))
		switch {
		case pend != nil:
			st, _ := s.fileState(*pend)
			r.State, r.Pending = "pending", &st
		case last != nil:
			o := s.outcomeState(*last)
			r.State, r.Outcome = o.State, &o
		default:
			r.State = "unknown"
		}
	default:
		return controlReply{Error: fmt.Sprintf("bad request: unknown op %q", req.Op)}
	}
	return r
}

// relPath is the path below the mountpoint of key, false if key is
// outside the mount's prefix.
func (s *controlServer) relPath(key string) (string, bool) {
	if !strings.HasPrefix(key, s.prefix) {
		return "", false
	}
	return strings.TrimPrefix(key, s.prefix), true
}

func (s *controlServer) fileState(p writeback.FileProgress) (fileState, bool) {
	rel, ok := s.relPath(p.Key)
	if !ok {
		return fileState{}, false
	}
	st := fileState{Path: rel, Key: p.Key, Written: p.Written, Durable: p.Durable, Fraction: 1,
		PartsDone: p.PartsDone, PartsTotal: p.PartsTotal, Committing: p.Committing, Started: p.Started,
		Rate: p.Rate, ETA: eta(p.Written-p.Durable, p.Rate)}
	if p.Written > 0 {
		st.Fraction = float64(p.Durable) / float64(p.Written)
	}
	return st, true
}

func (s *controlServer) outcomeState(o writeback.Outcome) outcomeState {
	rel, _ := s.relPath(o.Key)
	st := outcomeState{Path: rel, Key: o.Key, Time: o.Time, RequestID: o.RequestID}
	if o.Committed {
		st.State, st.Size, st.ETag = "committed", o.Size, o.ETag
		return st
	}
	st.State, st.Cause = "failed", o.Err.Error()
	if e := fs.Errno(o.Err); e != 0 {
		st.Errno = unix.ErrnoName(e)
	}
	if st.RequestID == "" {
		st.RequestID = obsclient.RequestID(o.Err)
	}
	return st
}

// eta is the seconds left at rate, nil when unknown.
func eta(left int64, rate float64) *float64 {
	if rate <= 0 {
		if left <= 0 {
			z := 0.0
			return &z
		}
		return nil
	}
	v := float64(max(left, 0)) / rate
	return &v
}

// askControl sends req to the control socket at path and returns the
// reply.
func askControl(path string, req controlRequest, timeout time.Duration) (*controlReply, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(c).Encode(req); err != nil && !errors.Is(err, syscall.EPIPE) {
		return nil, err
	}
	var r controlReply
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return nil, fmt.Errorf("reading the reply: %v", err)
	}
	return &r, nil
}
