package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/obsclient"
)

const testEndpoint = "http://127.0.0.1:9000"

// cleanEnv clears every variable parseArgs and credentials read, so that
// the developer's environment cannot change a result.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"OBS_ENDPOINT", "OBS_ACCESS_KEY_ID", "OBS_SECRET_ACCESS_KEY", "OBS_SECURITY_TOKEN",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	} {
		t.Setenv(k, "")
	}
}

func TestParseArgs(t *testing.T) {
	cleanEnv(t)
	// want holds the fields the cases check; the first case checks the
	// defaults.
	type want struct {
		bucket, prefix, mountpoint  string
		endpoint, region, signature string
		partSize, writeBuffer       int64
		concurrency                 int
		allowOther, readOnly, fg    bool
		statCacheTTL                time.Duration
		retries                     int
		opTimeout                   time.Duration
		fileMode, dirMode           uint32
		copyThreshold               int64
	}
	def := want{
		bucket: "bucket", mountpoint: "/mnt", endpoint: testEndpoint, region: "us-east-1", signature: "v4",
		partSize: 8 << 20, writeBuffer: 512 << 20, concurrency: 8, statCacheTTL: 5 * time.Second, retries: -1,
		fileMode: 0o644, dirMode: 0o755, copyThreshold: 128 << 20, opTimeout: 2 * time.Minute,
	}
	with := func(f func(w *want)) want {
		w := def
		f(&w)
		return w
	}
	cases := []struct {
		name string
		args []string
		want want
	}{
		{"defaults", []string{"bucket", "/mnt", "--endpoint", testEndpoint}, def},
		{"flags before", []string{"--endpoint=" + testEndpoint, "-f", "--part-size", "16MiB", "bucket", "/mnt"},
			with(func(w *want) { w.fg, w.partSize = true, 16<<20 })},
		{"flags between", []string{"bucket", "--endpoint", testEndpoint, "/mnt", "-f"},
			with(func(w *want) { w.fg = true })},
		{"flags before and after", []string{"--upload-concurrency=3", "bucket", "/mnt", "--endpoint", testEndpoint, "--read-only"},
			with(func(w *want) { w.concurrency, w.readOnly = 3, true })},
		{"-o list", []string{"bucket", "/mnt", "-o", "endpoint=" + testEndpoint + ",part_size=16MiB,upload_concurrency=4,allow_other"},
			with(func(w *want) { w.partSize, w.concurrency, w.allowOther = 16<<20, 4, true })},
		{"-o before the positionals", []string{"-o", "endpoint=" + testEndpoint, "bucket", "/mnt"}, def},
		{"-oVALUE", []string{"bucket", "/mnt", "-opart-size=16M", "-oendpoint=" + testEndpoint},
			with(func(w *want) { w.partSize = 16 << 20 })},
		// Zero is a value like any other, never "unset".
		{"zeros", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "--stat-cache-ttl", "0s", "--file-mode", "0", "--dir-mode", "0000", "--copy-threshold", "0", "--retries", "0"},
			with(func(w *want) { w.statCacheTTL, w.fileMode, w.dirMode, w.copyThreshold, w.retries = 0, 0, 0, 0, 0 })},
		{"zeros as -o", []string{"bucket", "/mnt", "-o", "endpoint=" + testEndpoint + ",stat_cache_ttl=0,file_mode=000"},
			with(func(w *want) { w.statCacheTTL, w.fileMode = 0, 0 })},
		{"-o with hyphens and underscores", []string{"bucket", "/mnt", "-o", "endpoint=" + testEndpoint + ",write-buffer=64M,stat_cache_ttl=1s,retries=2"},
			with(func(w *want) { w.writeBuffer, w.statCacheTTL, w.retries = 64<<20, time.Second, 2 })},
		{"op timeout", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "-o", "op_timeout=8s"},
			with(func(w *want) { w.opTimeout = 8 * time.Second })},
		{"repeated -o", []string{"bucket", "/mnt", "-o", "endpoint=" + testEndpoint, "-o", "ro", "-o", "foreground"},
			with(func(w *want) { w.readOnly, w.fg = true, true })},
		{"fstab words ignored", []string{"bucket", "/mnt", "-o",
			"rw,noauto,_netdev,x-systemd.automount,x-systemd.requires=network-online.target,defaults,comment=foo,user,nofail,nosuid,nodev,noatime,endpoint=" + testEndpoint}, def},
		{"empty words ignored", []string{"bucket", "/mnt", "-o", ",,endpoint=" + testEndpoint + ",,"}, def},
		{"url alias", []string{"bucket", "/mnt", "-o", "url=" + testEndpoint}, def},
		{"escaped comma", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "-o", `log_level=info,comment=a\,b`}, def},
		{"-- ends flags", []string{"--endpoint", testEndpoint, "--", "bucket", "/mnt"}, def},
		{"OBS_ENDPOINT", []string{"bucket", "/mnt"}, def},
		{"--endpoint wins over OBS_ENDPOINT", []string{"bucket", "/mnt", "--endpoint", testEndpoint}, def},
		{"prefix", []string{"bucket:photos/2024", "/mnt", "--endpoint", testEndpoint},
			with(func(w *want) { w.prefix = "photos/2024/" })},
		{"prefix slashes trimmed", []string{"bucket:/photos/2024//", "/mnt", "--endpoint", testEndpoint},
			with(func(w *want) { w.prefix = "photos/2024/" })},
		{"prefix one slash", []string{"bucket:/", "/mnt", "--endpoint", testEndpoint}, def},
		{"prefix empty", []string{"bucket:", "/mnt", "--endpoint", testEndpoint}, def},
		{"relative mountpoint", []string{"bucket", "mnt/x", "--endpoint", testEndpoint},
			with(func(w *want) { w.mountpoint = "mnt/x" })},
		{"size bytes", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "--part-size", "8388608"}, def},
		{"size MiB", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "--part-size", "8MiB"}, def},
		{"size M", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "--part-size=512M", "--write-buffer=1G"},
			with(func(w *want) { w.partSize, w.writeBuffer = 512<<20, 1<<30 })},
		{"size G", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "--part-size=1G", "--write-buffer=2G"},
			with(func(w *want) { w.partSize, w.writeBuffer = 1<<30, 2<<30 })},
		{"size with space", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "--part-size", " 16 MiB "},
			with(func(w *want) { w.partSize = 16 << 20 })},
		{"write buffer exactly two parts", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "--part-size=16M", "--write-buffer=32M"},
			with(func(w *want) { w.partSize, w.writeBuffer = 16<<20, 32<<20 })},
		{"OBS endpoint", []string{"bucket", "/mnt", "--endpoint", "https://obs.cn-north-4.myhuaweicloud.com"},
			with(func(w *want) {
				w.endpoint, w.region, w.signature = "https://obs.cn-north-4.myhuaweicloud.com", "cn-north-4", "obs"
			})},
		{"OBS endpoint with port", []string{"bucket", "/mnt", "--endpoint", "https://obs.ap-southeast-1.myhuaweicloud.com:443/"},
			with(func(w *want) {
				w.endpoint, w.region, w.signature = "https://obs.ap-southeast-1.myhuaweicloud.com:443/", "ap-southeast-1", "obs"
			})},
		{"OBS endpoint without scheme", []string{"bucket", "/mnt", "--endpoint", "obs.cn-south-1.myhuaweicloud.com"},
			with(func(w *want) {
				w.endpoint, w.region, w.signature = "obs.cn-south-1.myhuaweicloud.com", "cn-south-1", "obs"
			})},
		{"OBS endpoint without scheme, with port", []string{"bucket", "/mnt", "--endpoint", "obs.cn-south-1.myhuaweicloud.com:443"},
			with(func(w *want) {
				w.endpoint, w.region, w.signature = "obs.cn-south-1.myhuaweicloud.com:443", "cn-south-1", "obs"
			})},
		{"OBS endpoint in capitals", []string{"bucket", "/mnt", "--endpoint", "https://OBS.CN-NORTH-4.MyHuaweiCloud.com"},
			with(func(w *want) {
				w.endpoint, w.region, w.signature = "https://OBS.CN-NORTH-4.MyHuaweiCloud.com", "cn-north-4", "obs"
			})},
		{"OBS endpoint, explicit region and signature", []string{"bucket", "/mnt", "--endpoint", "https://obs.cn-north-4.myhuaweicloud.com", "--region", "x-1", "--signature", "v4"},
			with(func(w *want) {
				w.endpoint, w.region, w.signature = "https://obs.cn-north-4.myhuaweicloud.com", "x-1", "v4"
			})},
		{"other huaweicloud host", []string{"bucket", "/mnt", "--endpoint", "https://obs.example.huaweicloud.com"},
			with(func(w *want) {
				w.endpoint, w.region, w.signature = "https://obs.example.huaweicloud.com", "example", "obs"
			})},
		{"AWS endpoint", []string{"bucket", "/mnt", "--endpoint", "https://s3.eu-west-1.amazonaws.com"},
			with(func(w *want) { w.endpoint = "https://s3.eu-west-1.amazonaws.com" })},
		{"look-alike host is not OBS", []string{"bucket", "/mnt", "--endpoint", "https://obs.cn-north-4.nothuaweicloud.com"},
			with(func(w *want) { w.endpoint = "https://obs.cn-north-4.nothuaweicloud.com" })},
		{"signature v2", []string{"bucket", "/mnt", "--endpoint", testEndpoint, "--signature", "v2"},
			with(func(w *want) { w.signature = "v2" })},
		{"dotted bucket", []string{"my.bucket-1", "/mnt", "--endpoint", testEndpoint},
			with(func(w *want) { w.bucket = "my.bucket-1" })},
	}
	endpointEnv := map[string]string{
		"OBS_ENDPOINT":                      testEndpoint,
		"--endpoint wins over OBS_ENDPOINT": "http://elsewhere:9000",
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("OBS_ENDPOINT", endpointEnv[c.name])
			o, err := parseArgs(c.args)
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", c.args, err)
			}
			got := want{
				bucket: o.bucket, prefix: o.prefix, mountpoint: o.mountpoint,
				endpoint: o.endpoint, region: o.region, signature: o.signature,
				partSize: o.partSize, writeBuffer: o.writeBuffer, concurrency: o.concurrency,
				allowOther: o.allowOther, readOnly: o.readOnly, fg: o.foreground,
				statCacheTTL: o.statCacheTTL, retries: o.retries, opTimeout: o.opTimeout,
				fileMode: o.fileMode, dirMode: o.dirMode, copyThreshold: o.copyThreshold,
			}
			if got != c.want {
				t.Errorf("parseArgs(%q)\n got %+v\nwant %+v", c.args, got, c.want)
			}
		})
	}
}

// TestParseArgsErrors checks that every refusal is one readable line
// that names the problem, without obsclient's "invalid argument" prefix.
func TestParseArgsErrors(t *testing.T) {
	cleanEnv(t)
	ep := []string{"--endpoint", testEndpoint}
	cases := []struct {
		name string
		args []string
		want string // a substring of the message
	}{
		{"no args", nil, "want BUCKET[:PREFIX] MOUNTPOINT, got 0 argument(s)"},
		{"one arg", append([]string{"bucket"}, ep...), "got 1 argument(s)"},
		{"three args", append([]string{"bucket", "/mnt", "extra"}, ep...), "got 3 argument(s)"},
		{"bucket capitals", append([]string{"MyBucket", "/mnt"}, ep...), `bucket name "MyBucket" may contain only lowercase letters`},
		{"bucket too short", append([]string{"ab", "/mnt"}, ep...), `bucket name "ab" must be 3 to 63 characters long`},
		{"bucket underscore", append([]string{"my_bucket", "/mnt"}, ep...), "may contain only lowercase"},
		{"bucket ends with hyphen", append([]string{"bucket-", "/mnt"}, ep...), "must not start or end with a hyphen"},
		{"bucket is an IP", append([]string{"192.168.1.1", "/mnt"}, ep...), "formatted as an IP address"},
		{"bucket empty with prefix", append([]string{":prefix", "/mnt"}, ep...), `bucket name "" must be 3 to 63`},
		{"no endpoint", []string{"bucket", "/mnt"}, "no endpoint: pass --endpoint or set OBS_ENDPOINT"},
		{"unknown signature", append([]string{"bucket", "/mnt", "--signature", "v3"}, ep...), `unknown signature "v3" (want obs, v2 or v4)`},
		{"part size below 5MiB", append([]string{"bucket", "/mnt", "--part-size", "4MiB"}, ep...), "--part-size 4194304 must be a multiple of 1MiB and at least 5MiB"},
		{"part size not a MiB multiple", append([]string{"bucket", "/mnt", "--part-size", "8388609"}, ep...), "must be a multiple of 1MiB"},
		{"part size fraction", append([]string{"bucket", "/mnt", "--part-size", "5.5M"}, ep...), "must be a multiple of 1MiB"},
		{"part size above 5GiB", append([]string{"bucket", "/mnt", "--part-size", "6G", "--write-buffer", "12G"}, ep...), "exceeds 5GiB"},
		{"part size not a size", append([]string{"bucket", "/mnt", "--part-size", "lots"}, ep...), `"lots" is not a size`},
		{"part size negative", append([]string{"bucket", "/mnt", "--part-size=-8M"}, ep...), "is not a size"},
		{"part size unknown unit", append([]string{"bucket", "/mnt", "-o", "part_size=8X"}, ep...), `"8X" is not a size`},
		{"write buffer below two parts", append([]string{"bucket", "/mnt", "--part-size", "16M", "--write-buffer", "31M"}, ep...), "--write-buffer 31MiB must hold at least two parts (2 × 16MiB)"},
		{"write buffer default part", append([]string{"bucket", "/mnt", "--write-buffer", "8M"}, ep...), "must hold at least two parts"},
		{"concurrency zero", append([]string{"bucket", "/mnt", "--upload-concurrency", "0"}, ep...), "--upload-concurrency 0 must be within 1..1000"},
		{"cache size", append([]string{"bucket", "/mnt", "--cache-size", "1K"}, ep...), "--cache-size must be at least 1MiB"},
		{"copy threshold", append([]string{"bucket", "/mnt", "--copy-threshold", "6G"}, ep...), "--copy-threshold must be within 0..5GiB"},
		{"retries", append([]string{"bucket", "/mnt", "--retries", "101"}, ep...), "--retries 101 must be -1 (unlimited within the time window) or within 0..100"},
		{"retries below -1", append([]string{"bucket", "/mnt", "--retries", "-2"}, ep...), "--retries -2 must be -1 (unlimited within the time window) or within 0..100"},
		{"retries not a number", append([]string{"bucket", "/mnt", "-o", "retries=many"}, ep...), `invalid argument "many" for "--retries" flag`},
		{"op timeout zero", append([]string{"bucket", "/mnt", "--op-timeout", "0"}, ep...), "--op-timeout 0s must be at least 1s"},
		{"op timeout below 1s", append([]string{"bucket", "/mnt", "--op-timeout=500ms"}, ep...), "--op-timeout 500ms must be at least 1s"},
		{"op timeout without unit", append([]string{"bucket", "/mnt", "--op-timeout=30"}, ep...), `invalid argument "30" for "--op-timeout" flag`},
		{"negative stat cache ttl", append([]string{"bucket", "/mnt", "--stat-cache-ttl=-1s"}, ep...), "--stat-cache-ttl must not be negative"},
		{"bad conditional writes", append([]string{"bucket", "/mnt", "--conditional-writes=maybe"}, ep...), "--conditional-writes must be auto, on or off"},
		{"bad mode", append([]string{"bucket", "/mnt", "--file-mode", "0999"}, ep...), `"0999" is not an octal mode`},
		{"unknown sse", append([]string{"bucket", "/mnt", "--sse", "aes"}, ep...), `--sse "aes": want kms or c`},
		{"sse-c without key file", append([]string{"bucket", "/mnt", "--sse=c"}, ep...), "--sse=c needs --sse-c-key-file"},
		{"kms key without kms", append([]string{"bucket", "/mnt", "--sse-kms-key-id", "k"}, ep...), "--sse-kms-key-id needs --sse=kms"},
		{"log level", append([]string{"bucket", "/mnt", "--log-level", "loud"}, ep...), `--log-level "loud": want debug, info, warn or error`},
		{"unknown flag", append([]string{"bucket", "/mnt", "--nope"}, ep...), "unknown flag: --nope"},
		{"negative stop timeout", append([]string{"bucket", "/mnt", "-o", "stop_timeout=-1s"}, ep...), "--stop-timeout must not be negative"},
		{"unknown -o word", append([]string{"bucket", "/mnt", "-o", "no_such_word"}, ep...), "unknown flag: --no-such-word"},
		{"nonempty takes no value", append([]string{"bucket", "/mnt", "--nonempty=maybe"}, ep...), "invalid argument \"maybe\" for \"--nonempty\" flag"},
		{"unknown shorthand", append([]string{"bucket", "/mnt", "-x"}, ep...), "unknown shorthand flag: 'x' in -x"},
		{"-o without value", append([]string{"bucket", "/mnt"}, append(ep, "-o")...), "-o needs a value"},
		{"flag without value", []string{"bucket", "/mnt", "--endpoint"}, "flag needs an argument: --endpoint"},
		{"bool with bad value", append([]string{"bucket", "/mnt", "-o", "allow_other=maybe"}, ep...), `invalid argument "maybe" for "--allow-other" flag`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := parseArgs(c.args)
			if err == nil {
				t.Fatalf("parseArgs(%q) = %+v, want an error containing %q", c.args, o, c.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("parseArgs(%q): error %q does not contain %q", c.args, msg, c.want)
			}
			checkOneLine(t, msg)
		})
	}
}

// checkOneLine fails unless msg is one line a user can read: no newline,
// no obsclient package prefix or "invalid argument" noise.
func checkOneLine(t *testing.T, msg string) {
	t.Helper()
	if msg == "" || strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error %q is not exactly one line", msg)
	}
	for _, noise := range []string{"obsclient", "invalid argument:"} {
		if strings.Contains(msg, noise) {
			t.Errorf("error %q contains %q", msg, noise)
		}
	}
}

func TestExpandMountOptions(t *testing.T) {
	cases := []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"b", "/m"}, []string{"b", "/m"}},
		{[]string{"-o", "a=1,b"}, []string{"--a=1", "--b"}},
		{[]string{"-oa_b=1"}, []string{"--a-b=1"}},
		{[]string{"-o", "ro,rw,allow_other,passwd_file=/x_y,url=http://h"},
			[]string{"--read-only", "--allow-other", "--passwd-file=/x_y", "--endpoint=http://h"}},
		{[]string{"-o", "x-systemd.automount,x-gvfs-hide,comment=systemd.automount,_netdev,defaults"}, nil},
		{[]string{"-o", `comment=a\,b,c=1\,2`}, []string{"--c=1,2"}},
		{[]string{"-o", "a=b=c"}, []string{"--a=b=c"}},
		{[]string{"--opt", "-f"}, []string{"--opt", "-f"}},
		{[]string{"b", "--", "-o", "x"}, []string{"b", "--", "-o", "x"}},
	}
	for _, c := range cases {
		got, err := expandMountOptions(c.in)
		if err != nil {
			t.Errorf("expandMountOptions(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("expandMountOptions(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
	}{
		{"8388608", 8 << 20}, {"8MiB", 8 << 20}, {"8mib", 8 << 20}, {"8M", 8 << 20}, {"8MB", 8 << 20},
		{"512M", 512 << 20}, {"1G", 1 << 30}, {"1GiB", 1 << 30}, {"4K", 4 << 10}, {"2T", 2 << 40},
		{"1.5G", 3 << 29}, {"0", 0}, {" 16M ", 16 << 20},
	}
	for _, c := range cases {
		if got, err := parseSize(c.in); err != nil || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "M", "-1", "-8M", "8X", "8 apples", "1e400", "9000P", "NaN", "0x10"} {
		if n, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, n)
		} else {
			checkOneLine(t, err.Error())
		}
	}
}

func writeSecret(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is masked by the umask
		t.Fatal(err)
	}
	return p
}

// TestSecretOwner checks the owner rule of secret files: the mounting
// user's or root's, nobody else's.
func TestSecretOwner(t *testing.T) {
	for _, c := range []struct {
		owner, euid uint32
		want        string // "" accepted
	}{
		{owner: 1000, euid: 1000},
		{owner: 0, euid: 1000},
		{owner: 0, euid: 0},
		{owner: 1001, euid: 1000, want: "/p is owned by uid 1001, not by you (uid 1000) or root: chown it"},
		{owner: 1000, euid: 0, want: "/p is owned by uid 1000, not by root: chown it"},
	} {
		err := checkSecretOwner("/p", c.owner, c.euid)
		got := ""
		if err != nil {
			// userName adds the user's name where the system knows it.
			got = regexp.MustCompile(` \([^)]*\),`).ReplaceAllString(err.Error(), ",")
		}
		if got != c.want {
			t.Errorf("owner %d, euid %d: %q, want %q", c.owner, c.euid, got, c.want)
		}
	}
}

func TestCredentialsEnv(t *testing.T) {
	cases := []struct {
		name          string
		env           map[string]string
		ak, sk, token string
		err           string
	}{
		{name: "none", err: "no credentials: set OBS_ACCESS_KEY_ID and OBS_SECRET_ACCESS_KEY (or AWS_*), or pass --passwd-file"},
		{name: "OBS", env: map[string]string{"OBS_ACCESS_KEY_ID": "oak", "OBS_SECRET_ACCESS_KEY": "osk"}, ak: "oak", sk: "osk"},
		{name: "OBS with token", env: map[string]string{"OBS_ACCESS_KEY_ID": "oak", "OBS_SECRET_ACCESS_KEY": "osk", "OBS_SECURITY_TOKEN": "otok"},
			ak: "oak", sk: "osk", token: "otok"},
		{name: "AWS", env: map[string]string{"AWS_ACCESS_KEY_ID": "aak", "AWS_SECRET_ACCESS_KEY": "ask"}, ak: "aak", sk: "ask"},
		{name: "AWS session token", env: map[string]string{"AWS_ACCESS_KEY_ID": "aak", "AWS_SECRET_ACCESS_KEY": "ask", "AWS_SESSION_TOKEN": "atok"},
			ak: "aak", sk: "ask", token: "atok"},
		{name: "AWS security token (legacy)", env: map[string]string{"AWS_ACCESS_KEY_ID": "aak", "AWS_SECRET_ACCESS_KEY": "ask", "AWS_SECURITY_TOKEN": "legacy"},
			ak: "aak", sk: "ask", token: "legacy"},
		{name: "session token wins over security token", env: map[string]string{"AWS_ACCESS_KEY_ID": "aak", "AWS_SECRET_ACCESS_KEY": "ask",
			"AWS_SESSION_TOKEN": "atok", "AWS_SECURITY_TOKEN": "legacy"}, ak: "aak", sk: "ask", token: "atok"},
		{name: "OBS wins over AWS", env: map[string]string{"OBS_ACCESS_KEY_ID": "oak", "OBS_SECRET_ACCESS_KEY": "osk",
			"AWS_ACCESS_KEY_ID": "aak", "AWS_SECRET_ACCESS_KEY": "ask", "AWS_SESSION_TOKEN": "atok"}, ak: "oak", sk: "osk"},
		{name: "half of OBS is an error, not a mix", env: map[string]string{"OBS_ACCESS_KEY_ID": "oak",
			"AWS_ACCESS_KEY_ID": "aak", "AWS_SECRET_ACCESS_KEY": "ask"}, err: "no credentials"},
		{name: "half of AWS", env: map[string]string{"AWS_ACCESS_KEY_ID": "aak"}, err: "no credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			o := &options{bucket: "bucket"}
			ak, sk, token, err := o.credentials()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("credentials() = %q, %q, %q, %v; want error %q", ak, sk, token, err, c.err)
				}
				checkOneLine(t, err.Error())
				return
			}
			if err != nil || ak != c.ak || sk != c.sk || token != c.token {
				t.Fatalf("credentials() = %q, %q, %q, %v; want %q, %q, %q", ak, sk, token, err, c.ak, c.sk, c.token)
			}
		})
	}
}

func TestCredentialsPasswdFile(t *testing.T) {
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		ak, sk  string
		err     string
	}{
		{name: "AK:SK", content: "fak:fsk\n", mode: 0o600, ak: "fak", sk: "fsk"},
		{name: "no final newline, CRLF and spaces", content: "  fak:fsk  \r\n", mode: 0o600, ak: "fak", sk: "fsk"},
		{name: "mode 0400", content: "fak:fsk\n", mode: 0o400, ak: "fak", sk: "fsk"},
		{name: "bucket line wins after a generic one", content: "gak:gsk\nother:xak:xsk\nbucket:bak:bsk\n", mode: 0o600, ak: "bak", sk: "bsk"},
		{name: "bucket line wins before a generic one", content: "bucket:bak:bsk\ngak:gsk\n", mode: 0o600, ak: "bak", sk: "bsk"},
		{name: "first generic line", content: "g1:s1\ng2:s2\n", mode: 0o600, ak: "g1", sk: "s1"},
		{name: "other bucket falls back to generic", content: "other:xak:xsk\ngak:gsk\n", mode: 0o600, ak: "gak", sk: "gsk"},
		{name: "comments and blank lines", content: "# obsfs credentials\n\n   # indented comment\nfak:fsk\n# trailing\n", mode: 0o600, ak: "fak", sk: "fsk"},
		{name: "only another bucket", content: "other:xak:xsk\n", mode: 0o600, err: "holds no credentials for bucket bucket"},
		{name: "empty", content: "", mode: 0o600, err: "holds no credentials for bucket bucket"},
		{name: "only comments", content: "# nothing\n", mode: 0o600, err: "holds no credentials"},
		{name: "malformed one field", content: "justakey\n", mode: 0o600, err: "a line is not ACCESS_KEY:SECRET_KEY or BUCKET:ACCESS_KEY:SECRET_KEY"},
		{name: "malformed four fields", content: "a:b:c:d\n", mode: 0o600, err: "a line is not ACCESS_KEY:SECRET_KEY"},
		{name: "generic line with empty secret", content: "fak:\n", mode: 0o600, err: "holds no credentials"},
		{name: "mode 0644 refused", content: "fak:fsk\n", mode: 0o644, err: "is readable by group or others (mode 0644): chmod 600 it"},
		{name: "mode 0640 refused", content: "fak:fsk\n", mode: 0o640, err: "(mode 0640): chmod 600 it"},
		{name: "mode 0604 refused", content: "fak:fsk\n", mode: 0o604, err: "(mode 0604)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cleanEnv(t)
			// The file wins over the environment.
			t.Setenv("OBS_ACCESS_KEY_ID", "envak")
			t.Setenv("OBS_SECRET_ACCESS_KEY", "envsk")
			t.Setenv("OBS_SECURITY_TOKEN", "envtok")
			p := writeSecret(t, c.content, c.mode)
			o := &options{bucket: "bucket", passwdFile: p}
			ak, sk, token, err := o.credentials()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("credentials() = %q, %q, %q, %v; want error %q", ak, sk, token, err, c.err)
				}
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not name the file %s", err, p)
				}
				if strings.Contains(err.Error(), "fsk") {
					t.Errorf("error %q shows the secret key", err)
				}
				checkOneLine(t, err.Error())
				return
			}
			if err != nil || ak != c.ak || sk != c.sk || token != "" {
				t.Fatalf("credentials() = %q, %q, %q, %v; want %q, %q, no token", ak, sk, token, err, c.ak, c.sk)
			}
		})
	}
	t.Run("owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			if ci := strings.TrimSpace(os.Getenv("CI")); strings.EqualFold(ci, "true") || ci == "1" {
				t.Fatal("CI=true, so this is a failure, not a skip: needs root to give a file to another user")
			}
			t.Skip("needs root to give a file to another user (TestSecretOwner covers the rule)")
		}
		cleanEnv(t)
		p := writeSecret(t, "fak:fsk\n", 0o600)
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		o := &options{bucket: "bucket", passwdFile: p}
		_, _, _, err := o.credentials()
		if err == nil || !strings.Contains(err.Error(), p+" is owned by uid 65534") || !strings.HasSuffix(err.Error(), "not by root: chown it") {
			t.Fatalf("credentials() error %v; want the file refused for its owner", err)
		}
		checkOneLine(t, err.Error())
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
		if ak, _, _, err := o.credentials(); err != nil || ak != "fak" {
			t.Fatalf("owned by root again: credentials() = %q, %v", ak, err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		cleanEnv(t)
		o := &options{bucket: "bucket", passwdFile: filepath.Join(t.TempDir(), "nope")}
		_, _, _, err := o.credentials()
		if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
			t.Fatalf("credentials() error %v; want no such file", err)
		}
		checkOneLine(t, err.Error())
	})
	t.Run("via -o passwd_file", func(t *testing.T) {
		cleanEnv(t)
		p := writeSecret(t, "fak:fsk\n", 0o600)
		o, err := parseArgs([]string{"bucket", "/mnt", "-o", "url=" + testEndpoint + ",passwd_file=" + p})
		if err != nil {
			t.Fatal(err)
		}
		if ak, sk, _, err := o.credentials(); err != nil || ak != "fak" || sk != "fsk" {
			t.Fatalf("credentials() = %q, %q, %v", ak, sk, err)
		}
	})
}

// FuzzExpandMountOptions feeds argument lists (NUL-separated) to
// expandMountOptions: it must never panic, must keep every argument that
// is not an -o option, in order, and must turn every -o word into a long
// flag.
func FuzzExpandMountOptions(f *testing.F) {
	for _, s := range []string{
		"bucket\x00/mnt\x00-o\x00part_size=16MiB,upload_concurrency=4,allow_other",
		"-opart-size=16M\x00b\x00m",
		"-o\x00rw,noauto,_netdev,x-systemd.automount,defaults,comment=foo",
		"-o", "-o\x00", `-o\x00a\,b,,c\`, "--\x00-o\x00x", "-o=", "-o,,,=", "-f\x00--endpoint\x00x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		out, err := expandMountOptions(args)
		if err != nil {
			if len(args) == 0 || args[len(args)-1] != "-o" {
				t.Fatalf("expandMountOptions(%q): unexpected error %v", args, err)
			}
			return
		}
		var kept []string
		for i := 0; i < len(args); i++ {
			a := args[i]
			if a == "--" {
				kept = append(kept, args[i:]...)
				break
			}
			if a == "-o" {
				i++
				continue
			}
			if strings.HasPrefix(a, "-o") {
				continue
			}
			kept = append(kept, a)
		}
		j := 0
		for _, w := range out {
			if j < len(kept) && w == kept[j] {
				j++
				continue
			}
			if !strings.HasPrefix(w, "--") {
				t.Fatalf("expandMountOptions(%q) = %q: %q is neither an argument kept nor a long flag", args, out, w)
			}
		}
		if j != len(kept) {
			t.Fatalf("expandMountOptions(%q) = %q: lost arguments %q", args, out, kept[j:])
		}
	})
}

// FuzzParseArgs feeds argument lists (NUL-separated) to parseArgs: it
// must never panic; what it accepts must be valid; a refusal of input
// without newlines is one line.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"bucket\x00/mnt\x00--endpoint\x00http://127.0.0.1:9000",
		"bucket:/a/b/\x00/mnt\x00-o\x00url=https://obs.cn-north-4.myhuaweicloud.com,part_size=16MiB,allow_other",
		"-opart-size=16M\x00b:\x00m\x00--endpoint=obs.eu-west-101.myhuaweicloud.com:443",
		"bucket\x00/mnt\x00-o\x00endpoint=x,write_buffer=9000P,part_size=1e400",
		"bucket\x00/mnt\x00--endpoint=h\x00--sse=c\x00--region=\x00--signature=OBS",
		"\x00\x00", "-o", ":\x00:", "a..b\x00m\x00--endpoint=h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		t.Setenv("OBS_ENDPOINT", "")
		args := strings.Split(s, "\x00")
		o, err := parseArgs(args)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("parseArgs(%q): empty error", args)
			}
			if !strings.ContainsAny(s, "\r\n") && strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("parseArgs(%q): error %q is not one line", args, err)
			}
			if strings.Contains(err.Error(), "obsclient") {
				t.Fatalf("parseArgs(%q): error %q has obsclient noise", args, err)
			}
			return
		}
		switch {
		case o.endpoint == "":
			t.Fatalf("parseArgs(%q) accepted an empty endpoint", args)
		case o.prefix != "" && (!strings.HasSuffix(o.prefix, "/") || strings.HasPrefix(o.prefix, "/")):
			t.Fatalf("parseArgs(%q): prefix %q", args, o.prefix)
		case o.partSize < 5<<20 || o.partSize%(1<<20) != 0 || o.writeBuffer < 2*o.partSize:
			t.Fatalf("parseArgs(%q) accepted part size %d, write buffer %d", args, o.partSize, o.writeBuffer)
		case o.region == "" || o.signature == "":
			t.Fatalf("parseArgs(%q): region %q, signature %q", args, o.region, o.signature)
		}
	})
}

func TestSSEConfig(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	good := writeSecret(t, key+"\n", 0o600)
	if sse, err := sseConfig(&options{sse: "c", sseCKeyFile: good}); err != nil || sse.SseC != "AES256" || sse.SseCKey != key {
		t.Errorf("sseConfig(c, good key) = %+v, %v", sse, err)
	}
	if sse, err := sseConfig(&options{sse: "kms", sseKMSKeyID: "k1"}); err != nil || sse.SseKms != "kms" || sse.SseKmsKey != "k1" {
		t.Errorf("sseConfig(kms) = %+v, %v", sse, err)
	}
	if sse, err := sseConfig(&options{}); err != nil || sse.SseC != "" || sse.SseKms != "" {
		t.Errorf("sseConfig(none) = %+v, %v", sse, err)
	}
	for name, c := range map[string]struct {
		path string
		want string
	}{
		"short key":  {writeSecret(t, base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600), "does not hold the base64 of a 256-bit key"},
		"not base64": {writeSecret(t, "not base64!", 0o600), "does not hold the base64 of a 256-bit key"},
		"mode 0644":  {writeSecret(t, key, 0o644), "(mode 0644): chmod 600 it"},
	} {
		_, err := sseConfig(&options{sse: "c", sseCKeyFile: c.path})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: sseConfig error %v, want %q", name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %q shows the key", name, err)
		}
		checkOneLine(t, err.Error())
	}
}

func TestRootCause(t *testing.T) {
	refused := fmt.Errorf("obs HeadBucket b/: %w", &url.Error{Op: "Head", URL: "http://127.0.0.1:1/b/",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}})
	cases := []struct {
		err  error
		want string
	}{
		{refused, "connection refused"},
		{fmt.Errorf("obs HeadBucket: %w", context.DeadlineExceeded), "context deadline exceeded"},
		{errors.New("plain"), "plain"},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", errors.New("root"))), "root"},
	}
	for _, c := range cases {
		if got := rootCause(c.err).Error(); got != c.want {
			t.Errorf("rootCause(%q) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestCheckMountpoint(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := checkMountpoint(dir); err != nil || got != dir {
		t.Errorf("checkMountpoint(%s) = %q, %v", dir, got, err)
	}
	t.Chdir(dir)
	if err := os.Mkdir("rel", 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := checkMountpoint("rel"); err != nil || got != filepath.Join(dir, "rel") {
		t.Errorf("checkMountpoint(rel) = %q, %v; want the absolute path", got, err)
	}
	for _, c := range []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing"), "mountpoint " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{file, "mountpoint " + file + " is not a directory"},
		{"/proc", "mountpoint /proc is busy: something is already mounted there"},
	} {
		_, err := checkMountpoint(c.path)
		if err == nil || err.Error() != c.want {
			t.Errorf("checkMountpoint(%s) error %v, want %q", c.path, err, c.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                             "plain",
		"fusermount exited with code 256\n": "fusermount exited with code 256",
		"a\n (code exit status 1)\n":        "a; (code exit status 1)",
		"one\r\n\r\ntwo  words \n":          "one; two  words",
		"  spaces kept  inside the line   ": "spaces kept  inside the line",
	} {
		if got := oneLine(errors.New(in)); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// --retries maps onto the client's attempts: -1 (the default) retries for
// as long as the time window allows.
func TestRetriesToAttempts(t *testing.T) {
	cleanEnv(t)
	t.Setenv("OBS_ACCESS_KEY_ID", "AK")
	t.Setenv("OBS_SECRET_ACCESS_KEY", "SK")
	for _, c := range []struct {
		args []string
		want int
	}{
		{nil, obsclient.UnlimitedAttempts},
		{[]string{"--retries", "-1"}, obsclient.UnlimitedAttempts},
		{[]string{"--retries", "0"}, 1},
		{[]string{"--retries", "5"}, 6},
	} {
		o, err := parseArgs(append([]string{"bucket", "/mnt", "--endpoint", testEndpoint}, c.args...))
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		cfg, err := clientConfig(o, nil)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if cfg.Retry.MaxAttempts != c.want {
			t.Errorf("%v: MaxAttempts %d, want %d", c.args, cfg.Retry.MaxAttempts, c.want)
		}
	}
}
