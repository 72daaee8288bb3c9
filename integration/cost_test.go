package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
)

// requestKinds counts the proxy's requests by S3 operation, as far as the
// method and query tell it (what the cost tests need).
func requestKinds(recs []faultproxy.RequestRecord) map[string]int {
	kinds := map[string]int{}
	for _, r := range recs {
		q := r.RawQuery
		kind := r.Method
		switch {
		case r.Method == "GET" && (strings.Contains(q, "list-type=") || strings.Contains(q, "prefix=")):
			kind = "LIST"
		case strings.Contains(q, "uploads") || strings.Contains(q, "uploadId") || strings.Contains(q, "partNumber"):
			kind = r.Method + " multipart"
		}
		kinds[kind]++
	}
	return kinds
}

// Small new files cost one request each: `cp -r` of 20 files of 4 KiB
// into a directory it creates sends one PutObject per file and one for
// the directory's marker; the only lookups that ask the store are those
// of the new directory's name (a stat, and the mkdir's own check). Names
// in a directory this mount created are answered from what the mount
// knows for --stat-cache-ttl (an hour here, so that a slow machine does
// not see them expire).
func TestNewFilesCostOneRequest(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	proxy, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	m := mounttest.Start(t, srv, mounttest.Options{Endpoint: proxy.URL(), Args: []string{"--stat-cache-ttl", "1h"}})
	src := t.TempDir()
	const files = 20
	for i := range files {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d", i)), make([]byte, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proxy.ClearRequests()
	if out, err := exec.Command("cp", "-r", src, m.Path("tree")).CombinedOutput(); err != nil {
		t.Fatalf("cp -r: %v: %s", err, out)
	}
	kinds := requestKinds(proxy.Requests())
	t.Logf("requests of cp -r of %d files: %v", files, kinds)
	if kinds["PUT"] != files+1 {
		t.Errorf("%d PutObjects, want %d (one per file and the directory's marker)", kinds["PUT"], files+1)
	}
	if kinds["HEAD"] > 2 || kinds["LIST"] > 2 {
		t.Errorf("%d HEADs and %d listings, want at most 2 each (the lookups of the new directory's name)", kinds["HEAD"], kinds["LIST"])
	}
	for kind, n := range kinds {
		if kind != "PUT" && kind != "HEAD" && kind != "LIST" {
			t.Errorf("%d unexpected %s requests", n, kind)
		}
	}
	for i := range files {
		key := fmt.Sprintf("tree/f%02d", i)
		if h := m.Head(t, key); h.Size != 4096 {
			t.Errorf("%s holds %d bytes out of band, want 4096", key, h.Size)
		}
	}
}
