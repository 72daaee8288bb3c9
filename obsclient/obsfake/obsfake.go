// Package obsfake is an in-memory object store with the method set of
// *obsclient.Client, for unit tests and fault injection. It keeps S3
// semantics that the mount relies on: multipart uploads whose parts can be
// overwritten, Complete checking part ETags and the minimum part size, ranged and conditional GETs, copies with copy-source-if-match, conditional
// PUT and Complete (If-Match, If-None-Match),
// listings with prefix, delimiter and markers. Errors are *obsclient.Error
// with a request ID, as the real client returns them; keys and metadata the
// client refuses before sending are refused alike (ErrInvalidArgument).
//
// Faults: set Fault to fail, delay or observe any call. Integration tests
// use a real MinIO instead (see integration/).
//
// Conformance: the suite in obsclient/storetest runs against this fake
// (TestConformance) and against MinIO (integration's TestStoreConformance)
// and holds both to one behaviour: ETags (MD5 for PUT, copies and parts;
// MD5-of-MD5s-N for Complete), range answers, refusal codes, listing order
// and pagination, Last-Modified in milliseconds in listings and whole
// seconds from HEAD and GET, metadata names lowercased and values trimmed
// of blanks, binary/octet-stream as the default type. Deliberate
// differences from MinIO, where the fake answers as S3 and OBS do:
//   - HeadObject of a missing key fails with code NotFound (a bare 404, as
//     OBS and S3 send it); MinIO names it NoSuchKey in a header.
//   - An object d and keys under d/ are all listed; MinIO hides the keys
//     under d/.
//   - Listings with max-keys 1 continue after a page holding only a key d/
//     that is also an object; MinIO ends the listing there.
//   - ListMultipartUploads is sorted by key and upload ID, honours
//     MaxUploads and takes Prefix as a prefix; MinIO lists in initiation
//     order, in one page, and takes Prefix as one exact key.
//
// The bucket name is ignored: a Store is one bucket.
package obsfake

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/obsfs/obsfs/obsclient"
)

// Store is the fake. The zero value is not usable; call New.
type Store struct {
	// MinPartSize is the minimum size of every part but the last, checked at
	// Complete (S3: 5 MiB). Set it before use.
	MinPartSize int64
	// Fault, if set, runs before every call with the operation name (the
	// method name, e.g. "UploadPart") and the input; a non-nil error is
	// returned instead of performing the call.
	Fault func(op string, in any) error

	mu      sync.Mutex
	objects map[string]*object // guarded by mu
	uploads map[string]*mpu    // guarded by mu
	seq     int                // guarded by mu
	calls   map[string]int     // guarded by mu
	bytesIn int64              // guarded by mu: payload bytes received
	bytesCp int64              // guarded by mu: bytes copied server-side
	now     func() time.Time
}

type object struct {
	data  []byte
	etag  string
	meta  map[string]string
	ctype string
	mtime time.Time
	// uploadID of the multipart upload that produced it ("" for PUT/copy).
	uploadID string
}

type mpu struct {
	key       string
	meta      map[string]string
	ctype     string
	parts     map[int]*part
	initiated time.Time
}

type part struct {
	data  []byte
	etag  string
	mtime time.Time
}

// New returns an empty store with the S3 minimum part size.
func New() *Store {
	return &Store{
		MinPartSize: obsclient.MinPartSizeS3,
		objects:     map[string]*object{},
		uploads:     map[string]*mpu{},
		calls:       map[string]int{},
		now:         time.Now,
	}
}

// Calls returns how many times op was called (including faulted calls).
func (s *Store) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// BytesUploaded returns the payload bytes received by PutObject and
// UploadPart; BytesCopied the bytes copied by UploadPartCopy/CopyObject.
func (s *Store) BytesUploaded() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytesIn
}

// BytesCopied returns the bytes copied server-side.
func (s *Store) BytesCopied() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytesCp
}

// Object returns a copy of the stored bytes of key.
func (s *Store) Object(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), o.data...), true
}

// Keys returns every key, sorted.
func (s *Store) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.objects))
	for k := range s.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Uploads returns the number of multipart uploads in progress.
func (s *Store) Uploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.uploads)
}

// enter counts the call and runs the fault hook.
func (s *Store) enter(ctx context.Context, op string, in any) error {
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("obs %s: %w", op, err)
	}
	if err := validate(in); err != nil {
		return fmt.Errorf("obs %s: %w", op, err)
	}
	if s.Fault != nil {
		if err := s.Fault(op, in); err != nil {
			return err
		}
	}
	return nil
}

// validate refuses the keys and metadata that *obsclient.Client refuses
// before sending (errors wrap obsclient.ErrInvalidArgument).
func validate(in any) error {
	key := obsclient.ValidateKey
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", obsclient.ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	part := func(n int) error {
		if n < 1 || n > obsclient.MaxPartNumber {
			return invalid("part number %d is outside 1..%d", n, obsclient.MaxPartNumber)
		}
		return nil
	}
	page := func(n int) error {
		if n < 0 || n > 1000 {
			return invalid("page size %d is outside 0..1000", n)
		}
		return nil
	}
	switch v := in.(type) {
	case *obsclient.PutObjectInput:
		return errors.Join(key(v.Key), obsclient.ValidateMetadata(v.Metadata))
	case *obsclient.InitiateMultipartUploadInput:
		return errors.Join(key(v.Key), obsclient.ValidateMetadata(v.Metadata))
	case *obsclient.CopyObjectInput:
		return errors.Join(key(v.Key), key(v.SourceKey), obsclient.ValidateMetadata(v.Metadata))
	case *obsclient.UploadPartCopyInput:
		if r := v.SourceRange; r != nil && (r.Start < 0 || r.End < r.Start) {
			return invalid("copy source range %d-%d is invalid", r.Start, r.End)
		}
		return errors.Join(key(v.Key), key(v.SourceKey), part(v.PartNumber))
	case *obsclient.UploadPartInput:
		return errors.Join(key(v.Key), part(v.PartNumber))
	case *obsclient.CompleteMultipartUploadInput:
		if len(v.Parts) == 0 || len(v.Parts) > obsclient.MaxPartNumber {
			return invalid("Complete takes 1..%d parts, got %d", obsclient.MaxPartNumber, len(v.Parts))
		}
		seen := map[int]bool{}
		for _, p := range v.Parts {
			if seen[p.PartNumber] || p.ETag == "" {
				return invalid("part %d listed twice or without an ETag", p.PartNumber)
			}
			seen[p.PartNumber] = true
			if err := part(p.PartNumber); err != nil {
				return err
			}
		}
		return key(v.Key)
	case *obsclient.HeadObjectInput:
		return key(v.Key)
	case *obsclient.GetObjectInput:
		if r := v.Range; r != nil && (r.Start < 0 || r.End >= 0 && r.End < r.Start) {
			return invalid("range %d-%d is invalid", r.Start, r.End)
		}
		return key(v.Key)
	case *obsclient.DeleteObjectInput:
		return key(v.Key)
	case *obsclient.DeleteObjectsInput:
		if len(v.Objects) == 0 || len(v.Objects) > obsclient.MaxDeleteObjects {
			return invalid("DeleteObjects takes 1..%d keys, got %d", obsclient.MaxDeleteObjects, len(v.Objects))
		}
		for _, o := range v.Objects {
			if err := key(o.Key); err != nil {
				return err
			}
			if !xmlSafe(o.Key) {
				return invalid("key %q has a character XML 1.0 cannot carry; use DeleteObject", o.Key)
			}
		}
	case *obsclient.ListObjectsInput:
		return page(v.MaxKeys)
	case *obsclient.ListPartsInput:
		return page(v.MaxParts)
	case *obsclient.ListMultipartUploadsInput:
		return page(v.MaxUploads)
	}
	return nil
}

// xmlSafe reports whether s survives an XML 1.0 text node unchanged (as
// the client's check before DeleteObjects).
func xmlSafe(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// reqIDLocked returns a new request ID. Called with mu held.
func (s *Store) reqIDLocked() string {
	s.seq++
	return fmt.Sprintf("fake-%d", s.seq)
}

// errLocked builds a service error with a request ID. Called with mu held.
func (s *Store) errLocked(status int, code, msg string) error {
	return &obsclient.Error{Status: status, Code: code, Message: msg, RequestID: s.reqIDLocked()}
}

func md5hex(p []byte) string {
	sum := md5.Sum(p)
	return hex.EncodeToString(sum[:])
}

func quote(s string) string { return `"` + s + `"` }

func unquote(s string) string { return strings.Trim(s, `"`) }

// readBody reads a body the way the client would send it.
func readBody(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	return io.ReadAll(r)
}

func checkMD5(p []byte, given string) bool {
	if given == "" {
		return true
	}
	sum := md5.Sum(p)
	return base64.StdEncoding.EncodeToString(sum[:]) == given
}

// contentType is the type a store records for an object written with
// type t: S3 and MinIO default it to binary/octet-stream.
func contentType(t string) string {
	if t == "" {
		return "binary/octet-stream"
	}
	return t
}

// copyMeta copies metadata as a store records it: names lowercased,
// values without the surrounding blanks that HTTP header parsing drops.
func copyMeta(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = strings.Trim(v, " \t")
	}
	return out
}

// InitiateMultipartUpload starts an upload.
func (s *Store) InitiateMultipartUpload(ctx context.Context, in *obsclient.InitiateMultipartUploadInput) (*obsclient.InitiateMultipartUploadOutput, error) {
	if err := s.enter(ctx, "InitiateMultipartUpload", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("fake-upload-%06d-%s", s.seq, strings.Repeat("x", 40))
	s.uploads[id] = &mpu{key: in.Key, meta: copyMeta(in.Metadata), ctype: contentType(in.ContentType), parts: map[int]*part{}, initiated: s.now()}
	return &obsclient.InitiateMultipartUploadOutput{RequestID: s.reqIDLocked(), Bucket: in.Bucket, Key: in.Key, UploadID: id}, nil
}

// UploadPart stores a part (replacing an earlier one with the same number).
func (s *Store) UploadPart(ctx context.Context, in *obsclient.UploadPartInput) (*obsclient.UploadPartOutput, error) {
	if err := s.enter(ctx, "UploadPart", in); err != nil {
		return nil, err
	}
	data, err := readBody(in.Body)
	if err != nil {
		return nil, fmt.Errorf("obs UploadPart: reading body: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[in.UploadID]
	if !ok || u.key != in.Key {
		return nil, s.errLocked(404, "NoSuchUpload", "The specified multipart upload does not exist.")
	}
	if !checkMD5(data, in.ContentMD5) {
		return nil, s.errLocked(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	s.bytesIn += int64(len(data))
	etag := quote(md5hex(data))
	u.parts[in.PartNumber] = &part{data: data, etag: etag, mtime: s.now()}
	return &obsclient.UploadPartOutput{RequestID: s.reqIDLocked(), ETag: etag}, nil
}

// UploadPartCopy copies a range of an object into a part.
func (s *Store) UploadPartCopy(ctx context.Context, in *obsclient.UploadPartCopyInput) (*obsclient.UploadPartCopyOutput, error) {
	if err := s.enter(ctx, "UploadPartCopy", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[in.UploadID]
	if !ok || u.key != in.Key {
		return nil, s.errLocked(404, "NoSuchUpload", "The specified multipart upload does not exist.")
	}
	src, ok := s.objects[in.SourceKey]
	if !ok {
		return nil, s.errLocked(404, "NoSuchKey", "The specified key does not exist.")
	}
	if in.SourceIfMatch != "" && unquote(in.SourceIfMatch) != unquote(src.etag) {
		return nil, s.errLocked(412, "PreconditionFailed", "copy-source-if-match failed")
	}
	data := src.data
	if r := in.SourceRange; r != nil {
		// As MinIO: a range starting past the end is unsatisfiable, one
		// ending past it invalid.
		if r.Start >= int64(len(data)) {
			return nil, s.errLocked(416, "InvalidRange", "The requested range is not satisfiable")
		}
		if r.End >= int64(len(data)) || r.Start > r.End || r.Start < 0 {
			return nil, s.errLocked(400, "InvalidArgument", "Range specified is not valid for source object")
		}
		data = data[r.Start : r.End+1]
	}
	data = append([]byte(nil), data...)
	s.bytesCp += int64(len(data))
	etag := quote(md5hex(data))
	u.parts[in.PartNumber] = &part{data: data, etag: etag, mtime: s.now()}
	return &obsclient.UploadPartCopyOutput{RequestID: s.reqIDLocked(), ETag: etag, LastModified: s.now()}, nil
}

// CompleteMultipartUpload assembles the listed parts.
func (s *Store) CompleteMultipartUpload(ctx context.Context, in *obsclient.CompleteMultipartUploadInput) (*obsclient.CompleteMultipartUploadOutput, error) {
	if err := s.enter(ctx, "CompleteMultipartUpload", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[in.UploadID]
	if !ok || u.key != in.Key {
		return nil, s.errLocked(404, "NoSuchUpload", "The specified multipart upload does not exist.")
	}
	if err := s.checkConditionsLocked(in.Key, in.IfMatch, in.IfNoneMatch); err != nil {
		return nil, err
	}
	// The client sends the parts sorted by number, whatever the order given.
	parts := append([]obsclient.CompletedPart(nil), in.Parts...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	var buf bytes.Buffer
	h := md5.New()
	for i, p := range parts {
		up, ok := u.parts[p.PartNumber]
		if !ok || unquote(up.etag) != unquote(p.ETag) {
			return nil, s.errLocked(400, "InvalidPart", fmt.Sprintf("part %d missing or ETag mismatch", p.PartNumber))
		}
		if i < len(parts)-1 && int64(len(up.data)) < s.MinPartSize {
			return nil, s.errLocked(400, "EntityTooSmall", fmt.Sprintf("part %d has %d bytes", p.PartNumber, len(up.data)))
		}
		buf.Write(up.data)
		raw, _ := hex.DecodeString(unquote(up.etag))
		h.Write(raw)
	}
	etag := quote(fmt.Sprintf("%x-%d", h.Sum(nil), len(parts)))
	s.objects[in.Key] = &object{data: buf.Bytes(), etag: etag, meta: u.meta, ctype: u.ctype, mtime: s.mtimeLocked(), uploadID: in.UploadID}
	delete(s.uploads, in.UploadID)
	return &obsclient.CompleteMultipartUploadOutput{RequestID: s.reqIDLocked(), Bucket: in.Bucket, Key: in.Key, ETag: etag}, nil
}

// AbortMultipartUpload discards an upload; a missing one counts as aborted.
func (s *Store) AbortMultipartUpload(ctx context.Context, in *obsclient.AbortMultipartUploadInput) (*obsclient.AbortMultipartUploadOutput, error) {
	if err := s.enter(ctx, "AbortMultipartUpload", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.uploads, in.UploadID)
	return &obsclient.AbortMultipartUploadOutput{RequestID: s.reqIDLocked()}, nil
}

// ListParts lists an upload's parts (one page of up to MaxParts).
func (s *Store) ListParts(ctx context.Context, in *obsclient.ListPartsInput) (*obsclient.ListPartsOutput, error) {
	if err := s.enter(ctx, "ListParts", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[in.UploadID]
	if !ok || u.key != in.Key {
		return nil, s.errLocked(404, "NoSuchUpload", "The specified multipart upload does not exist.")
	}
	nums := make([]int, 0, len(u.parts))
	for n := range u.parts {
		if n > in.PartNumberMarker {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	max := in.MaxParts
	if max == 0 {
		max = 1000
	}
	out := &obsclient.ListPartsOutput{Bucket: in.Bucket, Key: u.key, UploadID: in.UploadID}
	for i, n := range nums {
		if i == max {
			out.IsTruncated = true
			break
		}
		p := u.parts[n]
		out.Parts = append(out.Parts, obsclient.Part{PartNumber: n, ETag: p.etag, Size: int64(len(p.data)), LastModified: p.mtime})
		out.NextPartNumberMarker = n
	}
	return out, nil
}

// ListMultipartUploads lists uploads in (key, upload ID) order: prefix
// filter, pages of MaxUploads (default 1000) after KeyMarker and
// UploadIDMarker (no delimiter).
func (s *Store) ListMultipartUploads(ctx context.Context, in *obsclient.ListMultipartUploadsInput) (*obsclient.ListMultipartUploadsOutput, error) {
	if err := s.enter(ctx, "ListMultipartUploads", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []obsclient.Upload
	for id, u := range s.uploads {
		after := u.key > in.KeyMarker || u.key == in.KeyMarker && in.UploadIDMarker != "" && id > in.UploadIDMarker
		if strings.HasPrefix(u.key, in.Prefix) && (in.KeyMarker == "" || after) {
			all = append(all, obsclient.Upload{Key: u.key, UploadID: id, Initiated: u.initiated})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		return a.Key < b.Key || a.Key == b.Key && a.UploadID < b.UploadID
	})
	max := in.MaxUploads
	if max == 0 {
		max = 1000
	}
	out := &obsclient.ListMultipartUploadsOutput{Uploads: all}
	if len(all) > max {
		out.Uploads, out.IsTruncated = all[:max], true
		last := all[max-1]
		out.NextKeyMarker, out.NextUploadIDMarker = last.Key, last.UploadID
	}
	return out, nil
}

// PutObject stores an object.
func (s *Store) PutObject(ctx context.Context, in *obsclient.PutObjectInput) (*obsclient.PutObjectOutput, error) {
	if err := s.enter(ctx, "PutObject", in); err != nil {
		return nil, err
	}
	data, err := readBody(in.Body)
	if err != nil {
		return nil, fmt.Errorf("obs PutObject: reading body: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !checkMD5(data, in.ContentMD5) {
		return nil, s.errLocked(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	if err := s.checkConditionsLocked(in.Key, in.IfMatch, in.IfNoneMatch); err != nil {
		return nil, err
	}
	s.bytesIn += int64(len(data))
	etag := quote(md5hex(data))
	s.objects[in.Key] = &object{data: data, etag: etag, meta: copyMeta(in.Metadata), ctype: contentType(in.ContentType), mtime: s.mtimeLocked()}
	return &obsclient.PutObjectOutput{RequestID: s.reqIDLocked(), ETag: etag}, nil
}

// checkConditionsLocked applies If-Match / If-None-Match of a write as
// MinIO and S3 do: 412 PreconditionFailed, or 404 NoSuchKey for If-Match
// of a missing key. Called with mu held.
func (s *Store) checkConditionsLocked(key, ifMatch, ifNoneMatch string) error {
	o, exists := s.objects[key]
	if ifMatch != "" {
		if !exists {
			return s.errLocked(404, "NoSuchKey", "The specified key does not exist.")
		}
		if ifMatch != "*" && unquote(ifMatch) != unquote(o.etag) {
			return s.errLocked(412, "PreconditionFailed", "If-Match failed")
		}
	}
	if ifNoneMatch != "" && exists && (ifNoneMatch == "*" || unquote(ifNoneMatch) == unquote(o.etag)) {
		return s.errLocked(412, "PreconditionFailed", "If-None-Match failed")
	}
	return nil
}

// mtimeLocked is the modification time of an object written now, in the
// millisecond precision of a listing. Called with mu held.
func (s *Store) mtimeLocked() time.Time { return s.now().Truncate(time.Millisecond) }

// infoLocked describes an object as HEAD and GET do: their Last-Modified
// header has whole seconds. Called with mu held.
func (s *Store) infoLocked(key string, o *object) obsclient.ObjectInfo {
	return obsclient.ObjectInfo{Key: key, Size: int64(len(o.data)), ETag: o.etag, LastModified: o.mtime.Truncate(time.Second),
		ContentType: o.ctype, Metadata: copyMeta(o.meta)}
}

// HeadObject returns an object's metadata.
func (s *Store) HeadObject(ctx context.Context, in *obsclient.HeadObjectInput) (*obsclient.HeadObjectOutput, error) {
	if err := s.enter(ctx, "HeadObject", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[in.Key]
	if !ok {
		return nil, s.errLocked(404, "NotFound", "Not Found")
	}
	return &obsclient.HeadObjectOutput{RequestID: s.reqIDLocked(), ObjectInfo: s.infoLocked(in.Key, o)}, nil
}

// GetObject returns an object or a range of it.
func (s *Store) GetObject(ctx context.Context, in *obsclient.GetObjectInput) (*obsclient.GetObjectOutput, error) {
	if err := s.enter(ctx, "GetObject", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[in.Key]
	if !ok {
		return nil, s.errLocked(404, "NoSuchKey", "The specified key does not exist.")
	}
	if in.IfMatch != "" && unquote(in.IfMatch) != unquote(o.etag) {
		return nil, s.errLocked(412, "PreconditionFailed", "If-Match failed")
	}
	data := o.data
	start := int64(0)
	if r := in.Range; r != nil {
		end := r.End
		if end < 0 || end >= int64(len(data)) {
			end = int64(len(data)) - 1
		}
		if r.Start >= int64(len(data)) {
			return nil, s.errLocked(416, "InvalidRange", "The requested range is not satisfiable")
		}
		start = r.Start
		data = data[start : end+1]
	}
	return &obsclient.GetObjectOutput{RequestID: s.reqIDLocked(), Body: io.NopCloser(bytes.NewReader(data)),
		ObjectInfo: s.infoLocked(in.Key, o), ContentLength: int64(len(data)), RangeStart: start}, nil
}

// DeleteObject deletes an object (a missing key succeeds).
func (s *Store) DeleteObject(ctx context.Context, in *obsclient.DeleteObjectInput) (*obsclient.DeleteObjectOutput, error) {
	if err := s.enter(ctx, "DeleteObject", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, in.Key)
	return &obsclient.DeleteObjectOutput{RequestID: s.reqIDLocked()}, nil
}

// DeleteObjects deletes several objects.
func (s *Store) DeleteObjects(ctx context.Context, in *obsclient.DeleteObjectsInput) (*obsclient.DeleteObjectsOutput, error) {
	if err := s.enter(ctx, "DeleteObjects", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &obsclient.DeleteObjectsOutput{}
	for _, o := range in.Objects {
		delete(s.objects, o.Key)
		if !in.Quiet {
			out.Deleted = append(out.Deleted, obsclient.DeletedObject{Key: o.Key})
		}
	}
	return out, nil
}

// CopyObject copies an object server-side.
func (s *Store) CopyObject(ctx context.Context, in *obsclient.CopyObjectInput) (*obsclient.CopyObjectOutput, error) {
	if err := s.enter(ctx, "CopyObject", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.objects[in.SourceKey]
	if !ok {
		return nil, s.errLocked(404, "NoSuchKey", "The specified key does not exist.")
	}
	if in.SourceIfMatch != "" && unquote(in.SourceIfMatch) != unquote(src.etag) {
		return nil, s.errLocked(412, "PreconditionFailed", "copy-source-if-match failed")
	}
	meta, ctype := src.meta, src.ctype
	if in.MetadataDirective == obsclient.MetadataReplace {
		meta, ctype = copyMeta(in.Metadata), contentType(in.ContentType)
	}
	data := append([]byte(nil), src.data...)
	s.bytesCp += int64(len(data))
	// The copy is a single-part object even if the source was not.
	etag := quote(md5hex(data))
	o := &object{data: data, etag: etag, meta: meta, ctype: ctype, mtime: s.mtimeLocked()}
	s.objects[in.Key] = o
	return &obsclient.CopyObjectOutput{RequestID: s.reqIDLocked(), ETag: etag, LastModified: o.mtime}, nil
}

// ListObjects lists keys under a prefix, rolling up at the delimiter.
func (s *Store) ListObjects(ctx context.Context, in *obsclient.ListObjectsInput) (*obsclient.ListObjectsOutput, error) {
	if err := s.enter(ctx, "ListObjects", in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.objects))
	for k := range s.objects {
		if strings.HasPrefix(k, in.Prefix) && k > in.Marker {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	max := in.MaxKeys
	if max == 0 {
		max = 1000
	}
	out := &obsclient.ListObjectsOutput{}
	seen := map[string]bool{}
	count := 0
	for _, k := range keys {
		if count == max {
			out.IsTruncated = true
			break
		}
		if in.Delimiter != "" {
			if i := strings.Index(k[len(in.Prefix):], in.Delimiter); i >= 0 {
				cp := k[:len(in.Prefix)+i+len(in.Delimiter)]
				if cp <= in.Marker || seen[cp] {
					continue
				}
				seen[cp] = true
				out.CommonPrefixes = append(out.CommonPrefixes, cp)
				out.NextMarker = cp
				count++
				continue
			}
		}
		o := s.objects[k]
		out.Contents = append(out.Contents, obsclient.ObjectInfo{Key: k, Size: int64(len(o.data)), ETag: o.etag, LastModified: o.mtime})
		out.NextMarker = k
		count++
	}
	if !out.IsTruncated {
		out.NextMarker = ""
	}
	return out, nil
}

// HeadBucket always succeeds.
func (s *Store) HeadBucket(ctx context.Context, bucket string) error {
	return s.enter(ctx, "HeadBucket", bucket)
}
