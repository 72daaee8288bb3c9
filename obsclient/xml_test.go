package obsclient

import (
	"context"
	"crypto/md5"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

const obsNS = `xmlns="http://obs.cn-north-4.myhuaweicloud.com/doc/2015-06-30/"`

const xmlDecl = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

func TestDecodeXMLResultTypes(t *testing.T) {
	tests := []struct {
		name string
		root string
		body string
		into any
		want any
	}{
		{"initiate", "InitiateMultipartUploadResult",
			xmlDecl + `<InitiateMultipartUploadResult ` + obsNS + `><Bucket>bucketname</Bucket><Key>objectkey</Key>` +
				`<UploadId>DCD2FC98B4F70000013DF578ACA318E7</UploadId></InitiateMultipartUploadResult>`,
			&xmlInitiateResult{},
			&xmlInitiateResult{Bucket: "bucketname", Key: "objectkey", UploadID: "DCD2FC98B4F70000013DF578ACA318E7"}},
		{"complete", "CompleteMultipartUploadResult",
			xmlDecl + `<CompleteMultipartUploadResult ` + obsNS + `><Location>/examplebucket/object02</Location>` +
				`<Bucket>examplebucket</Bucket><Key>object02</Key><ETag>"03f814825e5a691489b947a2e120b2d3-3"</ETag>` +
				`</CompleteMultipartUploadResult>`,
			&xmlCompleteResult{},
			&xmlCompleteResult{Location: "/examplebucket/object02", Bucket: "examplebucket", Key: "object02",
				ETag: `"03f814825e5a691489b947a2e120b2d3-3"`}},
		{"copy part", "CopyPartResult",
			`<CopyPartResult ` + obsNS + `><LastModified>2015-07-01T05:16:32.344Z</LastModified>` +
				`<ETag>"3b46eaf02d3b6b1206078bb86a7b7013"</ETag></CopyPartResult>`,
			&xmlCopyResult{},
			&xmlCopyResult{LastModified: "2015-07-01T05:16:32.344Z", ETag: `"3b46eaf02d3b6b1206078bb86a7b7013"`}},
		{"copy object", "CopyObjectResult",
			`<CopyObjectResult ` + obsNS + `><LastModified>2015-07-01T05:16:32.344Z</LastModified><ETag>"e"</ETag></CopyObjectResult>`,
			&xmlCopyResult{},
			&xmlCopyResult{LastModified: "2015-07-01T05:16:32.344Z", ETag: `"e"`}},
		{"list parts", "ListPartsResult",
			xmlDecl + `<ListPartsResult ` + obsNS + `><Bucket>b</Bucket><Key>k</Key><UploadId>U</UploadId>` +
				`<Initiator><ID>domainID/x</ID></Initiator><Owner><ID>o</ID></Owner><StorageClass>STANDARD</StorageClass>` +
				`<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>1000</MaxParts>` +
				`<IsTruncated>true</IsTruncated>` +
				`<Part><PartNumber>1</PartNumber><LastModified>2018-06-06T07:39:32.522Z</LastModified>` +
				`<ETag>"b026324c6904b2a9cb4b88d6d61c81d1"</ETag><Size>2058462721</Size></Part>` +
				`<Part><PartNumber>2</PartNumber><ETag>"x"</ETag><Size>1</Size></Part></ListPartsResult>`,
			&xmlListPartsResult{}, nil},
		{"list uploads", "ListMultipartUploadsResult",
			`<ListMultipartUploadsResult ` + obsNS + `><Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
				`<NextKeyMarker>obj2</NextKeyMarker><NextUploadIdMarker>U2</NextUploadIdMarker><Delimiter/><Prefix/>` +
				`<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
				`<Upload><Key>obj2</Key><UploadId>00000163D40171ED8DF4050919BD02B8</UploadId>` +
				`<Initiator><ID>i</ID></Initiator><Owner><ID>o</ID></Owner><StorageClass>STANDARD</StorageClass>` +
				`<Initiated>2015-07-01T02:30:54.582Z</Initiated></Upload>` +
				`<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes></ListMultipartUploadsResult>`,
			&xmlListUploadsResult{}, nil},
		{"list bucket", "ListBucketResult",
			`<ListBucketResult ` + obsNS + `><Name>b</Name><Prefix>p</Prefix><Marker/><NextMarker>n</NextMarker>` +
				`<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>` +
				`<Contents><Key>p/a</Key><LastModified>2015-07-01T00:32:16.482Z</LastModified><ETag>"e"</ETag>` +
				`<Size>12041</Size><Owner><ID>o</ID><DisplayName>d</DisplayName></Owner><StorageClass>STANDARD</StorageClass>` +
				`<Type>Appendable</Type></Contents><CommonPrefixes><Prefix>p/dir/</Prefix><MTime>1</MTime></CommonPrefixes>` +
				`</ListBucketResult>`,
			&xmlListBucketResult{}, nil},
		{"delete result", "DeleteResult",
			`<DeleteResult ` + obsNS + `><Deleted><Key>a</Key><DeleteMarker>true</DeleteMarker>` +
				`<DeleteMarkerVersionId>v</DeleteMarkerVersionId></Deleted>` +
				`<Error><Key>b</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>`,
			&xmlDeleteResult{}, nil},
		{"error", "Error",
			xmlDecl + `<Error><Code>NoSuchKey</Code><Message>The resource you requested does not exist</Message>` +
				`<Resource>/example-bucket/object</Resource><RequestId>001B21A61C6C0000013402C4616D5285</RequestId>` +
				`<HostId>RkRCRDJE</HostId></Error>`,
			&xmlError{},
			&xmlError{Code: "NoSuchKey", Message: "The resource you requested does not exist", Resource: "/example-bucket/object",
				RequestID: "001B21A61C6C0000013402C4616D5285", HostID: "RkRCRDJE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := decodeXML(strings.NewReader(tt.body), tt.root, 200, tt.into); err != nil {
				t.Fatalf("decodeXML: %v", err)
			}
			if tt.want != nil {
				got := reflect.ValueOf(tt.into).Elem()
				if f := got.FieldByName("XMLName"); f.IsValid() {
					f.Set(reflect.Zero(f.Type()))
				}
				if !reflect.DeepEqual(tt.into, tt.want) {
					t.Errorf("got %+v\nwant %+v", tt.into, tt.want)
				}
			}
		})
	}
	// Spot checks of the list types.
	var lp xmlListPartsResult
	body := tests[4].body
	if err := decodeXML(strings.NewReader(body), "ListPartsResult", 200, &lp); err != nil {
		t.Fatal(err)
	}
	if len(lp.Parts) != 2 || lp.Parts[0].Size != 2058462721 || lp.Parts[0].ETag != `"b026324c6904b2a9cb4b88d6d61c81d1"` ||
		lp.NextPartNumberMarker != 2 || !lp.IsTruncated || lp.MaxParts != 1000 || lp.UploadID != "U" {
		t.Errorf("ListParts: %+v", lp)
	}
	var lb xmlListBucketResult
	if err := decodeXML(strings.NewReader(tests[6].body), "ListBucketResult", 200, &lb); err != nil {
		t.Fatal(err)
	}
	if len(lb.Contents) != 1 || lb.Contents[0].Size != 12041 || lb.Contents[0].Type != "Appendable" ||
		len(lb.CommonPrefixes) != 1 || lb.CommonPrefixes[0].Prefix != "p/dir/" || lb.NextMarker != "n" {
		t.Errorf("ListBucket: %+v", lb)
	}
	var dr xmlDeleteResult
	if err := decodeXML(strings.NewReader(tests[7].body), "DeleteResult", 200, &dr); err != nil {
		t.Fatal(err)
	}
	if len(dr.Deleted) != 1 || !dr.Deleted[0].DeleteMarker || len(dr.Errors) != 1 || dr.Errors[0].Code != "AccessDenied" {
		t.Errorf("DeleteResult: %+v", dr)
	}
}

func TestDecodeXMLFailures(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantCode  string // non-empty: an *Error with this code and Status 200
		retryable bool
	}{
		{"empty", "", "", true},
		{"whitespace", " \n ", "", true},
		{"wrong root", `<CopyObjectResult><ETag>"e"</ETag></CopyObjectResult>`, "", true},
		{"truncated", `<CompleteMultipartUploadResult ` + obsNS + `><Bucket>b</Bucket><ETag>"e`, "", true},
		{"truncated root", `<CompleteMultipartUploadRes`, "", true},
		{"not xml", `{"code":"x"}`, "", true},
		{"html", `<html><body>502 Bad Gateway</body></html>`, "", true},
		{"error inside 200", xmlDecl + `<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>` +
			`<RequestId>R1</RequestId><HostId>H1</HostId></Error>`, "InternalError", true},
		{"namespaced error inside 200", `<Error ` + obsNS + `><Code>InvalidPart</Code><Message>m</Message></Error>`, "InvalidPart", false},
		{"truncated error", `<Error><Code>InternalError</Code><Mess`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r xmlCompleteResult
			err := decodeXML(strings.NewReader(tt.body), "CompleteMultipartUploadResult", 200, &r)
			if err == nil {
				t.Fatal("decodeXML succeeded")
			}
			if tt.wantCode != "" {
				e := AsError(err)
				if e == nil || e.Code != tt.wantCode || e.Status != 200 {
					t.Fatalf("err = %#v, want *Error{Status: 200, Code: %s}", err, tt.wantCode)
				}
			} else {
				if AsError(err) != nil {
					t.Errorf("err = %v is an *Error", err)
				}
				if !errors.Is(err, errMalformed) {
					t.Errorf("err = %v does not wrap errMalformed", err)
				}
			}
			if IsRetryable(err) != tt.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, IsRetryable(err), tt.retryable)
			}
		})
	}
}

// An <Error> inside a 200 response to Complete or a copy becomes an *Error
// with Status 200, filled from the body and the headers.
func TestErrorInside200(t *testing.T) {
	body := xmlDecl + `<Error ` + obsNS + `><Code>InvalidPart</Code><Message>One or more of the specified parts could not be found.</Message>` +
		`<Resource>/bkt/k</Resource><RequestId>XMLREQ</RequestId><HostId>HOST</HostId></Error>`
	ft := &fakeTransport{respond: func(c captured) *http.Response {
		return newResponse(200, http.Header{"X-Obs-Request-Id": {"HDRREQ"}, "X-Obs-Id-2": {"ID2"},
			"X-Reserved-Indicator": {"IND"}}, body)
	}}
	c := newTestClient(t, Config{Endpoint: "https://obs.example.com", AccessKey: "AK", SecretKey: "SK",
		Signature: SignatureOBS, Transport: ft, Retry: fastRetry})
	ctx := context.Background()
	calls := map[string]func() error{
		"Complete": func() error {
			_, err := c.CompleteMultipartUpload(ctx, &CompleteMultipartUploadInput{Bucket: "bkt", Key: "k", UploadID: "U",
				Parts: []CompletedPart{{1, `"` + md5hex(nil) + `"`}}})
			return err
		},
		"CopyObject": func() error {
			_, err := c.CopyObject(ctx, &CopyObjectInput{Bucket: "bkt", Key: "k", SourceBucket: "bkt", SourceKey: "s"})
			return err
		},
		"UploadPartCopy": func() error {
			_, err := c.UploadPartCopy(ctx, &UploadPartCopyInput{Bucket: "bkt", Key: "k", UploadID: "U", PartNumber: 1,
				SourceBucket: "bkt", SourceKey: "s"})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			before := len(ft.requests())
			err := call()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			want := Error{Status: 200, Code: "InvalidPart", Message: "One or more of the specified parts could not be found.",
				HostID: "HOST", RequestID: "XMLREQ", ID2: "ID2", Indicator: "IND", Resource: "/bkt/k"}
			if *e != want {
				t.Errorf("Error = %+v\nwant %+v", *e, want)
			}
			if n := len(ft.requests()) - before; n != 1 {
				t.Errorf("a non-retryable error in a 200 body was sent %d times", n)
			}
		})
	}
	// A copy answered 200 with a retryable error in the body is retried.
	n := 0
	ft.respond = func(c captured) *http.Response {
		n++
		if n == 1 {
			return newResponse(200, nil, `<Error><Code>InternalError</Code></Error>`)
		}
		return newResponse(200, nil, `<CopyObjectResult><ETag>"e"</ETag></CopyObjectResult>`)
	}
	out, err := c.CopyObject(ctx, &CopyObjectInput{Bucket: "bkt", Key: "k", SourceBucket: "bkt", SourceKey: "s"})
	if err != nil || out.ETag != `"e"` || n != 2 {
		t.Errorf("CopyObject = %+v, %v after %d attempts", out, err, n)
	}
	// A 200 without an ETag is a failure.
	ft.respond = func(c captured) *http.Response {
		return newResponse(200, nil, `<CopyObjectResult><LastModified>2015-07-01T05:16:32.344Z</LastModified></CopyObjectResult>`)
	}
	if _, err := c.CopyObject(ctx, &CopyObjectInput{Bucket: "bkt", Key: "k", SourceBucket: "bkt", SourceKey: "s"}); !errors.Is(err, errMalformed) {
		t.Errorf("CopyObject without ETag: %v", err)
	}
}

// Listings are requested with encoding-type=url and decoded.
func TestListEncodingTypeURL(t *testing.T) {
	keys := []string{"a b", "line\nbreak", "tab\there", "日本/語", "plus+sign", "100%", "cr\rx", "amp&lt;"}
	enc := func(s string) string { return url.QueryEscape(s) } // S3/MinIO style: space → '+', '+' → %2B
	var contents, uploads strings.Builder
	for _, k := range keys {
		contents.WriteString(`<Contents><Key>` + enc(k) + `</Key><Size>1</Size><ETag>"e"</ETag>` +
			`<LastModified>2015-07-01T00:32:16.482Z</LastModified></Contents>`)
		uploads.WriteString(`<Upload><Key>` + enc(k) + `</Key><UploadId>U-` + enc(k) + `</UploadId>` +
			`<Initiated>2015-07-01T02:30:54.582Z</Initiated></Upload>`)
	}
	var gotQueries []string
	ft := &fakeTransport{respond: func(c captured) *http.Response {
		gotQueries = append(gotQueries, c.Query)
		if strings.Contains(c.Query, "uploads") {
			return newResponse(200, nil, `<ListMultipartUploadsResult `+obsNS+`><Bucket>b</Bucket><EncodingType>url</EncodingType>`+
				`<IsTruncated>true</IsTruncated><NextKeyMarker>`+enc("next key")+`</NextKeyMarker><NextUploadIdMarker>NU</NextUploadIdMarker>`+
				uploads.String()+`<CommonPrefixes><Prefix>`+enc("dir with space/")+`</Prefix></CommonPrefixes></ListMultipartUploadsResult>`)
		}
		return newResponse(200, nil, `<ListBucketResult `+obsNS+`><Name>b</Name><EncodingType>url</EncodingType>`+
			`<IsTruncated>true</IsTruncated><NextMarker>`+enc("next key")+`</NextMarker>`+contents.String()+
			`<CommonPrefixes><Prefix>`+enc("dir with space/")+`</Prefix></CommonPrefixes></ListBucketResult>`)
	}}
	c := newTestClient(t, Config{Endpoint: "http://127.0.0.1:9000", AccessKey: "AK", SecretKey: "SK", Transport: ft})
	ctx := context.Background()
	lo, err := c.ListObjects(ctx, &ListObjectsInput{Bucket: "bkt", Prefix: "p q/", Delimiter: "/", Marker: "m+", MaxKeys: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range lo.Contents {
		got = append(got, o.Key)
		if o.Size != 1 || o.ETag != `"e"` || o.LastModified.IsZero() {
			t.Errorf("object %+v", o)
		}
	}
	if !reflect.DeepEqual(got, keys) {
		t.Errorf("keys = %q\nwant %q", got, keys)
	}
	if lo.NextMarker != "next key" || !lo.IsTruncated || !reflect.DeepEqual(lo.CommonPrefixes, []string{"dir with space/"}) {
		t.Errorf("ListObjects = %+v", lo)
	}
	lu, err := c.ListMultipartUploads(ctx, &ListMultipartUploadsInput{Bucket: "bkt", Prefix: "p", KeyMarker: "k", UploadIDMarker: "u"})
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, u := range lu.Uploads {
		got = append(got, u.Key)
		if u.Initiated.IsZero() {
			t.Errorf("upload %+v", u)
		}
	}
	if !reflect.DeepEqual(got, keys) {
		t.Errorf("upload keys = %q\nwant %q", got, keys)
	}
	if lu.NextKeyMarker != "next key" || lu.NextUploadIDMarker != "NU" || !reflect.DeepEqual(lu.CommonPrefixes, []string{"dir with space/"}) {
		t.Errorf("ListMultipartUploads = %+v", lu)
	}
	wantQ := []string{
		"delimiter=%2F&encoding-type=url&marker=m%2B&max-keys=10&prefix=p%20q%2F",
		"encoding-type=url&key-marker=k&prefix=p&upload-id-marker=u&uploads",
	}
	if !reflect.DeepEqual(gotQueries, wantQ) {
		t.Errorf("queries = %q\nwant %q", gotQueries, wantQ)
	}
}

// Without encoding-type in the answer, names are taken literally; a bad
// escape in an encoded answer is an error, not a silently wrong key.
func TestListEncodingEdgeCases(t *testing.T) {
	var body string
	ft := &fakeTransport{respond: func(c captured) *http.Response { return newResponse(200, nil, body) }}
	c := newTestClient(t, Config{Endpoint: "http://127.0.0.1:9000", AccessKey: "AK", SecretKey: "SK", Transport: ft,
		Retry: RetryPolicy{MaxAttempts: 1}})
	ctx := context.Background()

	body = `<ListBucketResult><Contents><Key>a%20b+c</Key></Contents></ListBucketResult>`
	lo, err := c.ListObjects(ctx, &ListObjectsInput{Bucket: "bkt"})
	if err != nil || len(lo.Contents) != 1 || lo.Contents[0].Key != "a%20b+c" {
		t.Errorf("literal listing: %+v, %v", lo, err)
	}
	body = `<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%zz</Key></Contents></ListBucketResult>`
	if _, err := c.ListObjects(ctx, &ListObjectsInput{Bucket: "bkt"}); !errors.Is(err, errMalformed) {
		t.Errorf("bad escape: %v", err)
	}
	// Truncated without NextMarker: the greater of the last key and prefix.
	body = `<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a/1</Key></Contents>` +
		`<CommonPrefixes><Prefix>a/2/</Prefix></CommonPrefixes></ListBucketResult>`
	lo, err = c.ListObjects(ctx, &ListObjectsInput{Bucket: "bkt", Delimiter: "/"})
	if err != nil || lo.NextMarker != "a/2/" {
		t.Errorf("derived marker: %+v, %v", lo, err)
	}
	body = `<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>`
	if _, err := c.ListObjects(ctx, &ListObjectsInput{Bucket: "bkt"}); !errors.Is(err, errMalformed) {
		t.Errorf("truncated empty listing: %v", err)
	}
	// ListParts derives the next marker from the last part.
	body = `<ListPartsResult><IsTruncated>true</IsTruncated><Part><PartNumber>4</PartNumber><ETag>"e"</ETag>` +
		`<Size>5</Size><LastModified>2018-06-06T07:39:32.522Z</LastModified></Part></ListPartsResult>`
	lp, err := c.ListParts(ctx, &ListPartsInput{Bucket: "bkt", Key: "k", UploadID: "U"})
	if err != nil || lp.NextPartNumberMarker != 4 || len(lp.Parts) != 1 ||
		!lp.Parts[0].LastModified.Equal(time.Date(2018, 6, 6, 7, 39, 32, 522e6, time.UTC)) {
		t.Errorf("ListParts: %+v, %v", lp, err)
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in                string
		start, end, total int64
		ok                bool
	}{
		{"bytes 0-9/10", 0, 9, 10, true},
		{"bytes 5-5/*", 5, 5, -1, true},
		{" bytes 100-199/1000 ", 100, 199, 1000, true},
		{"bytes 0-9/5", 0, 0, 0, false},   // end beyond total
		{"bytes 0-9/9", 0, 0, 0, false},   // end == total
		{"bytes 0-9/-5", 0, 0, 0, false},  // negative total
		{"bytes 9-0/10", 0, 0, 0, false},  // inverted
		{"bytes -1-5/10", 0, 0, 0, false}, // negative start
		{"bytes */10", 0, 0, 0, false},
		{"bytes 0-9", 0, 0, 0, false},
		{"items 0-9/10", 0, 0, 0, false},
		{"bytes=0-9/10", 0, 0, 0, false},
		{"", 0, 0, 0, false},
		{"bytes a-9/10", 0, 0, 0, false},
	}
	for _, tt := range tests {
		s, e, tot, err := parseContentRange(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseContentRange(%q) = %d %d %d %v, want ok=%v", tt.in, s, e, tot, err, tt.ok)
			continue
		}
		if tt.ok && (s != tt.start || e != tt.end || tot != tt.total) {
			t.Errorf("parseContentRange(%q) = %d-%d/%d, want %d-%d/%d", tt.in, s, e, tot, tt.start, tt.end, tt.total)
		}
	}
}

func TestTrimETagAndExpectedMultipartETag(t *testing.T) {
	for in, want := range map[string]string{`"abc"`: "abc", `abc`: "abc", ` "abc" `: "abc", `""`: ""} {
		if got := trimETag(in); got != want {
			t.Errorf("trimETag(%q) = %q", in, got)
		}
	}
	// Two parts "1" and "2": md5(md5("1")‖md5("2"))-2.
	p := []CompletedPart{{1, `"` + md5hex([]byte("1")) + `"`}, {2, md5hex([]byte("2"))}}
	m1, m2 := md5.Sum([]byte("1")), md5.Sum([]byte("2"))
	want := md5hex(append(m1[:], m2[:]...)) + "-2"
	got, ok := ExpectedMultipartETag(p)
	if !ok || got != want {
		t.Errorf("ExpectedMultipartETag = %q, %v, want %q", got, ok, want)
	}
	if _, ok := ExpectedMultipartETag([]CompletedPart{{1, "not-hex"}}); ok {
		t.Error("non-hex ETag accepted")
	}
}

// --- fuzz targets ---

func FuzzDecodeXML(f *testing.F) {
	seeds := []string{
		"",
		`<CompleteMultipartUploadResult ` + obsNS + `><ETag>"e"</ETag></CompleteMultipartUploadResult>`,
		`<Error><Code>InternalError</Code></Error>`,
		xmlDecl + `<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>`,
		`<ListPartsResult><Part><PartNumber>99999999999999999999</PartNumber></Part></ListPartsResult>`,
		`<!DOCTYPE x [<!ENTITY a "b">]><Error>&a;</Error>`,
		`<a:Error xmlns:a="x"><a:Code>c</a:Code></a:Error>`,
		`<Error><Code>`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	roots := []struct {
		name string
		v    func() any
	}{
		{"Error", func() any { return &xmlError{} }},
		{"InitiateMultipartUploadResult", func() any { return &xmlInitiateResult{} }},
		{"CompleteMultipartUploadResult", func() any { return &xmlCompleteResult{} }},
		{"CopyObjectResult", func() any { return &xmlCopyResult{} }},
		{"ListPartsResult", func() any { return &xmlListPartsResult{} }},
		{"ListMultipartUploadsResult", func() any { return &xmlListUploadsResult{} }},
		{"ListBucketResult", func() any { return &xmlListBucketResult{} }},
		{"DeleteResult", func() any { return &xmlDeleteResult{} }},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range roots {
			err := decodeXML(strings.NewReader(string(data)), r.name, 200, r.v())
			if err == nil {
				continue
			}
			if e := AsError(err); e != nil {
				if e.Status != 200 {
					t.Fatalf("*Error with status %d", e.Status)
				}
				continue
			}
			if !errors.Is(err, errMalformed) || !IsRetryable(err) {
				t.Fatalf("decode failure %v is neither *Error nor a retryable malformed body", err)
			}
		}
		// The URL decoder of listings never panics either.
		d := urlDecoder{on: true}
		_ = d.dec(string(data))
	})
}

func FuzzParseRawQuery(f *testing.F) {
	for _, s := range []string{"", "uploads", "a=1&b=2", "versionId=a%2Bb%3Dc%2525%26e&slash=%2F&hash=%23",
		"=x&&flag&flag=&%zz=%", "a+b=c+d", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		pairs := parseRawQuery(raw)
		// Re-encoding the decoded pairs and parsing again is the identity.
		parts := make([]string, len(pairs))
		for i, p := range pairs {
			parts[i] = encodeRFC3986(p.key, false) + "=" + encodeRFC3986(p.value, false)
		}
		again := parseRawQuery(strings.Join(parts, "&"))
		if len(again) != len(pairs) {
			t.Fatalf("%q: %d pairs, re-parsed %d", raw, len(pairs), len(again))
		}
		for i := range pairs {
			if pairs[i] != again[i] {
				t.Fatalf("%q: pair %d %+v re-parsed as %+v", raw, i, pairs[i], again[i])
			}
		}
		cq := canonicalQueryV4(raw)
		if cq != canonicalQueryV4(cq) {
			t.Fatalf("canonicalQueryV4 is not idempotent on %q", raw)
		}
	})
}

func FuzzCanonicalResource(f *testing.F) {
	f.Add("/bucket/object%2Fname", "versionId=a%2Bb%3Dc%2525%26e&slash=%2F&hash=%23&dup=first&dup=second&=empty-key&empty=&flag&flag=&")
	f.Add("/", "acl&CDNNotifyConfiguration&uploadId=1&partNumber=2")
	f.Add("/b/", "x-obs-security-token=t&x-amz-a=%")
	f.Add("/b/k", "versionId=2&versionId=1&uploads&uploads=x")
	f.Fuzz(func(t *testing.T, path, raw string) {
		for _, sig := range []Signature{SignatureOBS, SignatureV2} {
			got := canonicalResourceV2(sig, path, raw)
			_ = stringToSignV2(sig, "GET", http.Header{"X-Obs-A": {raw}, "X-Amz-A": {path}}, "d", got)
			if !strings.HasPrefix(got, path) {
				t.Fatalf("%q does not start with the path %q", got, path)
			}
			rest := got[len(path):]
			if rest == "" {
				continue
			}
			if rest[0] != '?' {
				t.Fatalf("%q: sub-resources do not start with '?'", got)
			}
			if strings.ContainsAny(raw, "%+") {
				continue // decoded values may hold '&' or '=': the output is ambiguous to re-parse
			}
			// Every kept name is allowed (or carries the dialect prefix),
			// appears once, and the names are strictly sorted in byte order.
			allow := awsSubResources
			if sig == SignatureOBS {
				allow = obsSubResources
			}
			prev := ""
			for i, item := range strings.Split(rest[1:], "&") {
				name, _, _ := strings.Cut(item, "=")
				if !allow[name] && !strings.HasPrefix(strings.ToLower(name), sig.headerPrefix()) {
					t.Fatalf("%s: %q kept non-sub-resource %q", sig, got, name)
				}
				if i > 0 && name <= prev {
					t.Fatalf("%s: %q: %q not after %q", sig, got, name, prev)
				}
				prev = name
			}
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-5/*", "bytes 0-9/5", "bytes -1-5/10", "bytes 9223372036854775807-9223372036854775807/*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, total, err := parseContentRange(s)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if start < 0 || end < start || (total != -1 && total <= end) || total < -1 {
			t.Fatalf("parseContentRange(%q) = %d-%d/%d accepted", s, start, end, total)
		}
	})
}

func FuzzEncodeKey(f *testing.F) {
	for _, s := range []string{"", "a b", "a/b/", "日本", "%", "+*~", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		enc := encodeKey(key)
		for i := 0; i < len(enc); i++ {
			c := enc[i]
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/%", c) >= 0) {
				t.Fatalf("encodeKey(%q) = %q contains %q", key, enc, c)
			}
		}
		dec, err := url.PathUnescape(enc)
		if err != nil || dec != key {
			t.Fatalf("PathUnescape(encodeKey(%q)) = %q, %v", key, dec, err)
		}
		// The wire path survives net/url unchanged (the signer signs
		// EscapedPath, the transport sends the same string).
		u := &url.URL{Path: "/b/" + key, RawPath: "/b/" + enc}
		if u.EscapedPath() != "/b/"+enc {
			t.Fatalf("EscapedPath of %q = %q, want %q", key, u.EscapedPath(), "/b/"+enc)
		}
	})
}
