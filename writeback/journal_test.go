package writeback

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsfs/obsfs/obsclient"
)

// recJournal is a Journal in memory that checks its contract: nothing is
// begun twice, and a test can ask what is pending.
type recJournal struct {
	mu       sync.Mutex
	uploads  map[string]string // pending upload ID → key
	objects  map[string]bool   // pending temporary objects
	begun    int
	failNext error
	t        *testing.T
}

func newRecJournal(t *testing.T) *recJournal {
	return &recJournal{uploads: map[string]string{}, objects: map[string]bool{}, t: t}
}

func (j *recJournal) BeginUpload(key, id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.failNext; err != nil {
		j.failNext = nil
		return err
	}
	if _, ok := j.uploads[id]; ok {
		j.t.Errorf("upload %s begun twice", id)
	}
	j.uploads[id] = key
	j.begun++
	return nil
}

func (j *recJournal) EndUpload(id string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.uploads, id)
}

func (j *recJournal) BeginObject(key string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.objects[key] {
		j.t.Errorf("object %s begun twice", key)
	}
	j.objects[key] = true
	j.begun++
	return nil
}

func (j *recJournal) EndObject(key string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.objects, key)
}

func (j *recJournal) pendingUpload(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.uploads[id]
	return ok
}

func (j *recJournal) pendingObject(key string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for k := range j.objects {
		if strings.HasPrefix(key, k) {
			return true
		}
	}
	return false
}

func (j *recJournal) pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.uploads) + len(j.objects)
}

// TestJournalNamesEverythingInTheStore streams a file with staged parts
// and checks, at every request that puts data into an upload or creates a
// temporary object, that the journal already names the upload or the
// object — what a crash at that moment would leave — and that nothing is
// pending once the file is committed and its temporary objects deleted.
func TestJournalNamesEverythingInTheStore(t *testing.T) {
	store := newFake()
	j := newRecJournal(t)
	var mu sync.Mutex
	checked := map[string]int{}
	store.Fault = func(op string, in any) error {
		var id, obj string
		switch in := in.(type) {
		case *obsclient.UploadPartInput:
			id = in.UploadID
		case *obsclient.UploadPartCopyInput:
			id = in.UploadID
		case *obsclient.CompleteMultipartUploadInput:
			id = in.UploadID
			if strings.HasPrefix(in.Key, DefaultStagingPrefix) {
				obj = in.Key
			}
		case *obsclient.PutObjectInput:
			if strings.HasPrefix(in.Key, DefaultStagingPrefix) {
				obj = in.Key
			}
		}
		if id != "" && !j.pendingUpload(id) {
			t.Errorf("%s of upload %s, which the journal does not name", op, id)
		}
		if obj != "" && !j.pendingObject(obj) {
			t.Errorf("%s creates temporary object %s, which the journal does not name", op, obj)
		}
		mu.Lock()
		checked[op]++
		mu.Unlock()
		return nil
	}
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.WriteBuffer = 4 * pageSize; c.Journal = j })
	data := randBytes(rand.New(rand.NewPCG(71, 72)), 40*int(pageSize)+777) // parts 1,1,2,2,4,4,8,8,16 pages: staged from the third
	f := m.Open("journaled/obj", Version{})
	writeAll(t, f, data, int(pageSize)/3)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Object("journaled/obj"); !bytes.Equal(got, data) {
		t.Fatal("object differs")
	}
	mu.Lock()
	parts, copies, completes := checked["UploadPart"], checked["UploadPartCopy"], checked["CompleteMultipartUpload"]
	mu.Unlock()
	if parts == 0 || copies == 0 || completes < 2 {
		t.Fatalf("the test did not exercise staged parts: %d parts, %d copies, %d completes", parts, copies, completes)
	}
	deadline := time.Now().Add(10 * time.Second)
	for j.pending() > 0 { // temporary objects are deleted in the background
		if time.Now().After(deadline) {
			t.Fatalf("journal still names %d uploads and temporary objects after the commit", j.pending())
		}
		time.Sleep(10 * time.Millisecond)
	}
	j.mu.Lock()
	begun := j.begun
	j.mu.Unlock()
	if begun < 2 {
		t.Errorf("only %d journal records begun", begun)
	}
}

// TestJournalFailureFailsTheUpload: an upload the journal cannot record
// is aborted before any part is sent, and the file's close reports it.
func TestJournalFailureFailsTheUpload(t *testing.T) {
	store := newFake()
	j := newRecJournal(t)
	j.failNext = errors.New("disk full")
	m := newTestManager(t, store, hostileCache{}, func(c *Config) { c.Journal = j })
	f := m.Open("nojournal/obj", Version{})
	// The failure is sticky: a write after it, or else the close, reports it.
	data := make([]byte, 3*m.cfg.PartSize)
	for off := 0; off < len(data); off += int(pageSize) {
		if _, err := f.WriteAt(context.Background(), data[off:off+int(pageSize)], int64(off)); err != nil {
			if !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("write at %d: %v; want the journal's error", off, err)
			}
			break
		}
	}
	err := f.Close()
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("close: %v; want the journal's error", err)
	}
	if n := store.Calls("UploadPart"); n != 0 {
		t.Errorf("%d parts sent for an upload the journal did not record", n)
	}
	if store.Uploads() != 0 {
		t.Errorf("%d uploads left", store.Uploads())
	}
	if _, ok := store.Object("nojournal/obj"); ok {
		t.Error("object created")
	}
}
