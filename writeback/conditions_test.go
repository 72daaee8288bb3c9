package writeback

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

// otherWriter replaces key in store as another mount would.
func otherWriter(t *testing.T, store Store, key string, data []byte) {
	t.Helper()
	if _, err := store.PutObject(context.Background(), &obsclient.PutObjectInput{Bucket: testBucket, Key: key,
		Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
}

// A commit whose base is no longer what the store holds fails with
// ErrExists (created here) or ErrConflict (edited here), on the single PUT
// and the multipart path; the other writer's object is kept, no upload is
// left, and the log names the key and request ID. With the conditions off
// the last writer wins; ConditionsCheck detects the change with a HEAD.
func TestConditionalCommit(t *testing.T) {
	ctx := context.Background()
	small := []byte("mine")
	large := randBytes(rand.New(rand.NewPCG(1, 2)), 3*int(pageSize)+5)
	theirs := []byte("theirs")
	for _, mode := range []ConditionMode{ConditionsStore, ConditionsCheck, ConditionsOff} {
		for _, size := range []string{"single", "multipart"} {
			for _, created := range []bool{true, false} {
				name := mode.String() + "/" + size + "/edit"
				if created {
					name = mode.String() + "/" + size + "/create"
				}
				t.Run(name, func(t *testing.T) {
					store := newFake()
					logger, hook := test.NewNullLogger()
					m := newTestManager(t, store, nil, func(c *Config) {
						c.Conditions = mode
						c.Logger = logrus.NewEntry(logger)
					})
					data := small
					if size == "multipart" {
						data = large
					}
					base := Version{}
					if !created {
						otherWriter(t, store, "k", []byte("base"))
						h, err := store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: testBucket, Key: "k"})
						if err != nil {
							t.Fatal(err)
						}
						base = Version{Exists: true, Size: h.Size, ETag: h.ETag}
					}
					f := m.Open("k", base)
					if err := f.Truncate(ctx, 0); err != nil {
						t.Fatal(err)
					}
					writeAll(t, f, data, 64<<10)
					otherWriter(t, store, "k", theirs)
					err := f.Close()
					got, _ := store.Object("k")
					if mode == ConditionsOff {
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("conditions off: %v, store holds %d bytes; want the last writer's", err, len(got))
						}
						return
					}
					want := ErrConflict
					if created {
						want = ErrExists
					}
					if !errors.Is(err, want) {
						t.Fatalf("Close: %v, want %v", err, want)
					}
					if !bytes.Equal(got, theirs) {
						t.Errorf("the other writer's object was replaced (%d bytes)", len(got))
					}
					if n := store.Uploads(); n != 0 {
						t.Errorf("%d uploads left, want the refused one aborted", n)
					}
					if mode == ConditionsStore {
						logged := false
						for _, e := range hook.AllEntries() {
							if strings.Contains(e.Message, "commit refused") && e.Data["key"] == "k" && e.Data["req_id"] != "" {
								logged = true
							}
						}
						if !logged {
							t.Error("no log entry naming the key and request ID")
						}
					}
				})
			}
		}
	}
}

// Successive commits of one file (create, then edit) each use the version
// the previous one made: no conflict with itself.
func TestConditionalCommitsInSequence(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	m := newTestManager(t, store, nil, nil)
	large := randBytes(rand.New(rand.NewPCG(3, 4)), 3*int(pageSize))
	f := m.Open("k", Version{})
	writeAll(t, f, []byte("one"), 3)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	writeAll(t, f, large, 64<<10)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Object("k"); !bytes.Equal(got, large[:2]) {
		t.Errorf("store holds %q", got)
	}
}
