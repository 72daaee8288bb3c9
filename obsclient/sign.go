package obsclient

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// This file holds the three signing dialects as pure functions of their
// inputs, so that each step is golden-tested against the vectors in
// shared/reference/obs-protocol.md §9. The client calls sign() once per
// attempt, with the clock read fresh.

// unsignedPayload is the only V4 payload hash OBS accepts.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// encodeRFC3986 percent-encodes s, leaving the unreserved characters
// A-Z a-z 0-9 - . _ ~ and, if keepSlash, '/'. Hex digits are uppercase.
func encodeRFC3986(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', keepSlash && c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// encodeKey is the wire form of an object key in a URL path.
func encodeKey(key string) string { return encodeRFC3986(key, true) }

// encodeQuery renders q as a wire query string: keys sorted, keys and values
// RFC 3986-encoded, and a parameter with an empty value written bare
// ("uploads", not "uploads=").
func encodeQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(encodeRFC3986(k, false))
			if v != "" {
				b.WriteByte('=')
				b.WriteString(encodeRFC3986(v, false))
			}
		}
	}
	return b.String()
}

// queryPair is one parameter of a wire query, decoded.
type queryPair struct{ key, value string }

// parseRawQuery splits a wire query into decoded pairs in wire order.
// Malformed escapes are kept verbatim rather than failing the request.
func parseRawQuery(raw string) []queryPair {
	var out []queryPair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		out = append(out, queryPair{k, v})
	}
	return out
}

// obsSubResources is the OBS sub-resource allowlist (reference §2.1).
var obsSubResources = toSet(
	"CDNNotifyConfiguration", "acl", "append", "attname", "backtosource", "cors",
	"customdomain", "delete", "deletebucket", "directcoldaccess", "encryption",
	"inventory", "length", "lifecycle", "location", "logging", "metadata", "modify",
	"name", "notification", "partNumber", "policy", "position", "quota", "rename",
	"replication", "response-cache-control", "response-content-disposition",
	"response-content-encoding", "response-content-language", "response-content-type",
	"response-expires", "restore", "storageClass", "storagePolicy", "storageinfo",
	"tagging", "torrent", "truncate", "uploadId", "uploads", "versionId", "versioning",
	"versions", "website", "x-image-process", "x-image-save-bucket",
	"x-image-save-object", "x-obs-security-token", "object-lock", "retention",
)

// awsSubResources is the AWS V2 sub-resource allowlist, as MinIO checks it
// (reference §2.2).
var awsSubResources = toSet(
	"acl", "cors", "delete", "encryption", "legal-hold", "lifecycle", "location",
	"logging", "notification", "partNumber", "policy", "requestPayment",
	"response-cache-control", "response-content-disposition",
	"response-content-encoding", "response-content-language", "response-content-type",
	"response-expires", "retention", "select", "select-type", "tagging", "torrent",
	"uploadId", "uploads", "versionId", "versioning", "versions", "website",
)

func toSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// canonicalResourceV2 builds the CanonicalizedResource of the OBS and V2
// dialects from the wire request: resourcePath is "/bucket/key" (already
// encoded exactly as on the wire, or "/bucket/" for bucket operations, "/"
// for the service), and the sub-resources of rawQuery that are in the
// dialect's allowlist (or start with the dialect's header prefix) are
// appended sorted by name, values decoded, the first of a repeated name
// winning.
func canonicalResourceV2(sig Signature, resourcePath, rawQuery string) string {
	allow := awsSubResources
	if sig == SignatureOBS {
		allow = obsSubResources
	}
	prefix := sig.headerPrefix()
	seen := map[string]bool{}
	var subs []queryPair
	for _, p := range parseRawQuery(rawQuery) {
		if p.key == "" || seen[p.key] {
			continue
		}
		if !allow[p.key] && !strings.HasPrefix(strings.ToLower(p.key), prefix) {
			continue
		}
		seen[p.key] = true
		subs = append(subs, p)
	}
	if len(subs) == 0 {
		return resourcePath
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].key < subs[j].key })
	var b strings.Builder
	b.WriteString(resourcePath)
	for i, p := range subs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		if p.value != "" {
			b.WriteByte('=')
			b.WriteString(p.value)
		}
	}
	return b.String()
}

// stringToSignV2 builds the StringToSign of the OBS and V2 dialects:
//
//	VERB \n Content-MD5 \n Content-Type \n Date \n CanonicalizedHeaders CanonicalizedResource
//
// date is the Date header value; it is replaced by "" when a <prefix>date
// header is present.
// CanonicalizedHeaders are the headers with the dialect prefix, names
// lowercased and sorted, values trimmed and comma-joined, each line ending in
// "\n".
func stringToSignV2(sig Signature, method string, h http.Header, date, canonicalResource string) string {
	prefix := sig.headerPrefix()
	type kv struct{ k, v string }
	var ext []kv
	for name, vals := range h {
		ln := strings.ToLower(name)
		if !strings.HasPrefix(ln, prefix) {
			continue
		}
		trimmed := make([]string, len(vals))
		for i, v := range vals {
			trimmed[i] = strings.TrimLeft(strings.TrimRight(v, " \t"), " \t")
		}
		ext = append(ext, kv{ln, strings.Join(trimmed, ",")})
	}
	sort.Slice(ext, func(i, j int) bool { return ext[i].k < ext[j].k })
	if h.Get(prefix+"date") != "" {
		date = ""
	}
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(h.Get("Content-MD5"))
	b.WriteByte('\n')
	b.WriteString(h.Get("Content-Type"))
	b.WriteByte('\n')
	b.WriteString(date)
	b.WriteByte('\n')
	for _, e := range ext {
		b.WriteString(e.k)
		b.WriteByte(':')
		b.WriteString(e.v)
		b.WriteByte('\n')
	}
	b.WriteString(canonicalResource)
	return b.String()
}

// signatureV2 is Base64(HMAC-SHA1(secret, stringToSign)).
func signatureV2(secret, stringToSign string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// authorizationV2 is the Authorization header of the OBS ("OBS AK:sig") and
// V2 ("AWS AK:sig") dialects.
func authorizationV2(sig Signature, accessKey, signature string) string {
	keyword := "AWS "
	if sig == SignatureOBS {
		keyword = "OBS "
	}
	return keyword + accessKey + ":" + signature
}

// v4 constants.
const (
	v4Algorithm  = "AWS4-HMAC-SHA256"
	v4TimeFormat = "20060102T150405Z"
	v4DateFormat = "20060102"
	v4Service    = "s3"
)

// v4SignedHeaderNames returns the lowercased, sorted names of the headers a
// V4 request signs: "host" plus every header in h except those a proxy or
// the HTTP stack may rewrite (User-Agent, Content-Length, Authorization,
// Expect, Accept-Encoding, Connection).
func v4SignedHeaderNames(h http.Header) []string {
	names := []string{"host"}
	for name := range h {
		switch ln := strings.ToLower(name); ln {
		case "host", "user-agent", "content-length", "authorization", "expect",
			"accept-encoding", "connection", "transfer-encoding":
		default:
			names = append(names, ln)
		}
	}
	sort.Strings(names)
	return names
}

// canonicalQueryV4 re-encodes a wire query the V4 way: pairs RFC
// 3986-encoded, sorted by encoded key then encoded value (the V4 spec sorts
// the encoded names, which differs from sorting the decoded ones as soon as
// a name holds a byte above '~'), every pair written "k=v".
func canonicalQueryV4(rawQuery string) string {
	pairs := parseRawQuery(rawQuery)
	for i := range pairs {
		pairs[i] = queryPair{encodeRFC3986(pairs[i].key, false), encodeRFC3986(pairs[i].value, false)}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].key != pairs[j].key {
			return pairs[i].key < pairs[j].key
		}
		return pairs[i].value < pairs[j].value
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.key + "=" + p.value
	}
	return strings.Join(parts, "&")
}

// canonicalRequestV4 builds the V4 CanonicalRequest. canonicalURI is the
// encoded path as on the wire; host is the Host header value.
func canonicalRequestV4(method, canonicalURI, rawQuery, host string, h http.Header, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI)
	b.WriteByte('\n')
	b.WriteString(canonicalQueryV4(rawQuery))
	b.WriteByte('\n')
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		if name == "host" {
			b.WriteString(host)
		} else {
			vals := h.Values(name)
			for i, v := range vals {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strings.Join(strings.Fields(v), " "))
			}
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func v4Scope(t time.Time, region string) string {
	return t.UTC().Format(v4DateFormat) + "/" + region + "/" + v4Service + "/aws4_request"
}

// stringToSignV4 is Algorithm \n Timestamp \n Scope \n hex(SHA256(CanonicalRequest)).
func stringToSignV4(t time.Time, region, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return v4Algorithm + "\n" + t.UTC().Format(v4TimeFormat) + "\n" + v4Scope(t, region) + "\n" + hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signatureV4 derives the signing key from the secret and scope and signs
// stringToSign; the result is lowercase hex.
func signatureV4(secret string, t time.Time, region, stringToSign string) string {
	k := hmacSHA256([]byte("AWS4"+secret), t.UTC().Format(v4DateFormat))
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, v4Service)
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, stringToSign))
}

// signer signs requests in one dialect with one set of credentials.
type signer struct {
	sig       Signature
	region    string
	accessKey string
	secretKey string
	token     string
}

// sign adds the date, security-token and Authorization headers to r, whose
// URL (path and raw query) and headers are final. bucket is "" for
// service-level requests; pathStyle says whether r's path starts with the
// bucket.
func (s *signer) sign(r *http.Request, bucket string, pathStyle bool, now time.Time) {
	h := r.Header
	prefix := s.sig.headerPrefix()
	if s.token != "" {
		h.Set(prefix+"security-token", s.token)
	}
	switch s.sig {
	case SignatureV4:
		h.Del("Date")
		h.Set("X-Amz-Date", now.UTC().Format(v4TimeFormat))
		h.Set("X-Amz-Content-Sha256", unsignedPayload)
		signed := v4SignedHeaderNames(h)
		cr := canonicalRequestV4(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.URL.Host, h, signed, unsignedPayload)
		sts := stringToSignV4(now, s.region, cr)
		h.Set("Authorization", v4Algorithm+" Credential="+s.accessKey+"/"+v4Scope(now, s.region)+
			",SignedHeaders="+strings.Join(signed, ";")+",Signature="+signatureV4(s.secretKey, now, s.region, sts))
	default:
		date := now.UTC().Format(http.TimeFormat)
		h.Set("Date", date)
		sts := stringToSignV2(s.sig, r.Method, h, date, canonicalResourceV2(s.sig, resourcePathV2(bucket, r.URL.EscapedPath(), pathStyle), r.URL.RawQuery))
		h.Set("Authorization", authorizationV2(s.sig, s.accessKey, signatureV2(s.secretKey, sts)))
	}
}

// resourcePathV2 maps a wire path to the path part of CanonicalizedResource:
// path-style paths already start with the bucket; virtual-hosted paths get
// "/bucket" prepended.
func resourcePathV2(bucket, wirePath string, pathStyle bool) string {
	if wirePath == "" {
		wirePath = "/"
	}
	if bucket == "" || pathStyle {
		return wirePath
	}
	return "/" + bucket + wirePath
}
