package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/obsclient"
)

// These tests round-trip every obsclient API the filesystem uses through a
// real MinIO and check each result by reading it back. MinIO speaks AWS
// Signature V2 and V4, which TestSignatures and TestAwkwardKeys run side by
// side; the OBS-native dialect ("OBS AK:sig", x-obs- headers) is tested only
// against the golden vectors of obs-protocol.md §9 (package obsclient),
// because MinIO does not speak it.
//
// Retries through a fault-injecting proxy are tested in
// integration/faultproxy and not repeated here.

// server returns the shared MinIO for opts (see miniotest.Shared). With
// -short, which `make unit` uses, the test is skipped: unit runs must not
// need a server. If MinIO cannot be had (miniotest builds the pinned binary
// when it is missing), it is skipped, or fails under CI=true
// (miniotest.RequireCI).
func server(t *testing.T, opts miniotest.Options) *miniotest.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that needs MinIO (`make integration` runs it)")
	}
	return miniotest.Shared(t, opts)
}

// testCtx is t.Context() bounded so that a stuck request fails the test
// instead of hanging until the go test timeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := rand.Read(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func md5hex(p []byte) string {
	sum := md5.Sum(p)
	return hex.EncodeToString(sum[:])
}

// unquote removes the quotes around an ETag.
func unquote(etag string) string { return strings.Trim(etag, `"`) }

// checkBytes fails the test if got differs from want, naming the first
// differing offset rather than dumping megabytes.
func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s: read %d bytes, want %d; first difference at offset %d", what, len(got), len(want), i)
}

func putObject(t *testing.T, ctx context.Context, c *obsclient.Client, in *obsclient.PutObjectInput) *obsclient.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(ctx, in)
	if err != nil {
		t.Fatalf("PutObject %q: %v", in.Key, err)
	}
	return out
}

// readObject does GetObject and reads the whole body.
func readObject(t *testing.T, ctx context.Context, c *obsclient.Client, in *obsclient.GetObjectInput) (*obsclient.GetObjectOutput, []byte) {
	t.Helper()
	out, err := c.GetObject(ctx, in)
	if err != nil {
		t.Fatalf("GetObject %q (range %+v): %v", in.Key, in.Range, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %q: reading the body: %v", in.Key, err)
	}
	if int64(len(data)) != out.ContentLength {
		t.Errorf("GetObject %q: read %d bytes, ContentLength %d", in.Key, len(data), out.ContentLength)
	}
	return out, data
}

// checkObject reads an object (with an SSE-C key if given) and compares it
// with want.
func checkObject(t *testing.T, ctx context.Context, c *obsclient.Client, bucket, key string, want []byte, ssec ...string) {
	t.Helper()
	in := &obsclient.GetObjectInput{Bucket: bucket, Key: key}
	if len(ssec) == 2 {
		in.SseC, in.SseCKey = ssec[0], ssec[1]
	}
	out, got := readObject(t, ctx, c, in)
	checkBytes(t, fmt.Sprintf("object %q", key), got, want)
	if out.Size != int64(len(want)) || out.RangeStart != 0 {
		t.Errorf("object %q: Size %d, RangeStart %d; want %d, 0", key, out.Size, out.RangeStart, len(want))
	}
}

func headObject(t *testing.T, ctx context.Context, c *obsclient.Client, in *obsclient.HeadObjectInput) *obsclient.HeadObjectOutput {
	t.Helper()
	out, err := c.HeadObject(ctx, in)
	if err != nil {
		t.Fatalf("HeadObject %q: %v", in.Key, err)
	}
	return out
}

// initiate starts an upload and registers a cleanup that aborts it (an
// upload that was completed counts as aborted), so that no test leaves an
// upload behind even when it fails half-way.
func initiate(t *testing.T, ctx context.Context, c *obsclient.Client, in *obsclient.InitiateMultipartUploadInput) *obsclient.InitiateMultipartUploadOutput {
	t.Helper()
	out, err := c.InitiateMultipartUpload(ctx, in)
	if err != nil {
		t.Fatalf("InitiateMultipartUpload %q: %v", in.Key, err)
	}
	if out.UploadID == "" || out.Bucket != in.Bucket || out.Key != in.Key {
		t.Errorf("InitiateMultipartUpload %q: %+v", in.Key, out)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled: abort on a fresh context.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.AbortMultipartUpload(ctx, &obsclient.AbortMultipartUploadInput{Bucket: in.Bucket, Key: in.Key, UploadID: out.UploadID}); err != nil {
			t.Errorf("aborting upload %s of %q: %v", out.UploadID, in.Key, err)
		}
	})
	return out
}

func uploadPart(t *testing.T, ctx context.Context, c *obsclient.Client, in *obsclient.UploadPartInput) *obsclient.UploadPartOutput {
	t.Helper()
	out, err := c.UploadPart(ctx, in)
	if err != nil {
		t.Fatalf("UploadPart %d of %q: %v", in.PartNumber, in.Key, err)
	}
	return out
}

// uploadParts uploads data in parts of partSize (the last one shorter),
// with the SSE-C key if given, and returns the parts for Complete.
func uploadParts(t *testing.T, ctx context.Context, c *obsclient.Client, bucket, key, uploadID string, data []byte, partSize int, ssec obsclient.SSE) []obsclient.CompletedPart {
	t.Helper()
	var parts []obsclient.CompletedPart
	for n, off := 1, 0; off < len(data); n, off = n+1, off+partSize {
		end := min(off+partSize, len(data))
		out := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: uploadID,
			PartNumber: n, Body: bytes.NewReader(data[off:end]), SseC: ssec.SseC, SseCKey: ssec.SseCKey})
		parts = append(parts, obsclient.CompletedPart{PartNumber: n, ETag: out.ETag})
	}
	return parts
}

func complete(t *testing.T, ctx context.Context, c *obsclient.Client, bucket, key, uploadID string, parts []obsclient.CompletedPart) *obsclient.CompleteMultipartUploadOutput {
	t.Helper()
	out, err := c.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{Bucket: bucket, Key: key,
		UploadID: uploadID, Parts: parts})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload %q: %v", key, err)
	}
	if out.Recovered {
		t.Errorf("CompleteMultipartUpload %q: Recovered without any failure", key)
	}
	return out
}

// checkMultipartETag checks that a completed object's ETag is the S3
// multipart ETag of its parts.
func checkMultipartETag(t *testing.T, etag string, parts []obsclient.CompletedPart) {
	t.Helper()
	want, ok := obsclient.ExpectedMultipartETag(parts)
	if !ok {
		t.Fatalf("ExpectedMultipartETag(%v): a part ETag is not a hex MD5", parts)
	}
	if got := unquote(etag); got != want || !strings.HasSuffix(got, fmt.Sprintf("-%d", len(parts))) {
		t.Errorf("multipart ETag %s, want %s", etag, want)
	}
}

// listAll follows NextMarker through every page of a listing and returns
// the keys and common prefixes in listing order and the number of pages.
func listAll(t *testing.T, ctx context.Context, c *obsclient.Client, in obsclient.ListObjectsInput) (keys, prefixes []string, pages int) {
	t.Helper()
	for {
		out, err := c.ListObjects(ctx, &in)
		if err != nil {
			t.Fatalf("ListObjects %+v: %v", in, err)
		}
		pages++
		if in.MaxKeys > 0 && len(out.Contents)+len(out.CommonPrefixes) > in.MaxKeys {
			t.Errorf("page %d: %d entries, more than MaxKeys %d", pages, len(out.Contents)+len(out.CommonPrefixes), in.MaxKeys)
		}
		for _, o := range out.Contents {
			keys = append(keys, o.Key)
		}
		prefixes = append(prefixes, out.CommonPrefixes...)
		if !out.IsTruncated {
			return keys, prefixes, pages
		}
		if out.NextMarker <= in.Marker {
			t.Fatalf("page %d: NextMarker %q does not advance past %q", pages, out.NextMarker, in.Marker)
		}
		in.Marker = out.NextMarker
		if pages > 1000 {
			t.Fatal("more than 1000 pages")
		}
	}
}

// sseCKey returns a fresh SSE-C setting.
func sseCKey(t *testing.T) obsclient.SSE {
	return obsclient.SSE{SseC: "AES256", SseCKey: base64.StdEncoding.EncodeToString(randomBytes(t, 32))}
}

// forEachSignature runs f as parallel subtests, one per AWS signature
// dialect MinIO speaks, each with its own client.
func forEachSignature(t *testing.T, s *miniotest.Server, f func(t *testing.T, c *obsclient.Client)) {
	for _, sig := range []obsclient.Signature{obsclient.SignatureV4, obsclient.SignatureV2} {
		t.Run(string(sig), func(t *testing.T) {
			t.Parallel()
			f(t, s.Client(t, func(cfg *obsclient.Config) { cfg.Signature = sig }))
		})
	}
}

func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)

	// The object UploadPartCopy copies a range of.
	src := randomBytes(t, 7<<20)
	putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: "copy source", Body: bytes.NewReader(src)})

	const key = "multipart/object"
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key,
		ContentType: "application/x-obsfs-test", Metadata: map[string]string{"origin": "initiate"}})

	part1 := randomBytes(t, obsclient.MinPartSizeS3)
	out1 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID,
		PartNumber: 1, Body: bytes.NewReader(part1)})
	if unquote(out1.ETag) != md5hex(part1) || out1.RequestID == "" {
		t.Errorf("UploadPart 1: ETag %s, request ID %q; want the MD5 %s and an ID", out1.ETag, out1.RequestID, md5hex(part1))
	}

	rng := &obsclient.Range{Start: 1 << 20, End: 1<<20 + obsclient.MinPartSizeS3 - 1}
	part2 := src[rng.Start : rng.End+1]
	out2, err := c.UploadPartCopy(ctx, &obsclient.UploadPartCopyInput{Bucket: bucket, Key: key, UploadID: up.UploadID,
		PartNumber: 2, SourceBucket: bucket, SourceKey: "copy source", SourceRange: rng})
	if err != nil {
		t.Fatalf("UploadPartCopy: %v", err)
	}
	if unquote(out2.ETag) != md5hex(part2) || out2.LastModified.IsZero() {
		t.Errorf("UploadPartCopy: ETag %s, LastModified %v; want the MD5 %s of the range", out2.ETag, out2.LastModified, md5hex(part2))
	}

	part3 := []byte("the last part may be shorter than 5 MiB")
	out3 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID,
		PartNumber: 3, Body: bytes.NewReader(part3)})
	parts := []obsclient.CompletedPart{{PartNumber: 1, ETag: out1.ETag}, {PartNumber: 2, ETag: out2.ETag}, {PartNumber: 3, ETag: out3.ETag}}

	lp, err := c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: key, UploadID: up.UploadID})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	if lp.UploadID != up.UploadID || lp.Key != key || lp.Bucket != bucket || lp.IsTruncated || len(lp.Parts) != 3 {
		t.Fatalf("ListParts: %+v", lp)
	}
	for i, want := range [][]byte{part1, part2, part3} {
		p := lp.Parts[i]
		if p.PartNumber != i+1 || p.Size != int64(len(want)) || unquote(p.ETag) != unquote(parts[i].ETag) || p.LastModified.IsZero() {
			t.Errorf("ListParts part %d: %+v; want size %d, ETag %s", i+1, p, len(want), parts[i].ETag)
		}
	}

	// MinIO quirk: with a prefix, ListMultipartUploads finds only the
	// uploads of exactly that key, which is what this lookup uses.
	lu, err := c.ListMultipartUploads(ctx, &obsclient.ListMultipartUploadsInput{Bucket: bucket, Prefix: key})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	if len(lu.Uploads) != 1 || lu.Uploads[0].UploadID != up.UploadID || lu.Uploads[0].Key != key || lu.Uploads[0].Initiated.IsZero() {
		t.Errorf("ListMultipartUploads: %+v; want the one upload %s", lu.Uploads, up.UploadID)
	}

	// Complete sorts the parts: give them out of order.
	done := complete(t, ctx, c, bucket, key, up.UploadID, []obsclient.CompletedPart{parts[2], parts[0], parts[1]})
	checkMultipartETag(t, done.ETag, parts)
	if done.Bucket != bucket || done.Key != key || done.RequestID == "" {
		t.Errorf("CompleteMultipartUpload: %+v", done)
	}

	whole := slices.Concat(part1, part2, part3)
	head := headObject(t, ctx, c, &obsclient.HeadObjectInput{Bucket: bucket, Key: key})
	if head.Size != int64(len(whole)) || unquote(head.ETag) != unquote(done.ETag) ||
		head.ContentType != "application/x-obsfs-test" || head.Metadata["origin"] != "initiate" {
		t.Errorf("HeadObject: size %d ETag %s type %q metadata %v; want %d, %s, the Initiate settings",
			head.Size, head.ETag, head.ContentType, head.Metadata, len(whole), done.ETag)
	}
	checkObject(t, ctx, c, bucket, key, whole)

	// The completed upload is gone.
	if _, err := c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: key, UploadID: up.UploadID}); !obsclient.IsNoSuchUpload(err) {
		t.Errorf("ListParts after Complete: %v, want NoSuchUpload", err)
	}
	lu, err = c.ListMultipartUploads(ctx, &obsclient.ListMultipartUploadsInput{Bucket: bucket})
	if err != nil || len(lu.Uploads) != 0 {
		t.Errorf("ListMultipartUploads after Complete: %+v, %v; want none", lu, err)
	}
}

func TestAbortMultipartUpload(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "aborted"
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 1,
		Body: bytes.NewReader(randomBytes(t, 1000))})

	abort := &obsclient.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadID: up.UploadID}
	out, err := c.AbortMultipartUpload(ctx, abort)
	if err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	if out.RequestID == "" {
		t.Errorf("AbortMultipartUpload: no request ID")
	}
	_, err = c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: key, UploadID: up.UploadID})
	if e := obsclient.AsError(err); e == nil || e.Status != http.StatusNotFound || e.Code != "NoSuchUpload" || !obsclient.IsNotFound(err) {
		t.Errorf("ListParts after Abort: %v, want 404 NoSuchUpload", err)
	}
	_, err = c.UploadPart(ctx, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 2,
		Body: strings.NewReader("late")})
	if !obsclient.IsNoSuchUpload(err) {
		t.Errorf("UploadPart after Abort: %v, want NoSuchUpload", err)
	}
	// An upload that no longer exists counts as aborted.
	if _, err := c.AbortMultipartUpload(ctx, abort); err != nil {
		t.Errorf("second AbortMultipartUpload: %v, want nil", err)
	}
	if _, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: key}); !obsclient.IsNotFound(err) {
		t.Errorf("HeadObject of an aborted upload's key: %v, want not found", err)
	}
	lu, err := c.ListMultipartUploads(ctx, &obsclient.ListMultipartUploadsInput{Bucket: bucket})
	if err != nil || len(lu.Uploads) != 0 {
		t.Errorf("ListMultipartUploads after Abort: %+v, %v; want none", lu, err)
	}
}

// TestUploadPartFromSourceFile uploads a file in parts read from
// SourceFile: each part is [Offset, Offset+PartSize) of it, the last one
// shorter.
func TestUploadPartFromSourceFile(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)

	const size = 12<<20 + 123
	const partSize = 5 << 20
	data := randomBytes(t, size)
	path := filepath.Join(t.TempDir(), "source file")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	const key = "from/source file"
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	var parts []obsclient.CompletedPart
	var sizes []int64
	for n, off := 1, int64(0); off < size; n, off = n+1, off+partSize {
		out := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID,
			PartNumber: n, SourceFile: path, Offset: off, PartSize: partSize})
		slice := data[off:min(off+partSize, size)]
		if unquote(out.ETag) != md5hex(slice) {
			t.Errorf("part %d: ETag %s, want the MD5 %s of bytes %d..%d", n, out.ETag, md5hex(slice), off, off+int64(len(slice)))
		}
		parts = append(parts, obsclient.CompletedPart{PartNumber: n, ETag: out.ETag})
		sizes = append(sizes, int64(len(slice)))
	}
	if want := []int64{partSize, partSize, 2<<20 + 123}; !slices.Equal(sizes, want) {
		t.Fatalf("part sizes %v, want %v", sizes, want)
	}
	lp, err := c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: key, UploadID: up.UploadID})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	var listed []int64
	for _, p := range lp.Parts {
		listed = append(listed, p.Size)
	}
	if !slices.Equal(listed, sizes) {
		t.Errorf("ListParts sizes %v, want %v", listed, sizes)
	}
	done := complete(t, ctx, c, bucket, key, up.UploadID, parts)
	checkMultipartETag(t, done.ETag, parts)
	checkObject(t, ctx, c, bucket, key, data)
}

// TestUploadPartOverwrite uploads part 1 twice: the second upload replaces
// the first (the idempotent retry the flusher relies on).
func TestUploadPartOverwrite(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "overwritten part"
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	first := []byte("first content of part 1")
	second := []byte("second, different and longer content of part 1")
	o1 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 1, Body: bytes.NewReader(first)})
	o2 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 1, Body: bytes.NewReader(second)})
	if o1.ETag == o2.ETag {
		t.Fatalf("both uploads of part 1 have ETag %s", o1.ETag)
	}
	lp, err := c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: key, UploadID: up.UploadID})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	if len(lp.Parts) != 1 || lp.Parts[0].PartNumber != 1 || unquote(lp.Parts[0].ETag) != unquote(o2.ETag) || lp.Parts[0].Size != int64(len(second)) {
		t.Errorf("ListParts: %+v; want part 1 with the second upload's ETag %s", lp.Parts, o2.ETag)
	}
	// The replaced part's ETag no longer names a part.
	_, err = c.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadID: up.UploadID,
		Parts: []obsclient.CompletedPart{{PartNumber: 1, ETag: o1.ETag}}})
	if e := obsclient.AsError(err); e == nil || e.Status != http.StatusBadRequest || e.Code != "InvalidPart" {
		t.Errorf("Complete with the replaced part's ETag: %v, want 400 InvalidPart", err)
	}
	done := complete(t, ctx, c, bucket, key, up.UploadID, []obsclient.CompletedPart{{PartNumber: 1, ETag: o2.ETag}})
	checkMultipartETag(t, done.ETag, []obsclient.CompletedPart{{PartNumber: 1, ETag: o2.ETag}})
	checkObject(t, ctx, c, bucket, key, second)
}

func TestBadDigest(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "bad digest"
	data := randomBytes(t, 1000)
	wrongMD5 := obsclient.ContentMD5([]byte("not the part"))

	checkBadDigest := func(op string, err error) {
		t.Helper()
		var e *obsclient.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s with a wrong Content-MD5: %v, want an *obsclient.Error", op, err)
		}
		if e.Status != http.StatusBadRequest || e.Code != "BadDigest" || e.RequestID == "" {
			t.Errorf("%s with a wrong Content-MD5: status %d code %q request ID %q; want 400 BadDigest with an ID",
				op, e.Status, e.Code, e.RequestID)
		}
		if obsclient.IsRetryable(err) {
			t.Errorf("%s: IsRetryable(BadDigest) = true", op)
		}
	}

	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	_, err := c.UploadPart(ctx, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 1,
		Body: bytes.NewReader(data), ContentMD5: wrongMD5})
	checkBadDigest("UploadPart", err)
	lp, err := c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: key, UploadID: up.UploadID})
	if err != nil || len(lp.Parts) != 0 {
		t.Errorf("ListParts after the refused part: %+v, %v; want no parts", lp, err)
	}

	_, err = c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data), ContentMD5: wrongMD5})
	checkBadDigest("PutObject", err)
	if _, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: key}); !obsclient.IsNotFound(err) {
		t.Errorf("HeadObject after the refused PutObject: %v, want not found", err)
	}
}

// TestEmptyLastPart completes an upload whose last part has no bytes
// (UploadPart with neither Body nor SourceFile).
func TestEmptyLastPart(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "empty last part"
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	part1 := randomBytes(t, obsclient.MinPartSizeS3)
	o1 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 1, Body: bytes.NewReader(part1)})
	o2 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 2})
	if unquote(o2.ETag) != md5hex(nil) {
		t.Errorf("empty part: ETag %s, want the MD5 of nothing %s", o2.ETag, md5hex(nil))
	}
	lp, err := c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: key, UploadID: up.UploadID})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	if len(lp.Parts) != 2 || lp.Parts[1].PartNumber != 2 || lp.Parts[1].Size != 0 {
		t.Errorf("ListParts: %+v; want part 2 with 0 bytes", lp.Parts)
	}
	parts := []obsclient.CompletedPart{{PartNumber: 1, ETag: o1.ETag}, {PartNumber: 2, ETag: o2.ETag}}
	done := complete(t, ctx, c, bucket, key, up.UploadID, parts)
	checkMultipartETag(t, done.ETag, parts)
	checkObject(t, ctx, c, bucket, key, part1)
}

func TestObjectRoundTrip(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "dir/object.bin"
	data := randomBytes(t, 300_000)
	meta := map[string]string{"Color": "blue", "x_y-z": "1 2 3", "empty": ""}
	put := putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data),
		ContentType: "text/plain; charset=utf-8", Metadata: meta})
	if unquote(put.ETag) != md5hex(data) || put.RequestID == "" {
		t.Errorf("PutObject: ETag %s request ID %q; want the MD5 %s and an ID", put.ETag, put.RequestID, md5hex(data))
	}
	// Metadata names come back lowercased; an empty value is kept.
	wantMeta := map[string]string{"color": "blue", "x_y-z": "1 2 3", "empty": ""}

	head := headObject(t, ctx, c, &obsclient.HeadObjectInput{Bucket: bucket, Key: key})
	if head.Size != int64(len(data)) || head.ETag != put.ETag || head.ContentType != "text/plain; charset=utf-8" ||
		head.LastModified.IsZero() || head.RequestID == "" {
		t.Errorf("HeadObject: %+v; want size %d, ETag %s", head, len(data), put.ETag)
	}
	if !maps.Equal(head.Metadata, wantMeta) {
		t.Errorf("HeadObject metadata %v, want %v", head.Metadata, wantMeta)
	}

	out, got := readObject(t, ctx, c, &obsclient.GetObjectInput{Bucket: bucket, Key: key})
	checkBytes(t, "GetObject", got, data)
	if out.Size != int64(len(data)) || out.RangeStart != 0 || out.ETag != put.ETag || out.Metadata["color"] != "blue" {
		t.Errorf("GetObject: size %d RangeStart %d ETag %s metadata %v", out.Size, out.RangeStart, out.ETag, out.Metadata)
	}

	n := int64(len(data))
	for _, r := range []obsclient.Range{
		{Start: 10, End: 99},
		{Start: 0, End: 0},
		{Start: n - 5, End: -1},        // to the end
		{Start: n - 5, End: n + 1000},  // past the end: the server stops at it
		{Start: 100_000, End: 199_999}, // a middle slice
		{Start: n - 1, End: n - 1},     // the last byte
		{Start: 65_536, End: n - 1},    // the rest
		{Start: 1, End: n - 2},         // all but the ends
		{Start: 299_000, End: 299_999}, // the tail exactly
		{Start: 200_000, End: 200_000 - 1 + 4096},
	} {
		out, got := readObject(t, ctx, c, &obsclient.GetObjectInput{Bucket: bucket, Key: key, Range: &r})
		end := r.End
		if end < 0 || end >= n {
			end = n - 1
		}
		checkBytes(t, fmt.Sprintf("range %d-%d", r.Start, r.End), got, data[r.Start:end+1])
		if out.RangeStart != r.Start || out.Size != n || out.ContentLength != end-r.Start+1 || out.ETag != put.ETag {
			t.Errorf("range %d-%d: RangeStart %d Size %d ContentLength %d ETag %s; want %d, %d, %d, %s",
				r.Start, r.End, out.RangeStart, out.Size, out.ContentLength, out.ETag, r.Start, n, end-r.Start+1, put.ETag)
		}
	}

	del, err := c.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if del.RequestID == "" {
		t.Errorf("DeleteObject: no request ID")
	}
	if _, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: key}); !obsclient.IsNotFound(err) {
		t.Errorf("HeadObject after DeleteObject: %v, want not found", err)
	}
	_, err = c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: key})
	if e := obsclient.AsError(err); e == nil || e.Status != http.StatusNotFound || e.Code != "NoSuchKey" || e.RequestID == "" {
		t.Errorf("GetObject after DeleteObject: %v, want 404 NoSuchKey with a request ID", err)
	}
	// Deleting a missing key succeeds.
	if _, err := c.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: bucket, Key: key}); err != nil {
		t.Errorf("DeleteObject of a missing key: %v", err)
	}

	// An empty object; a range of it does not exist.
	putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: "empty"})
	checkObject(t, ctx, c, bucket, "empty", nil)
	_, err = c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: "empty", Range: &obsclient.Range{Start: 0, End: -1}})
	if e := obsclient.AsError(err); e == nil || e.Status != http.StatusRequestedRangeNotSatisfiable || e.Code != "InvalidRange" {
		t.Errorf("GetObject of a range of an empty object: %v, want 416 InvalidRange", err)
	}
}

// TestGetObjectConditions checks ranges past the end and If-Match.
func TestGetObjectConditions(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "conditional"
	data := randomBytes(t, 1000)
	put := putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data)})

	_, err := c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: key, Range: &obsclient.Range{Start: 1000, End: -1}})
	if e := obsclient.AsError(err); e == nil || e.Status != http.StatusRequestedRangeNotSatisfiable || e.Code != "InvalidRange" {
		t.Errorf("GetObject from the end: %v, want 416 InvalidRange", err)
	}
	_, got := readObject(t, ctx, c, &obsclient.GetObjectInput{Bucket: bucket, Key: key, IfMatch: put.ETag, Range: &obsclient.Range{Start: 500, End: 599}})
	checkBytes(t, "GetObject If-Match the ETag", got, data[500:600])
	_, err = c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: key, IfMatch: `"` + md5hex(nil) + `"`})
	if !obsclient.IsPreconditionFailed(err) {
		t.Errorf("GetObject If-Match another ETag: %v, want 412", err)
	}

	// A copy guarded by another ETag fails; by the source's, succeeds.
	_, err = c.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: bucket, Key: "copy", SourceBucket: bucket, SourceKey: key,
		SourceIfMatch: `"` + md5hex(nil) + `"`})
	if !obsclient.IsPreconditionFailed(err) {
		t.Errorf("CopyObject with a stale SourceIfMatch: %v, want 412", err)
	}
	if _, err := c.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: bucket, Key: "copy", SourceBucket: bucket, SourceKey: key,
		SourceIfMatch: put.ETag}); err != nil {
		t.Errorf("CopyObject with the current SourceIfMatch: %v", err)
	}
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: "part copy"})
	_, err = c.UploadPartCopy(ctx, &obsclient.UploadPartCopyInput{Bucket: bucket, Key: "part copy", UploadID: up.UploadID, PartNumber: 1,
		SourceBucket: bucket, SourceKey: key, SourceIfMatch: `"` + md5hex(nil) + `"`})
	if !obsclient.IsPreconditionFailed(err) {
		t.Errorf("UploadPartCopy with a stale SourceIfMatch: %v, want 412", err)
	}
	cp, err := c.UploadPartCopy(ctx, &obsclient.UploadPartCopyInput{Bucket: bucket, Key: "part copy", UploadID: up.UploadID, PartNumber: 1,
		SourceBucket: bucket, SourceKey: key, SourceIfMatch: put.ETag})
	if err != nil {
		t.Fatalf("UploadPartCopy of the whole source with the current SourceIfMatch: %v", err)
	}
	complete(t, ctx, c, bucket, "part copy", up.UploadID, []obsclient.CompletedPart{{PartNumber: 1, ETag: cp.ETag}})
	checkObject(t, ctx, c, bucket, "part copy", data)

	// A missing bucket.
	_, err = c.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: bucket + "-missing"})
	if !obsclient.IsNotFound(err) || obsclient.Code(err) != "NoSuchBucket" {
		t.Errorf("ListObjects of a missing bucket: %v, want NoSuchBucket", err)
	}
}

// onlyReader hides every method but Read, so the client must buffer it.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestBodies checks how PutObject and UploadPart take their bytes: a
// seekable Body from its current position, PartSize bounding a part, and a
// plain io.Reader read into memory.
func TestBodies(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	data := randomBytes(t, 2*obsclient.MinPartSizeS3+1<<20)

	r := bytes.NewReader(data)
	if _, err := r.Seek(1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: "from position", Body: r})
	checkObject(t, ctx, c, bucket, "from position", data[1000:])
	putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: "plain reader", Body: onlyReader{bytes.NewReader(data)}})
	checkObject(t, ctx, c, bucket, "plain reader", data)

	const key = "parts from bodies"
	const ps = obsclient.MinPartSizeS3
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	// Part 1: PartSize bounds a longer seekable body.
	o1 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 1,
		Body: bytes.NewReader(data), PartSize: ps})
	// Part 2: a plain reader, bounded by PartSize too.
	o2 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 2,
		Body: onlyReader{bytes.NewReader(data[ps:])}, PartSize: ps})
	// Part 3: the rest of a reader positioned after the first two parts.
	r = bytes.NewReader(data)
	if _, err := r.Seek(2*ps, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	o3 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: 3, Body: r})
	for i, o := range []*obsclient.UploadPartOutput{o1, o2, o3} {
		if want := md5hex(data[i*ps : min((i+1)*ps, len(data))]); unquote(o.ETag) != want {
			t.Errorf("part %d: ETag %s, want %s", i+1, o.ETag, want)
		}
	}
	parts := []obsclient.CompletedPart{{PartNumber: 1, ETag: o1.ETag}, {PartNumber: 2, ETag: o2.ETag}, {PartNumber: 3, ETag: o3.ETag}}
	complete(t, ctx, c, bucket, key, up.UploadID, parts)
	checkObject(t, ctx, c, bucket, key, data)
}

// TestEntityTooSmall completes an upload whose first part is under the S3
// minimum: the refusal must come back as a typed error, and the upload
// stays pending.
func TestEntityTooSmall(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "too small"
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	parts := uploadParts(t, ctx, c, bucket, key, up.UploadID, randomBytes(t, 3<<20), 2<<20, obsclient.SSE{})
	_, err := c.CompleteMultipartUpload(ctx, &obsclient.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadID: up.UploadID, Parts: parts})
	if e := obsclient.AsError(err); e == nil || e.Status != http.StatusBadRequest || e.Code != "EntityTooSmall" {
		t.Errorf("Complete with a 2 MiB first part: %v, want 400 EntityTooSmall", err)
	}
	if _, err := c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: key, UploadID: up.UploadID}); err != nil {
		t.Errorf("ListParts after the refused Complete: %v, want the upload still pending", err)
	}
}

func TestDeleteObjects(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	for _, k := range []string{"del/1", "del/2", "del/3 & <xml>", "keep/1", "keep/2"} {
		putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: k, Body: strings.NewReader(k)})
	}
	out, err := c.DeleteObjects(ctx, &obsclient.DeleteObjectsInput{Bucket: bucket, Objects: []obsclient.ObjectID{
		{Key: "del/1"}, {Key: "del/2"}, {Key: "del/3 & <xml>"}, {Key: "del/missing"}}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, d.Key)
	}
	slices.Sort(deleted)
	// S3 reports a missing key as deleted.
	if want := []string{"del/1", "del/2", "del/3 & <xml>", "del/missing"}; !slices.Equal(deleted, want) || len(out.Errors) != 0 {
		t.Errorf("DeleteObjects: deleted %q, errors %+v; want %q and no errors", deleted, out.Errors, want)
	}
	keys, _, _ := listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket})
	if want := []string{"keep/1", "keep/2"}; !slices.Equal(keys, want) {
		t.Errorf("after DeleteObjects: keys %q, want %q", keys, want)
	}

	out, err = c.DeleteObjects(ctx, &obsclient.DeleteObjectsInput{Bucket: bucket, Quiet: true, Objects: []obsclient.ObjectID{{Key: "keep/1"}}})
	if err != nil {
		t.Fatalf("quiet DeleteObjects: %v", err)
	}
	if len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Errorf("quiet DeleteObjects: %+v; want nothing listed", out)
	}
	keys, _, _ = listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket})
	if want := []string{"keep/2"}; !slices.Equal(keys, want) {
		t.Errorf("after quiet DeleteObjects: keys %q, want %q", keys, want)
	}
}

func TestCopyObject(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	other := s.Bucket(t, t.Name()+"-other")
	ctx := testCtx(t)
	data := randomBytes(t, 100_000)
	const src = "source object"
	put := putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: src, Body: bytes.NewReader(data),
		ContentType: "application/x-source", Metadata: map[string]string{"a": "1"}})

	for _, tc := range []struct {
		name      string
		in        obsclient.CopyObjectInput
		wantMeta  map[string]string
		wantType  string
		dstBucket string
	}{
		{"default directive", obsclient.CopyObjectInput{Key: "copy/default"}, map[string]string{"a": "1"}, "application/x-source", bucket},
		{"COPY", obsclient.CopyObjectInput{Key: "copy/copy", MetadataDirective: obsclient.MetadataCopy}, map[string]string{"a": "1"}, "application/x-source", bucket},
		{"REPLACE", obsclient.CopyObjectInput{Key: "copy/replace", MetadataDirective: obsclient.MetadataReplace,
			Metadata: map[string]string{"b": "2"}, ContentType: "application/x-replaced"}, map[string]string{"b": "2"}, "application/x-replaced", bucket},
		{"other bucket", obsclient.CopyObjectInput{Key: "copy/other bucket"}, map[string]string{"a": "1"}, "application/x-source", other},
		// Last: it changes the source.
		{"onto itself", obsclient.CopyObjectInput{Key: src, MetadataDirective: obsclient.MetadataReplace,
			Metadata: map[string]string{"c": "3"}, ContentType: "application/x-self"}, map[string]string{"c": "3"}, "application/x-self", bucket},
	} {
		in := tc.in
		in.Bucket, in.SourceBucket, in.SourceKey = tc.dstBucket, bucket, src
		out, err := c.CopyObject(ctx, &in)
		if err != nil {
			t.Errorf("%s: CopyObject: %v", tc.name, err)
			continue
		}
		if unquote(out.ETag) != unquote(put.ETag) || out.LastModified.IsZero() {
			t.Errorf("%s: CopyObject ETag %s LastModified %v; want the source's %s", tc.name, out.ETag, out.LastModified, put.ETag)
		}
		head := headObject(t, ctx, c, &obsclient.HeadObjectInput{Bucket: tc.dstBucket, Key: in.Key})
		if !maps.Equal(head.Metadata, tc.wantMeta) || head.ContentType != tc.wantType {
			t.Errorf("%s: metadata %v type %q; want %v, %q", tc.name, head.Metadata, head.ContentType, tc.wantMeta, tc.wantType)
		}
		checkObject(t, ctx, c, tc.dstBucket, in.Key, data)
	}

	// Onto itself without REPLACE is refused before any request.
	_, err := c.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: bucket, Key: src, SourceBucket: bucket, SourceKey: src})
	if !errors.Is(err, obsclient.ErrInvalidArgument) {
		t.Errorf("CopyObject onto itself with COPY: %v, want ErrInvalidArgument", err)
	}
	// A missing source.
	_, err = c.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: bucket, Key: "copy/none", SourceBucket: bucket, SourceKey: "missing"})
	if !obsclient.IsNotFound(err) {
		t.Errorf("CopyObject of a missing source: %v, want not found", err)
	}
}

func TestListObjects(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	all := []string{"a/1", "a/2", "a/b/3", "b/4", "c", "d", "e"}
	etags := map[string]string{}
	for _, k := range all {
		out := putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: k, Body: strings.NewReader("body of " + k)})
		etags[k] = out.ETag
	}

	page, err := c.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: bucket})
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	if page.IsTruncated || len(page.Contents) != len(all) || page.RequestID == "" {
		t.Fatalf("ListObjects: %+v; want %d keys on one page", page, len(all))
	}
	for i, o := range page.Contents {
		if o.Key != all[i] || o.Size != int64(len("body of "+o.Key)) || unquote(o.ETag) != unquote(etags[o.Key]) || o.LastModified.IsZero() {
			t.Errorf("entry %d: %+v; want key %q size %d ETag %s", i, o, all[i], len("body of "+all[i]), etags[all[i]])
		}
	}

	for _, tc := range []struct {
		prefix, delimiter string
		keys, prefixes    []string
	}{
		{"a/", "", []string{"a/1", "a/2", "a/b/3"}, nil},
		{"a/", "/", []string{"a/1", "a/2"}, []string{"a/b/"}},
		{"", "/", []string{"c", "d", "e"}, []string{"a/", "b/"}},
		{"a", "/", nil, []string{"a/"}},
		{"zzz", "", nil, nil},
	} {
		for _, maxKeys := range []int{0, 2} {
			keys, prefixes, pages := listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket, Prefix: tc.prefix,
				Delimiter: tc.delimiter, MaxKeys: maxKeys})
			if !slices.Equal(keys, tc.keys) || !slices.Equal(prefixes, tc.prefixes) {
				t.Errorf("prefix %q delimiter %q max-keys %d: keys %q prefixes %q (%d pages); want %q, %q",
					tc.prefix, tc.delimiter, maxKeys, keys, prefixes, pages, tc.keys, tc.prefixes)
			}
		}
	}

	// MaxKeys 2 over the 7 keys: 4 pages, following NextMarker.
	keys, _, pages := listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket, MaxKeys: 2})
	if !slices.Equal(keys, all) || pages != 4 {
		t.Errorf("MaxKeys 2: keys %q in %d pages; want %q in 4", keys, pages, all)
	}
	// MinIO appends a listing-cache tag to NextMarker ("a/2[minio_cache:...]");
	// the client passes it back unchanged, as it must.
	first, err := c.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: bucket, MaxKeys: 2})
	if err != nil || !first.IsTruncated || !strings.HasPrefix(first.NextMarker, "a/2") || len(first.Contents) != 2 {
		t.Errorf("first page of 2: %+v, %v; want a truncated page ending at a/2", first, err)
	}
}

func TestHeadBucket(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	if err := c.HeadBucket(ctx, bucket); err != nil {
		t.Errorf("HeadBucket(%q): %v", bucket, err)
	}
	err := c.HeadBucket(ctx, bucket+"-missing")
	if e := obsclient.AsError(err); !obsclient.IsNotFound(err) || e == nil || e.Status != http.StatusNotFound {
		t.Errorf("HeadBucket of a missing bucket: %v, want a 404 that IsNotFound", err)
	}
	if err := c.HeadBucket(ctx, "Not_A_Bucket"); !errors.Is(err, obsclient.ErrInvalidArgument) {
		t.Errorf("HeadBucket of an invalid name: %v, want ErrInvalidArgument", err)
	}
}

// TestSignatures runs a representative set of operations (put, head, get,
// list, multipart, copy, delete) with AWS Signature V4 and V2. The OBS
// dialect is tested only against golden vectors: MinIO does not speak it.
func TestSignatures(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	for _, sig := range []obsclient.Signature{obsclient.SignatureV4, obsclient.SignatureV2} {
		t.Run(string(sig), func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, func(cfg *obsclient.Config) { cfg.Signature = sig })
			if c.Signature() != sig {
				t.Fatalf("Signature() = %v", c.Signature())
			}
			bucket := s.Bucket(t, t.Name())
			ctx := testCtx(t)
			if err := c.HeadBucket(ctx, bucket); err != nil {
				t.Fatalf("HeadBucket: %v", err)
			}

			const key = "dir/signed object+1 ü"
			data := randomBytes(t, 200_000)
			put := putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data),
				ContentType: "application/octet-stream", Metadata: map[string]string{"sig": string(sig)}})
			head := headObject(t, ctx, c, &obsclient.HeadObjectInput{Bucket: bucket, Key: key})
			if head.Size != int64(len(data)) || head.ETag != put.ETag || head.Metadata["sig"] != string(sig) {
				t.Errorf("HeadObject: size %d ETag %s metadata %v", head.Size, head.ETag, head.Metadata)
			}
			checkObject(t, ctx, c, bucket, key, data)
			out, got := readObject(t, ctx, c, &obsclient.GetObjectInput{Bucket: bucket, Key: key, Range: &obsclient.Range{Start: 1000, End: 1999}})
			checkBytes(t, "ranged GetObject", got, data[1000:2000])
			if out.RangeStart != 1000 || out.Size != int64(len(data)) {
				t.Errorf("ranged GetObject: RangeStart %d Size %d", out.RangeStart, out.Size)
			}

			// Multipart, with ListParts and ListMultipartUploads on the way.
			const mpKey = "dir/multi part=2&x"
			up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: mpKey})
			whole := randomBytes(t, obsclient.MinPartSizeS3+4321)
			parts := uploadParts(t, ctx, c, bucket, mpKey, up.UploadID, whole, obsclient.MinPartSizeS3, obsclient.SSE{})
			lp, err := c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: mpKey, UploadID: up.UploadID, MaxParts: 1})
			if err != nil || len(lp.Parts) != 1 || !lp.IsTruncated || lp.NextPartNumberMarker != 1 {
				t.Errorf("ListParts max 1: %+v, %v", lp, err)
			}
			lu, err := c.ListMultipartUploads(ctx, &obsclient.ListMultipartUploadsInput{Bucket: bucket, MaxUploads: 10})
			if err != nil || len(lu.Uploads) != 1 || lu.Uploads[0].Key != mpKey || lu.Uploads[0].UploadID != up.UploadID {
				t.Errorf("ListMultipartUploads: %+v, %v", lu, err)
			}
			done := complete(t, ctx, c, bucket, mpKey, up.UploadID, parts)
			checkMultipartETag(t, done.ETag, parts)
			checkObject(t, ctx, c, bucket, mpKey, whole)

			// UploadPartCopy and CopyObject sign the copy-source header.
			const cpKey = "dir/part copy"
			up2 := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: cpKey})
			cp, err := c.UploadPartCopy(ctx, &obsclient.UploadPartCopyInput{Bucket: bucket, Key: cpKey, UploadID: up2.UploadID,
				PartNumber: 1, SourceBucket: bucket, SourceKey: mpKey, SourceRange: &obsclient.Range{Start: 5, End: 104}})
			if err != nil {
				t.Fatalf("UploadPartCopy: %v", err)
			}
			complete(t, ctx, c, bucket, cpKey, up2.UploadID, []obsclient.CompletedPart{{PartNumber: 1, ETag: cp.ETag}})
			checkObject(t, ctx, c, bucket, cpKey, whole[5:105])
			if _, err := c.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: bucket, Key: "copy", SourceBucket: bucket, SourceKey: key,
				MetadataDirective: obsclient.MetadataReplace, Metadata: map[string]string{"copied": "yes"}}); err != nil {
				t.Fatalf("CopyObject: %v", err)
			}
			checkObject(t, ctx, c, bucket, "copy", data)

			keys, prefixes, _ := listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket, Delimiter: "/", MaxKeys: 1})
			if !slices.Equal(keys, []string{"copy"}) || !slices.Equal(prefixes, []string{"dir/"}) {
				t.Errorf("ListObjects: keys %q prefixes %q", keys, prefixes)
			}
			if _, err := c.DeleteObjects(ctx, &obsclient.DeleteObjectsInput{Bucket: bucket, Objects: []obsclient.ObjectID{{Key: key}, {Key: mpKey}}}); err != nil {
				t.Errorf("DeleteObjects: %v", err)
			}
			for _, k := range []string{"copy", cpKey} {
				if _, err := c.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: bucket, Key: k}); err != nil {
					t.Errorf("DeleteObject %q: %v", k, err)
				}
			}
			if keys, _, _ := listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket}); len(keys) != 0 {
				t.Errorf("after deleting everything: %q", keys)
			}
		})
	}
}

// awkwardKeys are keys whose encoding differs between the URL path, the
// V2 canonical resource, the copy-source header, XML and the url-encoded
// listings. MinIO refuses path components over 255 bytes, so the
// 1024-byte key is made of shorter components.
func awkwardKeys() []string {
	var long strings.Builder
	long.WriteString("long/")
	for long.Len() < obsclient.MaxKeyLength {
		seg := strings.Repeat("x", min(200, obsclient.MaxKeyLength-long.Len()-1)) + "/"
		if long.Len()+len(seg) >= obsclient.MaxKeyLength {
			seg = strings.Repeat("y", obsclient.MaxKeyLength-long.Len())
		}
		long.WriteString(seg)
	}
	return []string{
		"space/with space",
		"space/two  spaces and a trailing one ",
		"plus/a+b",
		"plus/a b", // must not be confused with a+b
		"percent/100%",
		"percent/%41%2F%zz%",
		"unicode/ünïcödé/日本語/😀.txt",
		"newline/line1\nline2",
		"cr/line1\rline2",
		"crlf/line1\r\nline2\r\n",
		"tab/a\tb",
		"del/\x7f",
		"separator/\u2028\u2029",
		"mixed/ +%\t~*'()!$&,;=:@?#[]<>\"{}|\\^`",
		long.String(),
	}
}

func TestAwkwardKeys(t *testing.T) {
	t.Parallel()
	keys := awkwardKeys()
	if long := keys[len(keys)-1]; len(long) != obsclient.MaxKeyLength {
		t.Fatalf("the long key has %d bytes, want %d", len(long), obsclient.MaxKeyLength)
	}
	s := server(t, miniotest.Options{})
	for _, sig := range []obsclient.Signature{obsclient.SignatureV4, obsclient.SignatureV2} {
		t.Run(string(sig), func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, func(cfg *obsclient.Config) { cfg.Signature = sig })
			bucket := s.Bucket(t, t.Name())
			ctx := testCtx(t)
			content := func(k string) []byte { return []byte("content of " + k) }
			for _, k := range keys {
				putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: k, Body: bytes.NewReader(content(k))})
			}
			for _, k := range keys {
				checkObject(t, ctx, c, bucket, k, content(k))
				if head := headObject(t, ctx, c, &obsclient.HeadObjectInput{Bucket: bucket, Key: k}); head.Size != int64(len(content(k))) {
					t.Errorf("HeadObject %q: size %d", k, head.Size)
				}
				// The key as a prefix (in the query) finds the key first.
				out, err := c.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: bucket, Prefix: k})
				if err != nil || len(out.Contents) == 0 || out.Contents[0].Key != k {
					t.Errorf("ListObjects prefix %q: %+v, %v", k, out, err)
				}
			}
			sorted := slices.Sorted(slices.Values(keys))
			listed, _, _ := listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket})
			if !slices.Equal(listed, sorted) {
				t.Errorf("ListObjects: %q\nwant %q", listed, sorted)
			}
			listed, _, _ = listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket, MaxKeys: 3})
			if !slices.Equal(listed, sorted) {
				t.Errorf("ListObjects by 3: %q\nwant %q", listed, sorted)
			}
			_, prefixes, _ := listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket, Delimiter: "/"})
			var wantPrefixes []string
			for _, k := range sorted {
				p, _, _ := strings.Cut(k, "/")
				if len(wantPrefixes) == 0 || wantPrefixes[len(wantPrefixes)-1] != p+"/" {
					wantPrefixes = append(wantPrefixes, p+"/")
				}
			}
			if !slices.Equal(prefixes, wantPrefixes) {
				t.Errorf("common prefixes %q, want %q", prefixes, wantPrefixes)
			}

			// The copy-source header and the multipart listings.
			for i, k := range keys {
				dst := fmt.Sprintf("copies/%02d", i)
				if _, err := c.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: bucket, Key: dst, SourceBucket: bucket, SourceKey: k}); err != nil {
					t.Errorf("CopyObject from %q: %v", k, err)
					continue
				}
				checkObject(t, ctx, c, bucket, dst, content(k))
			}
			uploads := map[string]string{}
			for _, k := range keys {
				uploads[initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: k}).UploadID] = k
			}
			lu, err := c.ListMultipartUploads(ctx, &obsclient.ListMultipartUploadsInput{Bucket: bucket})
			if err != nil {
				t.Fatalf("ListMultipartUploads: %v", err)
			}
			for _, u := range lu.Uploads {
				if uploads[u.UploadID] != u.Key {
					t.Errorf("ListMultipartUploads: upload %s has key %q, want %q", u.UploadID, u.Key, uploads[u.UploadID])
				}
				delete(uploads, u.UploadID)
			}
			if len(uploads) != 0 {
				t.Errorf("ListMultipartUploads misses %v", uploads)
			}
			for _, k := range keys[:2] {
				up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: k + ".mp"})
				parts := uploadParts(t, ctx, c, bucket, k+".mp", up.UploadID, content(k), 1<<20, obsclient.SSE{})
				complete(t, ctx, c, bucket, k+".mp", up.UploadID, parts)
				checkObject(t, ctx, c, bucket, k+".mp", content(k))
			}

			var ids []obsclient.ObjectID
			for _, k := range keys {
				ids = append(ids, obsclient.ObjectID{Key: k})
			}
			del, err := c.DeleteObjects(ctx, &obsclient.DeleteObjectsInput{Bucket: bucket, Objects: ids})
			if err != nil || len(del.Errors) != 0 || len(del.Deleted) != len(keys) {
				t.Fatalf("DeleteObjects: %+v, %v", del, err)
			}
			for _, d := range del.Deleted {
				if !slices.Contains(keys, d.Key) {
					t.Errorf("DeleteObjects reports key %q, which was not asked for", d.Key)
				}
			}
			for _, k := range keys {
				if _, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: k}); !obsclient.IsNotFound(err) {
					t.Errorf("HeadObject %q after DeleteObjects: %v", k, err)
				}
			}
		})
	}
}

// TestControlCharacterKey checks a key with control characters that XML
// 1.0 cannot carry: Put, Get and a url-encoded listing handle it,
// DeleteObjects refuses it before sending, DeleteObject deletes it.
func TestControlCharacterKey(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "ctl/\x01\x1f\x1b[0m"
	putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("ctl")})
	checkObject(t, ctx, c, bucket, key, []byte("ctl"))
	if keys, _, _ := listAll(t, ctx, c, obsclient.ListObjectsInput{Bucket: bucket}); !slices.Equal(keys, []string{key}) {
		t.Errorf("ListObjects: %q, want %q", keys, key)
	}
	_, err := c.DeleteObjects(ctx, &obsclient.DeleteObjectsInput{Bucket: bucket, Objects: []obsclient.ObjectID{{Key: key}}})
	if !errors.Is(err, obsclient.ErrInvalidArgument) {
		t.Errorf("DeleteObjects of %q: %v, want ErrInvalidArgument", key, err)
	}
	if _, err := c.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: bucket, Key: key}); err != nil {
		t.Errorf("DeleteObject of %q: %v", key, err)
	}
	if _, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: key}); !obsclient.IsNotFound(err) {
		t.Errorf("HeadObject after DeleteObject: %v, want not found", err)
	}
}

func TestSSEC(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{TLS: true})
	forEachSignature(t, s, func(t *testing.T, c *obsclient.Client) { testSSEC(t, s, c) })
}

func testSSEC(t *testing.T, s *miniotest.Server, c *obsclient.Client) {
	if !c.HTTPS() {
		t.Fatalf("client of %s is not HTTPS", s.Endpoint)
	}
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	sse := sseCKey(t)
	rawKey, _ := base64.StdEncoding.DecodeString(sse.SseCKey)
	keyMD5 := obsclient.ContentMD5(rawKey)

	const key = "ssec/object"
	data := randomBytes(t, 1<<20+7)
	put := putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data), SSE: sse})
	if put.SseC != "AES256" || put.SseCKeyMD5 != keyMD5 {
		t.Errorf("PutObject: SSE result %+v; want AES256 with key MD5 %s", put.SSEResult, keyMD5)
	}

	// Without the key, or with another, the object cannot be read.
	other := sseCKey(t)
	for what, in := range map[string]*obsclient.GetObjectInput{
		"without the key":   {Bucket: bucket, Key: key},
		"with another key":  {Bucket: bucket, Key: key, SseC: other.SseC, SseCKey: other.SseCKey},
		"ranged without it": {Bucket: bucket, Key: key, Range: &obsclient.Range{Start: 0, End: 9}},
	} {
		out, err := c.GetObject(ctx, in)
		if err == nil {
			out.Body.Close()
			t.Errorf("GetObject %s succeeded", what)
			continue
		}
		var e *obsclient.Error
		if !errors.As(err, &e) || e.Status < 400 || e.RequestID == "" {
			t.Errorf("GetObject %s: %v, want an *obsclient.Error with a request ID", what, err)
		}
		t.Logf("GetObject %s: %v", what, err)
	}
	if _, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: key}); obsclient.AsError(err) == nil {
		t.Errorf("HeadObject without the key: %v, want an *obsclient.Error", err)
	}

	out, got := readObject(t, ctx, c, &obsclient.GetObjectInput{Bucket: bucket, Key: key, SseC: sse.SseC, SseCKey: sse.SseCKey})
	checkBytes(t, "GetObject with the key", got, data)
	if out.SseC != "AES256" || out.SseCKeyMD5 != keyMD5 {
		t.Errorf("GetObject: SSE result %+v", out.SSEResult)
	}
	_, got = readObject(t, ctx, c, &obsclient.GetObjectInput{Bucket: bucket, Key: key, SseC: sse.SseC, SseCKey: sse.SseCKey,
		Range: &obsclient.Range{Start: 70_000, End: 170_000}})
	checkBytes(t, "ranged GetObject with the key", got, data[70_000:170_001])
	head := headObject(t, ctx, c, &obsclient.HeadObjectInput{Bucket: bucket, Key: key, SseC: sse.SseC, SseCKey: sse.SseCKey})
	if head.Size != int64(len(data)) || head.SseC != "AES256" {
		t.Errorf("HeadObject with the key: size %d SSE %+v", head.Size, head.SSEResult)
	}

	// Multipart: the key goes with Initiate and every part.
	const mpKey = "ssec/multipart"
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: mpKey, SSE: sse})
	// MinIO does not echo the SSE headers on Initiate (OBS does).
	if up.SseC != "" && up.SseC != "AES256" {
		t.Errorf("Initiate: SSE result %+v", up.SSEResult)
	}
	whole := randomBytes(t, obsclient.MinPartSizeS3+1000)
	parts := uploadParts(t, ctx, c, bucket, mpKey, up.UploadID, whole, obsclient.MinPartSizeS3, sse)
	complete(t, ctx, c, bucket, mpKey, up.UploadID, parts)
	checkObject(t, ctx, c, bucket, mpKey, whole, sse.SseC, sse.SseCKey)
	boundary := &obsclient.Range{Start: obsclient.MinPartSizeS3 - 100, End: obsclient.MinPartSizeS3 + 99}
	_, got = readObject(t, ctx, c, &obsclient.GetObjectInput{Bucket: bucket, Key: mpKey, SseC: sse.SseC, SseCKey: sse.SseCKey, Range: boundary})
	checkBytes(t, "range across the part boundary", got, whole[boundary.Start:boundary.End+1])
	if _, err := c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: mpKey}); obsclient.AsError(err) == nil {
		t.Errorf("GetObject of the multipart object without the key: %v, want an *obsclient.Error", err)
	}

	// A copy decrypts with the source key and re-encrypts with another.
	if _, err := c.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: bucket, Key: "ssec/copy", SourceBucket: bucket, SourceKey: key,
		SourceSseC: sse.SseC, SourceSseCKey: sse.SseCKey, SSE: other}); err != nil {
		t.Fatalf("CopyObject of an SSE-C object: %v", err)
	}
	checkObject(t, ctx, c, bucket, "ssec/copy", data, other.SseC, other.SseCKey)
}

func TestSSEKMS(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{TLS: true, KMS: true})
	forEachSignature(t, s, func(t *testing.T, c *obsclient.Client) { testSSEKMS(t, s, c) })
}

func testSSEKMS(t *testing.T, s *miniotest.Server, c *obsclient.Client) {
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	kms := obsclient.SSE{SseKms: "kms", SseKmsKey: s.KMSKeyName}
	isKMS := func(r obsclient.SSEResult) bool {
		return r.SseKms == "kms" && strings.HasSuffix(r.SseKmsKey, s.KMSKeyName)
	}

	const key = "kms/object"
	data := randomBytes(t, 1<<20+3)
	put := putObject(t, ctx, c, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data), SSE: kms})
	if !isKMS(put.SSEResult) {
		t.Errorf("PutObject: SSE result %+v, want kms with key %s", put.SSEResult, s.KMSKeyName)
	}
	if head := headObject(t, ctx, c, &obsclient.HeadObjectInput{Bucket: bucket, Key: key}); !isKMS(head.SSEResult) || head.Size != int64(len(data)) {
		t.Errorf("HeadObject: size %d SSE %+v", head.Size, head.SSEResult)
	}
	checkObject(t, ctx, c, bucket, key, data)

	// Multipart: KMS is set on Initiate; on UploadPart it is an assertion.
	const mpKey = "kms/multipart"
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: mpKey, SSE: kms})
	// MinIO does not echo the SSE headers on Initiate (OBS does).
	if up.SseKms != "" && !isKMS(up.SSEResult) {
		t.Errorf("Initiate: SSE result %+v", up.SSEResult)
	}
	part1 := randomBytes(t, obsclient.MinPartSizeS3)
	part2 := randomBytes(t, 12345)
	o1 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: mpKey, UploadID: up.UploadID, PartNumber: 1,
		Body: bytes.NewReader(part1), SseKms: kms.SseKms, SseKmsKey: kms.SseKmsKey})
	if o1.SseKms != "kms" || !strings.HasSuffix(o1.SseKmsKey, s.KMSKeyName) {
		t.Errorf("UploadPart with the KMS assertion: %+v, want kms with key %s", o1, s.KMSKeyName)
	}
	o2 := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: mpKey, UploadID: up.UploadID, PartNumber: 2,
		Body: bytes.NewReader(part2)})
	// MinIO names the key in the response, so asserting another one fails.
	_, err := c.UploadPart(ctx, &obsclient.UploadPartInput{Bucket: bucket, Key: mpKey, UploadID: up.UploadID, PartNumber: 3,
		Body: strings.NewReader("x"), SseKms: "kms", SseKmsKey: "some-other-key"})
	if !errors.Is(err, obsclient.ErrChecksumMismatch) {
		t.Errorf("UploadPart asserting another KMS key: %v, want ErrChecksumMismatch", err)
	}
	complete(t, ctx, c, bucket, mpKey, up.UploadID, []obsclient.CompletedPart{{PartNumber: 1, ETag: o1.ETag}, {PartNumber: 2, ETag: o2.ETag}})
	if head := headObject(t, ctx, c, &obsclient.HeadObjectInput{Bucket: bucket, Key: mpKey}); !isKMS(head.SSEResult) {
		t.Errorf("HeadObject of the multipart object: SSE %+v, want kms", head.SSEResult)
	}
	whole := slices.Concat(part1, part2)
	checkObject(t, ctx, c, bucket, mpKey, whole)
	boundary := &obsclient.Range{Start: obsclient.MinPartSizeS3 - 100, End: obsclient.MinPartSizeS3 + 99}
	_, got := readObject(t, ctx, c, &obsclient.GetObjectInput{Bucket: bucket, Key: mpKey, Range: boundary})
	checkBytes(t, "range across the part boundary", got, whole[boundary.Start:boundary.End+1])

	// The assertion fails on an upload initiated without KMS.
	const plainKey = "kms/not initiated with kms"
	plain := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: plainKey})
	_, err = c.UploadPart(ctx, &obsclient.UploadPartInput{Bucket: bucket, Key: plainKey, UploadID: plain.UploadID, PartNumber: 1,
		Body: strings.NewReader("not encrypted"), SseKms: kms.SseKms, SseKmsKey: kms.SseKmsKey})
	if !errors.Is(err, obsclient.ErrChecksumMismatch) {
		t.Errorf("UploadPart with SseKms on an upload without KMS: %v, want ErrChecksumMismatch", err)
	}
}

// failTransport stands in for the network where nothing may be sent.
type failTransport struct{ calls atomic.Int32 }

func (f *failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	return nil, fmt.Errorf("request %s %s sent, but none should be", r.Method, r.URL.Path)
}

// TestSSERequiresHTTPS checks that SSE over plain HTTP is refused with
// ErrInvalidArgument before any request is sent (the keys would travel in
// clear text).
func TestSSERequiresHTTPS(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	ft := &failTransport{}
	c := s.Client(t, func(cfg *obsclient.Config) { cfg.Transport = ft })
	if c.HTTPS() {
		t.Fatalf("client of %s is HTTPS", s.Endpoint)
	}
	ctx := testCtx(t)
	const bucket, key = "some-bucket", "k"
	ssec := sseCKey(t)
	kms := obsclient.SSE{SseKms: "kms", SseKmsKey: "key"}
	ops := map[string]func() error{
		"PutObject SSE-C": func() error {
			_, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("x"), SSE: ssec})
			return err
		},
		"PutObject SSE-KMS": func() error {
			_, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("x"), SSE: kms})
			return err
		},
		"Initiate SSE-C": func() error {
			_, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key, SSE: ssec})
			return err
		},
		"Initiate SSE-KMS": func() error {
			_, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key, SSE: kms})
			return err
		},
		"UploadPart SSE-C": func() error {
			_, err := c.UploadPart(ctx, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: "u", PartNumber: 1,
				Body: strings.NewReader("x"), SseC: ssec.SseC, SseCKey: ssec.SseCKey})
			return err
		},
		"UploadPart SSE-KMS": func() error {
			_, err := c.UploadPart(ctx, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: "u", PartNumber: 1,
				Body: strings.NewReader("x"), SseKms: "kms"})
			return err
		},
		"UploadPartCopy SSE-C": func() error {
			_, err := c.UploadPartCopy(ctx, &obsclient.UploadPartCopyInput{Bucket: bucket, Key: key, UploadID: "u", PartNumber: 1,
				SourceBucket: bucket, SourceKey: "src", SourceSseC: ssec.SseC, SourceSseCKey: ssec.SseCKey})
			return err
		},
		"GetObject SSE-C": func() error {
			_, err := c.GetObject(ctx, &obsclient.GetObjectInput{Bucket: bucket, Key: key, SseC: ssec.SseC, SseCKey: ssec.SseCKey})
			return err
		},
		"HeadObject SSE-C": func() error {
			_, err := c.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: bucket, Key: key, SseC: ssec.SseC, SseCKey: ssec.SseCKey})
			return err
		},
		"CopyObject SSE-KMS": func() error {
			_, err := c.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: bucket, Key: key, SourceBucket: bucket, SourceKey: "src", SSE: kms})
			return err
		},
		"CopyObject source SSE-C": func() error {
			_, err := c.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: bucket, Key: key, SourceBucket: bucket, SourceKey: "src",
				SourceSseC: ssec.SseC, SourceSseCKey: ssec.SseCKey})
			return err
		},
	}
	for name, op := range ops {
		err := op()
		if !errors.Is(err, obsclient.ErrInvalidArgument) {
			t.Errorf("%s over http: %v, want ErrInvalidArgument", name, err)
		} else if strings.Contains(err.Error(), ssec.SseCKey) {
			t.Errorf("%s: the error shows the SSE-C key", name)
		}
	}
	if n := ft.calls.Load(); n != 0 {
		t.Errorf("%d requests were sent", n)
	}
}

func TestListPartsPagination(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "five parts"
	up := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key})
	// Part sizes are checked only at Complete, so small parts do here.
	var etags []string
	for n := 1; n <= 5; n++ {
		out := uploadPart(t, ctx, c, &obsclient.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: n,
			Body: strings.NewReader(strings.Repeat(fmt.Sprint(n), n*10))})
		etags = append(etags, out.ETag)
	}
	var pages [][]int
	marker := 0
	for {
		out, err := c.ListParts(ctx, &obsclient.ListPartsInput{Bucket: bucket, Key: key, UploadID: up.UploadID, MaxParts: 2, PartNumberMarker: marker})
		if err != nil {
			t.Fatalf("ListParts after %d: %v", marker, err)
		}
		var page []int
		for _, p := range out.Parts {
			page = append(page, p.PartNumber)
			if unquote(p.ETag) != unquote(etags[p.PartNumber-1]) || p.Size != int64(p.PartNumber*10) {
				t.Errorf("part %d: %+v; want ETag %s size %d", p.PartNumber, p, etags[p.PartNumber-1], p.PartNumber*10)
			}
		}
		pages = append(pages, page)
		if !out.IsTruncated {
			break
		}
		if out.NextPartNumberMarker <= marker || len(pages) > 5 {
			t.Fatalf("NextPartNumberMarker %d after %d (%d pages)", out.NextPartNumberMarker, marker, len(pages))
		}
		marker = out.NextPartNumberMarker
	}
	if want := [][]int{{1, 2}, {3, 4}, {5}}; !slices.EqualFunc(pages, want, slices.Equal) {
		t.Errorf("pages %v, want %v", pages, want)
	}
}

// TestListMultipartUploadsPagination pages through 5 uploads of one key
// with MaxUploads 2, following the upload-ID marker.
//
// MinIO quirks (this version, cmd/erasure-server-pool.go): with a prefix it
// finds only the uploads of exactly that key, and pages them by upload ID
// without ever sending NextKeyMarker (the client fills it in from the last
// upload); with an empty prefix it answers from an in-memory cache of the
// uploads initiated since it started, all of them at once, ignoring
// max-uploads and the markers. So the paging is checked under the exact
// key, and the empty-prefix listing of a dedicated bucket is only checked to
// find every upload, however many pages it takes.
func TestListMultipartUploadsPagination(t *testing.T) {
	t.Parallel()
	s := server(t, miniotest.Options{})
	c := s.Client(t, nil)
	bucket := s.Bucket(t, t.Name())
	ctx := testCtx(t)
	const key = "dir/five uploads"
	want := map[string]string{} // upload ID → key
	var order []string          // upload IDs in initiation order
	for range 5 {
		id := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key}).UploadID
		want[id] = key
		order = append(order, id)
	}
	ids, pages := listUploads(t, ctx, c, obsclient.ListMultipartUploadsInput{Bucket: bucket, Prefix: key, MaxUploads: 2}, want)
	if !slices.Equal(ids, order) || pages != 3 {
		t.Errorf("prefix %q, max 2: uploads %q in %d pages; want %q in 3", key, ids, pages, order)
	}

	other := initiate(t, ctx, c, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: "another key"}).UploadID
	want[other] = "another key"
	ids, _ = listUploads(t, ctx, c, obsclient.ListMultipartUploadsInput{Bucket: bucket, MaxUploads: 2}, want)
	if len(ids) != len(want) {
		t.Errorf("empty prefix: %d uploads listed, want %d", len(ids), len(want))
	}
}

// listUploads follows the markers through every page of
// ListMultipartUploads, checking each upload against want (upload ID →
// key), and returns the upload IDs in listing order and the page count.
func listUploads(t *testing.T, ctx context.Context, c *obsclient.Client, in obsclient.ListMultipartUploadsInput, want map[string]string) (ids []string, pages int) {
	t.Helper()
	seen := map[string]bool{}
	for {
		out, err := c.ListMultipartUploads(ctx, &in)
		if err != nil {
			t.Fatalf("ListMultipartUploads %+v: %v", in, err)
		}
		pages++
		if in.Prefix != "" && len(out.Uploads) > in.MaxUploads {
			t.Errorf("page %d has %d uploads, more than MaxUploads %d", pages, len(out.Uploads), in.MaxUploads)
		}
		for _, u := range out.Uploads {
			if seen[u.UploadID] {
				t.Errorf("upload %s listed twice", u.UploadID)
			}
			seen[u.UploadID] = true
			if k, ok := want[u.UploadID]; !ok || k != u.Key {
				t.Errorf("upload %s: key %q, want %q", u.UploadID, u.Key, k)
			}
			ids = append(ids, u.UploadID)
		}
		if !out.IsTruncated {
			return ids, pages
		}
		if out.NextKeyMarker == "" || out.NextUploadIDMarker == "" || pages > 10 {
			t.Fatalf("page %d: truncated with markers %q, %q", pages, out.NextKeyMarker, out.NextUploadIDMarker)
		}
		in.KeyMarker, in.UploadIDMarker = out.NextKeyMarker, out.NextUploadIDMarker
	}
}
