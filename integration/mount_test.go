package integration

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obsfs/obsfs/integration/faultproxy"
	"github.com/obsfs/obsfs/integration/miniotest"
	"github.com/obsfs/obsfs/integration/mounttest"
	"github.com/obsfs/obsfs/obsclient"
)

const partSize = 8 << 20 // obsfs's default --part-size

// stream is a deterministic pseudo-random byte stream, cheap to generate
// and to regenerate for checking.
func stream(seed uint64) io.Reader {
	var s [32]byte
	for i := range 4 {
		for j := range 8 {
			s[i*8+j] = byte((seed + uint64(i)*0x9e3779b97f4a7c15) >> (8 * j))
		}
	}
	return rand.NewChaCha8(s)
}

// writeLocal writes n bytes of stream(seed) to a new local file.
func writeLocal(t testing.TB, path string, seed uint64, n int64) {
	t.Helper()
	writeStream(t, path, seed, n)
}

// writeStream writes n bytes of stream(seed) to a new file in 1 MiB
// writes, and closes it (through a mount: waits for the commit).
func writeStream(t testing.TB, path string, seed uint64, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyBuffer(f, io.LimitReader(stream(seed), n), make([]byte, 1<<20)); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func md5Of(t testing.TB, r io.Reader) [16]byte {
	t.Helper()
	h := md5.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	var sum [16]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// objectMD5 hashes an object out of band, streaming.
func objectMD5(t testing.TB, m *mounttest.Mount, rel string) ([16]byte, int64) {
	t.Helper()
	out, err := m.Client.GetObject(t.Context(), &obsclient.GetObjectInput{Bucket: m.Bucket, Key: m.Key(rel)})
	if err != nil {
		t.Fatalf("reading %s out of band: %v", rel, err)
	}
	defer out.Body.Close()
	return md5Of(t, out.Body), out.ContentLength
}

func run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func sh(t testing.TB, dir, script string) string {
	t.Helper()
	return run(t, dir, "sh", "-c", script)
}

// TestCopySizes copies files around the part size and large ones with
// cp(1) and checks every byte out of band, the multipart ETag, and that
// no upload is left over.
func TestCopySizes(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{})
	src := t.TempDir()
	sizes := []int64{0, 1, partSize - 1, partSize, partSize + 1, 100 << 20, 1 << 30}
	if testing.Short() {
		sizes = sizes[:5]
	}
	for i, size := range sizes {
		name := fmt.Sprintf("size-%d", size)
		t.Run(name, func(t *testing.T) {
			local := filepath.Join(src, name)
			writeLocal(t, local, uint64(i), size)
			run(t, src, "cp", local, m.Path(name))
			f, err := os.Open(local)
			if err != nil {
				t.Fatal(err)
			}
			want := md5Of(t, f)
			f.Close()
			got, n := objectMD5(t, m, name)
			if got != want || n != size {
				t.Fatalf("object has %d bytes, md5 %x; want %d bytes, md5 %x", n, got, size, want)
			}
			etag := strings.Trim(m.Head(t, name).ETag, `"`)
			parts := (size + partSize - 1) / partSize
			if parts >= 2 || size == partSize {
				if !strings.HasSuffix(etag, fmt.Sprintf("-%d", parts)) {
					t.Errorf("ETag %s: want a multipart upload of %d parts", etag, parts)
				}
			} else if strings.Contains(etag, "-") {
				t.Errorf("ETag %s: want a single PutObject below one part", etag)
			}
			// Read back through the mount too.
			rf, err := os.Open(m.Path(name))
			if err != nil {
				t.Fatal(err)
			}
			defer rf.Close()
			if got := md5Of(t, rf); got != want {
				t.Fatalf("reading back through the mount: md5 %x, want %x", got, want)
			}
		})
	}
	m.RequireNoUploads(t)
}

// TestShellTools writes with the tools people use: dd, cat >, echo >>,
// tar -x, rsync (with and without --inplace), and a shell keeping a
// descriptor open across several writers.
func TestShellTools(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{Race: true})
	local := t.TempDir()
	writeLocal(t, filepath.Join(local, "src"), 7, 20<<20+12345)
	srcData, _ := os.ReadFile(filepath.Join(local, "src"))

	t.Run("dd", func(t *testing.T) {
		for _, bs := range []string{"4k", "1M"} {
			name := "dd-" + bs
			run(t, local, "dd", "if=src", "of="+m.Path(name), "bs="+bs, "status=none")
			if got := m.Object(t, name); !bytes.Equal(got, srcData) {
				t.Fatalf("dd bs=%s: object differs (%d bytes, want %d)", bs, len(got), len(srcData))
			}
		}
	})
	t.Run("cat", func(t *testing.T) {
		sh(t, local, "cat src > "+shellQuote(m.Path("cat-out")))
		if got := m.Object(t, "cat-out"); !bytes.Equal(got, srcData) {
			t.Fatalf("cat >: object differs")
		}
	})
	t.Run("echo-append", func(t *testing.T) {
		p := shellQuote(m.Path("appended"))
		sh(t, local, "echo one >> "+p+" && echo two >> "+p+" && printf three >> "+p)
		if got := string(m.Object(t, "appended")); got != "one\ntwo\nthree" {
			t.Fatalf("echo >>: object is %q", got)
		}
	})
	t.Run("shared-descriptor", func(t *testing.T) {
		// Several processes write through one open file description; each
		// of their exits flushes it.
		p := shellQuote(m.Path("shared"))
		sh(t, local, "exec 3>"+p+"; echo a >&3; (echo b >&3); sh -c 'echo c >&3'; exec 3>&-")
		if got := string(m.Object(t, "shared")); got != "a\nb\nc\n" {
			t.Fatalf("object is %q", got)
		}
	})
	tree := makeTree(t, filepath.Join(local, "tree"))
	t.Run("tar", func(t *testing.T) {
		run(t, local, "tar", "-cf", "tree.tar", "-C", tree, ".")
		dst := m.Path("untarred")
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, local, "tar", "-xf", "tree.tar", "-C", dst)
		run(t, local, "diff", "-r", tree, dst)
		checkTreeOutOfBand(t, m, tree, "untarred")
	})
	t.Run("rsync", func(t *testing.T) {
		requireTool(t, "rsync")
		run(t, local, "rsync", "-a", tree+"/", m.Path("rsynced")+"/")
		run(t, local, "diff", "-r", tree, m.Path("rsynced"))
		checkTreeOutOfBand(t, m, tree, "rsynced")
		run(t, local, "rsync", "-a", "--inplace", tree+"/", m.Path("inplace")+"/")
		checkTreeOutOfBand(t, m, tree, "inplace")
		// Change a file and sync in place again: the object follows.
		if err := os.WriteFile(filepath.Join(tree, "a", "small.txt"), []byte("changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, local, "rsync", "-a", "--inplace", tree+"/", m.Path("inplace")+"/")
		checkTreeOutOfBand(t, m, tree, "inplace")
	})
	m.RequireNoUploads(t)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		miniotest.RequireCI(t, "%s is not installed (make deps installs it)", name)
	}
}

// makeTree builds a small directory tree with files of assorted sizes and
// names.
func makeTree(t testing.TB, root string) string {
	t.Helper()
	files := map[string]int64{
		"a/small.txt":            100,
		"a/b/empty":              0,
		"a/b/c/deep.bin":         3 << 20,
		"big.bin":                partSize*2 + 17,
		"name with spaces.txt":   10,
		"unicodé/файл-文件.txt":    20,
		"a/b/part-size-exact":    partSize,
		"dots.in.name.tar.gz":    1000,
		"a/b/c/d/e/f/g/nested":   1,
		"-leading-dash":          5,
		"x/y/z/under-prefix.dat": 70000,
	}
	i := uint64(100)
	for rel, size := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeLocal(t, p, i, size)
		i++
	}
	if err := os.MkdirAll(filepath.Join(root, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// checkTreeOutOfBand compares every regular file of the local tree with
// the object under prefix.
func checkTreeOutOfBand(t testing.TB, m *mounttest.Mount, tree, prefix string) {
	t.Helper()
	err := filepath.Walk(tree, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		want, _ := os.ReadFile(p)
		if got := m.Object(t, prefix+"/"+filepath.ToSlash(rel)); !bytes.Equal(got, want) {
			t.Errorf("%s/%s: object differs from the local file (%d bytes, want %d)", prefix, rel, len(got), len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestParallelWritersBoundedMemory writes 8 files of 256 MiB at once and
// checks obsfs's peak RSS stays under --write-buffer + --cache-size +
// 64 MiB, and every byte out of band.
func TestParallelWritersBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: writes 2 GiB")
	}
	srv := miniotest.Shared(t, miniotest.Options{})
	const writeBuffer, cacheSize = 512 << 20, 256 << 20
	m := mounttest.Start(t, srv, mounttest.Options{})
	const writers, size = 8, 256 << 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Create(m.Path(fmt.Sprintf("parallel-%d", w)))
			if err != nil {
				errs <- err
				return
			}
			if _, err := io.CopyBuffer(f, io.LimitReader(stream(uint64(1000+w)), size), make([]byte, 1<<20)); err != nil {
				errs <- err
				f.Close()
				return
			}
			errs <- f.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rss := m.PeakRSS(t)
	limit := int64(writeBuffer + cacheSize + 64<<20)
	t.Logf("obsfs peak RSS %d MiB (limit %d MiB)", rss>>20, limit>>20)
	if rss > limit {
		t.Errorf("obsfs peak RSS %d MiB exceeds write-buffer + cache-size + 64 MiB = %d MiB", rss>>20, limit>>20)
	}
	for w := range writers {
		want := md5Of(t, io.LimitReader(stream(uint64(1000+w)), size))
		if got, n := objectMD5(t, m, fmt.Sprintf("parallel-%d", w)); got != want || n != size {
			t.Errorf("parallel-%d: %d bytes md5 %x, want %d bytes md5 %x", w, n, got, size, want)
		}
	}
	m.RequireNoUploads(t)
}

// TestUploadFailureReachesClose makes every UploadPart (and PutObject)
// fail behind a fault proxy: close(2) must return EIO, no object may
// appear, and no multipart upload may be left.
func TestUploadFailureReachesClose(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	proxy, err := faultproxy.New(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	m := mounttest.Start(t, srv, mounttest.Options{Endpoint: proxy.URL(), Args: []string{"--retries", "2"}})
	proxy.AddRule(faultproxy.Rule{Method: "PUT", Query: "partNumber", Action: faultproxy.ActionStatus, Status: 503, Code: "SlowDown"})
	proxy.AddRule(faultproxy.Rule{Method: "PUT", PathContains: "small", Action: faultproxy.ActionStatus, Status: 500, Code: "InternalError"})

	for _, c := range []struct {
		name string
		size int64
	}{{"big", 3*partSize + 100}, {"small", 1000}} {
		t.Run(c.name, func(t *testing.T) {
			f, err := os.Create(m.Path(c.name))
			if err != nil {
				t.Fatal(err)
			}
			_, werr := io.Copy(f, io.LimitReader(stream(9), c.size))
			cerr := f.Close()
			if !errors.Is(cerr, syscall.EIO) && !errors.Is(werr, syscall.EIO) {
				t.Fatalf("write err %v, close err %v; want EIO", werr, cerr)
			}
			if !errors.Is(cerr, syscall.EIO) {
				t.Errorf("close returned %v after a failed write; want EIO on close too", cerr)
			}
			if h := m.Head(t, c.name); h != nil {
				t.Fatalf("object %s appeared (%d bytes) although the upload failed", c.name, h.Size)
			}
			m.RequireNoUploads(t)
			if !strings.Contains(m.Log(), "req_id=faultproxy-") {
				t.Errorf("the log does not name the failed request's ID")
			}
		})
	}
	proxy.ClearRules()
}

// TestStagedPartsRealMount streams a file whose later parts are larger
// than the write buffer allows in memory (small settings make the tiers
// grow fast): staged parts are assembled as temporary objects and copied
// in; the result is exact, nothing is left behind, memory stays bounded.
func TestStagedPartsRealMount(t *testing.T) {
	srv := miniotest.Shared(t, miniotest.Options{})
	m := mounttest.Start(t, srv, mounttest.Options{Args: []string{
		"--part-size", "5MiB", "--write-buffer", "20MiB", "--cache-size", "16MiB", "--parts-per-tier", "2"}})
	const size = 150<<20 + 12345 // parts 5,5,10,10,20,20,40,40 MiB and 12345 bytes: all but the first two are staged
	writeStream(t, m.Path("staged"), 61, size)
	want := md5Of(t, io.LimitReader(stream(61), size))
	if got, n := objectMD5(t, m, "staged"); got != want || n != size {
		t.Fatalf("object: %d bytes md5 %x, want %d bytes md5 %x", n, got, size, want)
	}
	if !strings.HasSuffix(strings.Trim(m.Head(t, "staged").ETag, `"`), "-9") {
		t.Errorf("ETag %s: want 9 parts", m.Head(t, "staged").ETag)
	}
	m.RequireNoUploads(t)
	if ents, err := os.ReadDir(m.Dir); err != nil || len(ents) != 1 {
		t.Errorf("root lists %v (%v); the staging area must stay hidden", ents, err)
	}
	rss := m.PeakRSS(t)
	t.Logf("peak RSS %d MiB", rss>>20)
	if rss > (20+16+256+64)<<20 { // write buffer + cache + read-ahead default + 64 MiB
		t.Errorf("peak RSS %d MiB", rss>>20)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := m.Client.ListObjects(t.Context(), &obsclient.ListObjectsInput{Bucket: m.Bucket, Prefix: ".obsfs-staging/"})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d temporary objects left under .obsfs-staging/", len(out.Contents))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
