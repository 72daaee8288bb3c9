// Package fs is the FUSE face of obsfs: a go-fuse v2 node tree over an
// object-store bucket (optionally under a key prefix).
//
// Files are objects; directories are key prefixes, shown whether or not a
// "dir/" marker object exists. File contents go through writeback.File:
// writes are buffered in parts and uploaded while the application writes,
// and close(2) (FUSE FLUSH) of a descriptor that wrote returns 0 only once
// the object is durable in the bucket. See README.md, "Semantics".
//
// A file unlinked while open stays usable through its descriptors until
// the last close, its data under a hidden key (unlinked.go). Permissions
// are checked by the kernel against the attributes obsfs gives it, and by
// obsfs where the kernel could only see a listing's defaults (cred.go).
//
// Only this package imports go-fuse and syscall errnos. All store errors
// are mapped to errnos in one place, toErrno, which logs the original error
// with its request ID.
//
// Store operations run under an operation context (opctx.go), not the
// FUSE request's: an interrupt (including the SIGURG preemption signals
// Go programs send themselves) must never abort an upload half way or
// turn a successful write into EINTR. The operation context has one time
// budget (Config.OpTimeout, then EIO) and ends as soon as the calling
// process is being killed, so a killed program is released at once; the
// store work it started (a commit) goes on in the background, bounded by
// its own deadline, and its outcome is logged.
//
// Listings and lookups race with this mount's own changes: a commit (a
// close, fsync or truncate) does not hold the directory, so a listing or
// HEAD that asked the store before a commit may be answered after it. Every
// answer is stamped with the mount's clock before the store is asked, every
// change after it is made; an answer never overwrites what a node or the
// cached listing learned later (fileNode.seen, dirNode.changes).
//
// Lock order: FS.renameMu, then fileNode.mu, then dirNode.mu (a commit
// notes the new version in its directory's cached listing while holding
// the file's lock). go-fuse's tree locks are leaves: obsfs calls into
// go-fuse with its own locks held, never the other way round.
//
// Metrics: Instrument (metrics.go) wraps the RawFileSystem built from the
// node tree to time every FUSE request and count the bytes programs read
// and write, for an OpObserver (cmd/obsfs feeds Prometheus from it).
//
// Tests: unit tests use obsclient/obsfake (an in-memory store) and a hostile
// cache; integration/ runs the real binary on a real FUSE mount against a
// real MinIO.
package fs
