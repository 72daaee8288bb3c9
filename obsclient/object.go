package obsclient

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PutObjectInput uploads a whole object (0–5 GB) in one request.
type PutObjectInput struct {
	Bucket string
	Key    string
	// Body is the content; nil means an empty object. A Body that
	// implements io.ReaderAt and io.Seeker is sent from its current
	// position without copying; any other reader is read into memory.
	Body        io.Reader
	ContentMD5  string // computed when empty
	ContentType string
	Metadata    map[string]string
	// IfMatch makes the PUT fail with 412 (IsPreconditionFailed) unless
	// the object exists with this ETag; IfNoneMatch "*" makes it fail
	// unless no object has the key. See PutObject for retries.
	IfMatch     string
	IfNoneMatch string
	SSE
}

// PutObjectOutput is the result of PutObject.
type PutObjectOutput struct {
	RequestID string
	ETag      string
	VersionID string
	SSEResult
	// Recovered is true when a conditional PUT was refused (412) after an
	// earlier attempt had failed ambiguously, and HEAD showed that attempt
	// had stored this body.
	Recovered bool
}

// setConditions sets the If-Match / If-None-Match headers (standard HTTP
// headers in both dialects).
func setConditions(h http.Header, ifMatch, ifNoneMatch string) {
	if ifMatch != "" {
		h.Set("If-Match", ifMatch)
	}
	if ifNoneMatch != "" {
		h.Set("If-None-Match", ifNoneMatch)
	}
}

// readerBody turns an arbitrary reader into a re-readable body.
func readerBody(r io.Reader) (*body, error) {
	if r == nil {
		return &body{r: bytes.NewReader(nil)}, nil
	}
	if ra, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok {
		cur, err := ra.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, invalid("Body: %v", err)
		}
		end, err := ra.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, invalid("Body: %v", err)
		}
		if _, err := ra.Seek(cur, io.SeekStart); err != nil {
			return nil, invalid("Body: %v", err)
		}
		if end-cur > MaxPartSize {
			return nil, invalid("object of %d bytes exceeds the 5 GB single-request limit", end-cur)
		}
		return &body{r: ra, off: cur, n: end - cur}, nil
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxPartSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading Body: %w", err)
	}
	if len(data) > MaxPartSize {
		return nil, invalid("Body exceeds the 5 GB single-request limit")
	}
	return &body{r: bytes.NewReader(data), n: int64(len(data))}, nil
}

// PutObject uploads an object in one request. For unencrypted objects the
// returned ETag is checked against the MD5 of what was sent.
//
// A conditional PUT (IfMatch, IfNoneMatch) is retried like any other; if a
// retry is refused with 412 after an earlier attempt failed ambiguously
// (it may have been applied), a HEAD decides: an object whose ETag is the
// MD5 of this body is taken as this PUT's (Recovered). Under SSE-C or
// SSE-KMS the ETag is not the MD5, so the 412 is returned as it is.
func (c *Client) PutObject(ctx context.Context, in *PutObjectInput) (*PutObjectOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	if err := validateContentMD5(in.ContentMD5); err != nil {
		return nil, err
	}
	if err := in.SSE.validate(c.HTTPS()); err != nil {
		return nil, err
	}
	if err := ValidateMetadata(in.Metadata); err != nil {
		return nil, err
	}
	b, err := readerBody(in.Body)
	if err != nil {
		return nil, err
	}
	if err := hashBody(b, in.ContentMD5); err != nil {
		return nil, err
	}
	h := http.Header{}
	if in.ContentType != "" {
		h.Set("Content-Type", in.ContentType)
	}
	c.metaHeaders(h, in.Metadata)
	c.setSSE(h, in.SSE, true)
	setConditions(h, in.IfMatch, in.IfNoneMatch)
	out := &PutObjectOutput{}
	retried := false // an attempt failed ambiguously and was retried
	err = c.do(ctx, &request{
		op: "PutObject", method: http.MethodPut, bucket: in.Bucket, key: in.Key, header: h, body: b,
		handle: func(resp *http.Response) error {
			*out = PutObjectOutput{RequestID: c.requestID(resp.Header), ETag: resp.Header.Get("ETag"),
				VersionID: firstHeader(resp.Header, "x-obs-version-id", "x-amz-version-id"), SSEResult: c.sseResult(resp.Header)}
			if out.ETag == "" {
				return &transportError{fmt.Errorf("%w: PutObject response has no ETag", errMalformed)}
			}
			return nil
		},
		beforeRetry: func(context.Context, error) (bool, error) {
			retried = true
			return false, nil
		},
	})
	if err != nil && retried && IsPreconditionFailed(err) && (in.IfMatch != "" || in.IfNoneMatch != "") && ctx.Err() == nil {
		if rec := c.putAppliedAlready(ctx, in, b.md5); rec != nil {
			return rec, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("put object %q: %w", in.Key, err)
	}
	if out.SseKms == "" && out.SseC == "" {
		if err := checkETag("PutObject", out.ETag, b.md5); err != nil {
			return nil, fmt.Errorf("put object %q: %w (request id %s)", in.Key, err, out.RequestID)
		}
	}
	return out, nil
}

// putAppliedAlready decides, after a conditional PUT was refused with 412
// on a retry, whether an earlier ambiguous attempt stored this body: the
// object's ETag is the body's MD5. It returns nil when that cannot be
// shown (the object differs, the HEAD failed, or SSE hides the MD5).
func (c *Client) putAppliedAlready(ctx context.Context, in *PutObjectInput, md5b64 string) *PutObjectOutput {
	if in.SseKms != "" || in.SseC != "" {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(md5b64)
	if err != nil {
		return nil
	}
	hctx, cancel := context.WithTimeout(ctx, completeCheckTimeout)
	defer cancel()
	head, err := c.HeadObject(hctx, &HeadObjectInput{Bucket: in.Bucket, Key: in.Key})
	if err != nil || !strings.EqualFold(trimETag(head.ETag), hex.EncodeToString(raw)) {
		return nil
	}
	c.log.WithField("key", in.Key).WithField("req_id", head.RequestID).Info("conditional PUT refused on retry: an earlier attempt had stored it")
	return &PutObjectOutput{RequestID: head.RequestID, ETag: head.ETag, VersionID: head.VersionID, SSEResult: head.SSEResult, Recovered: true}
}

// ObjectInfo describes an object as HEAD, GET or a listing returns it.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // quoted, as returned
	LastModified time.Time
	ContentType  string
	StorageClass string
	// Metadata is the user metadata, names lowercased without the prefix.
	// Listings do not carry it.
	Metadata  map[string]string
	VersionID string
	// UploadID is OBS's x-obs-uploadId on objects made by a multipart
	// Complete (empty on S3/MinIO).
	UploadID string
	SSEResult
}

func (c *Client) objectInfo(key string, h http.Header) ObjectInfo {
	size, _ := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	lm, _ := http.ParseTime(h.Get("Last-Modified"))
	return ObjectInfo{
		Key: key, Size: size, ETag: h.Get("ETag"), LastModified: lm,
		ContentType:  h.Get("Content-Type"),
		StorageClass: firstHeader(h, "x-obs-storage-class", "x-amz-storage-class"),
		Metadata:     metadataFrom(h),
		VersionID:    firstHeader(h, "x-obs-version-id", "x-amz-version-id"),
		UploadID:     firstHeader(h, "x-obs-uploadId", "x-amz-uploadId"),
		SSEResult:    c.sseResult(h),
	}
}

// HeadObjectInput reads an object's metadata.
type HeadObjectInput struct {
	Bucket    string
	Key       string
	VersionID string
	SseC      string
	SseCKey   string
}

// HeadObjectOutput is the result of HeadObject.
type HeadObjectOutput struct {
	RequestID string
	ObjectInfo
}

// HeadObject reads an object's size, ETag, times and metadata. A missing
// object yields an *Error with Status 404 (IsNotFound).
func (c *Client) HeadObject(ctx context.Context, in *HeadObjectInput) (*HeadObjectOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	if err := (SSE{SseC: in.SseC, SseCKey: in.SseCKey}).validate(c.HTTPS()); err != nil {
		return nil, err
	}
	h := http.Header{}
	if in.SseC != "" {
		c.setSSEC(h, "", in.SseC, in.SseCKey)
	}
	q := url.Values{}
	setNonEmpty(q, "versionId", in.VersionID)
	out := &HeadObjectOutput{}
	err := c.do(ctx, &request{
		op: "HeadObject", method: http.MethodHead, bucket: in.Bucket, key: in.Key, header: h, query: q,
		handle: func(resp *http.Response) error {
			*out = HeadObjectOutput{RequestID: c.requestID(resp.Header), ObjectInfo: c.objectInfo(in.Key, resp.Header)}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("head object %q: %w", in.Key, err)
	}
	return out, nil
}

// Range selects bytes [Start, End] of an object, End inclusive. End < 0
// means "to the end of the object" (where the operation allows it).
type Range struct {
	Start int64
	End   int64
}

// GetObjectInput reads an object or a byte range of it.
type GetObjectInput struct {
	Bucket    string
	Key       string
	VersionID string
	// Range selects the bytes to read; nil reads the whole object.
	Range *Range
	// IfMatch makes the read fail with 412 unless the ETag matches.
	IfMatch string
	SseC    string
	SseCKey string
}

// GetObjectOutput is the result of GetObject. The caller must close Body.
type GetObjectOutput struct {
	RequestID string
	Body      io.ReadCloser
	ObjectInfo
	// ContentLength is the length of Body; Size is the whole object's size.
	ContentLength int64
	// RangeStart is the offset of Body's first byte in the object.
	RangeStart int64
}

// ranged reports whether the input asks for a byte range.
func (in *GetObjectInput) ranged() bool { return in.Range != nil }

// GetObject reads an object. With a range it insists on a 206 response
// whose Content-Range matches (a server that ignores an invalid Range sends
// the whole object with 200); the Body is wrapped so that a short body is
// an error, never silently short data.
func (c *Client) GetObject(ctx context.Context, in *GetObjectInput) (*GetObjectOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	var rs, re int64 = 0, -1
	if in.Range != nil {
		rs, re = in.Range.Start, in.Range.End
		if rs < 0 || (re >= 0 && re < rs) {
			return nil, invalid("range %d-%d is invalid", rs, re)
		}
	}
	if err := (SSE{SseC: in.SseC, SseCKey: in.SseCKey}).validate(c.HTTPS()); err != nil {
		return nil, err
	}
	h := http.Header{}
	if in.ranged() {
		if re >= 0 {
			h.Set("Range", fmt.Sprintf("bytes=%d-%d", rs, re))
		} else {
			h.Set("Range", fmt.Sprintf("bytes=%d-", rs))
		}
	}
	if in.IfMatch != "" {
		h.Set("If-Match", in.IfMatch)
	}
	if in.SseC != "" {
		c.setSSEC(h, "", in.SseC, in.SseCKey)
	}
	q := url.Values{}
	setNonEmpty(q, "versionId", in.VersionID)
	out := &GetObjectOutput{}
	err := c.do(ctx, &request{
		op: "GetObject", method: http.MethodGet, bucket: in.Bucket, key: in.Key, header: h, query: q,
		handle: func(resp *http.Response) error {
			info := c.objectInfo(in.Key, resp.Header)
			length := resp.ContentLength
			start := int64(0)
			if in.ranged() {
				if resp.StatusCode != http.StatusPartialContent {
					return &transportError{fmt.Errorf("%w: range request answered with status %d, not 206", errMalformed, resp.StatusCode)}
				}
				s, e, total, err := parseContentRange(resp.Header.Get("Content-Range"))
				if err != nil {
					return &transportError{err}
				}
				// Fewer bytes than asked only at the object's end.
				short := (re < 0 || e < re) && total >= 0 && e != total-1
				if s != rs || (re >= 0 && e > re) || short || length != e-s+1 {
					return &transportError{fmt.Errorf("%w: Content-Range %q does not answer bytes=%d-%d",
						errMalformed, resp.Header.Get("Content-Range"), rs, re)}
				}
				info.Size, start = total, s
			}
			if length < 0 {
				return &transportError{fmt.Errorf("%w: GetObject response has no Content-Length", errMalformed)}
			}
			*out = GetObjectOutput{RequestID: c.requestID(resp.Header), ObjectInfo: info,
				ContentLength: length, RangeStart: start,
				Body: &exactBody{rc: resp.Body, left: length}}
			return errKeepBody
		},
	})
	if err != nil {
		return nil, fmt.Errorf("get object %q: %w", in.Key, err)
	}
	return out, nil
}

// parseContentRange parses "bytes START-END/TOTAL".
func parseContentRange(s string) (start, end, total int64, err error) {
	bad := fmt.Errorf("%w: bad Content-Range %q", errMalformed, s)
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, 0, bad
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
		return 0, 0, 0, bad
	}
	if start < 0 {
		return 0, 0, 0, bad
	}
	if tot == "*" {
		total = -1
	} else if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total <= end {
		// The range must lie inside the object: END < TOTAL.
		return 0, 0, 0, bad
	}
	return start, end, total, nil
}

// exactBody turns a body that ends before its Content-Length into
// io.ErrUnexpectedEOF (net/http already does so for most cases; this also
// covers a transport that does not).
type exactBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *exactBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && b.left == 0 {
		err = io.EOF
	}
	return n, err
}

func (b *exactBody) Close() error { return b.rc.Close() }

// DeleteObjectInput deletes one object.
type DeleteObjectInput struct {
	Bucket    string
	Key       string
	VersionID string
}

// DeleteObjectOutput is the result of DeleteObject.
type DeleteObjectOutput struct {
	RequestID    string
	VersionID    string
	DeleteMarker bool
}

// DeleteObject deletes an object. Deleting a missing key succeeds (S3 and
// OBS answer 204).
func (c *Client) DeleteObject(ctx context.Context, in *DeleteObjectInput) (*DeleteObjectOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	q := url.Values{}
	setNonEmpty(q, "versionId", in.VersionID)
	out := &DeleteObjectOutput{}
	err := c.do(ctx, &request{
		op: "DeleteObject", method: http.MethodDelete, bucket: in.Bucket, key: in.Key, query: q,
		handle: func(resp *http.Response) error {
			*out = DeleteObjectOutput{RequestID: c.requestID(resp.Header),
				VersionID:    firstHeader(resp.Header, "x-obs-version-id", "x-amz-version-id"),
				DeleteMarker: firstHeader(resp.Header, "x-obs-delete-marker", "x-amz-delete-marker") == "true"}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("delete object %q: %w", in.Key, err)
	}
	return out, nil
}

// ObjectID names an object (and optionally a version) to delete.
type ObjectID struct {
	Key       string
	VersionID string
}

// DeleteObjectsInput deletes up to 1000 objects in one request.
type DeleteObjectsInput struct {
	Bucket  string
	Objects []ObjectID
	// Quiet asks the server to list only failures.
	Quiet bool
}

// DeletedObject is one success of DeleteObjects.
type DeletedObject struct {
	Key, VersionID        string
	DeleteMarker          bool
	DeleteMarkerVersionID string
}

// DeleteError is one failure of DeleteObjects.
type DeleteError struct {
	Key, VersionID string
	Code, Message  string
}

// DeleteObjectsOutput is the result of DeleteObjects. A request that
// succeeds may still report per-key Errors.
type DeleteObjectsOutput struct {
	RequestID string
	Deleted   []DeletedObject
	Errors    []DeleteError
}

// DeleteObjects deletes several objects. Keys must be representable in XML
// 1.0 (no control characters other than tab, newline and carriage return);
// delete others with DeleteObject.
func (c *Client) DeleteObjects(ctx context.Context, in *DeleteObjectsInput) (*DeleteObjectsOutput, error) {
	if err := ValidateBucketName(in.Bucket); err != nil {
		return nil, err
	}
	if len(in.Objects) == 0 || len(in.Objects) > MaxDeleteObjects {
		return nil, invalid("DeleteObjects takes 1..%d keys, got %d", MaxDeleteObjects, len(in.Objects))
	}
	doc := xmlDelete{Quiet: in.Quiet}
	for _, o := range in.Objects {
		if err := ValidateKey(o.Key); err != nil {
			return nil, err
		}
		if !xmlSafe(o.Key) {
			return nil, invalid("key %q has a character XML 1.0 cannot carry; use DeleteObject", o.Key)
		}
		doc.Objects = append(doc.Objects, xmlDeleteObject(o))
	}
	data, err := xml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("delete objects: encoding: %w", err)
	}
	out := &DeleteObjectsOutput{}
	err = c.do(ctx, &request{
		op: "DeleteObjects", method: http.MethodPost, bucket: in.Bucket, query: url.Values{"delete": {""}},
		header: http.Header{"Content-Type": {"application/xml"}}, body: bytesBody(data),
		handle: func(resp *http.Response) error {
			var r xmlDeleteResult
			if err := decodeXML(resp.Body, "DeleteResult", resp.StatusCode, &r); err != nil {
				return err
			}
			out.RequestID = c.requestID(resp.Header)
			for _, d := range r.Deleted {
				out.Deleted = append(out.Deleted, DeletedObject(d))
			}
			for _, e := range r.Errors {
				out.Errors = append(out.Errors, DeleteError(e))
			}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("delete %d objects: %w", len(in.Objects), err)
	}
	return out, nil
}

// xmlSafe reports whether s survives an XML 1.0 text node unchanged.
func xmlSafe(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// MetadataDirective says whether a copy keeps or replaces metadata.
type MetadataDirective string

const (
	MetadataCopy    MetadataDirective = "COPY"
	MetadataReplace MetadataDirective = "REPLACE"
)

// CopyObjectInput copies an object (≤ 5 GB) server-side.
type CopyObjectInput struct {
	Bucket string
	Key    string

	SourceBucket    string
	SourceKey       string
	SourceVersionID string
	SourceIfMatch   string

	// MetadataDirective COPY (default) keeps the source's metadata; REPLACE
	// sets Metadata and ContentType instead (required to copy an object
	// onto itself).
	MetadataDirective MetadataDirective
	Metadata          map[string]string
	ContentType       string

	SSE                       // destination encryption
	SourceSseC, SourceSseCKey string
}

// CopyObjectOutput is the result of CopyObject.
type CopyObjectOutput struct {
	RequestID    string
	ETag         string
	LastModified time.Time
	VersionID    string
}

// CopyObject copies an object server-side. A 200 counts only with an ETag
// in the body.
func (c *Client) CopyObject(ctx context.Context, in *CopyObjectInput) (*CopyObjectOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	if err := validateBucketKey(in.SourceBucket, in.SourceKey); err != nil {
		return nil, err
	}
	switch in.MetadataDirective {
	case "", MetadataCopy, MetadataReplace:
	default:
		return nil, invalid("MetadataDirective %q: want COPY or REPLACE", in.MetadataDirective)
	}
	if in.MetadataDirective != MetadataReplace && (len(in.Metadata) > 0 || in.ContentType != "") {
		return nil, invalid("Metadata and ContentType need MetadataDirective REPLACE")
	}
	if in.Bucket == in.SourceBucket && in.Key == in.SourceKey && in.SourceVersionID == "" && in.MetadataDirective != MetadataReplace {
		return nil, invalid("copying an object onto itself needs MetadataDirective REPLACE")
	}
	if err := ValidateMetadata(in.Metadata); err != nil {
		return nil, err
	}
	if err := in.SSE.validate(c.HTTPS()); err != nil {
		return nil, err
	}
	if err := (SSE{SseC: in.SourceSseC, SseCKey: in.SourceSseCKey}).validate(c.HTTPS()); err != nil {
		return nil, err
	}
	h := http.Header{}
	c.copySourceHeader(h, in.SourceBucket, in.SourceKey, in.SourceVersionID)
	if in.MetadataDirective != "" {
		h.Set(c.prefixed("metadata-directive"), string(in.MetadataDirective))
	}
	if in.SourceIfMatch != "" {
		h.Set(c.prefixed("copy-source-if-match"), in.SourceIfMatch)
	}
	if in.ContentType != "" {
		h.Set("Content-Type", in.ContentType)
	}
	c.metaHeaders(h, in.Metadata)
	c.setSSE(h, in.SSE, true)
	if in.SourceSseC != "" {
		c.setSSEC(h, "copy-source-", in.SourceSseC, in.SourceSseCKey)
	}
	out := &CopyObjectOutput{}
	err := c.do(ctx, &request{
		op: "CopyObject", method: http.MethodPut, bucket: in.Bucket, key: in.Key, header: h,
		handle: func(resp *http.Response) error {
			var r xmlCopyResult
			if err := decodeXML(resp.Body, "CopyObjectResult", resp.StatusCode, &r); err != nil {
				return err
			}
			if r.ETag == "" {
				return &transportError{fmt.Errorf("%w: CopyObjectResult has no ETag", errMalformed)}
			}
			*out = CopyObjectOutput{RequestID: c.requestID(resp.Header), ETag: r.ETag,
				LastModified: parseISOTime(r.LastModified), VersionID: firstHeader(resp.Header, "x-obs-version-id", "x-amz-version-id")}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("copy %q to %q: %w", in.SourceKey, in.Key, err)
	}
	return out, nil
}

// ListObjectsInput lists one page of a bucket (ListObjects v1).
type ListObjectsInput struct {
	Bucket    string
	Prefix    string
	Delimiter string
	Marker    string
	MaxKeys   int // 0: server default (1000)
}

// ListObjectsOutput is one page of ListObjects.
type ListObjectsOutput struct {
	RequestID      string
	Contents       []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	// NextMarker continues the listing; when the server omits it, it is
	// the greater of the last key and the last common prefix.
	NextMarker string
}

// ListObjects lists one page of keys under Prefix; with a Delimiter, keys
// containing it after the prefix are rolled up into CommonPrefixes. Names
// are requested URL-encoded so any byte survives XML.
func (c *Client) ListObjects(ctx context.Context, in *ListObjectsInput) (*ListObjectsOutput, error) {
	if err := ValidateBucketName(in.Bucket); err != nil {
		return nil, err
	}
	if in.MaxKeys < 0 || in.MaxKeys > 1000 {
		return nil, invalid("MaxKeys must be 0..1000")
	}
	q := url.Values{"encoding-type": {"url"}}
	setNonEmpty(q, "prefix", in.Prefix)
	setNonEmpty(q, "delimiter", in.Delimiter)
	setNonEmpty(q, "marker", in.Marker)
	if in.MaxKeys > 0 {
		q.Set("max-keys", strconv.Itoa(in.MaxKeys))
	}
	out := &ListObjectsOutput{}
	err := c.do(ctx, &request{
		op: "ListObjects", method: http.MethodGet, bucket: in.Bucket, query: q,
		handle: func(resp *http.Response) error {
			var r xmlListBucketResult
			if err := decodeXML(resp.Body, "ListBucketResult", resp.StatusCode, &r); err != nil {
				return err
			}
			d := urlDecoder{on: strings.EqualFold(r.EncodingType, "url")}
			*out = ListObjectsOutput{RequestID: c.requestID(resp.Header), IsTruncated: r.IsTruncated, NextMarker: d.dec(r.NextMarker)}
			for _, o := range r.Contents {
				out.Contents = append(out.Contents, ObjectInfo{Key: d.dec(o.Key), Size: o.Size, ETag: o.ETag,
					LastModified: parseISOTime(o.LastModified), StorageClass: o.StorageClass})
			}
			for _, p := range r.CommonPrefixes {
				out.CommonPrefixes = append(out.CommonPrefixes, d.dec(p.Prefix))
			}
			if out.IsTruncated && out.NextMarker == "" {
				if n := len(out.Contents); n > 0 {
					out.NextMarker = out.Contents[n-1].Key
				}
				if n := len(out.CommonPrefixes); n > 0 && out.CommonPrefixes[n-1] > out.NextMarker {
					out.NextMarker = out.CommonPrefixes[n-1]
				}
				if out.NextMarker == "" {
					return &transportError{fmt.Errorf("%w: truncated listing without a marker", errMalformed)}
				}
			}
			return d.err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("list objects in %q under %q: %w", in.Bucket, in.Prefix, err)
	}
	return out, nil
}

// HeadBucket checks that the bucket exists and the credentials may use it.
func (c *Client) HeadBucket(ctx context.Context, bucket string) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	err := c.do(ctx, &request{op: "HeadBucket", method: http.MethodHead, bucket: bucket})
	if err != nil {
		return fmt.Errorf("head bucket %q: %w", bucket, err)
	}
	return nil
}

// CreateBucket creates a bucket in the client's region.
func (c *Client) CreateBucket(ctx context.Context, bucket string) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	var b *body
	h := http.Header{}
	if c.cfg.Region != DefaultRegion {
		data, err := xml.Marshal(xmlCreateBucket{LocationConstraint: c.cfg.Region})
		if err != nil {
			return err
		}
		b = bytesBody(data)
		h.Set("Content-Type", "application/xml")
	}
	err := c.do(ctx, &request{op: "CreateBucket", method: http.MethodPut, bucket: bucket, header: h, body: b})
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", bucket, err)
	}
	return nil
}

// DeleteBucket deletes an empty bucket.
func (c *Client) DeleteBucket(ctx context.Context, bucket string) error {
	if err := ValidateBucketName(bucket); err != nil {
		return err
	}
	err := c.do(ctx, &request{op: "DeleteBucket", method: http.MethodDelete, bucket: bucket})
	if err != nil {
		return fmt.Errorf("delete bucket %q: %w", bucket, err)
	}
	return nil
}

// contentMD5 returns the base64 MD5 of p (a convenience for callers that
// hash data they already hold).
func ContentMD5(p []byte) string {
	sum := md5.Sum(p)
	return base64.StdEncoding.EncodeToString(sum[:])
}
