package writeback

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/obsfs/obsfs/obsclient"
)

// commitCalls are the store requests a commit makes, by operation.
var commitCalls = []string{"InitiateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
	"PutObject", "GetObject", "DeleteObject"}

func callCounts(s interface{ Calls(string) int }) map[string]int {
	m := map[string]int{}
	for _, op := range commitCalls {
		m[op] = s.Calls(op)
	}
	return m
}

func callDiff(before, after map[string]int) (map[string]int, int) {
	d, total := map[string]int{}, 0
	for op, n := range after {
		if n != before[op] {
			d[op] = n - before[op]
			total += n - before[op]
		}
	}
	return d, total
}

// A small edit in the middle of a large object costs the edited part and
// two copies, whatever the object's size: Initiate, copy before, one GET
// of the part's old bytes, the part, copy after, Complete.
func TestEditCostsWhatChanged(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	// One tier of single-page parts: the object has 64 parts.
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.TierParts = 1000 })
	r := rand.New(rand.NewPCG(3, 4))
	data := randBytes(r, 64*int(pageSize))
	f := m.Open("big", Version{})
	writeAll(t, f, data, 256<<10)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ver := f.Version()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		off       int64
		wantTotal int
	}{
		{"middle", 40*pageSize + 1234, 6},
		{"first part", 17, 5},
		{"last part", int64(len(data)) - 3, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := m.Open("big", ver)
			before, up := callCounts(store), store.BytesUploaded()
			if _, err := f.WriteAt(ctx, []byte{'!'}, tc.off); err != nil {
				t.Fatal(err)
			}
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			d, total := callDiff(before, callCounts(store))
			data[tc.off] = '!'
			got, _ := store.Object("big")
			if !bytes.Equal(got, data) {
				t.Fatalf("object differs after the edit")
			}
			if total != tc.wantTotal || d["GetObject"] != 1 || d["UploadPart"] != 1 {
				t.Errorf("edit cost %d requests %v, want %d with one GET and one UploadPart", total, d, tc.wantTotal)
			}
			if sent := store.BytesUploaded() - up; sent > pageSize {
				t.Errorf("edit sent %d bytes, want at most one part (%d)", sent, pageSize)
			}
			ver = f.Version()
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Holes are copied from the zero object, never sent: a byte written far
// past the end of a new file sends the zero object's one part and the
// page holding the byte; the zero objects are deleted when the manager
// closes.
func TestHolesAreNotSent(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, nil) // tiers of 2 parts: 1, 2, 4, … pages
	off := 300*pageSize + 5
	f := m.Open("sparse", Version{})
	if _, err := f.WriteAt(ctx, []byte("x"), off); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, ok := store.Object("sparse")
	if !ok || int64(len(got)) != off+1 || got[off] != 'x' || strings.Trim(string(got[:off]), "\x00") != "" {
		t.Fatalf("object: exists %v, %d bytes, want %d zeros then x", ok, len(got), off)
	}
	if sent := store.BytesUploaded(); sent > 2*pageSize {
		t.Errorf("sent %d bytes for one written byte, want at most the zero object's part and a page (%d)", sent, 2*pageSize)
	}
	// Truncating the file up makes a hole after the data too.
	if err := f.Truncate(ctx, off+1+70*pageSize); err != nil {
		t.Fatal(err)
	}
	up := store.BytesUploaded()
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Object("sparse"); int64(len(got)) != off+1+70*pageSize || got[off] != 'x' ||
		strings.Trim(string(got[off+1:]), "\x00") != "" {
		t.Fatalf("after truncate up: %d bytes", len(got))
	}
	if sent := store.BytesUploaded() - up; sent > pageSize {
		t.Errorf("truncate up sent %d bytes, want at most a page", sent)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var zeros []string
	for _, k := range store.Keys() {
		if strings.HasPrefix(k, DefaultStagingPrefix) {
			zeros = append(zeros, k)
		}
	}
	if len(zeros) == 0 {
		t.Fatal("no zero object was made: the holes were not copied")
	}
	m.Close()
	for _, k := range store.Keys() {
		if k != "sparse" {
			t.Errorf("object %q left after Close", k)
		}
	}
	if store.Uploads() != 0 {
		t.Errorf("%d uploads left", store.Uploads())
	}
}

// A zero object removed under the mount (the staging directory emptied)
// costs the zeros' upload once, not the commit.
func TestHoleZeroObjectGone(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.TierParts = 1000 })
	for i, key := range []string{"a", "b"} {
		f := m.Open(key, Version{})
		if _, err := f.WriteAt(ctx, []byte("y"), 10*pageSize); err != nil {
			t.Fatal(err)
		}
		if err := f.Flush(ctx); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		if got, _ := store.Object(key); int64(len(got)) != 10*pageSize+1 || got[10*pageSize] != 'y' {
			t.Fatalf("file %d: %d bytes", i, len(got))
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		for _, k := range store.Keys() {
			if strings.HasPrefix(k, DefaultStagingPrefix) {
				if _, err := store.DeleteObject(ctx, deleteInput(k)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// A commit that only copies (a rename) keeps its copies parallel: about
// Concurrency copy parts, not one per layout part and not one in all.
func TestPureCopyStaysParallel(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.TierParts = 1000 })
	data := randBytes(rand.New(rand.NewPCG(5, 6)), 64*int(pageSize))
	f := m.Open("src", Version{})
	writeAll(t, f, data, 256<<10)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ver := f.Version()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	before := callCounts(store)
	c := m.OpenCopy("dst", "src", ver)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	d, _ := callDiff(before, callCounts(store))
	if got, _ := store.Object("dst"); !bytes.Equal(got, data) {
		t.Fatal("copy differs")
	}
	if n := d["UploadPartCopy"]; n != 4 || d["UploadPart"] != 0 || d["GetObject"] != 0 {
		t.Errorf("copy of 64 parts with concurrency 4 sent %v, want 4 UploadPartCopy and nothing else", d)
	}
}

func deleteInput(key string) *obsclient.DeleteObjectInput {
	return &obsclient.DeleteObjectInput{Bucket: testBucket, Key: key}
}
