package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/obsclient/obsfake"
)

func TestParseAge(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "36h", want: 36 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "2d", want: 48 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: " 3d ", want: 72 * time.Hour},
		{in: "", bad: true},
		{in: "-1h", bad: true},
		{in: "d", bad: true},
		{in: "2days", bad: true},
		{in: "1d-1h", bad: true},
		{in: "10", bad: true},
	}
	for _, c := range cases {
		got, err := parseAge(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("parseAge(%q) = %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("parseAge(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestFormatAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour:                        "1d",
		50 * time.Hour:                        "2d2h",
		5*time.Hour + 12*time.Minute + 3:      "5h12m",
		3 * time.Minute:                       "3m",
		42*time.Second + 400*time.Millisecond: "42s",
	} {
		if got := formatAge(d); got != want {
			t.Errorf("formatAge(%v) = %q, want %q", d, got, want)
		}
	}
}

// seedLeftovers makes n uploads and staged objects under prefix p/ of a
// fake store, plus uploads, objects and staged objects outside it that a
// sweep of p/ must not touch.
func seedLeftovers(t *testing.T, st *obsfake.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		// Several uploads share a key: pages must continue by upload ID too.
		key := fmt.Sprintf("p/file-%02d", i/3)
		if _, err := st.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: "b", Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"other/x", "p-sibling/y"} {
		if _, err := st.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: "b", Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"p/.obsfs-staging/aa/part-2", "p/.obsfs-staging/bb/part-3", "p/keep", ".obsfs-staging/cc/part-2"} {
		if _, err := st.PutObject(ctx, &obsclient.PutObjectInput{Bucket: "b", Key: key, Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
}

func uploadsUnder(t *testing.T, st *obsfake.Store, prefix string) int {
	t.Helper()
	out, err := st.ListMultipartUploads(context.Background(), &obsclient.ListMultipartUploadsInput{Bucket: "b", Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

func TestSweeper(t *testing.T) {
	st := obsfake.New()
	seedLeftovers(t, st, 25)
	var mu sync.Mutex
	var lines []string
	sw := &sweeper{store: st, bucket: "b", prefix: "p/", olderThan: 24 * time.Hour, pageSize: 4,
		now: time.Now,
		report: func(it sweepItem) {
			mu.Lock()
			lines = append(lines, it.describe(false, time.Now()))
			mu.Unlock()
		}}
	ctx := context.Background()

	// Everything is fresh: kept.
	tot, err := sw.run(ctx)
	if err != nil || tot != (sweepTotals{keptUploads: 25, keptObjects: 2}) || len(lines) != 0 {
		t.Fatalf("fresh items: %+v, %v, %q; want all kept", tot, err, lines)
	}
	if !strings.Contains(tot.describe(false, sw.olderThan), "kept 25 upload(s) and 2 staged object(s) younger than 1d") {
		t.Errorf("total line %q", tot.describe(false, sw.olderThan))
	}

	// Two days later, dry run: reported, nothing removed.
	sw.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	sw.dryRun = true
	tot, err = sw.run(ctx)
	if err != nil || tot != (sweepTotals{uploads: 25, objects: 2}) || len(lines) != 27 {
		t.Fatalf("dry run: %+v, %v, %d lines; want 25 uploads and 2 objects", tot, err, len(lines))
	}
	if n := uploadsUnder(t, st, ""); n != 27 {
		t.Fatalf("dry run left %d uploads, want all 27", n)
	}
	if _, ok := st.Object("p/.obsfs-staging/aa/part-2"); !ok {
		t.Fatal("dry run deleted a staged object")
	}

	// The real run, with one abort failing.
	lines = nil
	sw.dryRun = false
	st.Fault = func(op string, in any) error {
		if a, ok := in.(*obsclient.AbortMultipartUploadInput); ok && a.Key == "p/file-04" {
			return errors.New("injected")
		}
		return nil
	}
	tot, err = sw.run(ctx)
	if err != nil || tot != (sweepTotals{uploads: 22, objects: 2, failed: 3}) {
		t.Fatalf("real run: %+v, %v; want 22 uploads, 2 objects, 3 failures", tot, err)
	}
	failed := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "failed to abort upload \"p/file-04\"") && strings.HasSuffix(l, ": injected") {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("want 3 failure lines for p/file-04, got %d in %q", failed, lines)
	}
	if n := uploadsUnder(t, st, "p/"); n != 3 {
		t.Errorf("%d uploads left under p/, want the 3 that failed", n)
	}
	st.Fault = nil
	tot, err = sw.run(ctx)
	if err != nil || tot != (sweepTotals{uploads: 3}) {
		t.Fatalf("second run: %+v, %v", tot, err)
	}
	if n := uploadsUnder(t, st, "p/"); n != 0 {
		t.Errorf("%d uploads left under p/", n)
	}
	if n := uploadsUnder(t, st, ""); n != 2 {
		t.Errorf("%d uploads left outside p/, want the 2 seeded there", n)
	}
	for key, want := range map[string]bool{"p/.obsfs-staging/aa/part-2": false, "p/.obsfs-staging/bb/part-3": false, "p/keep": true, ".obsfs-staging/cc/part-2": true} {
		if _, ok := st.Object(key); ok != want {
			t.Errorf("object %s exists=%v, want %v", key, ok, want)
		}
	}
}

func TestCleanupUsageErrors(t *testing.T) {
	cleanEnv(t)
	for _, args := range [][]string{
		{},
		{"--endpoint", testEndpoint, "b", "extra"},
		{"--endpoint", testEndpoint, "--older-than", "soon", "b"},
		{"--endpoint", testEndpoint, "--list-page-size", "1001", "b"},
		{"b"}, // no endpoint
	} {
		var out, errb bytes.Buffer
		if code := runCleanup(args, &out, &errb); code != 2 || !strings.HasPrefix(errb.String(), "obsfs cleanup: ") {
			t.Errorf("cleanup %q: exit %d, stderr %q; want 2 and one line", args, code, errb.String())
		}
	}
}

func TestDefaultStateDir(t *testing.T) {
	if os.Geteuid() == 0 {
		if d := defaultStateDir(); d != "/var/lib/obsfs" {
			t.Errorf("root's state directory %q, want /var/lib/obsfs", d)
		}
		return
	}
	t.Setenv("XDG_STATE_HOME", "/xdg/state")
	if d := defaultStateDir(); d != "/xdg/state/obsfs" {
		t.Errorf("with XDG_STATE_HOME: %q", d)
	}
	t.Setenv("XDG_STATE_HOME", "relative") // ignored, as the spec says
	t.Setenv("HOME", "/home/u")
	if d := defaultStateDir(); d != "/home/u/.local/state/obsfs" {
		t.Errorf("without XDG_STATE_HOME: %q", d)
	}
}
