package obsclient

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// InitiateMultipartUploadInput starts a multipart upload. SSE-KMS and SSE-C
// settings given here apply to the whole object.
type InitiateMultipartUploadInput struct {
	Bucket      string
	Key         string
	ContentType string
	Metadata    map[string]string // user metadata, sent with the dialect's meta prefix
	SSE
}

// InitiateMultipartUploadOutput is the result of InitiateMultipartUpload.
type InitiateMultipartUploadOutput struct {
	RequestID string
	Bucket    string
	Key       string
	UploadID  string
	SSEResult
}

// InitiateMultipartUpload starts a multipart upload and returns its ID. A
// retried Initiate may leave an unused upload behind; callers that need
// none should list and abort orphans (ListMultipartUploads).
func (c *Client) InitiateMultipartUpload(ctx context.Context, in *InitiateMultipartUploadInput) (*InitiateMultipartUploadOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	if err := in.SSE.validate(c.HTTPS()); err != nil {
		return nil, err
	}
	if err := ValidateMetadata(in.Metadata); err != nil {
		return nil, err
	}
	h := http.Header{}
	if in.ContentType != "" {
		h.Set("Content-Type", in.ContentType)
	}
	c.metaHeaders(h, in.Metadata)
	c.setSSE(h, in.SSE, true)
	out := &InitiateMultipartUploadOutput{}
	err := c.do(ctx, &request{
		op: "InitiateMultipartUpload", method: http.MethodPost, bucket: in.Bucket, key: in.Key,
		query: url.Values{"uploads": {""}}, header: h,
		handle: func(resp *http.Response) error {
			var r xmlInitiateResult
			if err := decodeXML(resp.Body, "InitiateMultipartUploadResult", resp.StatusCode, &r); err != nil {
				return err
			}
			if r.UploadID == "" {
				return &transportError{fmt.Errorf("%w: no UploadId", errMalformed)}
			}
			*out = InitiateMultipartUploadOutput{RequestID: c.requestID(resp.Header), Bucket: r.Bucket,
				Key: r.Key, UploadID: r.UploadID, SSEResult: c.sseResult(resp.Header)}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("initiate multipart upload of %q: %w", in.Key, err)
	}
	return out, nil
}

// UploadPartInput is one part of a multipart upload, for UploadPart.
//
// The part's bytes come from Body, or from SourceFile starting at Offset, or
// neither (a 0-byte part); Body and SourceFile are exclusive. PartSize
// bounds the bytes read: with SourceFile it defaults to 102400 and the last
// slice of the file may be shorter; with Body, 0 means "all of Body". A
// non-zero PartSize must lie within 100 KB–5 GB.
//
// A Body that implements io.ReaderAt and io.Seeker (bytes.Reader,
// strings.Reader, os.File, io.SectionReader...) is read from its current
// position without copying; any other reader is first read into memory so
// the part can be hashed and retried.
//
// ContentMD5 is the base64 MD5 of the part; it is computed when empty and
// always sent. For parts without SSE the returned ETag is checked against it.
//
// SSE: SseC/SseCKey are sent with the part, and must equal what Initiate was
// given. SSE-KMS is fixed when the upload is initiated and OBS refuses KMS
// headers on parts, so SseKms/SseKmsKey are never sent here: they are an
// assertion, and UploadPart fails with ErrChecksumMismatch unless the
// response confirms KMS encryption (with that key, when the server echoes
// one).
type UploadPartInput struct {
	Bucket     string
	Key        string
	PartNumber int
	UploadID   string
	ContentMD5 string
	Body       io.Reader
	SourceFile string
	Offset     int64
	PartSize   int64
	SseKms     string
	SseKmsKey  string
	SseC       string
	SseCKey    string
}

// UploadPartOutput is what UploadPart returns: the part's ETag (for
// CompleteMultipartUpload), the request ID, and the encryption the service
// reports for the part.
type UploadPartOutput struct {
	RequestID  string
	ETag       string // as returned, quoted
	SseKms     string
	SseKmsKey  string
	SseC       string
	SseCKeyMD5 string
}

func (in *UploadPartInput) sse() SSE {
	return SSE{SseKms: in.SseKms, SseKmsKey: in.SseKmsKey, SseC: in.SseC, SseCKey: in.SseCKey}
}

// validate checks everything that does not need the source file.
func (in *UploadPartInput) validate(https bool) error {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return err
	}
	if err := validatePartNumber(in.PartNumber); err != nil {
		return err
	}
	if err := validateUploadID(in.UploadID); err != nil {
		return err
	}
	if in.Body != nil && in.SourceFile != "" {
		return invalid("Body and SourceFile cannot be used together")
	}
	if in.Offset < 0 {
		return invalid("Offset %d is negative", in.Offset)
	}
	if in.Offset != 0 && in.SourceFile == "" {
		return invalid("Offset requires SourceFile")
	}
	if in.PartSize != 0 && (in.PartSize < MinPartSize || in.PartSize > MaxPartSize) {
		return invalid("PartSize %d is outside 100 KB..5 GB", in.PartSize)
	}
	if err := validateContentMD5(in.ContentMD5); err != nil {
		return err
	}
	return in.sse().validate(https)
}

// partBody resolves the part's payload. The returned closer releases an
// opened SourceFile.
func (in *UploadPartInput) partBody() (*body, func(), error) {
	nop := func() {}
	switch {
	case in.SourceFile != "":
		f, err := os.Open(in.SourceFile)
		if err != nil {
			return nil, nop, invalid("SourceFile: %v", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nop, invalid("SourceFile: %v", err)
		}
		if !st.Mode().IsRegular() {
			f.Close()
			return nil, nop, invalid("SourceFile %q is not a regular file", in.SourceFile)
		}
		size := st.Size()
		if in.Offset > size || (in.Offset == size && size != 0) {
			f.Close()
			return nil, nop, invalid("Offset %d is outside SourceFile of %d bytes", in.Offset, size)
		}
		ps := in.PartSize
		if ps == 0 {
			ps = DefaultUploadPartSize
		}
		n := min(ps, size-in.Offset)
		return &body{r: f, off: in.Offset, n: n}, func() { f.Close() }, nil
	case in.Body != nil:
		if ra, ok := in.Body.(interface {
			io.ReaderAt
			io.Seeker
		}); ok {
			cur, err := ra.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, nop, invalid("Body: %v", err)
			}
			end, err := ra.Seek(0, io.SeekEnd)
			if err != nil {
				return nil, nop, invalid("Body: %v", err)
			}
			if _, err := ra.Seek(cur, io.SeekStart); err != nil {
				return nil, nop, invalid("Body: %v", err)
			}
			n := end - cur
			if in.PartSize > 0 {
				n = min(n, in.PartSize)
			}
			if n > MaxPartSize {
				return nil, nop, invalid("part of %d bytes exceeds 5 GB", n)
			}
			return &body{r: ra, off: cur, n: n}, nop, nil
		}
		limit := int64(MaxPartSize)
		if in.PartSize > 0 {
			limit = in.PartSize
		}
		data, err := io.ReadAll(io.LimitReader(in.Body, limit+1))
		if err != nil {
			return nil, nop, fmt.Errorf("reading Body: %w", err)
		}
		if int64(len(data)) > limit {
			if in.PartSize > 0 {
				data = data[:limit]
			} else {
				return nil, nop, invalid("Body exceeds 5 GB")
			}
		}
		return &body{r: bytes.NewReader(data), n: int64(len(data))}, nop, nil
	default:
		return &body{r: bytes.NewReader(nil)}, nop, nil
	}
}

// UploadPart uploads one part of a multipart upload. Uploading a part number
// again replaces the earlier part. Concurrent uploads of the same part
// number are "last writer wins": callers must serialise them.
func (c *Client) UploadPart(ctx context.Context, in *UploadPartInput) (*UploadPartOutput, error) {
	if err := in.validate(c.HTTPS()); err != nil {
		return nil, err
	}
	b, closeBody, err := in.partBody()
	if err != nil {
		return nil, err
	}
	defer closeBody()
	if err := hashBody(b, in.ContentMD5); err != nil {
		return nil, err
	}
	h := http.Header{}
	if in.SseC != "" {
		c.setSSEC(h, "", in.SseC, in.SseCKey)
	}
	out := &UploadPartOutput{}
	err = c.do(ctx, &request{
		op: "UploadPart", method: http.MethodPut, bucket: in.Bucket, key: in.Key,
		query:  url.Values{"partNumber": {strconv.Itoa(in.PartNumber)}, "uploadId": {in.UploadID}},
		header: h, body: b,
		handle: func(resp *http.Response) error {
			etag := resp.Header.Get("ETag")
			if etag == "" {
				return &transportError{fmt.Errorf("%w: UploadPart response has no ETag", errMalformed)}
			}
			sse := c.sseResult(resp.Header)
			*out = UploadPartOutput{RequestID: c.requestID(resp.Header), ETag: etag, SseKms: sse.SseKms,
				SseKmsKey: sse.SseKmsKey, SseC: sse.SseC, SseCKeyMD5: sse.SseCKeyMD5}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("upload part %d of %q: %w", in.PartNumber, in.Key, err)
	}
	if in.SseKms != "" {
		if out.SseKms == "" {
			return nil, fmt.Errorf("upload part %d of %q: %w: SseKms requested but the response does not confirm KMS encryption (it is set when the upload is initiated) (request id %s)",
				in.PartNumber, in.Key, ErrChecksumMismatch, out.RequestID)
		}
		if in.SseKmsKey != "" && out.SseKmsKey != "" && !strings.HasSuffix(out.SseKmsKey, in.SseKmsKey) {
			return nil, fmt.Errorf("upload part %d of %q: %w: part encrypted with KMS key %q, not %q (request id %s)",
				in.PartNumber, in.Key, ErrChecksumMismatch, out.SseKmsKey, in.SseKmsKey, out.RequestID)
		}
	}
	if out.SseKms == "" && out.SseC == "" {
		if err := checkETag("UploadPart", out.ETag, b.md5); err != nil {
			return nil, fmt.Errorf("upload part %d of %q: %w (request id %s)", in.PartNumber, in.Key, err, out.RequestID)
		}
	}
	return out, nil
}

// UploadPartCopyInput copies a byte range of an existing object into a part.
type UploadPartCopyInput struct {
	Bucket     string
	Key        string
	UploadID   string
	PartNumber int

	SourceBucket    string
	SourceKey       string
	SourceVersionID string

	// SourceRange selects bytes [Start, End] of the source (End must be
	// given); nil copies the whole source.
	SourceRange *Range
	// SourceIfMatch makes the copy fail with 412 unless the source's ETag
	// matches (guards against copying a version other than the one read).
	SourceIfMatch string

	SseC, SseCKey             string // destination SSE-C (as on Initiate)
	SourceSseC, SourceSseCKey string // SSE-C key of the source object
}

// UploadPartCopyOutput is the result of UploadPartCopy.
type UploadPartCopyOutput struct {
	RequestID    string
	ETag         string
	LastModified time.Time
}

func (c *Client) copySourceHeader(h http.Header, bucket, key, version string) {
	v := "/" + bucket + "/" + encodeKey(key)
	if version != "" {
		v += "?versionId=" + encodeRFC3986(version, false)
	}
	h.Set(c.prefixed("copy-source"), v)
}

// UploadPartCopy copies a range of an existing object into part PartNumber.
// A 200 response counts only if its body carries the new part's ETag.
func (c *Client) UploadPartCopy(ctx context.Context, in *UploadPartCopyInput) (*UploadPartCopyOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	if err := validateBucketKey(in.SourceBucket, in.SourceKey); err != nil {
		return nil, err
	}
	if err := validatePartNumber(in.PartNumber); err != nil {
		return nil, err
	}
	if err := validateUploadID(in.UploadID); err != nil {
		return nil, err
	}
	if r := in.SourceRange; r != nil {
		if r.Start < 0 || r.End < r.Start {
			return nil, invalid("copy source range %d-%d is invalid (both ends are needed)", r.Start, r.End)
		}
		if r.End-r.Start+1 > MaxPartSize {
			return nil, invalid("copy source range of %d bytes exceeds 5 GB", r.End-r.Start+1)
		}
	}
	if err := (SSE{SseC: in.SseC, SseCKey: in.SseCKey}).validate(c.HTTPS()); err != nil {
		return nil, err
	}
	if err := (SSE{SseC: in.SourceSseC, SseCKey: in.SourceSseCKey}).validate(c.HTTPS()); err != nil {
		return nil, err
	}
	h := http.Header{}
	c.copySourceHeader(h, in.SourceBucket, in.SourceKey, in.SourceVersionID)
	if r := in.SourceRange; r != nil {
		h.Set(c.prefixed("copy-source-range"), fmt.Sprintf("bytes=%d-%d", r.Start, r.End))
	}
	if in.SourceIfMatch != "" {
		h.Set(c.prefixed("copy-source-if-match"), in.SourceIfMatch)
	}
	if in.SseC != "" {
		c.setSSEC(h, "", in.SseC, in.SseCKey)
	}
	if in.SourceSseC != "" {
		c.setSSEC(h, "copy-source-", in.SourceSseC, in.SourceSseCKey)
	}
	out := &UploadPartCopyOutput{}
	err := c.do(ctx, &request{
		op: "UploadPartCopy", method: http.MethodPut, bucket: in.Bucket, key: in.Key,
		query:  url.Values{"partNumber": {strconv.Itoa(in.PartNumber)}, "uploadId": {in.UploadID}},
		header: h,
		handle: func(resp *http.Response) error {
			var r xmlCopyResult
			if err := decodeXML(resp.Body, "CopyPartResult", resp.StatusCode, &r); err != nil {
				return err
			}
			if r.ETag == "" {
				return &transportError{fmt.Errorf("%w: CopyPartResult has no ETag", errMalformed)}
			}
			*out = UploadPartCopyOutput{RequestID: c.requestID(resp.Header), ETag: r.ETag, LastModified: parseISOTime(r.LastModified)}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("copy part %d of %q from %q: %w", in.PartNumber, in.Key, in.SourceKey, err)
	}
	return out, nil
}

// CompletedPart names one uploaded part for CompleteMultipartUpload.
type CompletedPart struct {
	PartNumber int
	ETag       string
}

// CompleteMultipartUploadInput assembles the listed parts into the object.
// Parts not listed are discarded by the server.
type CompleteMultipartUploadInput struct {
	Bucket   string
	Key      string
	UploadID string
	Parts    []CompletedPart
	// IfMatch makes the Complete fail with 412 (IsPreconditionFailed)
	// unless the object exists with this ETag; IfNoneMatch "*" makes it
	// fail unless no object has the key. The upload stays pending after a
	// 412 (abort it). A 412 on a retry after an ambiguous failure is
	// resolved like any ambiguous Complete (see CompleteMultipartUpload).
	IfMatch     string
	IfNoneMatch string
}

// CompleteMultipartUploadOutput is the result of CompleteMultipartUpload.
type CompleteMultipartUploadOutput struct {
	RequestID string
	Location  string
	Bucket    string
	Key       string
	ETag      string
	VersionID string
	// Recovered is true when an attempt failed ambiguously and the client
	// established from the store that the upload had completed.
	Recovered bool
}

// CompleteMultipartUpload completes an upload. Parts are sent sorted by
// number; duplicates are refused. It is not blindly retried: after an
// ambiguous failure the client checks whether the upload still exists
// (ListParts) and, if it does not, whether the object now is the result of
// this upload (OBS: HEAD x-obs-uploadId; S3: the multipart ETag computed
// from the part ETags, or its "-N" suffix), and retries only if the upload
// is still pending. An attempt whose response has not begun after the hedge
// delay (see StallPolicy) is hedged: the same Complete is sent again beside
// it, the first success is used, and a hedge refused with NoSuchUpload
// makes the client check, as above, whether the first one took effect.
// With IfMatch/IfNoneMatch, a 412 that follows an ambiguous failure is
// checked the same way: the condition may fail because this upload's own
// earlier attempt replaced the object; only when the upload is still
// pending, or the object is not its result, is the 412 returned.
func (c *Client) CompleteMultipartUpload(ctx context.Context, in *CompleteMultipartUploadInput) (*CompleteMultipartUploadOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	if err := validateUploadID(in.UploadID); err != nil {
		return nil, err
	}
	if len(in.Parts) == 0 {
		return nil, invalid("CompleteMultipartUpload needs at least one part")
	}
	if len(in.Parts) > MaxPartNumber {
		return nil, invalid("%d parts exceed %d", len(in.Parts), MaxPartNumber)
	}
	parts := append([]CompletedPart(nil), in.Parts...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	doc := xmlComplete{Parts: make([]xmlCompletePart, len(parts))}
	for i, p := range parts {
		if err := validatePartNumber(p.PartNumber); err != nil {
			return nil, err
		}
		if i > 0 && parts[i-1].PartNumber == p.PartNumber {
			return nil, invalid("part number %d listed twice", p.PartNumber)
		}
		if p.ETag == "" {
			return nil, invalid("part %d has no ETag", p.PartNumber)
		}
		doc.Parts[i] = xmlCompletePart{PartNumber: p.PartNumber, ETag: p.ETag}
	}
	data, err := xml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("complete multipart upload of %q: encoding parts: %w", in.Key, err)
	}
	// A hedge (hedge.go) runs handle beside the first request: the first
	// success sets out.
	out := &CompleteMultipartUploadOutput{}
	var outMu sync.Mutex
	set := false // guarded by outMu
	setOut := func(o *CompleteMultipartUploadOutput) {
		outMu.Lock()
		defer outMu.Unlock()
		if !set {
			*out, set = *o, true
		}
	}
	h := http.Header{"Content-Type": {"application/xml"}}
	setConditions(h, in.IfMatch, in.IfNoneMatch)
	conditional := in.IfMatch != "" || in.IfNoneMatch != ""
	req := &request{
		op: "CompleteMultipartUpload", method: http.MethodPost, bucket: in.Bucket, key: in.Key,
		query: url.Values{"uploadId": {in.UploadID}}, header: h,
		body: bytesBody(data),
		handle: func(resp *http.Response) error {
			var r xmlCompleteResult
			if err := decodeXML(resp.Body, "CompleteMultipartUploadResult", resp.StatusCode, &r); err != nil {
				return err
			}
			if r.ETag == "" {
				return &transportError{fmt.Errorf("%w: CompleteMultipartUploadResult has no ETag", errMalformed)}
			}
			setOut(&CompleteMultipartUploadOutput{RequestID: c.requestID(resp.Header), Location: r.Location,
				Bucket: r.Bucket, Key: r.Key, ETag: r.ETag, VersionID: firstHeader(resp.Header, "x-obs-version-id", "x-amz-version-id")})
			return nil
		},
		hedgeResolve: func(ctx context.Context) bool {
			done, rec, err := c.completedAlready(ctx, in.Bucket, in.Key, in.UploadID, parts)
			if err != nil || !done {
				return false // only a positive answer counts beside the first request
			}
			setOut(rec)
			return true
		},
	}
	retried := false
	req.beforeRetry = func(ctx context.Context, failure error) (bool, error) {
		done, rec, err := c.completedAlready(ctx, in.Bucket, in.Key, in.UploadID, parts)
		if err != nil {
			return true, fmt.Errorf("%w (and checking whether it took effect failed: %v)", failure, err)
		}
		if done {
			setOut(rec)
			return true, nil
		}
		retried = true
		return false, nil
	}
	if err := c.do(ctx, req); err != nil {
		// The last attempt failed ambiguously, or a retry found the upload
		// gone: an earlier attempt that ListParts still saw pending (the
		// server was assembling the object) may have completed it since.
		// The check gets a short time of its own: the window may be over.
		// A 412 on a retry may come from this upload's own earlier
		// attempt having replaced the object.
		if lf := lastFailure(err); (IsRetryable(lf) || retried && (IsNoSuchUpload(lf) || conditional && IsPreconditionFailed(lf))) && ctx.Err() == nil {
			cctx, cancel := context.WithTimeout(ctx, completeCheckTimeout)
			done, rec, cerr := c.completedAlready(cctx, in.Bucket, in.Key, in.UploadID, parts)
			cancel()
			if cerr == nil && done {
				return rec, nil
			}
		}
		return nil, fmt.Errorf("complete multipart upload of %q: %w", in.Key, err)
	}
	return out, nil
}

// completeCheckTimeout bounds the check, after Complete's last attempt
// failed ambiguously, of whether the upload completed.
const completeCheckTimeout = 30 * time.Second

// ExpectedMultipartETag returns the S3-style ETag of an object completed
// from parts whose ETags are hex MD5s: hex(MD5(md5_1‖…‖md5_N))-N. ok is
// false if some part ETag is not a hex MD5 (e.g. under SSE).
func ExpectedMultipartETag(parts []CompletedPart) (etag string, ok bool) {
	h := md5.New()
	for _, p := range parts {
		raw, err := hex.DecodeString(trimETag(p.ETag))
		if err != nil || len(raw) != md5.Size {
			return "", false
		}
		h.Write(raw)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts)), true
}

// completedAlready decides whether an upload whose Complete failed
// ambiguously has in fact completed. done=false means it is still pending
// and Complete may be retried.
func (c *Client) completedAlready(ctx context.Context, bucket, key, uploadID string, parts []CompletedPart) (bool, *CompleteMultipartUploadOutput, error) {
	_, err := c.ListParts(ctx, &ListPartsInput{Bucket: bucket, Key: key, UploadID: uploadID, MaxParts: 1})
	if err == nil {
		return false, nil, nil // still pending: retry Complete
	}
	if !IsNoSuchUpload(err) && !(IsNotFound(err) && Code(err) != "NoSuchBucket") {
		return false, nil, err
	}
	head, herr := c.HeadObject(ctx, &HeadObjectInput{Bucket: bucket, Key: key})
	if herr != nil {
		return false, nil, fmt.Errorf("upload %s is gone and the object cannot be read: %w", uploadID, herr)
	}
	matches := false
	if head.UploadID != "" {
		matches = head.UploadID == uploadID
	} else if want, ok := ExpectedMultipartETag(parts); ok {
		matches = strings.EqualFold(trimETag(head.ETag), want)
	} else {
		matches = strings.HasSuffix(trimETag(head.ETag), "-"+strconv.Itoa(len(parts)))
	}
	if !matches {
		return false, nil, fmt.Errorf("upload %s is gone but the object (ETag %s) is not its result: it was aborted or overwritten", uploadID, head.ETag)
	}
	c.log.WithField("key", key).WithField("upload_id", uploadID).Info("ambiguous Complete had succeeded")
	return true, &CompleteMultipartUploadOutput{RequestID: head.RequestID, Bucket: bucket, Key: key,
		ETag: head.ETag, VersionID: head.VersionID, Recovered: true}, nil
}

// AbortMultipartUploadInput names an upload to abort.
type AbortMultipartUploadInput struct {
	Bucket   string
	Key      string
	UploadID string
}

// AbortMultipartUploadOutput is the result of AbortMultipartUpload.
type AbortMultipartUploadOutput struct {
	RequestID string
}

// AbortMultipartUpload discards an upload and its parts. An upload that no
// longer exists (404 NoSuchUpload) counts as aborted.
func (c *Client) AbortMultipartUpload(ctx context.Context, in *AbortMultipartUploadInput) (*AbortMultipartUploadOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	if err := validateUploadID(in.UploadID); err != nil {
		return nil, err
	}
	out := &AbortMultipartUploadOutput{}
	err := c.do(ctx, &request{
		op: "AbortMultipartUpload", method: http.MethodDelete, bucket: in.Bucket, key: in.Key,
		query: url.Values{"uploadId": {in.UploadID}},
		handle: func(resp *http.Response) error {
			out.RequestID = c.requestID(resp.Header)
			return nil
		},
	})
	if err != nil {
		if IsNoSuchUpload(err) {
			return &AbortMultipartUploadOutput{RequestID: RequestID(err)}, nil
		}
		return nil, fmt.Errorf("abort multipart upload of %q: %w", in.Key, err)
	}
	return out, nil
}

// ListPartsInput lists the parts of an upload, one page.
type ListPartsInput struct {
	Bucket           string
	Key              string
	UploadID         string
	MaxParts         int // 0: server default (1000)
	PartNumberMarker int // list parts after this number
}

// Part is one uploaded part.
type Part struct {
	PartNumber   int
	LastModified time.Time
	ETag         string
	Size         int64
}

// ListPartsOutput is one page of ListParts.
type ListPartsOutput struct {
	RequestID            string
	Bucket, Key          string
	UploadID             string
	Parts                []Part
	IsTruncated          bool
	NextPartNumberMarker int
}

// ListParts lists one page of an upload's parts; continue with
// PartNumberMarker = NextPartNumberMarker while IsTruncated.
func (c *Client) ListParts(ctx context.Context, in *ListPartsInput) (*ListPartsOutput, error) {
	if err := validateBucketKey(in.Bucket, in.Key); err != nil {
		return nil, err
	}
	if err := validateUploadID(in.UploadID); err != nil {
		return nil, err
	}
	if in.MaxParts < 0 || in.MaxParts > 1000 || in.PartNumberMarker < 0 {
		return nil, invalid("MaxParts must be 0..1000 and PartNumberMarker >= 0")
	}
	q := url.Values{"uploadId": {in.UploadID}}
	if in.MaxParts > 0 {
		q.Set("max-parts", strconv.Itoa(in.MaxParts))
	}
	if in.PartNumberMarker > 0 {
		q.Set("part-number-marker", strconv.Itoa(in.PartNumberMarker))
	}
	out := &ListPartsOutput{}
	err := c.do(ctx, &request{
		op: "ListParts", method: http.MethodGet, bucket: in.Bucket, key: in.Key, query: q,
		handle: func(resp *http.Response) error {
			var r xmlListPartsResult
			if err := decodeXML(resp.Body, "ListPartsResult", resp.StatusCode, &r); err != nil {
				return err
			}
			*out = ListPartsOutput{RequestID: c.requestID(resp.Header), Bucket: r.Bucket, Key: r.Key,
				UploadID: r.UploadID, IsTruncated: r.IsTruncated, NextPartNumberMarker: r.NextPartNumberMarker}
			for _, p := range r.Parts {
				out.Parts = append(out.Parts, Part{PartNumber: p.PartNumber, LastModified: parseISOTime(p.LastModified), ETag: p.ETag, Size: p.Size})
			}
			if out.IsTruncated && out.NextPartNumberMarker == 0 && len(out.Parts) > 0 {
				out.NextPartNumberMarker = out.Parts[len(out.Parts)-1].PartNumber
			}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("list parts of %q: %w", in.Key, err)
	}
	return out, nil
}

// ListMultipartUploadsInput lists in-progress uploads, one page.
type ListMultipartUploadsInput struct {
	Bucket         string
	Prefix         string
	Delimiter      string
	KeyMarker      string
	UploadIDMarker string // meaningful only with KeyMarker
	MaxUploads     int    // 0: server default (1000)
}

// Upload is one in-progress multipart upload.
type Upload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// ListMultipartUploadsOutput is one page of ListMultipartUploads.
type ListMultipartUploadsOutput struct {
	RequestID          string
	Uploads            []Upload
	CommonPrefixes     []string
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// ListMultipartUploads lists one page of in-progress uploads; continue with
// the Next markers while IsTruncated. Keys are requested URL-encoded so any
// byte survives XML.
func (c *Client) ListMultipartUploads(ctx context.Context, in *ListMultipartUploadsInput) (*ListMultipartUploadsOutput, error) {
	if err := ValidateBucketName(in.Bucket); err != nil {
		return nil, err
	}
	if in.MaxUploads < 0 || in.MaxUploads > 1000 {
		return nil, invalid("MaxUploads must be 0..1000")
	}
	q := url.Values{"uploads": {""}, "encoding-type": {"url"}}
	setNonEmpty(q, "prefix", in.Prefix)
	setNonEmpty(q, "delimiter", in.Delimiter)
	setNonEmpty(q, "key-marker", in.KeyMarker)
	setNonEmpty(q, "upload-id-marker", in.UploadIDMarker)
	if in.MaxUploads > 0 {
		q.Set("max-uploads", strconv.Itoa(in.MaxUploads))
	}
	out := &ListMultipartUploadsOutput{}
	err := c.do(ctx, &request{
		op: "ListMultipartUploads", method: http.MethodGet, bucket: in.Bucket, query: q,
		handle: func(resp *http.Response) error {
			var r xmlListUploadsResult
			if err := decodeXML(resp.Body, "ListMultipartUploadsResult", resp.StatusCode, &r); err != nil {
				return err
			}
			d := urlDecoder{on: strings.EqualFold(r.EncodingType, "url")}
			*out = ListMultipartUploadsOutput{RequestID: c.requestID(resp.Header), IsTruncated: r.IsTruncated,
				NextKeyMarker: d.dec(r.NextKeyMarker), NextUploadIDMarker: r.NextUploadIDMarker}
			for _, u := range r.Uploads {
				out.Uploads = append(out.Uploads, Upload{Key: d.dec(u.Key), UploadID: u.UploadID, Initiated: parseISOTime(u.Initiated)})
			}
			for _, p := range r.CommonPrefixes {
				out.CommonPrefixes = append(out.CommonPrefixes, d.dec(p.Prefix))
			}
			if out.IsTruncated && out.NextKeyMarker == "" && len(out.Uploads) > 0 {
				last := out.Uploads[len(out.Uploads)-1]
				out.NextKeyMarker, out.NextUploadIDMarker = last.Key, last.UploadID
			}
			return d.err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("list multipart uploads in %q: %w", in.Bucket, err)
	}
	return out, nil
}

func setNonEmpty(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}
