package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

// This file tests crash clean-up: obsfs cleanup on leaked uploads and
// staged objects, and (journal_test.go) the journal a mount keeps.

// allUploads lists every multipart upload under prefix out of band,
// following the pages.
func allUploads(t *testing.T, c *obsclient.Client, bucket, prefix string) []obsclient.Upload {
	t.Helper()
	in := &obsclient.ListMultipartUploadsInput{Bucket: bucket, Prefix: prefix}
	var all []obsclient.Upload
	for {
		out, err := c.ListMultipartUploads(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out.Uploads...)
		if !out.IsTruncated {
			return all
		}
		in.KeyMarker, in.UploadIDMarker = out.NextKeyMarker, out.NextUploadIDMarker
	}
}

// allKeys lists every key under prefix out of band.
func allKeys(t *testing.T, c *obsclient.Client, bucket, prefix string) []string {
	t.Helper()
	in := &obsclient.ListObjectsInput{Bucket: bucket, Prefix: prefix}
	var keys []string
	for {
		out, err := c.ListObjects(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			keys = append(keys, o.Key)
		}
		if !out.IsTruncated {
			return keys
		}
		in.Marker = out.NextMarker
	}
}

// TestCleanupCommand seeds leaked multipart uploads (more than three
// listing pages at the hidden --list-page-size 10, two per key — though
// MinIO answers a bucket-wide listing of uploads in one page whatever the
// page size: the unit test TestSweeper covers the continuation) and
// staged objects (two pages) under a prefix, plus uploads and objects that cleanup
// must not touch, then runs obsfs cleanup: with the default age nothing
// is removed (all of it is fresh), --dry-run lists everything and removes
// nothing, and the real run removes exactly the prefix's uploads and
// staged objects — all checked out of band.
func TestCleanupCommand(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	c := srv.Client(t, nil)
	bucket := srv.Bucket(t, "cleanup")
	ctx := context.Background()
	const leaked = 34
	for i := 0; i < leaked; i++ {
		key := fmt.Sprintf("data/file-%02d", i/2) // two uploads per key: pages continue by upload ID
		if _, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"other/live-upload", "database/x"} {
		if _, err := c.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: bucket, Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	var staged []string // two listing pages
	for i := 0; i < 13; i++ {
		staged = append(staged, fmt.Sprintf("data/.obsfs-staging/%04x/part-%d", i*7919, i+2))
	}
	kept := []string{"data/keep", "data/sub/.obsfs-staging/x", ".obsfs-staging/aa/part-2", "database/.obsfs-staging/y"}
	for _, key := range append(append([]string{}, staged...), kept...) {
		if _, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("leftover")}); err != nil {
			t.Fatal(err)
		}
	}
	env := mounttest.Environ(srv)
	base := []string{"cleanup", bucket + ":data", "--endpoint", srv.Endpoint, "--list-page-size", "10"}
	if srv.CAFile != "" {
		base = append(base, "--ca-file", srv.CAFile)
	}
	untouched := func(step string) {
		t.Helper()
		if n := len(allUploads(t, c, bucket, "")); n != leaked+2 {
			t.Fatalf("after %s: %d uploads in the bucket, want all %d", step, n, leaked+2)
		}
		if n := len(allKeys(t, c, bucket, "")); n != len(staged)+len(kept) {
			t.Fatalf("after %s: %d objects in the bucket, want all %d", step, n, len(staged)+len(kept))
		}
	}
	countLines := func(out, prefix string) int {
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, prefix) {
				n++
			}
		}
		return n
	}

	// Default age: everything is younger than a day, so nothing goes.
	r := runCLI(t, env, base...)
	if r.code != 0 || !strings.Contains(r.stdout, "aborted 0 upload(s) and deleted 0 staged object(s); kept 34 upload(s) and 13 staged object(s) younger than 1d") {
		t.Fatalf("default age: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	untouched("cleanup with the default age")

	// Dry run: one line per item and a total, nothing removed.
	r = runCLI(t, env, append(base, "--older-than", "0", "--dry-run")...)
	if r.code != 0 || countLines(r.stdout, "would abort upload \"data/file-") != leaked ||
		countLines(r.stdout, "would delete staged object \"data/.obsfs-staging/") != len(staged) ||
		!strings.Contains(r.stdout, "would abort 34 upload(s) and delete 13 staged object(s)\n") {
		t.Fatalf("dry run: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	untouched("the dry run")

	// The real run: every upload and staged object under data/ is gone,
	// nothing else.
	r = runCLI(t, env, append(base, "--older-than=0")...)
	if r.code != 0 || countLines(r.stdout, "aborted upload \"data/file-") != leaked ||
		countLines(r.stdout, "deleted staged object \"data/.obsfs-staging/") != len(staged) ||
		!strings.Contains(r.stdout, "aborted 34 upload(s) and deleted 13 staged object(s)\n") {
		t.Fatalf("cleanup: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var left []string
	for _, u := range allUploads(t, c, bucket, "") {
		left = append(left, u.Key)
	}
	if slices.Sort(left); strings.Join(left, " ") != "database/x other/live-upload" {
		t.Fatalf("uploads left: %q; want only database/x and other/live-upload", left)
	}
	if keys := allKeys(t, c, bucket, ""); strings.Join(keys, " ") != ".obsfs-staging/aa/part-2 data/keep data/sub/.obsfs-staging/x database/.obsfs-staging/y" {
		t.Fatalf("objects left: %q", keys)
	}
}
