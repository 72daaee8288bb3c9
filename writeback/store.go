package writeback

import (
	"context"
	"errors"

	"github.com/obsfs/obsfs/obsclient"
)

// Store is the object store as the write-back layer uses it.
// *obsclient.Client satisfies it; tests use obsclient/obsfake.
//
// Contract:
//   - Every method honours ctx: when ctx is done it returns promptly with
//     an error wrapping ctx.Err().
//   - Methods are safe for concurrent use, including concurrent uploads of
//     different part numbers of one upload. Callers never upload the same
//     part number of one upload concurrently (last writer would win).
//   - UploadPart is idempotent per part number: a new upload with the same
//     number replaces the earlier part. UploadPartCopy likewise.
//     CompleteMultipartUpload is not idempotent; the store resolves an
//     ambiguous failure itself (see obsclient) and returns either success or
//     an error after which the upload must be aborted.
//   - AbortMultipartUpload of an upload that no longer exists succeeds.
//   - GetObject returns a body the caller must close. With a range it
//     returns exactly the bytes asked for (or fewer at the object's end)
//     or an error, never other bytes.
//   - Bodies given to UploadPart/PutObject implement io.ReaderAt and
//     io.Seeker and stay unchanged until the call returns; the store may
//     read them several times (hashing, retries) and never closes them.
//   - Failures of the service come back as *obsclient.Error (errors.As),
//     carrying the request ID; obsclient.IsNotFound and
//     obsclient.IsPreconditionFailed classify them.
//   - PutObject and CompleteMultipartUpload honour IfMatch/IfNoneMatch
//     with a 412 (or 404 NoSuchKey for IfMatch of a missing key), unless
//     Config.Conditions says the store ignores them (conditions.go).
type Store interface {
	InitiateMultipartUpload(ctx context.Context, in *obsclient.InitiateMultipartUploadInput) (*obsclient.InitiateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *obsclient.UploadPartInput) (*obsclient.UploadPartOutput, error)
	UploadPartCopy(ctx context.Context, in *obsclient.UploadPartCopyInput) (*obsclient.UploadPartCopyOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *obsclient.CompleteMultipartUploadInput) (*obsclient.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *obsclient.AbortMultipartUploadInput) (*obsclient.AbortMultipartUploadOutput, error)
	PutObject(ctx context.Context, in *obsclient.PutObjectInput) (*obsclient.PutObjectOutput, error)
	HeadObject(ctx context.Context, in *obsclient.HeadObjectInput) (*obsclient.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *obsclient.GetObjectInput) (*obsclient.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *obsclient.DeleteObjectInput) (*obsclient.DeleteObjectOutput, error)
}

var _ Store = (*obsclient.Client)(nil)

// Version identifies the committed content of an object: what the store
// holds for the key. ETag changes whenever the content does.
type Version struct {
	Exists bool
	Size   int64
	ETag   string
}

// Errors returned by File operations (besides wrapped store errors).
var (
	// ErrFileTooLarge: a write or truncate beyond the largest file the part
	// layout can hold (10,000 parts).
	ErrFileTooLarge = errors.New("writeback: file exceeds the maximum object size for this part size")
	// ErrClosed: the manager is shut down.
	ErrClosed = errors.New("writeback: manager closed")
	// ErrConflict: the object changed in the store while this file was
	// being edited, so the unchanged ranges can no longer be copied from it.
	ErrConflict = errors.New("writeback: object changed in the store during the edit")
)

// Cache holds clean, immutable data: blocks read from the store and pages
// whose upload succeeded. It may drop anything at any time (Set may be
// refused, entries may be evicted); it never holds the only copy of data
// that is not yet durable.
//
// Values are reference-counted Pages (page.go): a Cache that keeps a page
// takes a reference of its own and releases it when the entry leaves, and
// Get hands the caller a reference of its own, which the caller releases.
type Cache interface {
	// Get returns the page under key with a reference for the caller, or
	// nil.
	Get(key string) *Page
	// Set offers p under key. The caller keeps its own reference.
	Set(key string, p *Page)
	Del(key string)
}

// NopCache caches nothing.
type NopCache struct{}

func (NopCache) Get(string) *Page  { return nil }
func (NopCache) Set(string, *Page) {}
func (NopCache) Del(string)        {}

// copyPart copies bytes [start, end) of version etag of srcKey into part
// number part of upload uploadID of key, server-side, with the mount's
// SSE-C key on both sides.
func (m *Manager) copyPart(ctx context.Context, key, uploadID string, part int, srcKey, etag string, start, end int64) (*obsclient.UploadPartCopyOutput, error) {
	return m.store.UploadPartCopy(ctx, &obsclient.UploadPartCopyInput{
		Bucket: m.cfg.Bucket, Key: key, UploadID: uploadID, PartNumber: part,
		SourceBucket: m.cfg.Bucket, SourceKey: srcKey,
		SourceRange: &obsclient.Range{Start: start, End: end - 1}, SourceIfMatch: etag,
		SseC: m.cfg.SSE.SseC, SseCKey: m.cfg.SSE.SseCKey,
		SourceSseC: m.cfg.SSE.SseC, SourceSseCKey: m.cfg.SSE.SseCKey,
	})
}
