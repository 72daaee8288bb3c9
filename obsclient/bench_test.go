package obsclient

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// Benchmarks of the CPU cost per request: signing (per dialect) and the
// Content-MD5 of an 8 MiB part. Run with `go test -bench . ./obsclient`.

const benchPartSize = 8 << 20

func benchRequest(b *testing.B, sig Signature, sign bool, hash bool) {
	data := bytes.Repeat([]byte("obsfs-benchmark-"), benchPartSize/16)
	s := signer{sig: sig, region: "cn-north-4", accessKey: "AK", secretKey: "SK", token: "TOKEN"}
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &Client{cfg: Config{Signature: sig}, ep: endpoint{scheme: "https", host: "obs.cn-north-4.myhuaweicloud.com"}}
	if hash {
		b.SetBytes(benchPartSize)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		md5 := "1B2M2Y8AsgTpgAmY7PhCfg=="
		if hash {
			bd := &body{r: bytes.NewReader(data), n: int64(len(data))}
			if err := hashBody(bd, ""); err != nil {
				b.Fatal(err)
			}
			md5 = bd.md5
		}
		if !sign {
			continue
		}
		u, ps := c.buildURL("bucket", "dir/file name.bin", map[string][]string{"partNumber": {"17"}, "uploadId": {"00000163D40171ED8DF4050919BD02B8"}})
		r := &http.Request{Method: http.MethodPut, URL: u, Header: http.Header{"Content-Md5": {md5}}}
		s.sign(r, "bucket", ps, now)
	}
}

func BenchmarkSignOBS(b *testing.B) {
	b.Run("sign", func(b *testing.B) { benchRequest(b, SignatureOBS, true, false) })
	b.Run("md5+sign-8MiB", func(b *testing.B) { benchRequest(b, SignatureOBS, true, true) })
}

func BenchmarkSignV4(b *testing.B) {
	b.Run("sign", func(b *testing.B) { benchRequest(b, SignatureV4, true, false) })
	b.Run("md5+sign-8MiB", func(b *testing.B) { benchRequest(b, SignatureV4, true, true) })
}

func BenchmarkMD5(b *testing.B) { benchRequest(b, SignatureV4, false, true) }
