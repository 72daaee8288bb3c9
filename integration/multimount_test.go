package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

// Many hosts, one bucket: two obsfs processes mount one MinIO bucket.
// Results are checked out of band with obsclient.

// twoMounts mounts one bucket twice (A and B) with --stat-cache-ttl 0 and
// 5 MiB parts (so that 6 MiB files take the multipart path), plus args.
func twoMounts(t *testing.T, args ...string) (a, b *mounttest.Mount) {
	srv := server(t, miniotest.Options{})
	bucket := srv.Bucket(t, "two")
	args = append([]string{"--stat-cache-ttl", "0", "--part-size", "5MiB"}, args...)
	a = mounttest.Start(t, srv, mounttest.Options{Bucket: bucket, Args: args})
	b = mounttest.Start(t, srv, mounttest.Options{Bucket: bucket, Args: args})
	return a, b
}

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// openWrite opens path for writing and writes data; the caller closes.
func openWrite(t *testing.T, path string, flag int, data []byte) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f
}

// Two writers of one new file, on A and B: the first close wins, the
// other's close fails with EEXIST, the bucket holds the winner's bytes
// whole and no upload is left; then B reads the winner's version. Small
// files (PutObject) and 6 MiB files (CompleteMultipartUpload).
func TestTwoWritersOfANewFile(t *testing.T) {
	a, b := twoMounts(t)
	for _, size := range []int{3000, 6 << 20} {
		name := fmt.Sprintf("new-%d", size)
		da, db := randomData(1, size), randomData(2, size)
		fa := openWrite(t, a.Path(name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, da)
		fb := openWrite(t, b.Path(name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, db)
		if err := fa.Close(); err != nil {
			t.Fatalf("%d bytes: first close: %v", size, err)
		}
		if err := fb.Close(); !errors.Is(err, syscall.EEXIST) {
			t.Fatalf("%d bytes: second close: %v, want EEXIST", size, err)
		}
		if got := a.Object(t, name); !bytes.Equal(got, da) {
			t.Errorf("%d bytes: the bucket holds %d bytes, not the first writer's", size, len(got))
		}
		a.RequireNoUploads(t)
		if got, err := os.ReadFile(b.Path(name)); err != nil || !bytes.Equal(got, da) {
			t.Errorf("%d bytes: B reads %d bytes (%v), want the winner's version", size, len(got), err)
		}
	}
	if !strings.Contains(b.Log(), "commit refused") {
		t.Error("B's log does not say why the commit was refused")
	}
}

// An edit on A of an object that B replaced meanwhile fails with ESTALE at
// close; B's object stays intact, and a later open on A reads it.
func TestEditOfAReplacedObject(t *testing.T) {
	a, b := twoMounts(t)
	for _, size := range []int{3000, 6 << 20} {
		name := fmt.Sprintf("edit-%d", size)
		v1, v2 := randomData(3, size), randomData(4, size)
		if err := os.WriteFile(a.Path(name), v1, 0o644); err != nil {
			t.Fatal(err)
		}
		fa, err := os.OpenFile(a.Path(name), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fa.WriteAt([]byte("edited on A"), 10); err != nil {
			fa.Close()
			t.Fatal(err)
		}
		if err := os.WriteFile(b.Path(name), v2, 0o644); err != nil {
			fa.Close()
			t.Fatalf("%d bytes: B's replace: %v", size, err)
		}
		if err := fa.Close(); !errors.Is(err, syscall.ESTALE) {
			t.Fatalf("%d bytes: A's close: %v, want ESTALE", size, err)
		}
		if got := a.Object(t, name); !bytes.Equal(got, v2) {
			t.Errorf("%d bytes: the bucket holds %d bytes, not B's version", size, len(got))
		}
		a.RequireNoUploads(t)
		if got, err := os.ReadFile(a.Path(name)); err != nil || !bytes.Equal(got, v2) {
			t.Errorf("%d bytes: a later read on A got %d bytes (%v), want B's version", size, len(got), err)
		}
	}
}

// With --stat-cache-ttl 0 a file closed on A is visible on B at once, a
// rename on A too, and a delete on A is gone on B at once.
func TestCloseToOpenAcrossMounts(t *testing.T) {
	a, b := twoMounts(t)
	data := randomData(5, 5000)
	if err := os.WriteFile(a.Path("seen"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(b.Path("seen")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("B reads %d bytes (%v) right after A's close, want %d", len(got), err, len(data))
	}
	if err := os.Rename(a.Path("seen"), a.Path("moved")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.Path("seen")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("B stats the renamed name: %v, want ENOENT", err)
	}
	if got, err := os.ReadFile(b.Path("moved")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("B reads the new name: %d bytes (%v)", len(got), err)
	}
	if err := os.Remove(a.Path("moved")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.Path("moved")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("B stats a name A deleted: %v, want ENOENT", err)
	}
	// Each mount's probe of conditional writes (--conditional-writes
	// auto) found them honoured and deleted its object.
	out, err := a.Client.ListObjects(t.Context(), &obsclient.ListObjectsInput{Bucket: a.Bucket, Prefix: ".obsfs-staging/probe-"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		t.Errorf("%d probe objects left, want none", len(out.Contents))
	}
	for _, m := range []*mounttest.Mount{a, b} {
		if strings.Contains(m.Log(), "ignores conditional writes") || strings.Contains(m.Log(), "probing conditional writes failed") {
			t.Errorf("the probe did not find MinIO's conditional writes:\n%s", m.LogTail(2000))
		}
	}
}

// With --conditional-writes off the last writer wins, as before.
func TestConditionalWritesOff(t *testing.T) {
	a, b := twoMounts(t, "--conditional-writes", "off")
	da, db := randomData(6, 3000), randomData(7, 3000)
	fa := openWrite(t, a.Path("lww"), os.O_CREATE|os.O_WRONLY, da)
	fb := openWrite(t, b.Path("lww"), os.O_CREATE|os.O_WRONLY, db)
	if err := fa.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fb.Close(); err != nil {
		t.Fatalf("second close with conditions off: %v", err)
	}
	if got := a.Object(t, "lww"); !bytes.Equal(got, db) {
		t.Errorf("the bucket holds %d bytes, not the last writer's", len(got))
	}
}

// A commit whose response is lost after MinIO applied it (the fault proxy
// resets the connection) is retried; the retry's 412 (PUT) or
// NoSuchUpload (Complete) is recognised as this commit's own success, not
// reported as a conflict. Creating and replacing, small and multipart.
func TestAmbiguousConditionalCommit(t *testing.T) {
	srv := server(t, miniotest.Options{})
	proxy, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	m := mounttest.Start(t, srv, mounttest.Options{Endpoint: proxy.URL(),
		Args: []string{"--stat-cache-ttl", "0", "--part-size", "5MiB"}})
	for _, tc := range []struct {
		name          string
		size          int
		method, query string
	}{
		{"amb-small", 3000, "PUT", ""},
		{"amb-large", 6 << 20, "POST", "uploadId"},
	} {
		for round, seed := range []uint64{8, 9} { // create, then replace
			data := randomData(seed, tc.size)
			rule := proxy.AddRule(faultproxy.Rule{Method: tc.method, Query: tc.query, PathContains: tc.name,
				Action: faultproxy.ActionResetAfterForward, Times: 1})
			if err := os.WriteFile(m.Path(tc.name), data, 0o644); err != nil {
				t.Fatalf("%s round %d: %v (a lost response taken for a conflict?)", tc.name, round, err)
			}
			if proxy.Hits(rule) != 1 {
				t.Fatalf("%s round %d: the fault rule fired %d times, want 1", tc.name, round, proxy.Hits(rule))
			}
			proxy.ClearRules()
			if got := m.Object(t, tc.name); !bytes.Equal(got, data) {
				t.Errorf("%s round %d: the bucket holds %d bytes, want %d", tc.name, round, len(got), len(data))
			}
		}
	}
	m.RequireNoUploads(t)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(m.Log(), "an earlier attempt had stored it") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(m.Log(), "an earlier attempt had stored it") {
		t.Error("the log does not show a PUT's 412 resolved as its own earlier attempt")
	}
}

// A file open for reading on B while A replaces it never yields a mix of
// versions: B's reads return the old version whole, or fail with ESTALE.
func TestReaderDuringReplaceAcrossMounts(t *testing.T) {
	a, b := twoMounts(t)
	const size = 12 << 20
	v1, v2 := randomData(10, size), randomData(11, size)
	if err := os.WriteFile(a.Path("r"), v1, 0o644); err != nil {
		t.Fatal(err)
	}
	fb, err := os.Open(b.Path("r"))
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(fb, head); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.Path("r"), v2, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := a.Object(t, "r"); !bytes.Equal(got, v2) {
		t.Fatalf("the bucket holds %d bytes, not A's new version", len(got))
	}
	rest, err := io.ReadAll(fb)
	got := append(head, rest...)
	switch {
	case err != nil && !errors.Is(err, syscall.ESTALE):
		t.Fatalf("B's read after the replace: %v, want the old version or ESTALE", err)
	case err == nil && !bytes.Equal(got, v1):
		t.Fatalf("B read %d bytes that are not the old version whole (mixed: %v)", len(got), len(got) == size && !bytes.Equal(got, v2))
	}
	t.Logf("B's read after the replace: %d bytes, %v", len(got), err)
	// Once B's stale descriptor is released, an open reads the new
	// version. An open while the old one is still open shares its inode,
	// which reads the old version (ESTALE), and the kernel releases a
	// closed descriptor asynchronously: poll.
	fb.Close()
	t0 := time.Now()
	deadline := t0.Add(30 * time.Second)
	for {
		got, err := os.ReadFile(b.Path("r"))
		if err == nil && bytes.Equal(got, v2) {
			t.Logf("B reads the new version %v after closing its stale descriptor", time.Since(t0))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("opens on B after its stale descriptor was closed still read %d bytes (%v), want A's new version", len(got), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
