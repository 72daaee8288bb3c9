package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/ristretto/v2"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
	"github.com/sirupsen/logrus"
)

// Bucket is the object store as the filesystem uses it. *obsclient.Client
// satisfies it; unit tests use obsclient/obsfake. The contract is
// writeback.Store's; in addition HeadObject of a missing key and
// ListObjects of a missing prefix behave as in S3 (404 error, empty page).
type Bucket interface {
	writeback.Store
	HeadObject(ctx context.Context, in *obsclient.HeadObjectInput) (*obsclient.HeadObjectOutput, error)
	ListObjects(ctx context.Context, in *obsclient.ListObjectsInput) (*obsclient.ListObjectsOutput, error)
	DeleteObject(ctx context.Context, in *obsclient.DeleteObjectInput) (*obsclient.DeleteObjectOutput, error)
	DeleteObjects(ctx context.Context, in *obsclient.DeleteObjectsInput) (*obsclient.DeleteObjectsOutput, error)
	CopyObject(ctx context.Context, in *obsclient.CopyObjectInput) (*obsclient.CopyObjectOutput, error)
}

var _ Bucket = (*obsclient.Client)(nil)

// Config configures the filesystem. Start from DefaultConfig: in a Config
// every value means what it says, zeros included (a StatCacheTTL of 0 is
// no caching, a FileMode of 0 is no permission bits); only Logger has a
// fallback when nil.
type Config struct {
	// Bucket and Prefix: the mount shows the keys under Prefix ("" for the
	// whole bucket, otherwise ending in "/").
	Bucket string
	Prefix string
	// UID, GID, FileMode and DirMode are the attributes of objects that
	// carry none in their metadata (permission bits only).
	UID, GID uint32
	FileMode uint32
	DirMode  uint32
	// StatCacheTTL is how long lookups, negative lookups, attributes and
	// directory listings are trusted before the store is asked again; 0
	// trusts nothing (every lookup and stat asks the store). Changes made
	// through this mount are visible at once.
	StatCacheTTL time.Duration
	// CopyThreshold: renames of objects larger than this use a multipart
	// copy (UploadPartCopy, about Concurrency parts copied in parallel)
	// instead of one CopyObject. At most 5 GiB, the CopyObject limit.
	CopyThreshold int64
	// SSE is applied to objects written; SSE-C keys also to reads.
	SSE obsclient.SSE
	// OpTimeout is the time budget of one operation that needs the store
	// (lookup, stat, open, read, write, ...): past it the operation fails
	// with EIO, however the retries inside are arranged. Operations whose
	// work grows with the data (close, fsync, rename, listing) are bounded
	// per request and by commit progress instead (see opctx.go). It must
	// be positive: every operation is bounded.
	OpTimeout time.Duration
	// Logger; nil discards.
	Logger *logrus.Entry

	// afterLook, if set (tests only), runs when the store has answered a
	// listing ("list", prefix) or a lookup's probe ("probe", key), before
	// the answer is used: tests hold it there to force an interleaving.
	afterLook func(op, key string)
	// now, if set (tests only), is the mount's clock instead of time.Now
	// (FS.now): tests advance it past the stat-cache TTL instead of
	// sleeping.
	now func() time.Time
}

// StagingDir is the directory, at the mount's root, where the write-back
// layer assembles parts too large for memory (writeback.Config
// StagingPrefix) and where files unlinked while open keep their data
// (unlinked.go). It is hidden: lookups say ENOENT, listings omit it.
const StagingDir = ".obsfs-staging"

// FileAliasSuffix names an object that a directory of the same name
// hides. Where the bucket holds both an object "d" and keys under "d/",
// the directory "d" wins (it holds more) and the object is shown as
// "d.obsfs-file": reading, writing, stat, rename and unlink of that name
// act on the object "d". The alias exists only while the directory does;
// names ending in the suffix are otherwise reserved: they cannot be
// created (EACCES), and keys ending in it are not listed.
const FileAliasSuffix = ".obsfs-file"

// aliasTarget returns the name an alias stands for: "d" for
// "d.obsfs-file".
func aliasTarget(name string) (string, bool) {
	base, ok := strings.CutSuffix(name, FileAliasSuffix)
	return base, ok && base != ""
}

// Defaults of DefaultConfig.
const (
	DefaultStatCacheTTL = 5 * time.Second
	DefaultOpTimeout    = 2 * time.Minute
	DefaultFileMode     = 0o644
	DefaultDirMode      = 0o755
	// DefaultCopyThreshold: a rename of 1 GiB on MinIO took 0.56× the
	// time as ~8 parallel copy parts than as one CopyObject
	// (BenchmarkEditLarge); smaller objects stay one request.
	DefaultCopyThreshold = 128 << 20
)

// DefaultConfig returns the defaults: a 5 s stat cache, modes 0644 and
// 0755, owner root (set UID and GID to the mounting user's), copies up to
// 128 MiB in one request, a 2 minute operation budget. Fill in Bucket (and
// the rest) before use.
func DefaultConfig() Config {
	return Config{
		StatCacheTTL:  DefaultStatCacheTTL,
		FileMode:      DefaultFileMode,
		DirMode:       DefaultDirMode,
		CopyThreshold: DefaultCopyThreshold,
		OpTimeout:     DefaultOpTimeout,
	}
}

// withLogger fills in the one value that has a fallback: a nil Logger.
func (c Config) withLogger() Config {
	if c.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		c.Logger = logrus.NewEntry(l)
	}
	return c
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if err := obsclient.ValidateBucketName(c.Bucket); err != nil {
		return err
	}
	if c.Prefix != "" {
		if !strings.HasSuffix(c.Prefix, "/") || strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "//") {
			return fmt.Errorf("prefix %q must be relative, end in '/' and have no empty component", c.Prefix)
		}
		if !utf8.ValidString(c.Prefix) {
			return fmt.Errorf("prefix %q is not valid UTF-8", c.Prefix)
		}
	}
	if c.FileMode&^0o7777 != 0 || c.DirMode&^0o7777 != 0 {
		return fmt.Errorf("file and directory modes must be permission bits (0..07777)")
	}
	if c.StatCacheTTL < 0 {
		return errors.New("negative stat cache TTL")
	}
	if c.OpTimeout <= 0 {
		return fmt.Errorf("operation timeout %v must be positive", c.OpTimeout)
	}
	if c.CopyThreshold < 0 || c.CopyThreshold > obsclient.MaxPartSize {
		return fmt.Errorf("copy threshold %d must be within 0..5 GiB", c.CopyThreshold)
	}
	return nil
}

// FS is one mounted filesystem.
type FS struct {
	cfg   Config
	store Bucket
	wb    *writeback.Manager
	log   *logrus.Entry
	root  *dirNode
	// meta caches POSIX attributes by object version (key + ETag), learned
	// from HEAD or written by this mount, so that listings — which carry no
	// metadata — can show them without a HEAD per entry. Lossy by design.
	meta *ristretto.Cache[string, attr]
	// renameMu serialises renames (they move many keys and inodes).
	renameMu sync.Mutex
	// self is the uid obsfs runs as: the user holding the bucket's keys.
	self uint32
	// bucketGone is set once the store said the bucket does not exist
	// (logged once).
	bucketGone atomic.Bool
	// dying reports whether the process pid (of user uid) making a
	// request is being killed (opctx.go); a field so that tests can fake
	// it.
	dying func(pid, uid uint32) bool
	// now is the clock of the stat cache's TTL (fileNode.fetched,
	// dirNode.fetched and listed) and of remembered read failures;
	// Config.now in tests, time.Now otherwise.
	now func() time.Time
	// clock orders what the store answered against what this mount
	// changed: a listing or HEAD is stamped with a tick taken before it
	// asks the store, a change with a tick taken once it is made, so an
	// answer stamped before a change may predate it (listEntry.seen,
	// fileNode.seen, dirNode.changes).
	clock atomic.Uint64
}

// tick returns a new stamp of the mount's clock, later than every stamp
// returned before.
func (fsys *FS) tick() uint64 { return fsys.clock.Add(1) }

// afterLook runs the test hook, if any.
func (fsys *FS) afterLook(op, key string) {
	if fsys.cfg.afterLook != nil {
		fsys.cfg.afterLook(op, key)
	}
}

// New builds the filesystem over store, writing through wb.
func New(store Bucket, wb *writeback.Manager, cfg Config) (*FS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withLogger()
	mc, err := ristretto.NewCache(&ristretto.Config[string, attr]{
		NumCounters: 1 << 20, MaxCost: 100_000, BufferItems: 64, IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	fsys := &FS{cfg: cfg, store: store, wb: wb, log: cfg.Logger, meta: mc, self: uint32(os.Getuid()),
		now: time.Now}
	if cfg.now != nil {
		fsys.now = cfg.now
	}
	fsys.dying = func(pid, uid uint32) bool { return callerDying(pid, uid, fsys.self) }
	fsys.root = &dirNode{node: node{fsys: fsys}, loaded: true}
	fsys.root.a = attr{mode: syscall.S_IFDIR | cfg.DirMode, uid: cfg.UID, gid: cfg.GID, mtime: time.Now()}
	return fsys, nil
}

// Root is the node to mount.
func (fsys *FS) Root() fusefs.InodeEmbedder { return fsys.root }

// Close releases the caches. Pending writes are the writeback manager's.
func (fsys *FS) Close() { fsys.meta.Close() }

// MountOptions returns the go-fuse options obsfs mounts with: kernel
// entry caching for the stat-cache TTL (attributes: per reply), 1 MiB writes, and a
// panic handler that turns a bug into EIO instead of a dead mount.
//
// Every node fills in its whole mode and owner, so go-fuse must take them
// as they are: NullPermissions keeps a mode of 0000 (go-fuse would show
// 0644), and Options.UID/GID stay unset (go-fuse would show an owner of
// uid 0 — root — as the mounting user).
func (fsys *FS) MountOptions() *fusefs.Options {
	ttl := fsys.cfg.StatCacheTTL
	return &fusefs.Options{
		EntryTimeout:    &ttl,
		NegativeTimeout: &ttl,
		// No AttrTimeout: every reply sets its own, and go-fuse would
		// replace a timeout of 0 (attributes the kernel must not keep:
		// dirattr.go) with it.
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			// findmnt shows BUCKET[:PREFIX] as the source, of type
			// fuse.obsfs (go-fuse escapes commas for fusermount3).
			FsName:        strings.TrimSuffix(strings.TrimSuffix(fsys.cfg.Bucket+":"+fsys.cfg.Prefix, "/"), ":"),
			Name:          "obsfs",
			MaxWrite:      1 << 20,
			MaxReadAhead:  1 << 20,
			MaxBackground: 64,
			// Replies come from memory; splice would only add a pipe, and
			// fails for 1 MiB reads (reply + header > pipe size).
			DisableSplice: true,
			Options:       []string{"default_permissions"},
			PanicHandler: func(p any) fuse.Status {
				fsys.log.WithField("panic", fmt.Sprint(p)).Error("internal error in a filesystem operation (returned EIO)")
				return fuse.EIO
			},
		},
	}
}

// keyFor maps a path relative to the mount root to an object key; a
// last component that is an alias (FileAliasSuffix) maps to the object
// it stands for.
func (fsys *FS) keyFor(rel string) string {
	i := strings.LastIndexByte(rel, '/') + 1
	return keyIn(fsys.cfg.Prefix+rel[:i], rel[i:])
}

// keyIn is the key of name in the directory of prefix parentKey.
func keyIn(parentKey, name string) string {
	if base, ok := aliasTarget(name); ok {
		return parentKey + base
	}
	return parentKey + name
}

// metaKey names a version in the metadata cache.
func metaKey(key, etag string) string { return key + "\x00" + etag }

func (fsys *FS) rememberMeta(key, etag string, a attr) {
	if etag != "" {
		fsys.meta.Set(metaKey(key, etag), a, 1)
	}
}

func (fsys *FS) knownMeta(key, etag string) (attr, bool) {
	if etag == "" {
		return attr{}, false
	}
	return fsys.meta.Get(metaKey(key, etag))
}

// defaultFile and defaultDir are the attributes of objects without
// metadata.
func (fsys *FS) defaultFile(mtime time.Time) attr {
	return attr{mode: syscall.S_IFREG | fsys.cfg.FileMode, uid: fsys.cfg.UID, gid: fsys.cfg.GID, mtime: mtime}
}

func (fsys *FS) defaultDir(mtime time.Time) attr {
	return attr{mode: syscall.S_IFDIR | fsys.cfg.DirMode, uid: fsys.cfg.UID, gid: fsys.cfg.GID, mtime: mtime}
}

// caller returns the uid and gid of the process making a request.
func (fsys *FS) caller(ctx context.Context) (uint32, uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return fsys.cfg.UID, fsys.cfg.GID
}

// checkName validates a new name and returns its key: ENAMETOOLONG past
// 1024 bytes of key, EILSEQ for names that are not UTF-8 (object keys
// must be), EINVAL for names the store cannot hold.
func (fsys *FS) checkName(parentKey, name string, dir bool) (string, syscall.Errno) {
	key := parentKey + name
	if dir {
		key += "/"
	}
	if len(key) > obsclient.MaxKeyLength {
		return "", syscall.ENAMETOOLONG
	}
	if !utf8.ValidString(name) {
		return "", syscall.EILSEQ
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return "", syscall.EINVAL
	}
	if name == StagingDir && parentKey == fsys.cfg.Prefix {
		return "", syscall.EACCES // reserved for staged parts
	}
	if _, ok := aliasTarget(name); ok {
		return "", syscall.EACCES // reserved for objects hidden by a directory
	}
	return key, 0
}

// node is embedded by every node type.
type node struct {
	fusefs.Inode
	fsys *FS
}

// relPath is the node's path relative to the mount root ("" for the root).
func (n *node) relPath() string { return n.Path(n.fsys.root.EmbeddedInode()) }

func fillAttr(out *fuse.Attr, a attr, size int64, ino uint64) {
	out.Mode = a.mode
	out.Size = uint64(size)
	out.Blocks = (uint64(size) + 511) / 512
	out.Blksize = 1 << 20
	out.Nlink = 1
	if a.mode&syscall.S_IFMT == syscall.S_IFDIR {
		out.Nlink = 2
	}
	out.Uid, out.Gid = a.uid, a.gid
	out.Ino = ino
	sec, nsec := uint64(a.mtime.Unix()), uint32(a.mtime.Nanosecond())
	out.Mtime, out.Mtimensec = sec, nsec
	out.Ctime, out.Ctimensec = sec, nsec
	out.Atime, out.Atimensec = sec, nsec
}

var (
	_ = (fusefs.NodeStatfser)((*dirNode)(nil))
	_ = (fusefs.NodeStatfser)((*fileNode)(nil))
	_ = (fusefs.NodeStatfser)((*linkNode)(nil))
)

// Statfs answers for every node (directories, files and links embed
// node): statfs(2) of a file's path asks the file's node, and without an
// answer go-fuse replies all zeros — a block size of 0, which a program
// dividing by it does not survive. It reports a very large, mostly free
// filesystem: object stores have no fixed capacity.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const blocks = 1 << 50 / 4096 // 1 PiB in 4 KiB blocks
	out.Bsize, out.Frsize = 4096, 4096
	out.Blocks, out.Bfree, out.Bavail = blocks, blocks, blocks
	out.Files, out.Ffree = 1<<40, 1<<40
	out.NameLen = 255
	return 0
}
