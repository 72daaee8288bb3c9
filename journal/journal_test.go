package journal

import (
	"context"
	"errors"
	"fmt"

	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/obsclient/obsfake"
	"github.com/sirupsen/logrus"
)

var testID = Identity{Endpoint: "http://127.0.0.1:9000", Bucket: "bkt", Prefix: "data/"}

// open opens and settles a journal, failing the test on error.
func open(t *testing.T, dir string, id Identity) *Journal {
	t.Helper()
	j, err := Open(dir, id, Options{Info: "mountpoint /mnt/test"})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// crash drops j the way kill -9 does: files closed, nothing removed.
func crash(j *Journal) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	if j.f != nil {
		j.f.Close()
	}
	j.release()
}

func keys(es []Entry) []string {
	var out []string
	for _, e := range es {
		if e.Upload {
			out = append(out, "upload "+e.Key+" "+e.UploadID)
		} else {
			out = append(out, "object "+e.Key)
		}
	}
	return out
}

func TestCrashLeavesPendingEntries(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, testID)
	if len(j.Previous()) != 0 || j.Slot() != 0 {
		t.Fatalf("fresh journal: previous %v, slot %d", j.Previous(), j.Slot())
	}
	if err := j.Settle(nil); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.BeginUpload("data/a", "id-a"))
	must(j.BeginUpload("data/weird\nname \"q\"", "id-b"))
	must(j.BeginObject("data/.obsfs-staging/01/part-2"))
	must(j.BeginUpload("data/c", "id-c"))
	must(j.BeginObject("data/.obsfs-staging/02/part-3"))
	j.EndUpload("id-a")
	j.EndObject("data/.obsfs-staging/01/part-2")
	j.EndUpload("id-unknown") // ignored
	if n, _ := j.Stats(); n != 5 {
		t.Errorf("%d syncs for 5 begin records", n)
	}
	crash(j)

	j2 := open(t, dir, testID)
	want := []string{"upload data/weird\nname \"q\" id-b", "upload data/c id-c", "object data/.obsfs-staging/02/part-3"}
	if got := keys(j2.Previous()); !slices.Equal(got, want) {
		t.Fatalf("after a crash: previous %q, want %q", got, want)
	}
	if err := j2.Settle(nil); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(j2.Path()); err != nil || st.Size() != 0 {
		t.Fatalf("settled journal: %v, %v; want empty", st, err)
	}
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a clean close with nothing pending left %v", ents)
	}
}

func TestTornLastLine(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, testID)
	if err := j.Settle(nil); err != nil {
		t.Fatal(err)
	}
	if err := j.BeginUpload("data/a", "id-a"); err != nil {
		t.Fatal(err)
	}
	path := j.Path()
	crash(j)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"op":"upload","key":"data/b","upl`) // a crash mid-write
	f.Close()
	j2 := open(t, dir, testID)
	defer j2.Close()
	if got := keys(j2.Previous()); !slices.Equal(got, []string{"upload data/a id-a"}) || j2.Unreadable() != 1 {
		t.Fatalf("previous %q, %d unreadable; want data/a and 1", got, j2.Unreadable())
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, testID, Options{CompactBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Settle(nil); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		st, err := os.Stat(j.Path())
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	// Empty again: truncated.
	for i := 0; i < 3; i++ {
		if err := j.BeginUpload("data/x", fmt.Sprint("id", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		j.EndUpload(fmt.Sprint("id", i))
	}
	if s := size(); s != 0 {
		t.Fatalf("journal with nothing pending is %d bytes, want 0", s)
	}
	// Never empty: rewritten past CompactBytes.
	if err := j.BeginUpload("data/long-lived", "keep"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if err := j.BeginUpload("data/x", fmt.Sprint("id", i)); err != nil {
			t.Fatal(err)
		}
		j.EndUpload(fmt.Sprint("id", i))
		if s := size(); s > 4096+200 {
			t.Fatalf("journal grew to %d bytes with CompactBytes 4096", s)
		}
	}
	entries, _, err := readJournal(j.Path())
	if err != nil || !slices.Equal(keys(entries), []string{"upload data/long-lived keep"}) {
		t.Fatalf("after compactions the journal holds %q (%v)", keys(entries), err)
	}
}

func TestSecondMountGetsItsOwnSlot(t *testing.T) {
	dir := t.TempDir()
	a := open(t, dir, testID)
	if err := a.Settle(nil); err != nil {
		t.Fatal(err)
	}
	if err := a.BeginUpload("data/a", "id-a"); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(a.Path())
	if err != nil {
		t.Fatal(err)
	}

	b := open(t, dir, testID)
	if b.Slot() != 1 || len(b.Previous()) != 0 {
		t.Fatalf("second journal: slot %d, previous %q; want slot 1 and nothing to replay", b.Slot(), keys(b.Previous()))
	}
	if busy := b.BusySlots(); len(busy) != 1 || !strings.Contains(busy[0], fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(busy[0], "mountpoint /mnt/test") {
		t.Errorf("busy slots %q", busy)
	}
	if err := b.Settle(nil); err != nil {
		t.Fatal(err)
	}
	if err := b.BeginUpload("data/b", "id-b"); err != nil {
		t.Fatal(err)
	}
	if after, err := os.ReadFile(a.Path()); err != nil || string(after) != string(before) {
		t.Fatalf("the first journal changed under the second: %q → %q (%v)", before, after, err)
	}
	// Another identity is another journal.
	other := open(t, dir, Identity{Endpoint: testID.Endpoint, Bucket: testID.Bucket, Prefix: "other/"})
	if other.Slot() != 0 || other.Path() == a.Path() {
		t.Errorf("another prefix: slot %d, path %s", other.Slot(), other.Path())
	}
	other.Close()

	// The second mount dies; a third, opened while the first lives, takes
	// slot 1 and replays the second's upload only.
	crash(b)
	c := open(t, dir, testID)
	if got := keys(c.Previous()); c.Slot() != 1 || !slices.Equal(got, []string{"upload data/b id-b"}) {
		t.Fatalf("third: slot %d, previous %q", c.Slot(), got)
	}
	if err := c.Settle(nil); err != nil {
		t.Fatal(err)
	}
	// Now the first dies, while the third lives: a fourth takes slot 0.
	crash(a)
	d := open(t, dir, testID)
	if got := keys(d.Previous()); d.Slot() != 0 || !slices.Equal(got, []string{"upload data/a id-a"}) {
		t.Fatalf("fourth: slot %d, previous %q", d.Slot(), got)
	}
	c.Close()
	d.Close()
}

func TestDeadSlotsAreTakenOver(t *testing.T) {
	dir := t.TempDir()
	var js []*Journal
	for i := 0; i < 3; i++ {
		j := open(t, dir, testID)
		if err := j.Settle(nil); err != nil {
			t.Fatal(err)
		}
		if err := j.BeginUpload("data/f", fmt.Sprint("id-", i)); err != nil {
			t.Fatal(err)
		}
		js = append(js, j)
	}
	// Slots 0 and 2 die, slot 1 lives.
	crash(js[0])
	crash(js[2])
	j := open(t, dir, testID)
	if got := keys(j.Previous()); j.Slot() != 0 || !slices.Equal(got, []string{"upload data/f id-0", "upload data/f id-2"}) {
		t.Fatalf("slot %d, previous %q; want slot 0 with the uploads of slots 0 and 2", j.Slot(), got)
	}
	if err := j.Settle([]Entry{j.Previous()[1]}); err != nil { // id-2's abort failed: kept
		t.Fatal(err)
	}
	if _, err := os.Stat(strings.Replace(j.Path(), "-0.journal", "-2.journal", 1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead slot's journal is still there after Settle: %v", err)
	}
	if got := keys(j.Pending()); !slices.Equal(got, []string{"upload data/f id-2"}) {
		t.Errorf("pending %q; want the entry kept", got)
	}
	j.Close()
	js[1].Close()
	j = open(t, dir, testID)
	defer j.Close()
	// Slot 0 kept its entry at a clean close; slot 1 closed with its
	// upload pending too: both are replayed.
	if got := keys(j.Previous()); !slices.Equal(got, []string{"upload data/f id-2", "upload data/f id-1"}) {
		t.Errorf("after clean closes with entries pending: previous %q", got)
	}
}

func TestReplay(t *testing.T) {
	st := obsfake.New()
	ctx := context.Background()
	var entries []Entry
	for i := 0; i < 3; i++ {
		out, err := st.InitiateMultipartUpload(ctx, &obsclient.InitiateMultipartUploadInput{Bucket: "b", Key: fmt.Sprint("data/f", i)})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Upload: true, Key: fmt.Sprint("data/f", i), UploadID: out.UploadID})
	}
	for _, k := range []string{"data/.obsfs-staging/1/part-2", "data/.obsfs-staging/2/part-2"} {
		if _, err := st.PutObject(ctx, &obsclient.PutObjectInput{Bucket: "b", Key: k, Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Key: k})
	}
	entries = append(entries, Entry{Upload: true, Key: "data/gone", UploadID: "no-such-upload"}, Entry{Key: "data/.obsfs-staging/never"})
	st.Fault = func(op string, in any) error {
		if a, ok := in.(*obsclient.AbortMultipartUploadInput); ok && a.Key == "data/f1" {
			return errors.New("injected")
		}
		return nil
	}
	l := logrus.New()
	var logs strings.Builder
	l.SetOutput(&logs)
	failed := Replay(ctx, st, "b", entries, logrus.NewEntry(l))
	if got := keys(failed); len(got) != 1 || got[0] != "upload data/f1 "+entries[1].UploadID {
		t.Fatalf("failed %q; want data/f1", got)
	}
	if n := st.Uploads(); n != 1 {
		t.Errorf("%d uploads left, want the one whose abort failed", n)
	}
	for _, k := range []string{"data/.obsfs-staging/1/part-2", "data/.obsfs-staging/2/part-2"} {
		if _, ok := st.Object(k); ok {
			t.Errorf("%s not deleted", k)
		}
	}
	if n := strings.Count(logs.String(), "\n"); n != len(entries)+1 {
		t.Errorf("%d log lines for %d entries, want one each and a total:\n%s", n, len(entries), logs.String())
	}
	if !strings.Contains(logs.String(), "failed=1 objects_deleted=3 uploads_aborted=3") {
		t.Errorf("no total line:\n%s", logs.String())
	}
}

// BenchmarkBeginEndUpload measures the journal's cost per multipart
// upload: one synced begin record and one end record. OBSFS_JOURNAL_DIR
// chooses the directory (default: a temporary one).
func BenchmarkBeginEndUpload(b *testing.B) {
	dir := os.Getenv("OBSFS_JOURNAL_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		dir = filepath.Join(dir, fmt.Sprint("bench-", os.Getpid()))
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	j, err := Open(dir, testID, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	if err := j.Settle(nil); err != nil {
		b.Fatal(err)
	}
	// One upload stays pending, as while other files are being written,
	// so every end appends a record instead of truncating.
	if err := j.BeginUpload("data/other", "pending"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprint("upload-", i)
		if err := j.BeginUpload("data/some/file.bin", id); err != nil {
			b.Fatal(err)
		}
		j.EndUpload(id)
	}
	n, d := j.Stats()
	b.ReportMetric(float64(d.Microseconds())/float64(n), "µs/fdatasync")
}
