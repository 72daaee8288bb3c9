package obsclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// Golden tests for the three signing dialects, against every vector of
// shared/reference/obs-protocol.md §9.

func mustTime(t *testing.T, layout, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(layout, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// --- §9.1 OBS native (reqsign / Huawei signature tool) ---

func TestSignOBSVectors(t *testing.T) {
	const (
		ak   = "access_key"
		sk   = "123456"
		host = "bucket.obs.cn-north-4.myhuaweicloud.com"
		date = "Mon, 15 Aug 2022 16:50:12 GMT"
	)
	now := mustTime(t, http.TimeFormat, date)
	tests := []struct {
		name     string
		url      string
		wantSTS  string
		wantAuth string
	}{
		{"O1 object", "/object.txt",
			"GET\nabc\ntext/plain\n" + date + "\n/bucket/object.txt",
			"OBS access_key:9gUZ4ol2W19LyYcc92Bu3U0V09E="},
		{"O2 sub-resource", "/object.txt?name=hello&abc=def",
			"GET\nabc\ntext/plain\n" + date + "\n/bucket/object.txt?name=hello",
			"OBS access_key:EaTKiO1Qh5KFUvWAVvbCNGktJUY="},
		{"O3 bucket root", "/?name=hello&abc=def",
			"GET\nabc\ntext/plain\n" + date + "\n/bucket/?name=hello",
			"OBS access_key:9OdOsf8PRdhGhpkp7IIbKE0kRvA="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse("http://" + host + tt.url)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{"Content-Md5": {"abc"}, "Content-Type": {"text/plain"}}
			// Step by step.
			cr := canonicalResourceV2(SignatureOBS, resourcePathV2("bucket", u.EscapedPath(), false), u.RawQuery)
			sts := stringToSignV2(SignatureOBS, "GET", h, date, cr)
			if sts != tt.wantSTS {
				t.Errorf("StringToSign\n got %q\nwant %q", sts, tt.wantSTS)
			}
			if got := authorizationV2(SignatureOBS, ak, signatureV2(sk, sts)); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
			// Through the signer, on a real *http.Request.
			r, _ := http.NewRequest("GET", u.String(), nil)
			r.Header = h.Clone()
			s := signer{sig: SignatureOBS, accessKey: ak, secretKey: sk}
			s.sign(r, "bucket", false, now)
			if got := r.Header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("signer Authorization = %q, want %q", got, tt.wantAuth)
			}
			if got := r.Header.Get("Date"); got != date {
				t.Errorf("signer Date = %q, want %q", got, date)
			}
		})
	}
}

// The canonicalization-only vector of §9.1: the wire path is kept as it is,
// sub-resource values are decoded, non-sub-resources are dropped, the first
// of a repeated name wins, an empty name is ignored.
func TestCanonicalResourcePreservesWireURI(t *testing.T) {
	const wire = "http://bucket.obs.cn-north-4.myhuaweicloud.com/object%2Fname?" +
		"versionId=a%2Bb%3Dc%2525%26e&slash=%2F&hash=%23&space=a%20b&plus=a+b&pct=%zz" +
		"&dup=first&dup=second&=empty-key&empty=&flag&flag=&"
	const wantSuffix = "/bucket/object%2Fname?versionId=a+b=c%25&e"
	u, err := url.Parse(wire)
	if err != nil {
		t.Fatal(err)
	}
	if got := canonicalResourceV2(SignatureOBS, resourcePathV2("bucket", u.EscapedPath(), false), u.RawQuery); got != wantSuffix {
		t.Errorf("CanonicalizedResource = %q, want %q", got, wantSuffix)
	}
	r, _ := http.NewRequest("GET", wire, nil)
	s := signer{sig: SignatureOBS, accessKey: "access_key", secretKey: "123456"}
	now := time.Date(2022, 8, 15, 16, 50, 12, 0, time.UTC)
	s.sign(r, "bucket", false, now)
	wantSTS := "GET\n\n\nMon, 15 Aug 2022 16:50:12 GMT\n" + wantSuffix
	if got, want := r.Header.Get("Authorization"), "OBS access_key:"+refSigV2("123456", wantSTS); got != want {
		t.Errorf("Authorization = %q, want %q (StringToSign %q)", got, want, wantSTS)
	}
	// Repeated sub-resources: the first one wins, also in the V2 dialect.
	for _, sig := range []Signature{SignatureOBS, SignatureV2} {
		if got := canonicalResourceV2(sig, "/b/k", "versionId=1&versionId=2"); got != "/b/k?versionId=1" {
			t.Errorf("%s: duplicate versionId: %q", sig, got)
		}
	}
}

// --- §9.2 OBS StringToSign examples from the docs (no SK: canonicalization
// only; the signature is checked against an independent HMAC of the
// expected string). ---

func TestSignOBSDocExamples(t *testing.T) {
	const sk = "any-secret"
	tests := []struct {
		name      string
		method    string
		url       string
		bucket    string // "" with cname: the custom domain takes its place
		cname     string
		header    http.Header
		date      string // Date header (the signer's clock)
		token     string
		wantSTS   string
		wantDateH string
	}{
		{name: "get", method: "GET", url: "http://bucket.obs.example.com/object.txt", bucket: "bucket",
			date:    "Sat, 12 Oct 2015 08:12:38 GMT",
			wantSTS: "GET\n\n\nSat, 12 Oct 2015 08:12:38 GMT\n/bucket/object.txt"},
		{name: "x-obs-date blanks Date, security token", method: "PUT", url: "http://bucket.obs.example.com/object.txt", bucket: "bucket",
			header: http.Header{"X-Obs-Date": {"Tue, 15 Oct 2015 07:20:09 GMT"}, "Content-Type": {"text/plain"}},
			date:   "Fri, 16 Oct 2015 00:00:00 GMT", token: "YwkaRTbdY8g7q....",
			wantSTS: "PUT\n\ntext/plain\n\nx-obs-date:Tue, 15 Oct 2015 07:20:09 GMT\nx-obs-security-token:YwkaRTbdY8g7q....\n/bucket/object.txt"},
		{name: "x-obs-acl", method: "PUT", url: "http://bucket.obs.example.com/object.txt", bucket: "bucket",
			header:  http.Header{"X-Obs-Acl": {" public-read"}, "Content-Type": {"text/plain"}},
			date:    "Mon, 14 Oct 2015 12:08:34 GMT",
			wantSTS: "PUT\n\ntext/plain\nMon, 14 Oct 2015 12:08:34 GMT\nx-obs-acl:public-read\n/bucket/object.txt"},
		{name: "acl sub-resource", method: "GET", url: "http://bucket.obs.example.com/object.txt?acl", bucket: "bucket",
			date:    "Sat, 12 Oct 2015 08:12:38 GMT",
			wantSTS: "GET\n\n\nSat, 12 Oct 2015 08:12:38 GMT\n/bucket/object.txt?acl"},
		{name: "content-md5 and x-obs-date", method: "PUT", url: "http://bucket.obs.example.com/object.txt", bucket: "bucket",
			header:  http.Header{"X-Obs-Date": {"Tue, 15 Oct 2015 07:20:09 GMT"}, "Content-Md5": {"I5pU0r4+sgO9Emgl1KMQUg=="}},
			date:    "Fri, 16 Oct 2015 00:00:00 GMT",
			wantSTS: "PUT\nI5pU0r4+sgO9Emgl1KMQUg==\n\n\nx-obs-date:Tue, 15 Oct 2015 07:20:09 GMT\n/bucket/object.txt"},
		{name: "custom domain", method: "PUT", url: "http://obs.ccc.com/object.txt", cname: "obs.ccc.com",
			header:  http.Header{"X-Obs-Date": {"Tue, 15 Oct 2015 07:20:09 GMT"}, "Content-Md5": {"I5pU0r4+sgO9Emgl1KMQUg=="}},
			date:    "Fri, 16 Oct 2015 00:00:00 GMT",
			wantSTS: "PUT\nI5pU0r4+sgO9Emgl1KMQUg==\n\n\nx-obs-date:Tue, 15 Oct 2015 07:20:09 GMT\n/obs.ccc.com/object.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				r.Header[k] = v
			}
			s := signer{sig: SignatureOBS, accessKey: "AK", secretKey: sk, token: tt.token}
			now := mustTime(t, http.TimeFormat, tt.date)
			bucket := tt.bucket
			if tt.cname != "" {
				bucket = tt.cname // CNAME: the custom domain stands for the bucket
			}
			s.sign(r, bucket, false, now)
			// The docs print dates with wrong weekdays; the signer formats
			// its clock correctly, so the Date slot holds its own string.
			signerDate := now.UTC().Format(http.TimeFormat)
			signerSTS := strings.Replace(tt.wantSTS, "\n"+tt.date+"\n", "\n"+signerDate+"\n", 1)
			if got, want := r.Header.Get("Authorization"), "OBS AK:"+refSigV2(sk, signerSTS); got != want {
				t.Errorf("Authorization = %q, want %q for StringToSign %q", got, want, signerSTS)
			}
			if got := r.Header.Get("Date"); got != signerDate {
				t.Errorf("Date = %q, want %q (Date is always sent)", got, signerDate)
			}
			// Step by step too.
			cr := canonicalResourceV2(SignatureOBS, resourcePathV2(bucket, r.URL.EscapedPath(), false), r.URL.RawQuery)
			if got := stringToSignV2(SignatureOBS, tt.method, r.Header, tt.date, cr); got != tt.wantSTS {
				t.Errorf("StringToSign\n got %q\nwant %q", got, tt.wantSTS)
			}
		})
	}
}

// --- §9.3 AWS Signature V2 (and the same engine in the OBS dialect) ---

const (
	awsAK = "AKIAIOSFODNN7EXAMPLE"
	awsSK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

type v2Vector struct {
	name     string
	method   string
	header   http.Header // with x-amz- names
	date     string
	bucket   string // "" for the service
	path     string // wire path (virtual-hosted, or the CNAME)
	query    string
	wantSTS  string
	wantSign string
}

var awsV2Vectors = []v2Vector{
	{"A1 object GET", "GET", nil, "Tue, 27 Mar 2007 19:36:42 +0000", "johnsmith", "/photos/puppy.jpg", "",
		"GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg", "bWq2s1WEIj+Ydj0vQ697zp+IXMU="},
	{"A2 object PUT", "PUT", http.Header{"Content-Type": {"image/jpeg"}, "Content-Length": {"94328"}},
		"Tue, 27 Mar 2007 21:15:45 +0000", "johnsmith", "/photos/puppy.jpg", "",
		"PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg", "MyyxeRY7whkBe+bq8fHCL/2kKUg="},
	{"A3 list", "GET", http.Header{"User-Agent": {"Mozilla/5.0"}}, "Tue, 27 Mar 2007 19:42:41 +0000", "johnsmith", "/",
		"prefix=photos&max-keys=50&marker=puppy",
		"GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/johnsmith/", "htDYFYduRNen8P9ZfE/s9SuKy0U="},
	{"A4 fetch ACL", "GET", nil, "Tue, 27 Mar 2007 19:44:46 +0000", "johnsmith", "/", "acl",
		"GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/johnsmith/?acl", "c2WLPFtWHVgbEmeEG93a4cG37dM="},
	{"A5 delete", "DELETE", nil, "Tue, 27 Mar 2007 21:20:26 +0000", "johnsmith", "/photos/puppy.jpg", "",
		"DELETE\n\n\nTue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg", "lx3byBScXR6KzyMaifNkardMwNk="},
	{"A6 upload with meta (CNAME)", "PUT", http.Header{
		"Content-Md5":                  {"4gJE4saaMU4BqNR0kLY+lw=="},
		"Content-Type":                 {"application/x-download"},
		"X-Amz-Acl":                    {"public-read"},
		"X-Amz-Meta-Reviewedby":        {"joe@johnsmith.net", "jane@johnsmith.net"},
		"X-Amz-Meta-Filechecksum":      {"0x02661779"},
		"X-Amz-Meta-Checksumalgorithm": {"crc32"},
		"Content-Disposition":          {"attachment; filename=database.dat"},
		"Content-Encoding":             {"gzip"},
		"Content-Length":               {"5913339"},
	}, "Tue, 27 Mar 2007 21:06:08 +0000", "static.johnsmith.net", "/db-backup.dat.gz", "",
		"PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n" +
			"x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n" +
			"x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n/static.johnsmith.net/db-backup.dat.gz",
		"ilyl83RwaSoYIEdixDQcA4OnAnc="},
	{"A7 list buckets", "GET", nil, "Wed, 28 Mar 2007 01:29:59 +0000", "", "/", "",
		"GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/", "qGdzdERIC03wnaRNKh6OqZehG9s="},
	{"A8 unicode keys", "GET", nil, "Wed, 28 Mar 2007 01:49:49 +0000", "dictionary", "/fran%C3%A7ais/pr%c3%a9f%c3%a8re", "",
		"GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", "DNEZGsoieTZ92F3bUfSPQcbGmlM="},
}

func TestSignV2Vectors(t *testing.T) {
	for _, tt := range awsV2Vectors {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header.Clone()
			if h == nil {
				h = http.Header{}
			}
			cr := canonicalResourceV2(SignatureV2, resourcePathV2(tt.bucket, tt.path, false), tt.query)
			sts := stringToSignV2(SignatureV2, tt.method, h, tt.date, cr)
			if sts != tt.wantSTS {
				t.Fatalf("StringToSign\n got %q\nwant %q", sts, tt.wantSTS)
			}
			sig := signatureV2(awsSK, sts)
			if sig != tt.wantSign {
				t.Errorf("signature = %q, want %q", sig, tt.wantSign)
			}
			if got, want := authorizationV2(SignatureV2, awsAK, sig), "AWS "+awsAK+":"+tt.wantSign; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
		})
	}
}

// The same vectors in the OBS dialect: x-obs- headers and the OBS keyword.
// The HMAC is the same, so a StringToSign that does not change (no prefixed
// headers) gives identical signature bytes; A6's string changes only by
// its header prefix. Headers of the other dialect are never signed.
func TestSignOBSDialectOnV2Vectors(t *testing.T) {
	for _, tt := range awsV2Vectors {
		t.Run(tt.name, func(t *testing.T) {
			obsH := http.Header{}
			amzH := http.Header{}
			for k, v := range tt.header {
				if len(v) == 0 {
					continue
				}
				if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
					obsH["X-Obs-"+k[len("x-amz-"):]] = v
					amzH[k] = v // in the OBS dialect these must be ignored
				} else {
					obsH[k] = v
				}
			}
			for k, v := range amzH {
				obsH[k] = v
			}
			wantSTS := strings.ReplaceAll(tt.wantSTS, "x-amz-", "x-obs-")
			cr := canonicalResourceV2(SignatureOBS, resourcePathV2(tt.bucket, tt.path, false), tt.query)
			sts := stringToSignV2(SignatureOBS, tt.method, obsH, tt.date, cr)
			if sts != wantSTS {
				t.Fatalf("StringToSign\n got %q\nwant %q", sts, wantSTS)
			}
			sig := signatureV2(awsSK, sts)
			if wantSTS == tt.wantSTS && sig != tt.wantSign {
				t.Errorf("signature = %q, want the V2 bytes %q", sig, tt.wantSign)
			}
			if sig != refSigV2(awsSK, wantSTS) {
				t.Errorf("signature = %q is not HMAC-SHA1 of the string", sig)
			}
			if got, want := authorizationV2(SignatureOBS, awsAK, sig), "OBS "+awsAK+":"+sig; got != want {
				t.Errorf("Authorization = %q, want %q", got, want)
			}
			// And in the V2 dialect the x-obs- headers are ignored.
			if got := stringToSignV2(SignatureV2, tt.method, obsH, tt.date, cr); strings.Contains(got, "x-obs-") {
				t.Errorf("V2 dialect signed x-obs- headers: %q", got)
			}
		})
	}
}

// --- §9.4 AWS Signature V4 ---

const (
	emptySHA256   = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	v4Host        = "examplebucket.s3.amazonaws.com"
	v4VectorStamp = "20130524T000000Z"
)

func TestSignV4Vectors(t *testing.T) {
	now := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		method       string
		key          string // object key, encoded by encodeKey ("" → "/")
		rawQuery     string
		header       http.Header
		payload      string
		wantSigned   string
		wantCRHash   string
		wantSig      string
		wantCanonQ   string
		wantCanonURI string
	}{
		{name: "V1 GET object", method: "GET", key: "test.txt",
			header:       http.Header{"Range": {"bytes=0-9"}},
			payload:      emptySHA256,
			wantSigned:   "host;range;x-amz-content-sha256;x-amz-date",
			wantCRHash:   "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
			wantSig:      "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
			wantCanonURI: "/test.txt"},
		{name: "V2 PUT object", method: "PUT", key: "test$file.text",
			header: http.Header{"Date": {"Fri, 24 May 2013 00:00:00 GMT"}, "X-Amz-Storage-Class": {"REDUCED_REDUNDANCY"},
				"Content-Length": {"21"}, "User-Agent": {"x"}},
			payload:      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
			wantSigned:   "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			wantSig:      "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
			wantCanonURI: "/test%24file.text"},
		{name: "V3 GET lifecycle", method: "GET", rawQuery: "lifecycle",
			payload:      emptySHA256,
			wantSigned:   "host;x-amz-content-sha256;x-amz-date",
			wantSig:      "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
			wantCanonQ:   "lifecycle=",
			wantCanonURI: "/"},
		{name: "V4 list", method: "GET", rawQuery: "max-keys=2&prefix=J",
			payload:      emptySHA256,
			wantSigned:   "host;x-amz-content-sha256;x-amz-date",
			wantSig:      "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
			wantCanonQ:   "max-keys=2&prefix=J",
			wantCanonURI: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header.Clone()
			if h == nil {
				h = http.Header{}
			}
			h.Set("X-Amz-Date", v4VectorStamp)
			h.Set("X-Amz-Content-Sha256", tt.payload)
			uri := "/" + encodeKey(tt.key)
			if uri != tt.wantCanonURI {
				t.Errorf("canonical URI = %q, want %q", uri, tt.wantCanonURI)
			}
			if got := canonicalQueryV4(tt.rawQuery); got != tt.wantCanonQ {
				t.Errorf("canonical query = %q, want %q", got, tt.wantCanonQ)
			}
			signed := v4SignedHeaderNames(h)
			if got := strings.Join(signed, ";"); got != tt.wantSigned {
				t.Fatalf("SignedHeaders = %q, want %q", got, tt.wantSigned)
			}
			cr := canonicalRequestV4(tt.method, uri, tt.rawQuery, v4Host, h, signed, tt.payload)
			sum := sha256.Sum256([]byte(cr))
			if tt.wantCRHash != "" && hex.EncodeToString(sum[:]) != tt.wantCRHash {
				t.Errorf("canonical request hash = %x, want %s\n%s", sum, tt.wantCRHash, cr)
			}
			sts := stringToSignV4(now, "us-east-1", cr)
			wantSTS := "AWS4-HMAC-SHA256\n" + v4VectorStamp + "\n20130524/us-east-1/s3/aws4_request\n" + hex.EncodeToString(sum[:])
			if sts != wantSTS {
				t.Errorf("StringToSign = %q, want %q", sts, wantSTS)
			}
			if got := signatureV4(awsSK, now, "us-east-1", sts); got != tt.wantSig {
				t.Errorf("signature = %s, want %s\ncanonical request:\n%s", got, tt.wantSig, cr)
			}
		})
	}
}

// V1 end to end: a GetObject with a Range through the client must carry
// exactly the published Authorization (x-amz-content-sha256 aside: the
// client always sends UNSIGNED-PAYLOAD, so the payload hash differs and the
// expected signature is recomputed independently).
func TestSignV4Authorization(t *testing.T) {
	now := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	h := http.Header{"Range": {"bytes=0-9"}, "X-Amz-Content-Sha256": {emptySHA256}, "X-Amz-Date": {v4VectorStamp}}
	r, _ := http.NewRequest("GET", "https://"+v4Host+"/test.txt", nil)
	r.Header = h
	signed := v4SignedHeaderNames(h)
	cr := canonicalRequestV4("GET", "/test.txt", "", v4Host, h, signed, emptySHA256)
	sig := signatureV4(awsSK, now, "us-east-1", stringToSignV4(now, "us-east-1", cr))
	got := v4Algorithm + " Credential=" + awsAK + "/" + v4Scope(now, "us-east-1") + ",SignedHeaders=" + strings.Join(signed, ";") + ",Signature=" + sig
	const want = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if got != want {
		t.Errorf("Authorization\n got %s\nwant %s", got, want)
	}
}

// --- end to end: a real UploadPart through the client in each dialect ---

func TestSignUploadPartEndToEnd(t *testing.T) {
	const (
		ak     = "AKTEST"
		sk     = "SECRET/sk+key"
		token  = "TOKEN.abc+/="
		region = "cn-north-4"
		bucket = "bucket"
		key    = "dir/a b+c~é*.txt"
		wire   = "/dir/a%20b%2Bc~%C3%A9%2A.txt"
		upload = "00000163D40171ED8DF4050919BD02B8"
	)
	now := time.Date(2022, 8, 15, 16, 50, 12, 0, time.UTC)
	data := []byte("part payload")
	md5 := md5b64(data)
	host := bucket + ".obs." + region + ".myhuaweicloud.com"
	for _, sig := range []Signature{SignatureOBS, SignatureV2, SignatureV4} {
		t.Run(string(sig), func(t *testing.T) {
			ft := &fakeTransport{}
			c := newTestClient(t, Config{Endpoint: "https://obs." + region + ".myhuaweicloud.com", Region: region,
				AccessKey: ak, SecretKey: sk, SecurityToken: token, Signature: sig, Transport: ft, Now: fixedClock(now)})
			out, err := c.UploadPart(context.Background(), &UploadPartInput{Bucket: bucket, Key: key, PartNumber: 7,
				UploadID: upload, Body: bytes.NewReader(data)})
			if err != nil {
				t.Fatal(err)
			}
			if out.ETag != `"`+md5hex(data)+`"` {
				t.Errorf("ETag = %q", out.ETag)
			}
			reqs := ft.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.Method != "PUT" || r.Host != host || r.URI != wire+"?partNumber=7&uploadId="+upload {
				t.Errorf("request line: %s %s %s", r.Method, r.Host, r.URI)
			}
			if !bytes.Equal(r.Body, data) {
				t.Errorf("body = %q", r.Body)
			}
			if got := r.Header.Get("Content-Md5"); got != md5 {
				t.Errorf("Content-MD5 = %q, want %q", got, md5)
			}
			prefix := sig.headerPrefix()
			other := "x-amz-"
			if sig != SignatureOBS {
				other = "x-obs-"
			}
			for name := range r.Header {
				if strings.HasPrefix(strings.ToLower(name), other) {
					t.Errorf("%s dialect sent %s", sig, name)
				}
			}
			if got := r.Header.Get(prefix + "security-token"); got != token {
				t.Errorf("%ssecurity-token = %q", prefix, got)
			}
			auth := r.Header.Get("Authorization")
			switch sig {
			case SignatureOBS, SignatureV2:
				date := "Mon, 15 Aug 2022 16:50:12 GMT"
				if got := r.Header.Get("Date"); got != date {
					t.Errorf("Date = %q", got)
				}
				if r.Header.Get("X-Amz-Date") != "" || r.Header.Get("X-Obs-Date") != "" {
					t.Errorf("V2/OBS must not send a prefixed date header (MinIO signs Date)")
				}
				if r.Header.Get("X-Amz-Content-Sha256") != "" {
					t.Errorf("V2/OBS sent x-amz-content-sha256")
				}
				sts := "PUT\n" + md5 + "\n\n" + date + "\n" + prefix + "security-token:" + token + "\n/" + bucket + wire +
					"?partNumber=7&uploadId=" + upload
				kw := "AWS "
				if sig == SignatureOBS {
					kw = "OBS "
				}
				if want := kw + ak + ":" + refSigV2(sk, sts); auth != want {
					t.Errorf("Authorization = %q, want %q (StringToSign %q)", auth, want, sts)
				}
			case SignatureV4:
				if r.Header.Get("Date") != "" {
					t.Errorf("V4 sent Date %q", r.Header.Get("Date"))
				}
				if got := r.Header.Get("X-Amz-Date"); got != "20220815T165012Z" {
					t.Errorf("x-amz-date = %q", got)
				}
				if got := r.Header.Get("X-Amz-Content-Sha256"); got != "UNSIGNED-PAYLOAD" {
					t.Errorf("x-amz-content-sha256 = %q", got)
				}
				signed := "content-md5;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
				cr := "PUT\n" + wire + "\npartNumber=7&uploadId=" + upload + "\n" +
					"content-md5:" + md5 + "\nhost:" + host + "\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n" +
					"x-amz-date:20220815T165012Z\nx-amz-security-token:" + token + "\n\n" + signed + "\nUNSIGNED-PAYLOAD"
				want := "AWS4-HMAC-SHA256 Credential=" + ak + "/20220815/" + region + "/s3/aws4_request,SignedHeaders=" + signed +
					",Signature=" + refSigV4(sk, "20220815T165012Z", region, cr)
				if auth != want {
					t.Errorf("Authorization\n got %s\nwant %s", auth, want)
				}
			}
		})
	}
}

// Every extension header any API sends carries the dialect's prefix.
func TestDialectHeaderPrefixes(t *testing.T) {
	key32 := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
	for _, sig := range []Signature{SignatureOBS, SignatureV2, SignatureV4} {
		t.Run(string(sig), func(t *testing.T) {
			ft := &fakeTransport{respond: func(c captured) *http.Response {
				h := http.Header{"Etag": {`"` + md5hex(c.Body) + `"`}}
				switch {
				case strings.Contains(c.Query, "uploads"):
					return newResponse(200, h, `<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>`)
				case c.Header.Get(sig.headerPrefix()+"copy-source") != "" && strings.Contains(c.Query, "partNumber"):
					return newResponse(200, h, `<CopyPartResult><ETag>"x"</ETag></CopyPartResult>`)
				case c.Header.Get(sig.headerPrefix()+"copy-source") != "":
					return newResponse(200, h, `<CopyObjectResult><ETag>"x"</ETag></CopyObjectResult>`)
				}
				// Pretend SSE-C was applied so the ETag is not checked.
				h.Set(sig.headerPrefix()+"server-side-encryption-customer-algorithm", "AES256")
				return newResponse(200, h, "")
			}}
			c := newTestClient(t, Config{Endpoint: "https://obs.example.com", AccessKey: "AK", SecretKey: "SK",
				SecurityToken: "T", Signature: sig, Transport: ft, Retry: fastRetry})
			ctx := context.Background()
			if _, err := c.InitiateMultipartUpload(ctx, &InitiateMultipartUploadInput{Bucket: "bkt", Key: "k",
				Metadata: map[string]string{"Owner": "me"}, SSE: SSE{SseKms: "kms", SseKmsKey: "key-id"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.UploadPart(ctx, &UploadPartInput{Bucket: "bkt", Key: "k", PartNumber: 1, UploadID: "U1",
				Body: strings.NewReader("x"), SseC: "AES256", SseCKey: key32}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.UploadPartCopy(ctx, &UploadPartCopyInput{Bucket: "bkt", Key: "k", PartNumber: 2, UploadID: "U1",
				SourceBucket: "src", SourceKey: "a b", SourceRange: &Range{Start: 0, End: 9}, SourceIfMatch: `"e"`,
				SseC: "AES256", SseCKey: key32, SourceSseC: "AES256", SourceSseCKey: key32}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CopyObject(ctx, &CopyObjectInput{Bucket: "bkt", Key: "k2", SourceBucket: "bkt", SourceKey: "k",
				MetadataDirective: MetadataReplace, Metadata: map[string]string{"a": "b"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutObject(ctx, &PutObjectInput{Bucket: "bkt", Key: "k3", Body: strings.NewReader("y"),
				Metadata: map[string]string{"m": "v"}, SSE: SSE{SseC: "AES256", SseCKey: key32}}); err != nil {
				t.Fatal(err)
			}
			prefix := sig.headerPrefix()
			n := 0
			for _, r := range ft.requests() {
				for name := range r.Header {
					ln := strings.ToLower(name)
					if strings.HasPrefix(ln, "x-") {
						n++
						if !strings.HasPrefix(ln, prefix) {
							t.Errorf("%s %s: header %s lacks prefix %s", r.Method, r.URI, name, prefix)
						}
					}
				}
				if r.Header.Get(prefix+"security-token") != "T" {
					t.Errorf("%s %s: no security token", r.Method, r.URI)
				}
			}
			if n < 20 {
				t.Errorf("only %d extension headers seen", n)
			}
			reqs := ft.requests()
			if got, want := reqs[0].Header.Get(prefix+"server-side-encryption"), sig.kmsValue(); got != want {
				t.Errorf("SSE-KMS value = %q, want %q", got, want)
			}
			if got := reqs[0].Header.Get(prefix + "meta-owner"); got != "me" {
				t.Errorf("meta header = %q", got)
			}
			if reqs[1].Header.Get(prefix+"server-side-encryption") != "" {
				t.Errorf("UploadPart carried SSE-KMS headers")
			}
			if got := reqs[2].Header.Get(prefix + "copy-source"); got != "/src/a%20b" {
				t.Errorf("copy-source = %q", got)
			}
			if got := reqs[2].Header.Get(prefix + "copy-source-range"); got != "bytes=0-9" {
				t.Errorf("copy-source-range = %q", got)
			}
			if got := reqs[3].Header.Get(prefix + "metadata-directive"); got != "REPLACE" {
				t.Errorf("metadata-directive = %q", got)
			}
			if got := reqs[2].Header.Get(prefix + "copy-source-server-side-encryption-customer-key-MD5"); got == "" {
				t.Errorf("no copy-source SSE-C key MD5")
			}
		})
	}
}

// --- encoding tables ---

func TestEncodeRFC3986(t *testing.T) {
	tests := []struct {
		in, slash, noSlash string
	}{
		{"", "", ""},
		{"abcXYZ019-._~", "abcXYZ019-._~", "abcXYZ019-._~"},
		{"a b", "a%20b", "a%20b"},
		{"a+b", "a%2Bb", "a%2Bb"},
		{"a*b", "a%2Ab", "a%2Ab"},
		{"a/b/", "a/b/", "a%2Fb%2F"},
		{"100%", "100%25", "100%25"},
		{"é", "%C3%A9", "%C3%A9"},
		{"日本", "%E6%97%A5%E6%9C%AC", "%E6%97%A5%E6%9C%AC"},
		{"#?&=;:@!$'(),[]", "%23%3F%26%3D%3B%3A%40%21%24%27%28%29%2C%5B%5D", "%23%3F%26%3D%3B%3A%40%21%24%27%28%29%2C%5B%5D"},
		{"\x00\n\x7f\xff", "%00%0A%7F%FF", "%00%0A%7F%FF"},
	}
	for _, tt := range tests {
		if got := encodeRFC3986(tt.in, true); got != tt.slash {
			t.Errorf("encodeRFC3986(%q, true) = %q, want %q", tt.in, got, tt.slash)
		}
		if got := encodeRFC3986(tt.in, false); got != tt.noSlash {
			t.Errorf("encodeRFC3986(%q, false) = %q, want %q", tt.in, got, tt.noSlash)
		}
		if got := encodeKey(tt.in); got != tt.slash {
			t.Errorf("encodeKey(%q) = %q, want %q", tt.in, got, tt.slash)
		}
		// Round trip.
		if dec, err := url.PathUnescape(encodeKey(tt.in)); err != nil || dec != tt.in {
			t.Errorf("PathUnescape(encodeKey(%q)) = %q, %v", tt.in, dec, err)
		}
	}
}

func TestEncodeQuery(t *testing.T) {
	tests := []struct {
		q    url.Values
		want string
	}{
		{nil, ""},
		{url.Values{"uploads": {""}}, "uploads"},
		{url.Values{"uploadId": {"a+b c"}, "partNumber": {"3"}}, "partNumber=3&uploadId=a%2Bb%20c"},
		{url.Values{"prefix": {"dir/é"}, "encoding-type": {"url"}}, "encoding-type=url&prefix=dir%2F%C3%A9"},
	}
	for _, tt := range tests {
		if got := encodeQuery(tt.q); got != tt.want {
			t.Errorf("encodeQuery(%v) = %q, want %q", tt.q, got, tt.want)
		}
	}
}

func TestCanonicalQueryV4(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", ""},
		{"uploads", "uploads="},
		{"uploadId=X&partNumber=2", "partNumber=2&uploadId=X"},
		{"prefix=a%20b&delimiter=%2F", "delimiter=%2F&prefix=a%20b"},
		{"b=2&a=1&a=0", "a=0&a=1&b=2"},
		// Sorted by encoded key: "%C3%A9" < "~".
		{"k~=1&k%C3%A9=2", "k%C3%A9=2&k~=1"},
	}
	for _, tt := range tests {
		if got := canonicalQueryV4(tt.raw); got != tt.want {
			t.Errorf("canonicalQueryV4(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

// The sub-resource lists: byte-order sorting of what is kept, and the
// table of reference §2.1 for the APIs the filesystem uses.
func TestSubResourceOrder(t *testing.T) {
	tests := []struct {
		sig      Signature
		rawQuery string
		want     string
	}{
		{SignatureOBS, "uploadId=ABC&partNumber=3", "?partNumber=3&uploadId=ABC"},
		{SignatureV2, "uploadId=ABC&partNumber=3", "?partNumber=3&uploadId=ABC"},
		{SignatureOBS, "acl&CDNNotifyConfiguration", "?CDNNotifyConfiguration&acl"},
		{SignatureOBS, "uploads", "?uploads"},
		{SignatureOBS, "uploadId=ABC&max-parts=10&part-number-marker=2&encoding-type=url", "?uploadId=ABC"},
		{SignatureOBS, "uploads&prefix=a&key-marker=b&upload-id-marker=c&max-uploads=5&delimiter=%2F", "?uploads"},
		{SignatureOBS, "delete", "?delete"},
		{SignatureOBS, "prefix=a%2F&delimiter=%2F&marker=x&max-keys=1000", ""},
		{SignatureOBS, "position=0&append", "?append&position=0"},
		{SignatureOBS, "position=9&modify", "?modify&position=9"},
		{SignatureOBS, "truncate&length=5", "?length=5&truncate"},
		{SignatureOBS, "rename&name=new%20key%2Fx", "?name=new key/x&rename"},
		{SignatureOBS, "metadata", "?metadata"},
		{SignatureOBS, "versionId=v1&response-content-type=text%2Fplain", "?response-content-type=text/plain&versionId=v1"},
		{SignatureOBS, "x-obs-security-token=t&x-amz-foo=1", "?x-obs-security-token=t"},
		{SignatureV2, "x-obs-security-token=t&x-amz-foo=1", "?x-amz-foo=1"},
		// OBS-only sub-resources are not in the AWS list (MinIO never sees them).
		{SignatureV2, "position=0&append", ""},
		{SignatureV2, "CDNNotifyConfiguration", ""},
	}
	for _, tt := range tests {
		if got := canonicalResourceV2(tt.sig, "/b/k", tt.rawQuery); got != "/b/k"+tt.want {
			t.Errorf("%s %q: %q, want %q", tt.sig, tt.rawQuery, got, "/b/k"+tt.want)
		}
	}
	// The allowlists are case-sensitive and contain what reference §2.1 lists.
	for _, name := range []string{"CDNNotifyConfiguration", "partNumber", "uploadId", "uploads", "append", "position",
		"rename", "name", "truncate", "length", "modify", "metadata", "x-obs-security-token", "versionId"} {
		if !obsSubResources[name] {
			t.Errorf("OBS allowlist lacks %q", name)
		}
	}
	for _, name := range []string{"partnumber", "uploadid", "prefix", "marker", "max-keys", "delimiter", "key-marker",
		"version-id-marker", "upload-id-marker", "max-uploads", "max-parts", "part-number-marker", "encoding-type"} {
		if obsSubResources[name] || awsSubResources[name] {
			t.Errorf("%q must not be a sub-resource", name)
		}
	}
	// Byte order: the sorted allowlist starts with the capitalised name.
	names := make([]string, 0, len(obsSubResources))
	for n := range obsSubResources {
		names = append(names, n)
	}
	sort.Strings(names)
	if names[0] != "CDNNotifyConfiguration" {
		t.Errorf("first sub-resource in byte order = %q", names[0])
	}
	var all []string
	for _, n := range names {
		all = append(all, n+"=1")
	}
	// Reverse the wire order; the canonical form must come back sorted.
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	got := canonicalResourceV2(SignatureOBS, "/", strings.Join(all, "&"))
	var want []string
	for _, n := range names {
		want = append(want, n+"=1")
	}
	if got != "/?"+strings.Join(want, "&") {
		t.Errorf("full allowlist not sorted:\n%s", got)
	}
}

func TestResourcePathV2(t *testing.T) {
	tests := []struct {
		bucket, wire string
		path         bool
		want         string
	}{
		{"", "/", true, "/"},
		{"", "", false, "/"},
		{"b", "/", false, "/b/"},
		{"b", "/k/x", false, "/b/k/x"},
		{"b", "/b/", true, "/b/"},
		{"b", "/b/k%20x", true, "/b/k%20x"},
	}
	for _, tt := range tests {
		if got := resourcePathV2(tt.bucket, tt.wire, tt.path); got != tt.want {
			t.Errorf("resourcePathV2(%q, %q, %v) = %q, want %q", tt.bucket, tt.wire, tt.path, got, tt.want)
		}
	}
}

// Path-style and virtual-hosted URLs, and the canonical resource of each.
func TestBuildURL(t *testing.T) {
	tests := []struct {
		endpoint string
		mode     Addressing
		bucket   string
		key      string
		wantURL  string
		wantPath bool
	}{
		{"https://obs.cn-north-4.myhuaweicloud.com", AddressingAuto, "b", "a b/c", "https://b.obs.cn-north-4.myhuaweicloud.com/a%20b/c", false},
		{"http://127.0.0.1:9000", AddressingAuto, "b", "k+", "http://127.0.0.1:9000/b/k%2B", true},
		{"localhost:9000", AddressingAuto, "b", "", "https://localhost:9000/b/", true},
		{"https://obs.example.com:443", AddressingPath, "b", "k", "https://obs.example.com/b/k", true},
		{"https://obs.example.com", AddressingAuto, "b.c", "k", "https://obs.example.com/b.c/k", true},
		{"https://obs.example.com", AddressingVirtualHost, "b", "", "https://b.obs.example.com/", false},
		{"http://[::1]:9000", AddressingAuto, "b", "k", "http://[::1]:9000/b/k", true},
	}
	for _, tt := range tests {
		c := newTestClient(t, Config{Endpoint: tt.endpoint, AccessKey: "a", SecretKey: "s", Addressing: tt.mode})
		u, ps := c.buildURL(tt.bucket, tt.key, nil)
		if u.String() != tt.wantURL || ps != tt.wantPath {
			t.Errorf("%s %s/%s: %s (path style %v), want %s (%v)", tt.endpoint, tt.bucket, tt.key, u, ps, tt.wantURL, tt.wantPath)
		}
	}
}

// Every attempt is signed afresh with the clock read at that attempt.
func TestSignUsesInjectedClockPerAttempt(t *testing.T) {
	start := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	ft := &fakeTransport{respond: func(c captured) *http.Response {
		n++
		if n < 3 {
			return newResponse(503, nil, "")
		}
		return newResponse(200, http.Header{"Etag": {`"` + md5hex(c.Body) + `"`}}, "")
	}}
	c := newTestClient(t, Config{Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "s", Signature: SignatureOBS,
		Transport: ft, Retry: fastRetry, Now: steppingClock(start, time.Second)})
	if _, err := c.PutObject(context.Background(), &PutObjectInput{Bucket: "bkt", Key: "k", Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	reqs := ft.requests()
	for i, r := range reqs {
		want := start.Add(time.Duration(i) * time.Second).Format(http.TimeFormat)
		if r.Header.Get("Date") != want {
			t.Errorf("attempt %d: Date %q, want %q", i+1, r.Header.Get("Date"), want)
		}
	}
}
