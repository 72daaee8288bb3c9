package writeback

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/obsclient/obsfake"
)

// hostileCache drops every Set: nothing may depend on the cache.
type hostileCache struct{}

func (hostileCache) Get(string) *Page  { return nil }
func (hostileCache) Set(string, *Page) {}
func (hostileCache) Del(string)        {}

// caches are the caches every write-path test runs with.
func caches(t *testing.T) map[string]func() Cache {
	return map[string]func() Cache{
		"hostile": func() Cache { return hostileCache{} },
		"ristretto": func() Cache {
			c, err := NewBlockCache(64 << 20)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			return c
		},
	}
}

const testBucket = "test-bucket"

func newTestManager(t *testing.T, store Store, cache Cache, mod func(*Config)) *Manager {
	t.Helper()
	cfg := Config{Bucket: testBucket, PartSize: pageSize, TierParts: 2, Concurrency: 4, WriteBuffer: 16 * pageSize, Cache: cache,
		PoisonFreedPages: true}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if n := m.MisreleasedPages(); n != 0 {
			t.Errorf("%d page references released that were not held", n)
		}
	})
	return m
}

func newFake() *obsfake.Store {
	s := obsfake.New()
	s.MinPartSize = pageSize
	return s
}

func randBytes(r *rand.Rand, n int) []byte {
	var seed [32]byte
	for i := 0; i < 32; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			seed[i+j] = byte(v >> (8 * j))
		}
	}
	p := make([]byte, n)
	_, _ = rand.NewChaCha8(seed).Read(p)
	return p
}

func writeAll(t *testing.T, f *File, data []byte, chunk int) {
	t.Helper()
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		if _, err := f.WriteAt(context.Background(), data[off:end], int64(off)); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
	}
}

func TestSequentialWriteSizes(t *testing.T) {
	ctx := context.Background()
	for name, mk := range caches(t) {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			store := newFake()
			m := newTestManager(t, store, mk(), nil)
			for _, size := range []int{0, 1, int(pageSize) - 1, int(pageSize), int(pageSize) + 1, 5*int(pageSize) + 17} {
				key := "seq/" + strings.Repeat("x", size%7) + string(rune('a'+size%26))
				data := randBytes(r, size)
				f := m.Open(key, Version{})
				writeAll(t, f, data, 128<<10)
				if err := f.Flush(ctx); err != nil {
					t.Fatalf("size %d: flush: %v", size, err)
				}
				got, ok := store.Object(key)
				if !ok || !bytes.Equal(got, data) {
					t.Fatalf("size %d: stored %d bytes (exists %v), want %d identical", size, len(got), ok, size)
				}
				// Read back through the file.
				buf := make([]byte, size+10)
				n, err := f.ReadAt(ctx, buf, 0)
				if (err != nil && err != io.EOF) || n != size || !bytes.Equal(buf[:n], data) {
					t.Fatalf("size %d: read back n=%d err=%v", size, n, err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if store.Uploads() != 0 {
				t.Fatalf("%d multipart uploads left", store.Uploads())
			}
			if got := store.Calls("PutObject"); got != 3 {
				t.Errorf("PutObject calls = %d, want 3 (files below one part)", got)
			}
		})
	}
}

func TestUploadFailureAbortsAndReportsError(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	store.Fault = func(op string, in any) error {
		if op == "UploadPart" {
			return &obsclient.Error{Status: 500, Code: "InternalError", RequestID: "req-injected"}
		}
		return nil
	}
	m := newTestManager(t, store, hostileCache{}, nil)
	f := m.Open("fail/obj", Version{})
	data := randBytes(rand.New(rand.NewPCG(3, 4)), 3*int(pageSize)+5)
	var werr error
	for off := 0; off < len(data); off += 64 << 10 {
		if _, werr = f.WriteAt(ctx, data[off:min(off+64<<10, len(data))], int64(off)); werr != nil {
			break
		}
	}
	err := f.Flush(ctx)
	if err == nil {
		t.Fatal("flush succeeded despite failing uploads")
	}
	if obsclient.RequestID(err) != "req-injected" {
		t.Errorf("error lost its request id: %v", err)
	}
	if _, ok := store.Object("fail/obj"); ok {
		t.Fatal("object appeared")
	}
	if store.Uploads() != 0 {
		t.Fatalf("%d multipart uploads left", store.Uploads())
	}
	// Sticky: later writes and flushes fail.
	if _, err := f.WriteAt(ctx, []byte("x"), 0); err == nil {
		t.Fatal("write after failure succeeded")
	}
	if err := f.Flush(ctx); err == nil {
		t.Fatal("second flush succeeded")
	}
}

func TestAppendToExistingCopiesUnchangedParts(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, nil)
	r := rand.New(rand.NewPCG(5, 6))
	data := randBytes(r, 6*int(pageSize)+100) // parts: 1,1,2,2 pages
	f := m.Open("app/obj", Version{})
	writeAll(t, f, data, 256<<10)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	base := f.Version()
	up0 := store.BytesUploaded()

	g := m.Open("app/obj", base)
	extra := randBytes(r, 1000)
	if _, err := g.WriteAt(ctx, extra, base.Size); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte(nil), data...), extra...)
	got, _ := store.Object("app/obj")
	if !bytes.Equal(got, want) {
		t.Fatal("appended object differs")
	}
	// Only the last part (2 MiB) is re-sent; the rest is copied.
	if sent := store.BytesUploaded() - up0; sent > 2*pageSize+1000 {
		t.Errorf("append uploaded %d bytes, want at most one part plus the appended bytes", sent)
	}
	if store.BytesCopied() == 0 {
		t.Error("no server-side copy")
	}
}

func TestMemoryBudgetBoundsBufferedBytes(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	var mu sync.Mutex
	block := make(chan struct{})
	store.Fault = func(op string, in any) error {
		if op == "UploadPart" {
			<-block
		}
		return nil
	}
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.WriteBuffer = 4 * pageSize; c.TierParts = 1000 })
	f := m.Open("mem/obj", Version{})
	done := make(chan error, 1)
	data := randBytes(rand.New(rand.NewPCG(7, 8)), 12*int(pageSize))
	go func() {
		for off := 0; off < len(data); off += 128 << 10 {
			if _, err := f.WriteAt(ctx, data[off:off+128<<10], int64(off)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// With uploads blocked, the writer must stall at the budget.
	select {
	case err := <-done:
		t.Fatalf("writer finished 12 MiB with a 4 MiB budget and no upload completing (err %v)", err)
	case <-waitFor(func() bool { mu.Lock(); defer mu.Unlock(); return m.inflight.Load() >= 4 }):
	}
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := store.Object("mem/obj")
	if !bytes.Equal(got, data) {
		t.Fatal("object differs")
	}
}

func waitFor(cond func() bool) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for !cond() {
			sleepMs(5)
		}
		close(ch)
	}()
	return ch
}

func TestManyPartialFilesDoNotDeadlock(t *testing.T) {
	// More files with partly written parts than the budget holds: the
	// manager must commit some early instead of hanging.
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.WriteBuffer = 4 * pageSize })
	var files []*File
	r := rand.New(rand.NewPCG(9, 10))
	contents := map[string][]byte{}
	for i := 0; i < 12; i++ {
		key := "many/" + string(rune('a'+i))
		f := m.Open(key, Version{})
		data := randBytes(r, int(pageSize)*7/10)
		writeAll(t, f, data, int(pageSize)/10)
		files = append(files, f)
		contents[key] = data
	}
	for _, f := range files {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for k, want := range contents {
		if got, _ := store.Object(k); !bytes.Equal(got, want) {
			t.Fatalf("%s differs", k)
		}
	}
}

func TestConflictWhenObjectChangedUnderneath(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, nil)
	data := randBytes(rand.New(rand.NewPCG(11, 12)), 4*int(pageSize))
	f := m.Open("c/obj", Version{})
	writeAll(t, f, data, int(pageSize))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g := m.Open("c/obj", f.Version())
	if _, err := g.WriteAt(ctx, []byte("patch"), 3*pageSize); err != nil {
		t.Fatal(err)
	}
	// Another client replaces the object.
	if _, err := store.PutObject(ctx, &obsclient.PutObjectInput{Bucket: testBucket, Key: "c/obj", Body: strings.NewReader("other")}); err != nil {
		t.Fatal(err)
	}
	err := g.Flush(ctx)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("flush = %v, want ErrConflict", err)
	}
	if got, _ := store.Object("c/obj"); string(got) != "other" {
		t.Fatal("the other client's object was overwritten")
	}
	if store.Uploads() != 0 {
		t.Fatal("upload left")
	}
}

func TestTooLarge(t *testing.T) {
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, nil)
	f := m.Open("big", Version{})
	if _, err := f.WriteAt(context.Background(), []byte("x"), m.MaxFileSize()); !errors.Is(err, ErrFileTooLarge) {
		t.Fatalf("write past the max = %v", err)
	}
	if err := f.Truncate(context.Background(), m.MaxFileSize()+1); !errors.Is(err, ErrFileTooLarge) {
		t.Fatalf("truncate past the max = %v", err)
	}
}

func sleepMs(n int) { <-time.After(time.Duration(n) * time.Millisecond) }

// A commit waits for a read of the version it replaces: the read's GET is
// conditional on that version, and failed (ErrConflict, ESTALE to the
// program) when a commit of this very file overtook it (model test seed
// 49, under load).
func TestCommitWaitsForReadsOfTheOldVersion(t *testing.T) {
	store := newFake()
	m := newTestManager(t, store, hostileCache{}, nil)
	data := randBytes(rand.New(rand.NewPCG(49, 50)), 3*int(pageSize))
	ver := commitObject(t, m, "race/read", data)
	f := m.Open("race/read", ver)
	defer f.Close()
	if _, err := f.WriteAt(context.Background(), []byte("changed"), 2*pageSize+5); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(data)
	copy(want[2*pageSize+5:], "changed")

	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	store.Fault = func(op string, in any) error {
		if op == "GetObject" {
			first := false
			once.Do(func() { first = true })
			if first { // the read's GET: held until the commit has had its chance
				close(started)
				<-release
			}
		}
		return nil
	}
	read := make(chan error, 1)
	buf := make([]byte, pageSize/2)
	go func() {
		_, err := f.ReadAt(context.Background(), buf, 100)
		read <- err
	}()
	<-started
	flushed := make(chan error, 1)
	go func() { flushed <- f.Flush(context.Background()) }()
	select {
	case err := <-flushed: // the commit did not wait for the read
		close(release)
		if err != nil {
			t.Fatal(err)
		}
		flushed <- nil
	case <-time.After(300 * time.Millisecond):
		close(release)
	}
	if err := <-read; err != nil {
		t.Fatalf("a read overtaken by a commit of the same file: %v", err)
	}
	if !bytes.Equal(buf, data[100:100+len(buf)]) {
		t.Fatal("the read returned wrong bytes")
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Object("race/read"); !bytes.Equal(got, want) {
		t.Fatal("the store does not hold the file")
	}
}

// Files that failed (an upload refused) while holding partly written parts
// do not keep the write buffer from the other writers until they are
// closed: relieve releases a failed file's buffers (model test seed 86:
// a staged part's File failed and its parent's next write waited forever).
func TestFailedFilesReleaseTheirBuffers(t *testing.T) {
	ctx := context.Background()
	store := newFake()
	store.Fault = func(op string, in any) error {
		if in, ok := in.(*obsclient.UploadPartInput); ok && op == "UploadPart" && strings.HasPrefix(in.Key, "bad/") {
			return &obsclient.Error{Status: 403, Code: "AccessDenied", RequestID: "req-injected"}
		}
		return nil
	}
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.WriteBuffer = 2 * pageSize })
	// Two files, each with a failed part and a partly written one: the
	// whole buffer is theirs.
	for _, key := range []string{"bad/1", "bad/2"} {
		f := m.Open(key, Version{})
		defer f.Close()
		// Part 1's write waits for part 0's upload; it may see the failure.
		writeWithin(t, f, make([]byte, pageSize+100), 0)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if _, err := f.WriteAt(ctx, []byte("x"), pageSize+100); err != nil {
				break // failed: errors are sticky
			}
			if time.Now().After(deadline) {
				t.Fatal("the refused upload never failed the file")
			}
		}
	}
	good := m.Open("good", Version{})
	want := make([]byte, 200)
	writeOrDeadlock(t, good, want, 100, 100)
	if err := good.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Object("good"); !bytes.Equal(got, want) {
		t.Fatal("object differs")
	}
}

// Relocate moves an open file to a hidden key (unlink while open): changes
// not yet committed stay, committed bytes are read from the new key, and
// commits go there; parts already uploaded are committed first.
func TestRelocate(t *testing.T) {
	ctx := context.Background()
	for name, mk := range caches(t) {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			store := newFake()
			m := newTestManager(t, store, mk(), nil)
			moveTo := func(from, to string) func(Version) (Version, error) {
				return func(base Version) (Version, error) {
					ver := base
					if base.Exists {
						out, err := store.CopyObject(ctx, &obsclient.CopyObjectInput{Bucket: testBucket, Key: to,
							SourceBucket: testBucket, SourceKey: from, SourceIfMatch: base.ETag})
						if err != nil {
							return Version{}, err
						}
						ver.ETag = out.ETag
					}
					_, err := store.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: testBucket, Key: from})
					return ver, err
				}
			}
			readAll := func(f *File) []byte {
				t.Helper()
				buf := make([]byte, f.Size())
				if n, err := f.ReadAt(ctx, buf, 0); (err != nil && err != io.EOF) || n != len(buf) {
					t.Fatalf("read: %d of %d bytes, %v", n, len(buf), err)
				}
				return buf
			}

			// A committed object of several parts, with a change in memory.
			data := randBytes(r, 3*int(pageSize)+12345)
			f := m.Open("a", Version{})
			writeAll(t, f, data, 256<<10)
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(ctx, []byte("changed"), 100); err != nil {
				t.Fatal(err)
			}
			copy(data[100:], "changed")
			failing := func(Version) (Version, error) { return Version{}, errors.New("copy failed") }
			if err := f.Relocate(context.Background(), "hidden/a", failing); err == nil || f.Key() != "a" {
				t.Fatalf("a failed move: %v, key %q; want the error and nothing changed", err, f.Key())
			}
			if err := f.Relocate(context.Background(), "hidden/a", moveTo("a", "hidden/a")); err != nil {
				t.Fatal(err)
			}
			if _, ok := store.Object("a"); ok {
				t.Fatal("the old key still exists")
			}
			if got := readAll(f); !bytes.Equal(got, data) { // page 2 comes from hidden/a
				t.Fatalf("after relocating: content differs")
			}
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _ := store.Object("hidden/a"); !bytes.Equal(got, data) {
				t.Fatalf("the commit after relocating did not write the new key")
			}
			if _, ok := store.Object("a"); ok {
				t.Fatal("a commit after relocating wrote the old key")
			}
			f.Discard()

			// A new file with parts uploaded already: committed first.
			data = randBytes(r, 2*int(pageSize)+500)
			f = m.Open("b", Version{})
			writeAll(t, f, data, 256<<10)
			if err := f.Relocate(context.Background(), "hidden/b", moveTo("b", "hidden/b")); err != nil {
				t.Fatal(err)
			}
			if ver := f.Version(); !ver.Exists || ver.Size != int64(len(data)) {
				t.Fatalf("version after relocating %+v", ver)
			}
			if _, err := f.WriteAt(ctx, []byte("tail"), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			if got := readAll(f); !bytes.Equal(got, append(data, "tail"...)) {
				t.Fatal("content differs after relocating a file with uploaded parts")
			}
			f.Discard()
			if keys := store.Keys(); !slices.Equal(keys, []string{"hidden/a", "hidden/b"}) {
				t.Errorf("keys %q", keys)
			}
			if n := store.Uploads(); n != 0 {
				t.Errorf("%d uploads left", n)
			}

			// A new file never committed: nothing to move, commits go to the new key.
			f = m.Open("c", Version{})
			if _, err := f.WriteAt(ctx, []byte("new"), 0); err != nil {
				t.Fatal(err)
			}
			if err := f.Relocate(context.Background(), "hidden/c", moveTo("c", "hidden/c")); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if got, ok := store.Object("hidden/c"); !ok || string(got) != "new" {
				t.Errorf("hidden/c = %q, %v", got, ok)
			}
			if _, ok := store.Object("c"); ok {
				t.Error("c was written")
			}
		})
	}
}
