package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	units "github.com/docker/go-units"
	"github.com/obsfs/obsfs/fs"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/spf13/pflag"
)

// options is everything the command line says.
type options struct {
	bucket, prefix, mountpoint string

	endpoint    string
	region      string
	signature   string
	pathStyle   bool
	passwdFile  string
	caFile      string
	insecureTLS bool

	partSize      int64
	concurrency   int
	writeBuffer   int64
	cacheSize     int64
	readAhead     int64
	copyThreshold int64
	tierParts     int

	uid, gid          uint32
	fileMode, dirMode uint32
	statCacheTTL      time.Duration
	conditionalWrites string // auto, on, off
	retries           int
	opTimeout         time.Duration
	stopTimeout       time.Duration // SIGTERM or unmount: how long open files and pending commits may take

	sse         string // "", "kms", "c"
	sseKMSKeyID string
	sseCKeyFile string

	stateDir       string        // the crash journal's directory
	sweepOlderThan time.Duration // at mount, sweep leftovers older than this; 0: off
	metricsAddr    string        // HOST:PORT serving Prometheus metrics; "": off

	allowOther bool
	readOnly   bool
	nonempty   bool // mount over a directory that holds files
	foreground bool
	logLevel   string
	logFile    string
	debugFUSE  bool
	cpuProfile string
	poison     bool
	noJournal  bool // benchmarks: no crash journal (its cost on the write path)
	// syslogAddr is "network:address" of the syslog to use instead of
	// the local one (tests).
	syslogAddr string
}

// sizeValue is a pflag.Value for byte sizes: "8388608", "8MiB", "512M"
// (K, M, G, T are binary units, as in dd and mount options).
type sizeValue struct{ p *int64 }

func (s sizeValue) String() string {
	if s.p == nil {
		return "0"
	}
	return units.BytesSize(float64(*s.p))
}

func (s sizeValue) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s.p = n
	return nil
}

func (s sizeValue) Type() string { return "size" }

func parseSize(v string) (int64, error) {
	n, err := units.RAMInBytes(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (examples: 8388608, 8MiB, 512M)", v)
	}
	return n, nil
}

// modeValue is a pflag.Value for octal permission bits.
type modeValue struct{ p *uint32 }

func (m modeValue) String() string {
	if m.p == nil {
		return "0"
	}
	return fmt.Sprintf("%04o", *m.p)
}

func (m modeValue) Set(v string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
	if err != nil || n > 0o7777 {
		return fmt.Errorf("%q is not an octal mode (example: 0644)", v)
	}
	*m.p = uint32(n)
	return nil
}

func (m modeValue) Type() string { return "mode" }

func newFlagSet(o *options) *pflag.FlagSet {
	fl := pflag.NewFlagSet("obsfs", pflag.ContinueOnError)
	fl.SortFlags = false
	fl.StringVar(&o.endpoint, "endpoint", os.Getenv("OBS_ENDPOINT"), "service endpoint, e.g. https://obs.cn-north-4.myhuaweicloud.com (env OBS_ENDPOINT)")
	fl.StringVar(&o.region, "region", "", "signing region (default: from an OBS endpoint name, else us-east-1)")
	fl.StringVar(&o.signature, "signature", "", "signature dialect: obs, v2 or v4 (default: obs for Huawei OBS endpoints, v4 otherwise)")
	fl.BoolVar(&o.pathStyle, "path-style", false, "put the bucket in the URL path (default: only for IP and localhost endpoints)")
	fl.StringVar(&o.passwdFile, "passwd-file", "", "file holding ACCESS_KEY:SECRET_KEY (mode 0600); default: OBS_*/AWS_* environment variables")
	fl.StringVar(&o.caFile, "ca-file", "", "PEM file of extra certificate authorities to trust")
	fl.BoolVar(&o.insecureTLS, "insecure-skip-verify", false, "do not verify the endpoint's TLS certificate (unsafe)")
	o.partSize = 8 << 20
	fl.Var(sizeValue{&o.partSize}, "part-size", "size of the first 1000 parts of a file; later parts double every 1000 (multiple of 1MiB)")
	fl.IntVar(&o.concurrency, "upload-concurrency", 8, "parts uploaded in parallel, across all files")
	o.writeBuffer = 512 << 20
	fl.Var(sizeValue{&o.writeBuffer}, "write-buffer", "memory for data not yet uploaded, across all files; writers wait when it is full")
	o.cacheSize = 256 << 20
	fl.Var(sizeValue{&o.cacheSize}, "cache-size", "memory for clean data (reads, and parts already uploaded)")
	o.readAhead = 256 << 20
	fl.Var(sizeValue{&o.readAhead}, "read-ahead-buffer", "memory for data fetched ahead of sequential readers, across all files (up to 64MiB per file)")
	o.copyThreshold = fs.DefaultCopyThreshold
	fl.Var(sizeValue{&o.copyThreshold}, "copy-threshold", "renames of objects larger than this use a multipart copy of parallel parts (at most 5GiB)")
	fl.IntVar(&o.tierParts, "parts-per-tier", 1000, "parts of each size before the part size doubles")
	_ = fl.MarkHidden("parts-per-tier")
	o.uid, o.gid = uint32(os.Getuid()), uint32(os.Getgid())
	fl.Uint32Var(&o.uid, "uid", o.uid, "owner of objects without uid metadata")
	fl.Uint32Var(&o.gid, "gid", o.gid, "group of objects without gid metadata")
	o.fileMode, o.dirMode = 0o644, 0o755
	fl.Var(modeValue{&o.fileMode}, "file-mode", "permissions of files without mode metadata")
	fl.Var(modeValue{&o.dirMode}, "dir-mode", "permissions of directories without mode metadata")
	fl.DurationVar(&o.statCacheTTL, "stat-cache-ttl", 5*time.Second, "how long lookups, attributes and listings are cached")
	fl.StringVar(&o.conditionalWrites, "conditional-writes", "auto", "commit only over the version read (If-Match, If-None-Match), so that another writer's object is never lost: on, off, or auto (probe the store at mount; without support, compare with a HEAD before each commit)")
	fl.IntVar(&o.retries, "retries", -1, "retries of a failed request (network errors, stalls, 5xx, throttling), with growing backoff; -1: as many as its time window allows")
	fl.DurationVar(&o.opTimeout, "op-timeout", defaultOpTimeout, "time budget of an operation that needs the store (read, write, lookup...): then it fails with EIO; close, fsync and rename fail after this long without progress (at least 1s)")
	fl.DurationVar(&o.stopTimeout, "stop-timeout", defaultStopTimeout, "at SIGTERM/SIGINT or unmount, how long obsfs waits for open files to be closed and pending commits to finish; then it aborts what is left (the journal keeps what an abort cannot remove within 10s, for the next mount)")
	fl.StringVar(&o.sse, "sse", "", "server-side encryption of written objects: kms or c (HTTPS only)")
	fl.StringVar(&o.sseKMSKeyID, "sse-kms-key-id", "", "KMS master key for --sse=kms (default: the service's)")
	fl.StringVar(&o.sseCKeyFile, "sse-c-key-file", "", "file holding the base64 256-bit key for --sse=c (mode 0600)")
	fl.StringVar(&o.stateDir, "state-dir", defaultStateDir(), "directory of the crash journals (a small file per mount, replayed by the next mount), the control sockets of obsfs status (run/) and, for a daemon without syslog, the log")
	fl.Var(ageValue{&o.sweepOlderThan}, "sweep-older-than", "at mount, also abort every upload under the prefix and delete its staged objects older than this, like obsfs cleanup (0: off)")
	fl.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464 (default: off)")
	fl.BoolVar(&o.allowOther, "allow-other", false, "let other users access the mount (needs user_allow_other in /etc/fuse.conf unless root)")
	fl.BoolVar(&o.readOnly, "read-only", false, "mount read-only")
	fl.BoolVar(&o.nonempty, "nonempty", false, "mount over a directory that is not empty (its files are hidden while mounted); also -o nonempty")
	fl.BoolVarP(&o.foreground, "foreground", "f", false, "stay in the foreground; log to stderr")
	fl.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&o.logFile, "log-file", "", "log file, opened anew on SIGHUP (default: stderr with -f, else syslog, else STATE-DIR/obsfs-BUCKET.log)")
	fl.BoolVar(&o.debugFUSE, "debug-fuse", false, "log every FUSE request")
	fl.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file")
	_ = fl.MarkHidden("cpu-profile")
	fl.BoolVar(&o.poison, "debug-poison-pages", false, "overwrite every page buffer returned to the pool (tests: a use after release shows as wrong bytes)")
	_ = fl.MarkHidden("debug-poison-pages")
	fl.BoolVar(&o.noJournal, "debug-no-journal", false, "keep no crash journal (benchmarks: what the journal costs)")
	_ = fl.MarkHidden("debug-no-journal")
	fl.StringVar(&o.syslogAddr, "debug-syslog-address", "", "network:address of the syslog to log to instead of the local one, e.g. unixgram:/tmp/log (tests)")
	_ = fl.MarkHidden("debug-syslog-address")
	return fl
}

// defaultOpTimeout is --op-timeout's default.
const defaultOpTimeout = 2 * time.Minute

// defaultStopTimeout is --stop-timeout's default: systemd's stop timeout
// (90 s) covers it and the abort grace.
const defaultStopTimeout = 30 * time.Second

// mountOnlyOptions are mount(8)/fstab words that mean nothing to obsfs
// itself; they are accepted and ignored.
var mountOnlyOptions = map[string]bool{
	"rw": true, "auto": true, "noauto": true, "user": true, "users": true, "nouser": true,
	"_netdev": true, "nofail": true, "dev": true, "nodev": true, "suid": true, "nosuid": true,
	"exec": true, "noexec": true, "atime": true, "noatime": true, "relatime": true,
	"default_permissions": true, "defaults": true,
}

// optionAliases map -o words to flags.
var optionAliases = map[string]string{
	"ro": "read-only", "allow_other": "allow-other", "passwd_file": "passwd-file",
	"url": "endpoint",
}

// expandMountOptions turns every "-o a=b,c" (and "-oa=b,c") into
// "--a=b --c", so fstab and mount -t fuse.obsfs can pass any flag.
// Underscores in names become hyphens.
func expandMountOptions(args []string) ([]string, error) {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var spec string
		switch {
		case a == "-o":
			if i+1 >= len(args) {
				return nil, errors.New("-o needs a value (e.g. -o part_size=16MiB,allow_other)")
			}
			spec = args[i+1]
			i++
		case strings.HasPrefix(a, "-o") && !strings.HasPrefix(a, "--"):
			spec = a[2:]
		case a == "--":
			out = append(out, args[i:]...)
			return out, nil
		default:
			out = append(out, a)
			continue
		}
		for _, word := range splitOptions(spec) {
			if word == "" {
				continue
			}
			name, value, hasValue := strings.Cut(word, "=")
			if mountOnlyOptions[name] || strings.HasPrefix(name, "x-") || name == "comment" {
				continue
			}
			if alias, ok := optionAliases[name]; ok {
				name = alias
			}
			name = strings.ReplaceAll(name, "_", "-")
			if hasValue {
				out = append(out, "--"+name+"="+value)
			} else {
				out = append(out, "--"+name)
			}
		}
	}
	return out, nil
}

// splitOptions splits on commas not escaped with a backslash.
func splitOptions(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
		case s[i] == ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(out, cur.String())
}

var obsHostRe = regexp.MustCompile(`^obs\.([a-z0-9-]+)\.(myhuaweicloud|huaweicloud)\.com$`)

// parseArgs parses the command line (program name excluded).
func parseArgs(args []string) (*options, error) {
	return parseCommand(args, nil, "BUCKET[:PREFIX] MOUNTPOINT")
}

// parseCommand parses args with the mount's flags, plus those extra adds
// (a subcommand's), and the positional arguments usage names:
// "BUCKET[:PREFIX] MOUNTPOINT" or "BUCKET[:PREFIX]".
func parseCommand(args []string, extra func(*pflag.FlagSet), usage string) (*options, error) {
	o := &options{}
	fl := newFlagSet(o)
	if extra != nil {
		extra(fl)
	}
	fl.SetOutput(io.Discard)
	expanded, err := expandMountOptions(args)
	if err != nil {
		return nil, err
	}
	if err := fl.Parse(expanded); err != nil {
		return nil, err
	}
	pos := fl.Args()
	if want := len(strings.Fields(usage)); len(pos) != want {
		return nil, fmt.Errorf("want %s, got %d argument(s)", usage, len(pos))
	}
	o.bucket, o.prefix, _ = strings.Cut(pos[0], ":")
	o.prefix = strings.Trim(o.prefix, "/")
	if o.prefix != "" {
		o.prefix += "/"
	}
	if len(pos) > 1 {
		o.mountpoint = pos[1]
	}
	if err := obsclient.ValidateBucketName(o.bucket); err != nil {
		return nil, plain(err)
	}
	if o.endpoint == "" {
		return nil, errors.New("no endpoint: pass --endpoint or set OBS_ENDPOINT")
	}
	host := endpointHost(o.endpoint)
	if o.region == "" {
		o.region = obsclient.DefaultRegion
		if m := obsHostRe.FindStringSubmatch(host); m != nil {
			o.region = m[1]
		}
	}
	if o.signature == "" {
		o.signature = "v4"
		if strings.HasSuffix(host, ".myhuaweicloud.com") || strings.HasSuffix(host, ".huaweicloud.com") {
			o.signature = "obs"
		}
	}
	if _, err := obsclient.ParseSignature(o.signature); err != nil {
		return nil, plain(err)
	}
	switch {
	case o.partSize < obsclient.MinPartSizeS3 || o.partSize%(1<<20) != 0:
		return nil, fmt.Errorf("--part-size %d must be a multiple of 1MiB and at least 5MiB", o.partSize)
	case o.partSize > obsclient.MaxPartSize:
		return nil, fmt.Errorf("--part-size %d exceeds 5GiB", o.partSize)
	case o.concurrency < 1 || o.concurrency > 1000:
		return nil, fmt.Errorf("--upload-concurrency %d must be within 1..1000", o.concurrency)
	case o.writeBuffer < 2*o.partSize:
		return nil, fmt.Errorf("--write-buffer %s must hold at least two parts (2 × %s)",
			units.BytesSize(float64(o.writeBuffer)), units.BytesSize(float64(o.partSize)))
	case o.cacheSize < 1<<20:
		return nil, fmt.Errorf("--cache-size must be at least 1MiB")
	case o.readAhead < 0:
		return nil, fmt.Errorf("--read-ahead-buffer must not be negative")
	case o.copyThreshold < 0 || o.copyThreshold > obsclient.MaxPartSize:
		return nil, fmt.Errorf("--copy-threshold must be within 0..5GiB")
	case o.tierParts < 1:
		return nil, fmt.Errorf("--parts-per-tier must be positive")
	case o.retries < -1 || o.retries > 100:
		return nil, fmt.Errorf("--retries %d must be -1 (unlimited within the time window) or within 0..100", o.retries)
	case o.stopTimeout < 0:
		return nil, fmt.Errorf("--stop-timeout must not be negative")
	case o.statCacheTTL < 0:
		return nil, fmt.Errorf("--stat-cache-ttl must not be negative")
	case o.opTimeout < time.Second:
		// 0 is refused too: every operation is bounded, and a 0 read as
		// "unset" would silently become the default.
		return nil, fmt.Errorf("--op-timeout %v must be at least 1s", o.opTimeout)
	}
	switch o.conditionalWrites {
	case "auto", "on", "off":
	default:
		return nil, fmt.Errorf("--conditional-writes must be auto, on or off, not %q", o.conditionalWrites)
	}
	switch o.sse {
	case "", "kms", "c":
	default:
		return nil, fmt.Errorf("--sse %q: want kms or c", o.sse)
	}
	if o.metricsAddr != "" {
		if err := checkMetricsAddr(o.metricsAddr); err != nil {
			return nil, err
		}
	}
	if o.sse == "c" && o.sseCKeyFile == "" {
		return nil, errors.New("--sse=c needs --sse-c-key-file")
	}
	if o.sse != "kms" && o.sseKMSKeyID != "" {
		return nil, errors.New("--sse-kms-key-id needs --sse=kms")
	}
	if o.stateDir == "" {
		return nil, errors.New("no state directory for the crash journal ($HOME unset): pass --state-dir")
	}
	if o.stateDir, err = filepath.Abs(o.stateDir); err != nil {
		return nil, fmt.Errorf("--state-dir: %v", err)
	}
	switch o.logLevel {
	case "debug", "info", "warn", "warning", "error":
	default:
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	return o, nil
}

// defaultStateDir is where crash journals live: /var/lib/obsfs for root,
// else $XDG_STATE_HOME/obsfs, else ~/.local/state/obsfs ("" without a
// home).
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/obsfs"
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "obsfs")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", "obsfs")
	}
	return ""
}

// endpointHost is the lower-case host name of an endpoint, which (as for
// obsclient) may omit the scheme and carry a port.
func endpointHost(endpoint string) string {
	s := strings.TrimSpace(endpoint)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	if u, err := url.Parse(s); err == nil && u.Hostname() != "" {
		return strings.ToLower(u.Hostname())
	}
	return strings.ToLower(endpoint)
}

// credentials returns the access key, secret key and token: from
// --passwd-file, else OBS_* variables, else AWS_* variables.
func (o *options) credentials() (ak, sk, token string, err error) {
	if o.passwdFile != "" {
		data, err := readSecretFile(o.passwdFile)
		if err != nil {
			return "", "", "", err
		}
		return parsePasswd(string(data), o.bucket, o.passwdFile)
	}
	ak, sk, token = os.Getenv("OBS_ACCESS_KEY_ID"), os.Getenv("OBS_SECRET_ACCESS_KEY"), os.Getenv("OBS_SECURITY_TOKEN")
	if ak == "" && sk == "" {
		ak, sk = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		token = os.Getenv("AWS_SESSION_TOKEN")
		if token == "" {
			token = os.Getenv("AWS_SECURITY_TOKEN")
		}
	}
	if ak == "" || sk == "" {
		return "", "", "", errors.New("no credentials: set OBS_ACCESS_KEY_ID and OBS_SECRET_ACCESS_KEY (or AWS_*), or pass --passwd-file")
	}
	return ak, sk, token, nil
}

// readSecretFile reads a file that must be owned by the mounting user or
// root and not be readable by group or others (as s3fs requires of its
// passwd file): a file someone else owns could be swapped for theirs.
func readSecretFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("credentials file: %v", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if err := checkSecretOwner(path, sys.Uid, uint32(os.Geteuid())); err != nil {
			return nil, err
		}
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by group or others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials file: %v", err)
	}
	return data, nil
}

// checkSecretOwner refuses a secret file owned by neither the mounting
// user (euid) nor root.
func checkSecretOwner(path string, owner, euid uint32) error {
	if owner == euid || owner == 0 {
		return nil
	}
	who := "root"
	if euid != 0 {
		who = fmt.Sprintf("you (uid %d) or root", euid)
	}
	return fmt.Errorf("%s is owned by %s, not by %s: chown it", path, userName(owner), who)
}

// userName names uid for a message: "uid 1000 (alice)", or "uid 1000".
func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil && u.Username != "" {
		return fmt.Sprintf("uid %d (%s)", uid, u.Username)
	}
	return fmt.Sprintf("uid %d", uid)
}

// parsePasswd reads s3fs-style lines "AK:SK" or "BUCKET:AK:SK" (the line
// for the bucket wins); '#' starts a comment.
func parsePasswd(data, bucket, path string) (ak, sk, token string, err error) {
	var generic [2]string
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		switch len(f) {
		case 2:
			if generic[0] == "" {
				generic = [2]string{f[0], f[1]}
			}
		case 3:
			if f[0] == bucket {
				return f[1], f[2], "", nil
			}
		default:
			return "", "", "", fmt.Errorf("%s: a line is not ACCESS_KEY:SECRET_KEY or BUCKET:ACCESS_KEY:SECRET_KEY", path)
		}
	}
	if generic[0] == "" || generic[1] == "" {
		return "", "", "", fmt.Errorf("%s holds no credentials for bucket %s", path, bucket)
	}
	return generic[0], generic[1], "", nil
}

// plain drops the "obsclient: invalid argument: " prefix from a
// validation error, leaving the sentence a user needs.
func plain(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), obsclient.ErrInvalidArgument.Error()+": "))
}
