package main

// obsfs status MOUNTPOINT|PATH: what a mount is uploading, and whether one
// file's last commit landed. It asks the mount's control socket
// (control.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Exit codes of obsfs status (README "Status").
const (
	exitOK      = 0 // the mount answered; PATH: committed
	exitFailed  = 1 // PATH: its last commit failed
	exitUsage   = 2 // bad arguments, or the mount cannot be asked (not an obsfs mount, no socket, refused)
	exitPending = 3 // PATH: written, not yet all in the store
	exitUnknown = 4 // PATH: this mount has no record of it
)

type statusOptions struct {
	watch    bool
	json     bool
	interval time.Duration
	stateDir string
	socket   string
}

func statusUsage(w io.Writer, fl *pflag.FlagSet) {
	fmt.Fprintf(w, `usage: obsfs status [flags] MOUNTPOINT
       obsfs status [flags] PATH

MOUNTPOINT: every file still being written or committed (bytes durable /
bytes written, parts, rate, ETA), the totals and the recent failures.
PATH, a file in the mount: committed (ETag, time), pending or failed
(errno, cause, request ID). Exit status: 0 committed (or the mount
answered), 1 failed, 2 usage or the mount cannot be asked, 3 pending,
4 unknown to this mount.

flags:
%s`, fl.FlagUsagesWrapped(100))
}

func statusMain(args []string) int {
	var o statusOptions
	fl := pflag.NewFlagSet("obsfs status", pflag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.BoolVarP(&o.watch, "watch", "w", false, "refresh until interrupted (PATH: until it is no longer pending)")
	fl.BoolVar(&o.json, "json", false, "print machine-readable state (with --watch: one JSON object per line)")
	fl.DurationVar(&o.interval, "interval", time.Second, "refresh interval of --watch")
	fl.StringVar(&o.stateDir, "state-dir", defaultStateDir(), "the mount's --state-dir, where its control socket is")
	fl.StringVar(&o.socket, "socket", "", "the control socket itself (default: found from the mountpoint)")
	help := fl.BoolP("help", "h", false, "this help")
	if err := fl.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "obsfs status: %v\n", err)
		fmt.Fprintln(os.Stderr, "usage: obsfs status [--watch] [--json] MOUNTPOINT|PATH (obsfs status --help)")
		return exitUsage
	}
	if *help {
		statusUsage(os.Stdout, fl)
		return exitOK
	}
	if fl.NArg() != 1 || o.interval <= 0 {
		fmt.Fprintln(os.Stderr, "usage: obsfs status [--watch] [--json] MOUNTPOINT|PATH (obsfs status --help)")
		return exitUsage
	}
	target, err := findTarget(fl.Arg(0), o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "obsfs status: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if target.rel == "" {
		return mountStatus(ctx, target, o)
	}
	return fileStatus(ctx, target, o)
}

// statusTarget is what obsfs status asks about.
type statusTarget struct {
	mnt    string // the mountpoint
	rel    string // the file below it, "" for the mount
	socket string
}

// findTarget finds the mount holding arg and its control socket.
func findTarget(arg string, o statusOptions) (statusTarget, error) {
	abs, err := filepath.Abs(arg)
	if err != nil {
		return statusTarget{}, err
	}
	// Symbolic links in the path are followed where they can be (the file
	// itself may be gone: its record still answers).
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		abs = p
	} else if p, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(p, filepath.Base(abs))
	}
	m, err := mountOf(abs)
	if err != nil {
		return statusTarget{}, err
	}
	t := statusTarget{mnt: m.dir}
	if abs != m.dir {
		t.rel = strings.TrimPrefix(abs, strings.TrimSuffix(m.dir, "/")+"/")
	}
	if !strings.HasPrefix(m.fstype, "fuse") {
		return t, fmt.Errorf("%s is not in an obsfs mount (%s is a %s mount)", arg, m.dir, m.fstype)
	}
	if o.socket != "" {
		t.socket = o.socket
		return t, nil
	}
	candidates := []string{controlSocketPath(o.stateDir, m.dir)}
	// Root asking about another user's mount: that user's default state
	// directory.
	if os.Geteuid() == 0 && m.uid >= 0 && m.uid != 0 {
		if u, err := user.LookupId(strconv.Itoa(m.uid)); err == nil && u.HomeDir != "" {
			candidates = append(candidates, controlSocketPath(filepath.Join(u.HomeDir, ".local", "state", "obsfs"), m.dir))
		}
	}
	for _, c := range candidates {
		if _, err := os.Lstat(c); err == nil || errors.Is(err, os.ErrPermission) {
			t.socket = c
			return t, nil
		}
	}
	return t, fmt.Errorf("no control socket for the mount on %s at %s: is it an obsfs mount? If it was mounted with --state-dir, pass the same --state-dir", m.dir, strings.Join(candidates, " or "))
}

// ask sends one request and turns every way it can fail into one line.
func ask(t statusTarget, req controlRequest) (*controlReply, error) {
	r, err := askControl(t.socket, req, 10*time.Second)
	switch {
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("refused: permission denied on the control socket %s of the mount on %s: only the user who mounted it and root may ask", t.socket, t.mnt)
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("the mount on %s does not answer on %s (it ended?)", t.mnt, t.socket)
	case err != nil:
		return nil, fmt.Errorf("asking the mount on %s: %v", t.mnt, err)
	case r.Error != "":
		return nil, fmt.Errorf("the mount on %s: %s", t.mnt, r.Error)
	case r.Mountpoint != t.mnt:
		return nil, fmt.Errorf("the control socket %s answers for the mount on %s, not %s", t.socket, r.Mountpoint, t.mnt)
	}
	return r, nil
}

// mountStatus shows the mount's uploads, once or until interrupted.
func mountStatus(ctx context.Context, t statusTarget, o statusOptions) int {
	tty := false
	if !o.json && term.IsTerminal(int(os.Stdout.Fd())) {
		w, _, err := term.GetSize(int(os.Stdout.Fd()))
		tty = err == nil && w >= 40 // a terminal of unknown or tiny width gets plain lines
	}
	var view *barView
	if tty {
		view = newBarView(ctx)
		defer view.close()
	}
	for first := true; ; first = false {
		r, err := ask(t, controlRequest{Op: "status"})
		if err != nil {
			if view != nil {
				view.close()
			}
			fmt.Fprintf(os.Stderr, "obsfs status: %v\n", err)
			return exitUsage
		}
		switch {
		case o.json:
			printJSON(r, o.watch)
		case tty:
			view.update(r)
		default:
			if !first {
				fmt.Println()
			}
			printPlain(os.Stdout, r)
		}
		if !o.watch {
			return exitOK
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-time.After(o.interval):
		}
	}
}

// fileStatus answers for one file; --watch waits while it is pending.
func fileStatus(ctx context.Context, t statusTarget, o statusOptions) int {
	for {
		r, err := ask(t, controlRequest{Op: "file", Path: t.rel})
		if err != nil {
			fmt.Fprintf(os.Stderr, "obsfs status: %v\n", err)
			return exitUsage
		}
		if o.json {
			printJSON(r, o.watch)
		} else if r.State != "pending" || !o.watch {
			fmt.Println(describeFile(filepath.Join(t.mnt, r.Path), r))
		}
		code := map[string]int{"committed": exitOK, "failed": exitFailed, "pending": exitPending}[r.State]
		if r.State == "unknown" {
			code = exitUnknown
		}
		if r.State != "pending" || !o.watch {
			return code
		}
		select {
		case <-ctx.Done():
			return code
		case <-time.After(o.interval):
		}
	}
}

func printJSON(r *controlReply, oneLine bool) {
	var out []byte
	if oneLine {
		out, _ = json.Marshal(r)
	} else {
		out, _ = json.MarshalIndent(r, "", "  ")
	}
	fmt.Println(string(out))
}

// describeFile is the one line answer for a file.
func describeFile(path string, r *controlReply) string {
	switch {
	case r.State == "committed" && r.Outcome != nil:
		o := r.Outcome
		return fmt.Sprintf("%s: committed, %s, ETag %s, at %s", path, humanize.IBytes(uint64(o.Size)), o.ETag, o.Time.Local().Format(time.RFC3339))
	case r.State == "failed" && r.Outcome != nil:
		return fmt.Sprintf("%s: %s", path, describeFailure(*r.Outcome))
	case r.State == "pending" && r.Pending != nil:
		return fmt.Sprintf("%s: pending, %s", path, describeProgress(*r.Pending))
	}
	return fmt.Sprintf("%s: unknown to this mount (not written through it, or not among its last records)", path)
}

func describeFailure(o outcomeState) string {
	id := o.RequestID
	if id == "" {
		id = "none"
	}
	return fmt.Sprintf("failed (%s) at %s: %s; request id %s", o.Errno, o.Time.Local().Format(time.RFC3339), o.Cause, id)
}

func describeProgress(f fileState) string {
	s := fmt.Sprintf("%s of %s durable (%.0f%%), parts %d/%d, %s/s, ETA %s",
		humanize.IBytes(uint64(f.Durable)), humanize.IBytes(uint64(f.Written)), 100*f.Fraction,
		f.PartsDone, f.PartsTotal, humanize.IBytes(uint64(f.Rate)), fmtETA(f.ETA))
	if f.Committing {
		s += ", committing"
	}
	return s
}

func fmtETA(eta *float64) string {
	if eta == nil {
		return "unknown"
	}
	return (time.Duration(*eta) * time.Second).Round(time.Second).String()
}

func describeTotals(r *controlReply) string {
	t := r.Totals
	if t == nil {
		t = &totals{}
	}
	return fmt.Sprintf("%s on %s: %d file(s) being written, %s of %s durable, %s/s, ETA %s",
		r.Source, r.Mountpoint, t.Files, humanize.IBytes(uint64(t.Durable)), humanize.IBytes(uint64(t.Written)),
		humanize.IBytes(uint64(t.Rate)), fmtETA(t.ETA))
}

// printPlain prints the mount's state as plain lines (stdout is not a
// terminal).
func printPlain(w io.Writer, r *controlReply) {
	fmt.Fprintln(w, describeTotals(r))
	for _, f := range r.Files {
		fmt.Fprintf(w, "  %s: %s\n", f.Path, describeProgress(f))
	}
	for _, o := range r.Failures {
		fmt.Fprintf(w, "  %s: %s\n", o.Path, describeFailure(o))
	}
}

// barView draws the mount's state with progress bars (mpb), in place.
type barView struct {
	p      *mpb.Progress
	totals *mpb.Bar               // the first line: no bar, the totals
	line   atomic.Pointer[string] // what totals shows
	bars   map[string]*fileBar
	failed map[string]bool // failures already printed
	closed bool
}

type fileBar struct {
	bar  *mpb.Bar
	info atomic.Pointer[string] // parts, rate, ETA: read by the bar's decorator
}

func newBarView(ctx context.Context) *barView {
	v := &barView{
		p:    mpb.NewWithContext(ctx, mpb.WithOutput(os.Stdout), mpb.WithWidth(32), mpb.WithRefreshRate(200*time.Millisecond)),
		bars: map[string]*fileBar{}, failed: map[string]bool{},
	}
	v.totals = v.p.New(1, mpb.NopStyle(), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return load(&v.line) })))
	return v
}

func load(p *atomic.Pointer[string]) string {
	if s := p.Load(); s != nil {
		return *s
	}
	return ""
}

func (v *barView) update(r *controlReply) {
	line := describeTotals(r)
	v.line.Store(&line)
	for _, o := range r.Failures {
		if k := o.Key + o.Time.String(); !v.failed[k] {
			v.failed[k] = true
			fmt.Fprintf(v.p, "  %s: %s\n", o.Path, describeFailure(o))
		}
	}
	seen := map[string]bool{}
	for _, f := range r.Files {
		seen[f.Key] = true
		b := v.bars[f.Key]
		if b == nil {
			b = &fileBar{}
			b.bar = v.p.AddBar(max(f.Written, 1),
				mpb.PrependDecorators(decor.Name(f.Path, decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return load(&b.info) })))
			v.bars[f.Key] = b
		}
		info := fmt.Sprintf("%s / %s  parts %d/%d  %s/s  ETA %s", humanize.IBytes(uint64(f.Durable)),
			humanize.IBytes(uint64(f.Written)), f.PartsDone, f.PartsTotal, humanize.IBytes(uint64(f.Rate)), fmtETA(f.ETA))
		if f.Committing {
			info += "  committing"
		}
		b.info.Store(&info)
		// A bar that reaches its total is complete and updates no more:
		// it stays just short until the file leaves the list.
		b.bar.SetTotal(max(f.Written, 1)+1, false)
		b.bar.SetCurrent(f.Durable)
	}
	for k, b := range v.bars {
		if !seen[k] {
			b.bar.Abort(true)
			delete(v.bars, k)
		}
	}
}

// close leaves the last frame on the screen.
func (v *barView) close() {
	if v.closed {
		return
	}
	v.closed = true
	v.totals.Abort(false)
	for _, b := range v.bars {
		b.bar.Abort(false)
	}
	v.p.Wait()
}
