package obsclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	testSecret = "S3CR3T-K3Y-VALUE/+="
	testToken  = "T0K3N-VALUE-abc"
)

// sseCKey is a valid SSE-C key (base64 of 32 bytes); sseCKeyBad16 is the
// base64 of 16 bytes.
var (
	sseCKey      = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	sseCKeyBad16 = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
)

func TestValidateBucketName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"", false},
		{"ab", false},
		{"abc", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"my-bucket.01", true},
		{"0bucket", true},
		{"Bucket", false},
		{"buCket", false},
		{"my_bucket", false},
		{"my bucket", false},
		{"bücket", false},
		{"-bucket", false},
		{"bucket-", false},
		{".bucket", false},
		{"bucket.", false},
		{"my..bucket", false},
		{"my.-bucket", false},
		{"my-.bucket", false},
		{"my--bucket", true},
		{"192.168.1.1", false},
		{"10.0.0.255", false},
		{"192.168.01.001", false}, // leading zeros: ParseIP refuses, a server may not
		{"999.999.999.999", false},
		{"1.2.3", true},
		{"1.2.3.4.5", true},
		{"1.2.3.a", true},
	}
	for _, tt := range tests {
		err := ValidateBucketName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateBucketName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ValidateBucketName(%q) error %v does not wrap ErrInvalidArgument", tt.name, err)
		}
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"empty", "", false},
		{"one byte", "a", true},
		{"1024 bytes", strings.Repeat("k", 1024), true},
		{"1025 bytes", strings.Repeat("k", 1025), false},
		{"1024 bytes of multibyte runes", strings.Repeat("é", 512), true},
		{"1026 bytes of multibyte runes", strings.Repeat("é", 513), false},
		{"NUL", "a\x00b", false},
		{"newline and unicode", "dir/a\nb 日本", true},
		{"slashes", "/a//b/", true},
	}
	for _, tt := range tests {
		err := ValidateKey(tt.key)
		if (err == nil) != tt.ok {
			t.Errorf("%s: ValidateKey = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v does not wrap ErrInvalidArgument", tt.name, err)
		}
	}
}

func TestValidateMetadata(t *testing.T) {
	tests := []struct {
		meta map[string]string
		ok   bool
	}{
		{nil, true},
		{map[string]string{"a-B_9": "printable ~ value"}, true},
		{map[string]string{"": "x"}, false},
		{map[string]string{"a b": "x"}, false},
		{map[string]string{"a:b": "x"}, false},
		{map[string]string{"a": "line\nbreak"}, false},
		{map[string]string{"a": "é"}, false},
		{map[string]string{"a": strings.Repeat("x", 8*1024-1)}, true},
		{map[string]string{"a": strings.Repeat("x", 8*1024)}, false},
	}
	for _, tt := range tests {
		if err := ValidateMetadata(tt.meta); (err == nil) != tt.ok {
			t.Errorf("ValidateMetadata(%.40v) = %v, want ok=%v", tt.meta, err, tt.ok)
		}
	}
}

func TestParseSignature(t *testing.T) {
	for in, want := range map[string]Signature{"obs": SignatureOBS, "OBS": SignatureOBS, " v2 ": SignatureV2, "V4": SignatureV4} {
		if got, err := ParseSignature(in); err != nil || got != want {
			t.Errorf("ParseSignature(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "v3", "aws", "obsv2"} {
		if _, err := ParseSignature(in); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseSignature(%q) = %v, want ErrInvalidArgument", in, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		return Config{Endpoint: "https://obs.cn-north-4.myhuaweicloud.com", AccessKey: "AK", SecretKey: testSecret,
			SecurityToken: testToken}
	}
	tests := []struct {
		name string
		mod  func(c *Config)
		ok   bool
	}{
		{"valid", func(c *Config) {}, true},
		{"bare host defaults to https", func(c *Config) { c.Endpoint = "obs.cn-north-4.myhuaweicloud.com" }, true},
		{"http ip and port", func(c *Config) { c.Endpoint = "http://127.0.0.1:9000" }, true},
		{"trailing slash", func(c *Config) { c.Endpoint = "https://obs.example.com/" }, true},
		{"ipv6", func(c *Config) { c.Endpoint = "http://[::1]:9000" }, true},
		{"empty endpoint", func(c *Config) { c.Endpoint = "" }, false},
		{"blank endpoint", func(c *Config) { c.Endpoint = "   " }, false},
		{"bad scheme", func(c *Config) { c.Endpoint = "ftp://obs.example.com" }, false},
		{"path", func(c *Config) { c.Endpoint = "https://obs.example.com/bucket" }, false},
		{"query", func(c *Config) { c.Endpoint = "https://obs.example.com?x=1" }, false},
		{"fragment", func(c *Config) { c.Endpoint = "https://obs.example.com#f" }, false},
		{"no host", func(c *Config) { c.Endpoint = "https://" }, false},
		{"bad port", func(c *Config) { c.Endpoint = "https://obs.example.com:port" }, false},
		{"user info carrying the secret", func(c *Config) { c.Endpoint = "https://AK:" + testSecret + "@obs.example.com" }, false},
		{"unparsable user info carrying the secret", func(c *Config) { c.Endpoint = "https://AK:" + testSecret + " x@obs.example.com:bad" }, false},
		{"empty access key", func(c *Config) { c.AccessKey = "" }, false},
		{"empty secret key", func(c *Config) { c.SecretKey = "" }, false},
		{"access key with colon", func(c *Config) { c.AccessKey = "A:K" }, false},
		{"access key with newline", func(c *Config) { c.AccessKey = "A\nK" }, false},
		{"token with newline", func(c *Config) { c.SecurityToken = testToken + "\r\n" }, false},
		{"bad signature", func(c *Config) { c.Signature = "v3" }, false},
		{"each signature", func(c *Config) { c.Signature = SignatureOBS }, true},
		{"bad addressing", func(c *Config) { c.Addressing = 7 }, false},
		{"negative addressing", func(c *Config) { c.Addressing = -1 }, false},
		{"region with slash", func(c *Config) { c.Region = "cn/north" }, false},
		{"negative connect timeout", func(c *Config) { c.ConnectTimeout = -1 }, false},
		{"negative header timeout", func(c *Config) { c.ResponseHeaderTimeout = -time.Second }, false},
		{"negative pool", func(c *Config) { c.MaxIdleConnsPerHost = -1 }, false},
		{"negative attempts", func(c *Config) { c.Retry.MaxAttempts = -2 }, false},
		{"unlimited attempts", func(c *Config) { c.Retry.MaxAttempts = UnlimitedAttempts }, true},
		{"negative stall floor", func(c *Config) { c.Stall.Floor = -1 }, false},
		{"stall floor above max", func(c *Config) { c.Stall.Floor, c.Stall.Max = 2*time.Second, time.Second }, false},
		{"stall initial below floor", func(c *Config) { c.Stall.Floor, c.Stall.Initial = 2*time.Second, time.Second }, false},
		{"stall floor alone", func(c *Config) { c.Stall.Floor = 90 * time.Second }, true},
		{"stall max alone", func(c *Config) { c.Stall.Max = 2 * time.Second }, true},
		{"one attempt", func(c *Config) { c.Retry.MaxAttempts = 1 }, true},
		{"negative delay", func(c *Config) { c.Retry.BaseDelay = -1 }, false},
		{"negative elapsed", func(c *Config) { c.Retry.MaxElapsed = -1 }, false},
		{"base above max delay", func(c *Config) { c.Retry.BaseDelay, c.Retry.MaxDelay = time.Second, time.Millisecond }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mod(&c)
			err := c.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			_, nerr := New(c)
			if (nerr == nil) != tt.ok {
				t.Errorf("New() = %v, want ok=%v", nerr, tt.ok)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%v does not wrap ErrInvalidArgument", err)
			}
			assertNoSecrets(t, err.Error(), testSecret, testToken)
		})
	}
}

// assertNoSecrets fails if s contains any of the secrets (or a long prefix
// of one).
func assertNoSecrets(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		probe := sec
		if len(probe) > 12 {
			probe = probe[:12]
		}
		if strings.Contains(s, probe) {
			t.Errorf("text leaks a secret (%q...):\n%s", probe, s)
		}
	}
}

// writeFile creates a file of n pseudo-random bytes.
func writeFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// hugeReader is an io.ReaderAt+io.Seeker of a given size that is never
// read (validation must refuse it first) but answers with zeros if it is.
type hugeReader struct{ size, pos int64 }

func (h *hugeReader) Read(p []byte) (int, error) { return 0, errors.New("hugeReader must not be read") }
func (h *hugeReader) ReadAt(p []byte, off int64) (int, error) {
	return 0, errors.New("hugeReader must not be read")
}
func (h *hugeReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 0:
		h.pos = off
	case 1:
		h.pos += off
	case 2:
		h.pos = h.size + off
	}
	return h.pos, nil
}

func TestUploadPartInputValidation(t *testing.T) {
	const fileSize = 250000
	file, fileData := writeFile(t, fileSize)
	emptyFile, _ := writeFile(t, 0)
	goodMD5 := md5b64([]byte("body"))
	minioUploadID := "ZDM0ZTU3ZDctNjRlZS00NWE3LThlNGUtNDM4ZTBmZTRjMTkzLjk1ZmUwNWE5LWQ0NTYtNDljNS1hZjU0LWI2YjY0ODliMmNjMHgxNzA3Mjk5Nzk0ODEwNjU1MDAw"
	tests := []struct {
		name     string
		https    bool
		mod      func(in *UploadPartInput)
		ok       bool
		wantBody []byte // for ok cases; nil means "body" unless set
	}{
		{name: "valid", ok: true},
		{name: "part 0", mod: func(in *UploadPartInput) { in.PartNumber = 0 }},
		{name: "part -1", mod: func(in *UploadPartInput) { in.PartNumber = -1 }},
		{name: "part 1", mod: func(in *UploadPartInput) { in.PartNumber = 1 }, ok: true},
		{name: "part 10000", mod: func(in *UploadPartInput) { in.PartNumber = 10000 }, ok: true},
		{name: "part 10001", mod: func(in *UploadPartInput) { in.PartNumber = 10001 }},
		{name: "empty upload id", mod: func(in *UploadPartInput) { in.UploadID = "" }},
		{name: "upload id with newline", mod: func(in *UploadPartInput) { in.UploadID = "a\nb" }},
		{name: "MinIO-style long upload id", mod: func(in *UploadPartInput) { in.UploadID = minioUploadID }, ok: true},
		{name: "bad bucket", mod: func(in *UploadPartInput) { in.Bucket = "B" }},
		{name: "empty key", mod: func(in *UploadPartInput) { in.Key = "" }},
		{name: "Body and SourceFile", mod: func(in *UploadPartInput) { in.SourceFile = file }},
		{name: "Offset without SourceFile", mod: func(in *UploadPartInput) { in.Offset = 1 }},
		{name: "negative Offset", mod: func(in *UploadPartInput) { in.Body, in.SourceFile, in.Offset = nil, file, -1 }},
		{name: "Offset beyond file", mod: func(in *UploadPartInput) { in.Body, in.SourceFile, in.Offset = nil, file, fileSize+1 }},
		{name: "Offset at end of non-empty file", mod: func(in *UploadPartInput) { in.Body, in.SourceFile, in.Offset = nil, file, fileSize }},
		{name: "Offset 0 of empty file", mod: func(in *UploadPartInput) { in.Body, in.SourceFile = nil, emptyFile },
			ok: true, wantBody: []byte{}},
		{name: "missing SourceFile", mod: func(in *UploadPartInput) { in.Body, in.SourceFile = nil, file+".missing" }},
		{name: "SourceFile is a directory", mod: func(in *UploadPartInput) { in.Body, in.SourceFile = nil, filepath.Dir(file) }},
		{name: "SourceFile default PartSize 102400", mod: func(in *UploadPartInput) { in.Body, in.SourceFile = nil, file },
			ok: true, wantBody: fileData[:102400]},
		{name: "SourceFile with Offset", mod: func(in *UploadPartInput) { in.Body, in.SourceFile, in.Offset = nil, file, 102400 },
			ok: true, wantBody: fileData[102400:204800]},
		{name: "SourceFile last slice shorter", mod: func(in *UploadPartInput) { in.Body, in.SourceFile, in.Offset = nil, file, 204800 },
			ok: true, wantBody: fileData[204800:]},
		{name: "SourceFile PartSize larger than rest", mod: func(in *UploadPartInput) {
			in.Body, in.SourceFile, in.Offset, in.PartSize = nil, file, 1000, 5<<20
		}, ok: true, wantBody: fileData[1000:]},
		{name: "PartSize 102399", mod: func(in *UploadPartInput) { in.PartSize = 102399 }},
		{name: "PartSize 102400", mod: func(in *UploadPartInput) { in.PartSize = 102400 }, ok: true},
		{name: "PartSize 5GiB", mod: func(in *UploadPartInput) { in.PartSize = 5 << 30 }, ok: true},
		{name: "PartSize 5GiB+1", mod: func(in *UploadPartInput) { in.PartSize = 5<<30 + 1 }},
		{name: "PartSize negative", mod: func(in *UploadPartInput) { in.PartSize = -1 }},
		{name: "Body of 5GiB+1", mod: func(in *UploadPartInput) { in.Body = &hugeReader{size: 5<<30 + 1} }},
		{name: "PartSize bounds a long Body", mod: func(in *UploadPartInput) {
			in.Body, in.PartSize = bytes.NewReader(fileData), 102400
		}, ok: true, wantBody: fileData[:102400]},
		{name: "PartSize bounds a plain reader", mod: func(in *UploadPartInput) {
			in.Body, in.PartSize = struct{ *bytes.Buffer }{bytes.NewBuffer(fileData)}, 102400
		}, ok: true, wantBody: fileData[:102400]},
		{name: "no body at all", mod: func(in *UploadPartInput) { in.Body = nil }, ok: true, wantBody: []byte{}},
		{name: "ContentMD5 given", mod: func(in *UploadPartInput) { in.ContentMD5 = goodMD5 }, ok: true},
		{name: "ContentMD5 not base64", mod: func(in *UploadPartInput) { in.ContentMD5 = "abc" }},
		{name: "ContentMD5 hex", mod: func(in *UploadPartInput) { in.ContentMD5 = md5hex([]byte("body")) }},
		{name: "ContentMD5 of 15 bytes", mod: func(in *UploadPartInput) {
			in.ContentMD5 = base64.StdEncoding.EncodeToString(make([]byte, 15))
		}},
		{name: "SseKms aws:kms", https: true, mod: func(in *UploadPartInput) { in.SseKms = "aws:kms" }},
		{name: "SseKmsKey without SseKms", https: true, mod: func(in *UploadPartInput) { in.SseKmsKey = "k" }},
		{name: "SseC AES128", https: true, mod: func(in *UploadPartInput) { in.SseC, in.SseCKey = "AES128", sseCKey }},
		{name: "SseC aes256 lowercase", https: true, mod: func(in *UploadPartInput) { in.SseC, in.SseCKey = "aes256", sseCKey }},
		{name: "SseC without key", https: true, mod: func(in *UploadPartInput) { in.SseC = "AES256" }},
		{name: "SseCKey without SseC", https: true, mod: func(in *UploadPartInput) { in.SseCKey = sseCKey }},
		{name: "SseCKey of 16 bytes", https: true, mod: func(in *UploadPartInput) { in.SseC, in.SseCKey = "AES256", sseCKeyBad16 }},
		{name: "SseCKey raw 32 chars", https: true, mod: func(in *UploadPartInput) { in.SseC, in.SseCKey = "AES256", "0123456789abcdef0123456789abcdef" }},
		{name: "SseKms and SseC", https: true, mod: func(in *UploadPartInput) { in.SseKms, in.SseC, in.SseCKey = "kms", "AES256", sseCKey }},
		{name: "SseC over https", https: true, mod: func(in *UploadPartInput) { in.SseC, in.SseCKey = "AES256", sseCKey }, ok: true},
		{name: "SseC over http", mod: func(in *UploadPartInput) { in.SseC, in.SseCKey = "AES256", sseCKey }},
		{name: "SseKms over http", mod: func(in *UploadPartInput) { in.SseKms = "kms" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTransport{respond: func(c captured) *http.Response {
				h := http.Header{"Etag": {`"` + md5hex(c.Body) + `"`}}
				if c.Header.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "" {
					h.Set("X-Amz-Server-Side-Encryption-Customer-Algorithm", "AES256")
				}
				return newResponse(200, h, "")
			}}
			ep := "http://127.0.0.1:9000"
			if tt.https {
				ep = "https://127.0.0.1:9000"
			}
			c := newTestClient(t, Config{Endpoint: ep, AccessKey: "AK", SecretKey: testSecret, SecurityToken: testToken,
				Transport: ft, Retry: RetryPolicy{MaxAttempts: 1}})
			in := &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 3, UploadID: "00000163D40171ED8DF4050919BD02B8",
				Body: strings.NewReader("body")}
			if tt.mod != nil {
				tt.mod(in)
			}
			_, err := c.UploadPart(context.Background(), in)
			reqs := ft.requests()
			if !tt.ok {
				if err == nil {
					t.Fatal("UploadPart succeeded, want an error")
				}
				if !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("error %v does not wrap ErrInvalidArgument", err)
				}
				if len(reqs) != 0 {
					t.Errorf("invalid input sent %d requests", len(reqs))
				}
				assertNoSecrets(t, err.Error(), testSecret, testToken, sseCKey, sseCKeyBad16, "0123456789abcdef")
				return
			}
			if err != nil {
				t.Fatalf("UploadPart: %v", err)
			}
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			want := tt.wantBody
			if want == nil {
				want = []byte("body")
			}
			if !bytes.Equal(reqs[0].Body, want) {
				t.Errorf("sent %d bytes, want %d", len(reqs[0].Body), len(want))
			}
			if got := reqs[0].Header.Get("Content-Md5"); got != md5b64(want) {
				t.Errorf("Content-MD5 = %q, want %q", got, md5b64(want))
			}
		})
	}
}

// The other validating entry points refuse bad input before sending.
func TestOtherInputValidation(t *testing.T) {
	ft := &fakeTransport{}
	c := newTestClient(t, Config{Endpoint: "http://127.0.0.1:9000", AccessKey: "AK", SecretKey: testSecret, Transport: ft})
	ctx := context.Background()
	etag := `"` + md5hex(nil) + `"`
	tests := []struct {
		name string
		call func() error
	}{
		{"Complete without parts", func() error {
			_, err := c.CompleteMultipartUpload(ctx, &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "u"})
			return err
		}},
		{"Complete duplicate part", func() error {
			_, err := c.CompleteMultipartUpload(ctx, &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "u",
				Parts: []CompletedPart{{2, etag}, {1, etag}, {2, etag}}})
			return err
		}},
		{"Complete part 0", func() error {
			_, err := c.CompleteMultipartUpload(ctx, &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "u",
				Parts: []CompletedPart{{0, etag}}})
			return err
		}},
		{"Complete empty ETag", func() error {
			_, err := c.CompleteMultipartUpload(ctx, &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "u",
				Parts: []CompletedPart{{1, ""}}})
			return err
		}},
		{"GetObject negative range", func() error {
			_, err := c.GetObject(ctx, &GetObjectInput{Bucket: "bkt", Key: "k", Range: &Range{Start: -1, End: 5}})
			return err
		}},
		{"GetObject inverted range", func() error {
			_, err := c.GetObject(ctx, &GetObjectInput{Bucket: "bkt", Key: "k", Range: &Range{Start: 5, End: 4}})
			return err
		}},
		{"GetObject SSE-C over http", func() error {
			_, err := c.GetObject(ctx, &GetObjectInput{Bucket: "bkt", Key: "k", SseC: "AES256", SseCKey: sseCKey})
			return err
		}},
		{"PutObject bad metadata", func() error {
			_, err := c.PutObject(ctx, &PutObjectInput{Bucket: "bkt", Key: "k", Metadata: map[string]string{"a b": "c"}})
			return err
		}},
		{"PutObject SSE-KMS over http", func() error {
			_, err := c.PutObject(ctx, &PutObjectInput{Bucket: "bkt", Key: "k", SSE: SSE{SseKms: "kms"}})
			return err
		}},
		{"Copy onto itself without REPLACE", func() error {
			_, err := c.CopyObject(ctx, &CopyObjectInput{Bucket: "bkt", Key: "k", SourceBucket: "bkt", SourceKey: "k"})
			return err
		}},
		{"Copy metadata without REPLACE", func() error {
			_, err := c.CopyObject(ctx, &CopyObjectInput{Bucket: "bkt", Key: "k", SourceBucket: "bkt", SourceKey: "j",
				Metadata: map[string]string{"a": "b"}})
			return err
		}},
		{"DeleteObjects of 1001 keys", func() error {
			objs := make([]ObjectID, 1001)
			for i := range objs {
				objs[i].Key = "k"
			}
			_, err := c.DeleteObjects(ctx, &DeleteObjectsInput{Bucket: "bkt", Objects: objs})
			return err
		}},
		{"DeleteObjects key XML cannot carry", func() error {
			_, err := c.DeleteObjects(ctx, &DeleteObjectsInput{Bucket: "bkt", Objects: []ObjectID{{Key: "a\x01b"}}})
			return err
		}},
		{"ListObjects MaxKeys 1001", func() error {
			_, err := c.ListObjects(ctx, &ListObjectsInput{Bucket: "bkt", MaxKeys: 1001})
			return err
		}},
		{"ListParts negative marker", func() error {
			_, err := c.ListParts(ctx, &ListPartsInput{Bucket: "bkt", Key: "k", UploadID: "u", PartNumberMarker: -1})
			return err
		}},
		{"UploadPartCopy range above 5GiB", func() error {
			_, err := c.UploadPartCopy(ctx, &UploadPartCopyInput{Bucket: "bkt", Key: "k", UploadID: "u", PartNumber: 1,
				SourceBucket: "bkt", SourceKey: "s", SourceRange: &Range{Start: 0, End: 5 << 30}})
			return err
		}},
		{"UploadPartCopy open-ended range", func() error {
			_, err := c.UploadPartCopy(ctx, &UploadPartCopyInput{Bucket: "bkt", Key: "k", UploadID: "u", PartNumber: 1,
				SourceBucket: "bkt", SourceKey: "s", SourceRange: &Range{Start: 100, End: -1}})
			return err
		}},
		{"UploadPartCopy inverted range", func() error {
			_, err := c.UploadPartCopy(ctx, &UploadPartCopyInput{Bucket: "bkt", Key: "k", UploadID: "u", PartNumber: 1,
				SourceBucket: "bkt", SourceKey: "s", SourceRange: &Range{Start: 10, End: 9}})
			return err
		}},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", tt.name, err)
		}
	}
	if n := len(ft.requests()); n != 0 {
		t.Errorf("invalid input sent %d requests", n)
	}
}
