package integration

import (
	"bytes"
	"crypto/rand"
	"os"
	"strings"
	"testing"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

// Edits and holes cost what changed, on the real binary over MinIO,
// counted by the fault proxy (requests) and the mount's metrics (bytes
// sent), the object checked out of band:
//   - a 1-byte edit in the middle of a 96 MiB object (12 parts of 8 MiB)
//     is Initiate, copy before, one GET of the edited part's old bytes (none
//     when the clean cache still has them, as here after the write), the
//     part, copy after, Complete — and at most one part of bytes sent;
//   - a byte written 40 MiB past the start of a new file sends the zero
//     object's one part and a page, not 40 MiB of zeros;
//   - the zero objects are gone from the staging directory after unmount.
func TestEditAndHoleCost(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	proxy, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	addr := freeLoopbackPort(t)
	m := mounttest.Start(t, srv, mounttest.Options{Endpoint: proxy.URL(),
		Args: []string{"--stat-cache-ttl", "1h", "--metrics-addr", addr}})
	const mib = 1 << 20

	data := make([]byte, 96*mib)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.Path("big"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("edit", func(t *testing.T) {
		proxy.ClearRequests()
		before := scrapeMetrics(t, addr)
		f, err := os.OpenFile(m.Path("big"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		off := int64(52*mib + 4321)
		if _, err := f.WriteAt([]byte{'!'}, off); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		data[off] = '!'
		after := scrapeMetrics(t, addr)
		kinds := requestKinds(proxy.Requests())
		total := 0
		for _, n := range kinds {
			total += n
		}
		t.Logf("requests of a 1-byte edit of a 96 MiB object: %v", kinds)
		copies := after.requests("UploadPartCopy") - before.requests("UploadPartCopy")
		parts := after.requests("UploadPart") - before.requests("UploadPart")
		if copies != 2 || parts != 1 || kinds["GET"] > 1 || kinds["PUT multipart"] != 3 || kinds["POST multipart"] != 2 {
			t.Errorf("edit: %v; %v copies and %v parts, want Initiate, 2 copies, at most 1 GET, 1 part, Complete", kinds, copies, parts)
		}
		if total > 7 {
			t.Errorf("edit cost %d requests, want at most 7 (6 and a lookup)", total)
		}
		sent := after.value("obsfs_store_uploaded_bytes_total") - before.value("obsfs_store_uploaded_bytes_total")
		if sent > 8*mib {
			t.Errorf("edit sent %.0f bytes, want at most one 8 MiB part", sent)
		}
		if got := m.Object(t, "big"); !bytes.Equal(got, data) {
			t.Errorf("object differs out of band after the edit (%d bytes)", len(got))
		}
	})

	t.Run("hole", func(t *testing.T) {
		before := scrapeMetrics(t, addr)
		f, err := os.Create(m.Path("sparse"))
		if err != nil {
			t.Fatal(err)
		}
		off := int64(40*mib + 7)
		if _, err := f.WriteAt([]byte{'x'}, off); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		after := scrapeMetrics(t, addr)
		sent := after.value("obsfs_store_uploaded_bytes_total") - before.value("obsfs_store_uploaded_bytes_total")
		t.Logf("a byte at 40 MiB sent %.0f bytes", sent)
		if sent > 9*mib {
			t.Errorf("sent %.0f bytes for one byte at 40 MiB, want at most the zero object's 8 MiB part and a page", sent)
		}
		got := m.Object(t, "sparse")
		if int64(len(got)) != off+1 || got[off] != 'x' || strings.Trim(string(got[:off]), "\x00") != "" {
			t.Errorf("object out of band: %d bytes, want %d zeros then x", len(got), off)
		}
	})

	m.Unmount(t)
	out, err := m.Client.ListObjects(t.Context(), &obsclient.ListObjectsInput{Bucket: m.Bucket, Prefix: m.Key(".obsfs-staging/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		t.Errorf("%s left in the staging directory after unmount", o.Key)
	}
}
