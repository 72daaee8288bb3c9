// Package writeback turns the writes of open files into multipart uploads
// while the application is still writing, and serves their reads.
//
// A File is the content of one object while it is open: the committed
// version in the store plus the changes not yet committed. Writes are cut
// into parts of a layout whose part size grows with the file (8 MiB for
// the first 1,000 parts, doubling every 1,000, up to 4 GiB), so a file of
// unknown size can be streamed and still reach ~7.8 TiB within the
// 10,000-part limit. A part whose bytes have all been written is sealed
// and uploaded at once as part number idx+1, each with its own signed
// UploadPart carrying Content-MD5, in parallel across files under one
// mount-wide limit (Config.Concurrency). Flush commits: the remaining parts
// are uploaded, unchanged ranges of the committed version are copied
// server-side (UploadPartCopy), holes are filled with zeros, and the upload
// is completed; a file smaller than one part is a single PutObject.
//
// Guarantees:
//
//   - Flush returning nil means the store holds exactly the file's bytes.
//     A failure that the client's retries cannot fix is returned by Flush
//     (and by every later operation: errors are sticky), the multipart upload
//     is aborted, and the store keeps the previous version of the object.
//   - Memory: every byte not yet durable is charged to one budget
//     (Config.WriteBuffer) before it is buffered; a writer that would exceed
//     it waits for uploads to finish. If the budget is full of partly
//     written parts that nothing would upload, the least recently written
//     file is committed early. Parts too large to hold in memory are
//     "staged": assembled as temporary objects and copied in (staged.go).
//   - The Cache (ristretto) only ever holds clean, immutable bytes: pages
//     of committed versions and of parts already uploaded, keyed by version
//     or upload ID. It may drop anything; nothing depends on it, it only
//     saves requests. Data of a part uploaded into an incomplete upload
//     that the cache lost is recovered by committing the upload first.
//   - With Config.Journal, every multipart upload is journaled after it
//     is initiated and before its first part is sent, and every staged
//     part's temporary object before it can exist, until the upload is
//     completed or aborted and the object deleted (journal.go): a later
//     mount cleans up after a crash.
//   - Background work runs under the manager's context, never under the
//     request context of the operation that started it; aborts run on a
//     fresh context.
//   - Bounded, killable waits (wait.go): every wait an operation can block
//     in (write buffer, parts uploading, a commit running) ends when the
//     operation's context does. A commit runs in a goroutine of its own:
//     Flush returns when its context ends while the commit goes on to its
//     end and logs the outcome. A commit fails with ErrStalled once its
//     store work has made no progress for Config.CommitTimeout, and its
//     upload is aborted. Reads do not retry on top of the store's retries;
//     they only fetch again a response body cut short.
//
// Manager.Progress lists the open files with changes not yet in the store
// (bytes written, bytes in acknowledged parts, parts, rate), and
// Manager.Lookup answers for one key: pending, or the outcome of its last
// commit or failure among the last OutcomeLimit recorded (progress.go, for
// `obsfs status`).
//
// Manager.Stats (stats.go) is a snapshot of atomic counters and gauges
// for metrics: parts in flight, write-buffer use and waits, early commits,
// open uploads, cache hits and misses.
//
// Each part of a File is in one named state — base (the committed
// version below File.baseLimit, zeros above), filling, uploading,
// uploaded, staged or copying — held in File.parts, and changes state only
// through the transitions in parts.go. Reads, commits, writes and
// truncates switch on the state. Invariants, checked after every
// transition in tests and in builds with -tags obsfscheck
// (File.checkLocked): one state per part with that state's fields only;
// the budget charged to a file equals the bytes its filling and uploading
// buffers reserve, and covers their memory; an uploading buffer is sealed,
// full and does not change until its upload ends; an uploaded part has its
// layout size, lies inside the file and belongs to a started upload;
// nothing lies past the file's size but an empty staged part opened for a
// write under way; staged parts only where the part is too large for
// memory, buffers only where it is not; File.stagedBusy counts the
// staged parts' users and copies.
//
// Lock order, outermost first: the fs node locks (fs/doc.go: FS.renameMu,
// fileNode.mu, dirNode.mu; fs calls a File with its node's lock held),
// then File.mu, then File.mu of one of that file's staged parts (a parent
// calls its staged part's File with its own lock held in truncate,
// openStagedLocked and the invariant check; in writeMem, read and
// copyStaged it marks the part busy (refs) and lets go first; a staged
// part's File never calls its parent), then
// Stream.mu, then readAhead.mu. Leaves, holding which no other lock is
// taken: Manager.mu (the set of open files: relieve copies it and lets go
// before it asks each file), the upload tracker's and the outcomes'
// locks, and the journal's. Waits for write-buffer space (budget), for an
// upload slot and for a commit or part in flight happen with File.mu
// released (cond.Wait in wait.go, or before it is taken).
//
// Tests use obsclient/obsfake as the Store and a cache that drops every
// Set (hostileCache in the tests); model_test.go checks random operation
// sequences against an in-memory model with injected store failures.
package writeback
