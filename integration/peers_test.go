package integration

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

// Peers are the tools obsfs is compared with by the benchmarks that run
// the same workload through each (BenchmarkMetadataMix,
// BenchmarkSmallFiles): each mounts a bucket of its own of the shared
// MinIO, through a fault proxy with no faults, which counts the requests
// it sends. obsfs is the real binary (mounttest); s3fs is Debian's
// package, which `make bench` installs.

// peer is a tool that mounts a bucket.
type peer struct {
	name string
	// install says how to install the tool, if it is not obsfs.
	install string
	// mount mounts bucket, at endpoint with srv's credentials, on a new
	// directory that it returns. It registers the unmount with tb.Cleanup
	// (it runs on failure too) and makes sure the tool does not outlive
	// the test process.
	mount func(tb testing.TB, srv *miniotest.Server, bucket, endpoint string) (dir string)
}

// benchPeers are the peers, obsfs first.
var benchPeers = []peer{
	{name: "obsfs", mount: mountObsfs},
	{name: "s3fs", install: "`make bench` installs it (apt-get install s3fs)", mount: mountS3fs},
}

// peerMount is one peer's mount of a bucket of its own through a proxy.
type peerMount struct {
	peer   string
	dir    string
	bucket string
	proxy  *faultproxy.Proxy
	// client reaches MinIO directly: the out-of-band checks.
	client *obsclient.Client
}

// path is rel's path in the mount.
func (m *peerMount) path(rel string) string { return filepath.Join(m.dir, rel) }

// mountPeers mounts a new bucket through each peer, in benchPeers' order.
func mountPeers(tb testing.TB, srv *miniotest.Server) []*peerMount {
	tb.Helper()
	for _, p := range benchPeers { // fail before mounting anything
		if _, err := exec.LookPath(p.name); p.install != "" && err != nil {
			tb.Fatalf("%s is not installed: %s", p.name, p.install)
		}
	}
	var ms []*peerMount
	for _, p := range benchPeers {
		proxy, err := faultproxy.New(srv.Endpoint)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { proxy.Close() }) // after the unmount: cleanups run last first
		bucket := srv.Bucket(tb, "peer-"+p.name)
		ms = append(ms, &peerMount{peer: p.name, dir: p.mount(tb, srv, bucket, proxy.URL()), bucket: bucket,
			proxy: proxy, client: srv.Client(tb, nil)})
	}
	return ms
}

// mountObsfs mounts bucket with the obsfs under test and its default
// options.
func mountObsfs(tb testing.TB, srv *miniotest.Server, bucket, endpoint string) string {
	tb.Helper()
	return mounttest.Start(tb, srv, mounttest.Options{Endpoint: endpoint, Bucket: bucket, Bench: true}).Dir
}

// s3fsMountTimeout bounds the wait for s3fs's mount to be live.
const s3fsMountTimeout = 60 * time.Second

// mountS3fs mounts bucket with s3fs in the foreground, with the options a
// user of MinIO gives it (path-style requests, the endpoint's URL, a
// password file) and otherwise its defaults (no local cache, 10 MB
// parts, 5 in flight). The kernel sends s3fs SIGTERM if the test process
// dies (it then unmounts); the cleanup unmounts with fusermount3 and
// fails the test unless s3fs exits with status 0.
func mountS3fs(tb testing.TB, srv *miniotest.Server, bucket, endpoint string) string {
	tb.Helper()
	bin, err := exec.LookPath("s3fs")
	if err != nil {
		tb.Fatal("s3fs is not installed: `make bench` installs it (apt-get install s3fs)")
	}
	mounttest.RequireFUSE(tb)
	tmp := tb.TempDir()
	dir := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	passwd := filepath.Join(tmp, "passwd")
	if err := os.WriteFile(passwd, []byte(srv.AccessKey+":"+srv.SecretKey+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	logPath := filepath.Join(tmp, "s3fs.log")
	out, err := os.Create(filepath.Join(tmp, "s3fs.out"))
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, bucket, dir, "-f",
		"-o", "passwd_file="+passwd, "-o", "url="+endpoint, "-o", "use_path_request_style",
		"-o", "endpoint="+srv.Region, "-o", "logfile="+logPath, "-o", "dbglevel=warn")
	// Credentials come from the password file only.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Go ends no thread that a goroutine has not locked, so the parent
	// "dies" when the test process does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting s3fs: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	logs := func() string {
		o, _ := os.ReadFile(out.Name())
		l, _ := os.ReadFile(logPath)
		return fmt.Sprintf("s3fs output:\n%s\ns3fs log tail:\n%s", o, l[max(0, len(l)-8000):])
	}
	tb.Cleanup(func() {
		deadline := time.Now().Add(20 * time.Second)
		for {
			select {
			case <-exited:
				tb.Errorf("s3fs exited while mounted (%v)\n%s", waitErr, logs())
				_ = exec.Command("fusermount3", "-u", "-z", dir).Run()
				return
			default:
			}
			o, err := exec.Command("fusermount3", "-u", dir).CombinedOutput()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				tb.Errorf("fusermount3 -u %s: %v: %s", dir, err, o)
				_ = exec.Command("fusermount3", "-u", "-z", dir).Run()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
			tb.Errorf("s3fs did not exit within a minute of unmounting")
		}
		if waitErr != nil {
			tb.Errorf("s3fs exited with %v\n%s", waitErr, logs())
		} else if tb.Failed() {
			tb.Log(logs())
		}
	})
	deadline := time.Now().Add(s3fsMountTimeout)
	for {
		if mounted, _ := mounttest.IsMountPoint(dir); mounted {
			return dir
		}
		select {
		case <-exited:
			tb.Fatalf("s3fs exited before mounting (%v)\n%s", waitErr, logs())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("s3fs did not mount within %v\n%s", s3fsMountTimeout, logs())
		}
	}
}

// s3Op names the S3 operation of a request, as far as its method, query
// and copy source tell.
func s3Op(r faultproxy.RequestRecord) string {
	q, _ := url.ParseQuery(r.RawQuery)
	has := func(k string) bool { _, ok := q[k]; return ok }
	copied := r.CopySource != ""
	switch r.Method {
	case "HEAD":
		return "HEAD"
	case "GET":
		switch {
		case has("uploadId"):
			return "ListParts"
		case has("uploads"):
			return "ListUploads"
		case has("list-type") || has("prefix") || has("delimiter") || has("marker") || has("max-keys"):
			return "LIST"
		case !strings.Contains(strings.Trim(r.RawPath, "/"), "/"): // the bucket
			if r.RawQuery == "" {
				return "LIST"
			}
			return "GET?" + r.RawQuery
		}
		return "GET"
	case "PUT":
		switch {
		case has("partNumber") && copied:
			return "UploadPartCopy"
		case has("partNumber"):
			return "UploadPart"
		case copied:
			return "CopyObject"
		case r.RawQuery == "":
			return "PUT"
		}
	case "POST":
		switch {
		case has("uploads"):
			return "Initiate"
		case has("uploadId"):
			return "Complete"
		case has("delete"):
			return "DeleteObjects"
		}
	case "DELETE":
		if has("uploadId") {
			return "Abort"
		}
		if r.RawQuery == "" {
			return "DELETE"
		}
	}
	return r.Method + "?" + r.RawQuery
}

// peerOps are the operations the tables show in their own column, in
// order; the others are summed in "other".
var peerOps = []string{"PUT", "UploadPart", "UploadPartCopy", "CopyObject", "GET", "HEAD", "LIST", "DELETE", "Initiate", "Complete"}

// reqTally counts a peer's requests.
type reqTally struct {
	byOp     map[string]int
	total    int
	notFound int   // answered 404 (negative lookups)
	failed   int   // answered otherwise than 2xx, 3xx or 404, or not at all
	upBytes  int64 // request bodies: what the peer uploaded
}

func tallyRequests(recs []faultproxy.RequestRecord) reqTally {
	t := reqTally{byOp: map[string]int{}}
	for _, r := range recs {
		t.byOp[s3Op(r)]++
		t.total++
		t.upBytes += r.BodyBytes
		switch {
		case r.Status == 404:
			t.notFound++
		case r.Status < 200 || r.Status >= 400:
			t.failed++
		}
	}
	return t
}

// other is the number of requests of operations not in peerOps, and what
// they were.
func (t reqTally) other() (int, string) {
	n := 0
	var what []string
	for op, c := range t.byOp {
		if !slices.Contains(peerOps, op) {
			n += c
			what = append(what, fmt.Sprintf("%s %d", op, c))
		}
	}
	slices.Sort(what)
	return n, strings.Join(what, ", ")
}

// peerTableHeader is the header of the tables of peerTableRow, whose
// unit of work is unit ("op", "file"); it ends with the columns of
// peerOps.
func peerTableHeader(unit string, columns ...string) string {
	cols := append(append([]string{"tool"}, columns...), "requests", "per "+unit)
	cols = append(cols, peerOps...)
	cols = append(cols, "other", "404", "failed", "MiB sent")
	return "| " + strings.Join(cols, " | ") + " |"
}

// printPeerTable prints a table and notes under it on standard output,
// where `go test` shows them whole (it keeps only the first 10 lines of
// a benchmark's log). `make bench` repeats them in its summary: the
// title ends with "per tool:", the table's lines start with "|", the
// notes with "  ".
func printPeerTable(title string, lines, notes []string) {
	fmt.Printf("\n%s per tool:\n", title)
	for _, l := range lines {
		fmt.Println(l)
	}
	for _, n := range notes {
		fmt.Println("  " + n)
	}
}

// peerTableRow formats a peer's row: its name, the given leading cells,
// its requests in all and per unit of work (ops, files), by operation,
// and the MiB it sent.
func peerTableRow(name string, units int, t reqTally, cells ...string) string {
	row := append([]string{name}, cells...)
	row = append(row, fmt.Sprint(t.total), fmt.Sprintf("%.2f", float64(t.total)/float64(max(units, 1))))
	for _, op := range peerOps {
		row = append(row, fmt.Sprint(t.byOp[op]))
	}
	n, _ := t.other()
	row = append(row, fmt.Sprint(n), fmt.Sprint(t.notFound), fmt.Sprint(t.failed), fmt.Sprintf("%.1f", float64(t.upBytes)/(1<<20)))
	return "| " + strings.Join(row, " | ") + " |"
}

// TestS3Op checks the naming of requests by operation.
func TestS3Op(t *testing.T) {
	for _, c := range []struct {
		r    faultproxy.RequestRecord
		want string
	}{
		{faultproxy.RequestRecord{Method: "HEAD", RawPath: "/b/k"}, "HEAD"},
		{faultproxy.RequestRecord{Method: "GET", RawPath: "/b/k"}, "GET"},
		{faultproxy.RequestRecord{Method: "GET", RawPath: "/b/", RawQuery: "list-type=2&prefix=d%2F"}, "LIST"},
		{faultproxy.RequestRecord{Method: "GET", RawPath: "/b", RawQuery: "delimiter=%2F&max-keys=1000&prefix="}, "LIST"},
		{faultproxy.RequestRecord{Method: "GET", RawPath: "/b/", RawQuery: "location="}, "GET?location="},
		{faultproxy.RequestRecord{Method: "GET", RawPath: "/b/k", RawQuery: "uploadId=x"}, "ListParts"},
		{faultproxy.RequestRecord{Method: "GET", RawPath: "/b/", RawQuery: "uploads"}, "ListUploads"},
		{faultproxy.RequestRecord{Method: "PUT", RawPath: "/b/k"}, "PUT"},
		{faultproxy.RequestRecord{Method: "PUT", RawPath: "/b/k", CopySource: "/b/j"}, "CopyObject"},
		{faultproxy.RequestRecord{Method: "PUT", RawPath: "/b/k", RawQuery: "partNumber=2&uploadId=x"}, "UploadPart"},
		{faultproxy.RequestRecord{Method: "PUT", RawPath: "/b/k", RawQuery: "partNumber=2&uploadId=x", CopySource: "/b/k"}, "UploadPartCopy"},
		{faultproxy.RequestRecord{Method: "PUT", RawPath: "/b/k", RawQuery: "tagging"}, "PUT?tagging"},
		{faultproxy.RequestRecord{Method: "POST", RawPath: "/b/k", RawQuery: "uploads"}, "Initiate"},
		{faultproxy.RequestRecord{Method: "POST", RawPath: "/b/k", RawQuery: "uploadId=x"}, "Complete"},
		{faultproxy.RequestRecord{Method: "POST", RawPath: "/b/", RawQuery: "delete"}, "DeleteObjects"},
		{faultproxy.RequestRecord{Method: "DELETE", RawPath: "/b/k"}, "DELETE"},
		{faultproxy.RequestRecord{Method: "DELETE", RawPath: "/b/k", RawQuery: "uploadId=x"}, "Abort"},
	} {
		if got := s3Op(c.r); got != c.want {
			t.Errorf("s3Op(%v) = %q, want %q", c.r, got, c.want)
		}
	}
}

// deletePrefix deletes every object under prefix out of band, once a
// benchmark's iteration has checked them, so that a run of many
// iterations does not fill the disk (MinIO keeps every byte of every
// sparse file). The tools never look there again.
func (m *peerMount) deletePrefix(tb testing.TB, prefix string) {
	tb.Helper()
	ctx := context.Background()
	keys, err := listKeys(ctx, m.client, m.bucket, prefix)
	if err != nil {
		tb.Fatalf("%s: listing %s out of band: %v", m.peer, prefix, err)
	}
	var ids []obsclient.ObjectID
	for k := range keys {
		ids = append(ids, obsclient.ObjectID{Key: k})
	}
	for len(ids) > 0 {
		n := min(len(ids), obsclient.MaxDeleteObjects)
		out, err := m.client.DeleteObjects(ctx, &obsclient.DeleteObjectsInput{Bucket: m.bucket, Objects: ids[:n], Quiet: true})
		if err == nil && len(out.Errors) > 0 {
			err = fmt.Errorf("%s: %s", out.Errors[0].Key, out.Errors[0].Message)
		}
		if err != nil {
			tb.Fatalf("%s: deleting %s out of band: %v", m.peer, prefix, err)
		}
		ids = ids[n:]
	}
}
