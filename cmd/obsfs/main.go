// Command obsfs mounts an OBS (or any S3-compatible) bucket as a
// directory:
//
//	obsfs [flags] BUCKET[:PREFIX] MOUNTPOINT [flags]
//	obsfs cleanup [flags] BUCKET[:PREFIX]
//	obsfs status [--watch] [--json] MOUNTPOINT|PATH
//
// Every flag can also be given as -o name=value (fstab, mount -t
// fuse.obsfs). Without -f the command returns once the mount is ready
// (exit 0) or has failed (non-zero, one line on stderr).
package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/syslog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/obsfs/obsfs/fs"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
	"github.com/sirupsen/logrus"
	lsyslog "github.com/sirupsen/logrus/hooks/syslog"
	"golang.org/x/sys/unix"
)

// daemonEnv names the file descriptor a daemonized child reports
// readiness on.
const daemonEnv = "OBSFS_READY_FD"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "cleanup" {
		return cleanupMain(args[1:])
	}
	if len(args) > 0 && args[0] == "status" {
		return statusMain(args[1:])
	}
	for _, a := range args {
		switch a {
		case "-h", "--help":
			usage(os.Stdout)
			return 0
		case "--version":
			fmt.Println(versionLine())
			return 0
		}
	}
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "obsfs: %s\n", oneLine(err))
		fmt.Fprintln(os.Stderr, "usage: obsfs [flags] BUCKET[:PREFIX] MOUNTPOINT (obsfs --help lists the flags)")
		return 2
	}
	if err := checkEmpty(o); err != nil {
		fmt.Fprintf(os.Stderr, "obsfs: %s\n", oneLine(err))
		return 2
	}
	ready := readyReporter()
	if !o.foreground && ready == nil {
		// Without a syslog, the daemon's log goes to a file in the state
		// directory, named once the mount is ready.
		notice := ""
		if o.logFile == "" && !syslogReachable(o.syslogAddr) {
			path := fallbackLogPath(o)
			if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
				fmt.Fprintf(os.Stderr, "obsfs: no syslog, and no state directory for a log file: %v\n", err)
				return 1
			}
			args = append(slices.Clip(args), "--log-file", path)
			notice = "obsfs: no syslog here: logging to " + path + " (--log-file chooses another file)"
		}
		code := daemonize(args)
		if code == 0 && notice != "" {
			fmt.Fprintln(os.Stderr, notice)
		}
		return code
	}
	if err := serve(o, ready); err != nil {
		if ready != nil {
			ready.fail(err)
		}
		fmt.Fprintf(os.Stderr, "obsfs: %s\n", oneLine(err))
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	var o options
	fl := newFlagSet(&o)
	fmt.Fprintf(w, `obsfs mounts an OBS or S3-compatible bucket as a directory.

usage: obsfs [flags] BUCKET[:PREFIX] MOUNTPOINT [flags]
       mount -t fuse.obsfs BUCKET[:PREFIX] MOUNTPOINT -o flag=value,...
       obsfs cleanup [flags] BUCKET[:PREFIX]   (obsfs cleanup --help)
       obsfs status [--watch] [--json] MOUNTPOINT|PATH   (obsfs status --help)

Credentials come from OBS_ACCESS_KEY_ID / OBS_SECRET_ACCESS_KEY /
OBS_SECURITY_TOKEN, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, or --passwd-file. Sizes accept units: 8MiB, 512M, 1G.

flags (also as -o name=value, with _ or -):
%s`, fl.FlagUsagesWrapped(100))
}

// readiness reporting between a daemonized child and its parent.
type reporter struct{ f *os.File }

func readyReporter() *reporter {
	v := os.Getenv(daemonEnv)
	if v == "" {
		return nil
	}
	os.Unsetenv(daemonEnv)
	return &reporter{f: os.NewFile(3, "ready")}
}

func (r *reporter) ok() {
	fmt.Fprintln(r.f, "ok")
	r.f.Close()
}

func (r *reporter) fail(err error) {
	fmt.Fprintln(r.f, "error: "+oneLine(err))
	r.f.Close()
}

// daemonize starts this program again in the background, detached from
// the terminal, and waits until it reports the mount ready or failed.
func daemonize(args []string) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "obsfs: cannot find own executable: %v\n", err)
		return 1
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "obsfs: %v\n", err)
		return 1
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "obsfs: %v\n", err)
		return 1
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), daemonEnv+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "obsfs: starting the mount process: %v\n", err)
		return 1
	}
	pw.Close()
	msg, _ := io.ReadAll(io.LimitReader(pr, 4096))
	line := strings.TrimSpace(string(msg))
	switch {
	case line == "ok":
		return 0
	case strings.HasPrefix(line, "error: "):
		fmt.Fprintf(os.Stderr, "obsfs: %s\n", strings.TrimPrefix(line, "error: "))
	default:
		st, _ := cmd.Process.Wait()
		fmt.Fprintf(os.Stderr, "obsfs: the mount process exited before the mount was ready (%v); run with -f to see why\n", st)
	}
	return 1
}

// setupLogging configures logrus from the options; the log file, if
// any, is returned for reopening on SIGHUP.
func setupLogging(o *options, ready *reporter) (*logrus.Logger, *logFile, error) {
	l := logrus.New()
	lvl, _ := logrus.ParseLevel(o.logLevel)
	l.SetLevel(lvl)
	l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: o.logFile != "" || ready != nil})
	var lf *logFile
	switch {
	case o.logFile != "":
		var err error
		if lf, err = openLogFile(o.logFile); err != nil {
			return nil, nil, fmt.Errorf("log file: %v", err)
		}
		l.SetOutput(newLogSink(lf, o.logFile, l, o.syslogAddr))
	case ready != nil:
		network, raddr, _ := strings.Cut(o.syslogAddr, ":")
		hook, err := lsyslog.NewSyslogHook(network, raddr, syslog.LOG_DAEMON|syslog.LOG_INFO, "obsfs")
		if err == nil {
			l.SetOutput(io.Discard)
			l.AddHook(hook)
			break
		}
		// The syslog the parent saw went away: the state directory's
		// file, as without one.
		if lf, err = openLogFile(fallbackLogPath(o)); err != nil {
			return nil, nil, fmt.Errorf("no syslog, and no log file: %v", err)
		}
		l.SetOutput(newLogSink(lf, lf.path, l, o.syslogAddr))
	default:
		l.SetOutput(newLogSink(os.Stderr, "stderr", l, o.syslogAddr))
	}
	// What libraries print with the standard logger goes the same way.
	stdlog.SetFlags(0)
	stdlog.SetOutput(lineWriter{l, logrus.WarnLevel})
	return l, lf, nil
}

// lineWriter logs each Write (a line of a standard library logger) as one
// entry at its level. Unlike logrus's WriterLevel it has no pipe and no
// goroutine to stop.
type lineWriter struct {
	l     *logrus.Logger
	level logrus.Level
}

func (w lineWriter) Write(p []byte) (int, error) {
	w.l.Log(w.level, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// clientConfig builds the obsclient configuration.
func clientConfig(o *options, log *logrus.Entry) (obsclient.Config, error) {
	ak, sk, token, err := o.credentials()
	if err != nil {
		return obsclient.Config{}, err
	}
	sig, _ := obsclient.ParseSignature(o.signature)
	cfg := obsclient.Config{
		Endpoint: o.endpoint, Region: o.region, AccessKey: ak, SecretKey: sk, SecurityToken: token,
		Signature: sig, InsecureSkipVerify: o.insecureTLS, Logger: log,
		MaxIdleConnsPerHost: max(2*o.concurrency, 32),
		// A request's retries stop within the operation's time budget.
		Retry: obsclient.RetryPolicy{MaxAttempts: o.retries + 1, MaxElapsed: o.opTimeout},
	}
	if o.retries < 0 {
		cfg.Retry.MaxAttempts = obsclient.UnlimitedAttempts
	}
	if o.pathStyle {
		cfg.Addressing = obsclient.AddressingPath
	}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return obsclient.Config{}, fmt.Errorf("--ca-file: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return obsclient.Config{}, fmt.Errorf("--ca-file %s holds no PEM certificate", o.caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func sseConfig(o *options) (obsclient.SSE, error) {
	switch o.sse {
	case "kms":
		return obsclient.SSE{SseKms: "kms", SseKmsKey: o.sseKMSKeyID}, nil
	case "c":
		data, err := readSecretFile(o.sseCKeyFile)
		if err != nil {
			return obsclient.SSE{}, err
		}
		key := strings.TrimSpace(string(data))
		if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 32 {
			return obsclient.SSE{}, fmt.Errorf("%s does not hold the base64 of a 256-bit key", o.sseCKeyFile)
		}
		return obsclient.SSE{SseC: "AES256", SseCKey: key}, nil
	}
	return obsclient.SSE{}, nil
}

// startupAttempts bounds the attempts of the first request when --retries
// leaves them unlimited.
const startupAttempts = 6

// checkBucket turns the first request's failure into one clear line.
func checkBucket(ctx context.Context, c *obsclient.Client, o *options) error {
	err := c.HeadBucket(ctx, o.bucket)
	if err == nil {
		return nil
	}
	e := obsclient.AsError(err)
	switch {
	case e != nil && e.Status == 404:
		return fmt.Errorf("no such bucket %q at %s", o.bucket, o.endpoint)
	case e != nil && e.Status == 403:
		return fmt.Errorf("access to bucket %q denied: check the access key, secret key and the clock (request id %s)", o.bucket, e.RequestID)
	case e != nil && e.Status == 301:
		return fmt.Errorf("bucket %q is in another region than %s: use that region's endpoint", o.bucket, o.endpoint)
	case e != nil:
		return fmt.Errorf("bucket %q: %v", o.bucket, e)
	}
	// Requests are retried until the check's 30 s run out: say why the
	// last attempt failed, or that none was answered.
	last := err
	var re *obsclient.RetryError
	if errors.As(err, &re) {
		last = re.Last
	}
	if last == nil || errors.Is(last, obsclient.ErrStalled) || errors.Is(last, context.DeadlineExceeded) {
		return fmt.Errorf("endpoint %s did not answer within 30s", o.endpoint)
	}
	return fmt.Errorf("endpoint %s unreachable: %v", o.endpoint, rootCause(last))
}

// rootCause strips the wrapping of a transport error down to what a user
// can act on (connection refused, no such host, certificate...).
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		var en syscall.Errno
		if errors.As(err, &en) && !errors.As(u, &en) {
			return err
		}
		err = u
	}
}

// checkMountpoint refuses a mountpoint that is missing, not a directory,
// already a mount point, or a dead FUSE mount.
func checkMountpoint(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("mountpoint %s: %v", dir, err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return "", fmt.Errorf("mountpoint %s is a dead FUSE mount: run fusermount3 -u %s", abs, abs)
	case err != nil:
		return "", fmt.Errorf("mountpoint %s: %v", abs, errors.Unwrap(err))
	case !st.IsDir():
		return "", fmt.Errorf("mountpoint %s is not a directory", abs)
	}
	mounted, err := isMountPoint(abs)
	if err == nil && mounted {
		return "", fmt.Errorf("mountpoint %s is busy: something is already mounted there", abs)
	}
	return abs, nil
}

// checkEmpty refuses a mountpoint that holds files, whose files the
// mount would hide, unless --nonempty (s3fs's -o nonempty) says to. What
// else is wrong with the mountpoint (missing, busy, a dead mount) is
// checkMountpoint's to say.
func checkEmpty(o *options) error {
	if o.nonempty {
		return nil
	}
	abs, err := filepath.Abs(o.mountpoint)
	if err != nil {
		return nil
	}
	if mounted, err := isMountPoint(abs); err != nil || mounted {
		return nil
	}
	d, err := os.Open(abs)
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(1)
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("mountpoint %s is not empty (it holds %q...): the mount would hide its files; empty it or pass -o nonempty", abs, names[0])
}

// oneLine folds an error message onto one line: a failure is one line on
// stderr, and some errors (go-fuse's) carry newlines.
func oneLine(err error) string {
	lines := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return l == "" }), "; ")
}

// mountFUSE mounts like fusefs.Mount, which runs fusermount3 with our
// standard error: what fusermount3 says is caught and becomes the error,
// so that its reason for a refusal (e.g. allow_other without
// user_allow_other) is not lost in daemon mode, where stderr is /dev/null,
// and does not add lines in the foreground.
//
// With ops, every FUSE request is reported to it (fs.Instrument).
func mountFUSE(mnt string, root fusefs.InodeEmbedder, mopts *fusefs.Options, ops fs.OpObserver) (*fuse.Server, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return mountNodeFS(mnt, root, mopts, ops)
	}
	var said bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&said, io.LimitReader(pr, 4096))
		_, _ = io.Copy(io.Discard, pr)
		close(copied)
	}()
	saved := os.Stderr
	os.Stderr = pw
	server, err := mountNodeFS(mnt, root, mopts, ops)
	os.Stderr = saved
	pw.Close()
	select {
	case <-copied:
	case <-time.After(time.Second): // a helper still holds the pipe
	}
	pr.Close()
	if err == nil {
		if s := strings.TrimSpace(said.String()); s != "" {
			fmt.Fprintln(os.Stderr, s)
		}
		return server, nil
	}
	if s := strings.TrimSpace(said.String()); s != "" {
		return nil, errors.New(s) // run prints it with oneLine
	}
	return nil, err
}

// mountNodeFS is fusefs.Mount, with the requests reported to ops if not
// nil.
func mountNodeFS(mnt string, root fusefs.InodeEmbedder, mopts *fusefs.Options, ops fs.OpObserver) (*fuse.Server, error) {
	raw := fusefs.NewNodeFS(root, mopts)
	if ops != nil {
		raw = fs.Instrument(raw, ops)
	}
	server, err := fuse.NewServer(raw, mnt, &mopts.MountOptions)
	if err != nil {
		return nil, err
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		return nil, err
	}
	return server, nil
}

// serve mounts and runs until unmounted or signalled.
func serve(o *options, ready *reporter) error {
	// A write to a closed pipe (stderr piped into a program that ended)
	// must fail, not end the process and leave a dead mount: handled,
	// SIGPIPE makes such writes return EPIPE, which the log sink survives.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	mnt, err := checkMountpoint(o.mountpoint)
	if err != nil {
		return err
	}
	logger, lf, err := setupLogging(o, ready)
	if err != nil {
		return err
	}
	log := logrus.NewEntry(logger).WithField("bucket", o.bucket)
	// Deferred first, so it runs last: after every layer is closed, no
	// goroutine of ours may remain (only when the unmount was clean: a
	// lazily detached mount keeps its server running).
	stopped := false
	defer func() {
		if stopped {
			checkGoroutines(log, 5*time.Second)
		}
	}()
	if lf != nil {
		// logrotate renames the file and sends SIGHUP: a new file.
		hup, stopHup := make(chan os.Signal, 1), make(chan struct{})
		signal.Notify(hup, syscall.SIGHUP)
		defer close(stopHup)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-stopHup:
					return
				case <-hup:
				}
				if err := lf.Reopen(); err != nil {
					log.WithError(err).Error("reopening the log file on SIGHUP failed: still logging to the old one")
				} else {
					log.WithField("path", lf.path).Info("log file reopened (SIGHUP)")
				}
			}
		}()
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpu-profile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}
	// The metrics address is taken before anything else, so that one in
	// use fails the mount before the store or the mountpoint is touched.
	var met *metrics
	var msrv *metricsServer
	if o.metricsAddr != "" {
		msrv, err = listenMetrics(o.metricsAddr)
		if err != nil {
			return err
		}
		defer msrv.stop()
		met = newMetrics()
		msrv.start(met, log.WithField("layer", "metrics"))
	}
	ccfg, err := clientConfig(o, log)
	if err != nil {
		return err
	}
	if met != nil {
		ccfg.Observer = met
	}
	sse, err := sseConfig(o)
	if err != nil {
		return err
	}
	client, err := obsclient.New(ccfg)
	if err != nil {
		return plain(err)
	}
	if sse.SseKms != "" || sse.SseC != "" {
		if !client.HTTPS() {
			return errors.New("--sse needs an https endpoint")
		}
	}
	// The first request fails fast on a wrong endpoint instead of retrying
	// for its whole window: at most startupAttempts attempts within 30 s.
	check := client
	if ccfg.Retry.MaxAttempts == obsclient.UnlimitedAttempts {
		scfg := ccfg
		scfg.Retry.MaxAttempts = startupAttempts
		if check, err = obsclient.New(scfg); err != nil {
			return plain(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = checkBucket(ctx, check, o)
	cancel()
	if check != client {
		check.CloseIdleConnections()
	}
	if err != nil {
		return err
	}
	var wbJournal writeback.Journal // nil: none (--debug-no-journal, benchmarks)
	if !o.noJournal {
		jr, err := openJournal(o, mnt, client, log)
		if err != nil {
			return err
		}
		defer jr.Close() // after wb.Close: what is still pending stays for the next mount
		wbJournal = jr
	}
	// The Go heap holds the write buffer, the cache and little else: a soft
	// limit makes the collector keep the process near that, not at twice
	// the live heap.
	debug.SetMemoryLimit(o.writeBuffer + o.cacheSize + o.readAhead + 48<<20)
	cache, err := writeback.NewBlockCache(o.cacheSize)
	if err != nil {
		return err
	}
	defer cache.Close()
	cond := conditionMode(context.Background(), client, o, sse, log.WithField("layer", "writeback"))
	wb, err := writeback.New(client, writeback.Config{
		Bucket: o.bucket, PartSize: o.partSize, TierParts: o.tierParts, Concurrency: o.concurrency,
		WriteBuffer: o.writeBuffer, Cache: cache, ReadAhead: max(o.readAhead, 1), SSE: sse,
		StagingPrefix: o.prefix + fs.StagingDir + "/", Logger: log.WithField("layer", "writeback"),
		PoisonFreedPages: o.poison, Journal: wbJournal, CommitTimeout: o.opTimeout, Conditions: cond,
	})
	if err != nil {
		return err
	}
	if met != nil {
		met.wb.Store(wb)
	}
	fcfg := fs.DefaultConfig() // then every value from the flags, zeros included
	fcfg.Bucket, fcfg.Prefix, fcfg.UID, fcfg.GID = o.bucket, o.prefix, o.uid, o.gid
	fcfg.FileMode, fcfg.DirMode, fcfg.StatCacheTTL, fcfg.CopyThreshold = o.fileMode, o.dirMode, o.statCacheTTL, o.copyThreshold
	fcfg.SSE, fcfg.Logger, fcfg.OpTimeout = sse, log.WithField("layer", "fs"), o.opTimeout
	fsys, err := fs.New(client, wb, fcfg)
	if err != nil {
		return err
	}
	defer fsys.Close()
	mopts := fsys.MountOptions()
	mopts.AllowOther = o.allowOther
	mopts.Debug = o.debugFUSE
	mopts.Logger = stdlog.New(lineWriter{logger, logrus.DebugLevel}, "", 0)
	if o.readOnly {
		mopts.Options = append(mopts.Options, "ro")
	}
	var ops fs.OpObserver
	if met != nil {
		ops = met
	}
	server, err := mountFUSE(mnt, fsys.Root(), mopts, ops)
	if err != nil {
		return fmt.Errorf("mounting on %s: %v", mnt, err)
	}
	raiseKernelReadAhead(mnt, log)
	if ctl, err := startControl(o.stateDir, mnt, o.bucket, o.prefix, wb, fsys, log.WithField("layer", "control")); err != nil {
		log.WithError(err).Warn("no control socket: obsfs status cannot ask this mount")
	} else {
		defer ctl.Close()
	}
	log.WithFields(logrus.Fields{"mountpoint": mnt, "endpoint": o.endpoint, "prefix": o.prefix, "version": version, "commit": commit}).Info("mounted")
	if ready != nil {
		ready.ok()
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	defer stopSweep()
	if o.sweepOlderThan > 0 {
		go sweepAtMount(sweepCtx, client, o, log.WithField("layer", "sweep"))
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		server.Wait()
		close(done)
	}()
	closeWB := boundedClose(wb)
	// The stop — waiting for open files, then for pending commits — ends
	// at one deadline; then what is left is aborted.
	var deadline time.Time
	select {
	case <-done:
		log.Info("unmounted")
		stopped = true
		deadline = time.Now().Add(o.stopTimeout)
	case sig := <-sigs:
		log.WithField("signal", sig.String()).Info("unmounting")
		deadline = time.Now().Add(o.stopTimeout)
		stopped = unmount(server, mnt, closeWB, log, done, deadline)
	}
	stopSweep()
	ctx, cancel = context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// Drain waits for files busy in a commit or an abort, which may not
	// heed ctx: the stop does not wait past the deadline.
	drained := make(chan error, 1)
	go func() { drained <- wb.Drain(ctx) }()
	select {
	case err = <-drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		log.WithError(err).Error("uploads still pending at unmount failed: aborting them")
	}
	if msrv != nil {
		msrv.stop() // served until the last commit; its goroutines end here
	}
	ok := closeWB()
	nCommits, nBytes := wb.Committed()
	log.WithFields(logrus.Fields{"commits": nCommits, "bytes": nBytes}).Info("committed since the mount")
	if !ok {
		// The store does not answer the aborts: exit now, within the
		// bound, without the closes deferred above (the aborts still use
		// what they close). Every upload not known to be aborted is still
		// in the journal, which the next mount replays.
		log.WithField("grace", abortGrace).Warn("aborting the uploads left did not finish in time: the journal keeps them for the next mount (or obsfs cleanup)")
		os.Exit(0)
	}
	return nil
}

// raiseKernelReadAhead lets the kernel send 1 MiB read requests: FUSE
// starts every mount's read-ahead at 128 KiB, and a daemon can lower it at
// INIT but not raise it; root can through sysfs. Larger requests cut the
// per-request cost of sequential reads (measured: about 10% faster).
func raiseKernelReadAhead(mnt string, log *logrus.Entry) {
	var st syscall.Stat_t
	if err := syscall.Stat(mnt, &st); err != nil {
		return
	}
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	if err := os.WriteFile(path, []byte("1024"), 0); err != nil {
		log.WithError(err).Debug("kernel read-ahead left at its default")
	}
}

// abortGrace bounds the aborts of what is left at the end of a stop.
const abortGrace = 10 * time.Second

// boundedClose returns a function that closes wb (aborting what is still
// pending) and reports whether that ended within abortGrace of the first
// call; every call waits for the same close, until the same deadline.
func boundedClose(wb *writeback.Manager) func() bool {
	var once sync.Once
	var by time.Time
	closed := make(chan struct{})
	return func() bool {
		once.Do(func() {
			by = time.Now().Add(abortGrace)
			go func() {
				wb.Close()
				close(closed)
			}()
		})
		select {
		case <-closed:
			return true
		case <-time.After(time.Until(by)):
			return false
		}
	}
}

// unmount tries a clean unmount, waiting until deadline (--stop-timeout)
// for programs to close their files; after that, uploads of files still
// open are aborted by closeWB (their programs never got a successful
// close) and the mount is detached lazily. It reports whether the FUSE
// server stopped.
func unmount(server *fuse.Server, mnt string, closeWB func() bool, log *logrus.Entry, done <-chan struct{}, deadline time.Time) bool {
	wait := time.Minute
	for {
		err := server.Unmount()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log.WithError(err).Warn("mount still busy: aborting uploads of files left open and detaching lazily")
			closeWB()
			_ = exec.Command("fusermount3", "-u", "-z", mnt).Run()
			// A lazily detached mount lives on in the kernel, and the
			// server with it, until its last file is closed: do not wait
			// for that. Our exit ends the connection (ENOTCONN for them).
			wait = 2 * time.Second
			break
		}
		log.WithError(err).Info("mount busy: waiting for open files to be closed")
		time.Sleep(time.Second)
	}
	select {
	case <-done:
		return true
	case <-time.After(wait):
		if wait == time.Minute {
			log.Warn("FUSE server did not stop within a minute of unmounting")
		}
		return false
	}
}
