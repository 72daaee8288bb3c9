package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

// This file tests what a mount shows of unusual bucket contents, put
// there by other clients: a bucket deleted under the mount, an object
// next to a directory of the same name, a name that is not UTF-8.

// waitErrno polls op until it fails with want (a cached answer may hold
// until --stat-cache-ttl passes); the deadline only bounds a failure.
func waitErrno(t *testing.T, what string, want syscall.Errno, op func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err = op()
		if errors.Is(err, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
	}
}

// TestBucketDeleted deletes the mounted bucket out of band: every
// operation then fails with EIO — a listing is not an empty directory,
// a name is not absent — and the log says why in one line, however many
// operations fail. The mount still unmounts cleanly.
func TestBucketDeleted(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{Args: []string{"--stat-cache-ttl", "1s"}})
	if err := os.MkdirAll(m.Path("dir/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"file", "dir/inner"} {
		if err := os.WriteFile(m.Path(rel), []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.ReadDir(m.Dir); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	out, err := m.Client.ListObjects(ctx, &obsclient.ListObjectsInput{Bucket: m.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	var ids []obsclient.ObjectID
	for _, o := range out.Contents {
		ids = append(ids, obsclient.ObjectID{Key: o.Key})
	}
	if _, err := m.Client.DeleteObjects(ctx, &obsclient.DeleteObjectsInput{Bucket: m.Bucket, Objects: ids, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.Client.DeleteBucket(ctx, m.Bucket); err != nil {
		t.Fatal(err)
	}

	waitErrno(t, "readdir of the root", syscall.EIO, func() error { _, err := os.ReadDir(m.Dir); return err })
	waitErrno(t, "readdir of a directory", syscall.EIO, func() error { _, err := os.ReadDir(m.Path("dir")); return err })
	waitErrno(t, "stat of a file", syscall.EIO, func() error { _, err := os.Stat(m.Path("file")); return err })
	waitErrno(t, "stat of a name never seen", syscall.EIO, func() error { _, err := os.Stat(m.Path("never-seen")); return err })
	waitErrno(t, "reading a file", syscall.EIO, func() error { _, err := os.ReadFile(m.Path("dir/inner")); return err })
	waitErrno(t, "creating a file", syscall.EIO, func() error { return os.WriteFile(m.Path("new"), []byte("x"), 0o644) })
	waitErrno(t, "mkdir", syscall.EIO, func() error { return os.Mkdir(m.Path("newdir"), 0o755) })

	if n := strings.Count(m.Log(), "does not exist any more"); n != 1 {
		t.Errorf("the log says the bucket is gone %d times, want once:\n%s", n, m.LogTail(4000))
	}
}

// TestListedNonUTF8Name puts a key that is not UTF-8 in the bucket and
// checks that the mount lists it and answers EILSEQ for it, as for any
// name that is not UTF-8 (README, "Names"). MinIO refuses such a key
// through its API, but lists one it finds on its disk — the way a store
// may list keys written by a laxer client — so the test makes it there,
// as a copy of an object's directory (MinIO's single-drive layout is
// DATA/BUCKET/KEY/xl.meta).
func TestListedNonUTF8Name(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{Args: []string{"--stat-cache-ttl", "1s"}})
	const bad = "latin1-caf\xe9"
	putObjects(t, m, []string{"good"}, func(string) []byte { return []byte("good") }, nil)
	src := filepath.Join(srv.DataDir, m.Bucket, "good")
	if out, err := exec.Command("cp", "-a", src, filepath.Join(srv.DataDir, m.Bucket, bad)).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v: %s", src, err, out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := m.Client.ListObjects(t.Context(), &obsclient.ListObjectsInput{Bucket: m.Bucket})
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(out.Contents, func(o obsclient.ObjectInfo) bool { return o.Key == bad }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO does not list the key %q made on its disk: %+v", bad, out.Contents)
		}
	}

	var names []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ents, err := os.ReadDir(m.Dir)
		if err != nil {
			t.Fatal(err)
		}
		names = names[:0]
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if slices.Contains(names, bad) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readdir %q, want %q listed", names, bad)
		}
	}
	if !slices.Equal(names, []string{"good", bad}) {
		t.Errorf("readdir %q, want good and %q", names, bad)
	}
	for _, name := range []string{bad, "never-listed-\xff"} {
		if _, err := os.Lstat(m.Path(name)); !errors.Is(err, syscall.EILSEQ) {
			t.Errorf("lstat %q: %v, want EILSEQ", name, err)
		}
		if _, err := os.ReadFile(m.Path(name)); !errors.Is(err, syscall.EILSEQ) {
			t.Errorf("read %q: %v, want EILSEQ", name, err)
		}
		if err := os.WriteFile(m.Path(name), []byte("x"), 0o644); !errors.Is(err, syscall.EILSEQ) {
			t.Errorf("write %q: %v, want EILSEQ", name, err)
		}
	}
	if got := m.Object(t, "good"); string(got) != "good" {
		t.Errorf("good: object is %q", got)
	}
	if _, err := os.Stat(filepath.Join(srv.DataDir, m.Bucket, bad, "xl.meta")); err != nil {
		t.Errorf("the key %q is gone from MinIO's disk: %v", bad, err)
	}
}

// TestDirectoryHidesObject puts an object "d" next to a directory "d/"
// out of band: the directory wins — stat, ls and find show a directory —
// and the object is reachable as d.obsfs-file, which reads it, renames it
// away and unlinks it; the bucket keeps both until then. (MinIO lists the
// object next to the directory only when the directory has a marker "d/",
// and hides the other keys under "d/" from its listings: they can be
// reached by name only. S3 and OBS list both.)
func TestDirectoryHidesObject(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{Args: []string{"--stat-cache-ttl", "1s"}})
	const alias = "d.obsfs-file"
	putObjects(t, m, []string{"d/", "d", "d/x", "e/", "e"}, func(k string) []byte {
		if strings.HasSuffix(k, "/") {
			return nil
		}
		return []byte("object " + k)
	}, nil)

	// One name at a time, before any listing.
	if st, err := os.Stat(m.Path("d")); err != nil || !st.IsDir() {
		t.Fatalf("stat d: %v, want a directory", err)
	}
	if got, err := os.ReadFile(m.Path(alias)); err != nil || string(got) != "object d" {
		t.Fatalf("cat %s: %q, %v", alias, got, err)
	}
	if got, err := os.ReadFile(m.Path("d/x")); err != nil || string(got) != "object d/x" {
		t.Fatalf("cat d/x: %q, %v", got, err)
	}
	// Listed.
	out, err := exec.Command("find", m.Dir, "-printf", "%P %y\n").CombinedOutput()
	if err != nil {
		t.Fatalf("find: %v: %s", err, out)
	}
	found := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, want := range []string{"d d", alias + " f", "e d", "e.obsfs-file f"} {
		if !slices.Contains(found, want) {
			t.Errorf("find shows %q, want %q among them", found, want)
		}
	}
	// The directory works as one.
	if err := os.WriteFile(m.Path("d/new"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := m.Object(t, "d/new"); string(got) != "new" {
		t.Errorf("d/new: object is %q", got)
	}
	if got := m.Object(t, "d"); string(got) != "object d" {
		t.Errorf("d: object is %q", got)
	}
	// Names ending in the alias suffix are reserved.
	if err := os.WriteFile(m.Path("new.obsfs-file"), nil, 0o644); !errors.Is(err, syscall.EACCES) {
		t.Errorf("creating new.obsfs-file: %v, want EACCES", err)
	}
	if h := m.Head(t, "new.obsfs-file"); h != nil {
		t.Errorf("object new.obsfs-file exists")
	}

	// Renamed away: the object moves, the directory stays.
	if err := os.Rename(m.Path(alias), m.Path("d-object")); err != nil {
		t.Fatal(err)
	}
	if h := m.Head(t, "d"); h != nil {
		t.Errorf("object d still exists after mv %s d-object", alias)
	}
	if got := m.Object(t, "d-object"); string(got) != "object d" {
		t.Errorf("d-object: object is %q", got)
	}
	if got := m.Object(t, "d/x"); string(got) != "object d/x" {
		t.Errorf("d/x: object is %q", got)
	}
	if st, err := os.Stat(m.Path("d")); err != nil || !st.IsDir() {
		t.Errorf("stat d after the rename: %v, want a directory", err)
	}
	if _, err := os.Stat(m.Path(alias)); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("stat %s after the rename: %v, want ENOENT", alias, err)
	}
	// Unlinked: the object goes, the directory stays.
	if err := os.Remove(m.Path("e.obsfs-file")); err != nil {
		t.Fatal(err)
	}
	if h := m.Head(t, "e"); h != nil {
		t.Errorf("object e still exists after rm e.obsfs-file")
	}
	if h := m.Head(t, "e/"); h == nil {
		t.Errorf("the marker e/ is gone after rm e.obsfs-file")
	}
	m.RequireNoUploads(t)
}
