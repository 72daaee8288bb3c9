package fs

import (
	"sync"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

type opRecord struct {
	op Op
	ok bool
}

type recordingOps struct {
	mu             sync.Mutex
	ops            []opRecord
	read, written  int
	sawNonPositive bool
}

func (r *recordingOps) ObserveOp(op Op, d time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, opRecord{op, ok})
	if d < 0 {
		r.sawNonPositive = true
	}
}
func (r *recordingOps) ObserveRead(n int)  { r.read += n }
func (r *recordingOps) ObserveWrite(n int) { r.written += n }

// scriptedRaw answers lookups with ENOENT, reads with 7 bytes, writes by
// accepting everything.
type scriptedRaw struct{ fuse.RawFileSystem }

func (scriptedRaw) Lookup(<-chan struct{}, *fuse.InHeader, string, *fuse.EntryOut) fuse.Status {
	return fuse.ENOENT
}

func (scriptedRaw) Read(_ <-chan struct{}, _ *fuse.ReadIn, _ []byte) (fuse.ReadResult, fuse.Status) {
	return fuse.ReadResultData([]byte("7 bytes")), fuse.OK
}

func (scriptedRaw) Writev(_ <-chan struct{}, _ *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	n := 0
	for _, d := range data {
		n += len(d)
	}
	return uint32(n), fuse.OK
}

func TestInstrument(t *testing.T) {
	rec := &recordingOps{}
	raw := Instrument(scriptedRaw{fuse.NewDefaultRawFileSystem()}, rec)
	raw.Lookup(nil, &fuse.InHeader{}, "x", &fuse.EntryOut{})
	raw.Read(nil, &fuse.ReadIn{}, nil)
	raw.Writev(nil, &fuse.WriteIn{}, [][]byte{make([]byte, 100), make([]byte, 28)})
	raw.Fsync(nil, &fuse.FsyncIn{}) // the default: ENOSYS
	want := []opRecord{{OpLookup, false}, {OpRead, true}, {OpWrite, true}, {OpFsync, false}}
	if len(rec.ops) != len(want) {
		t.Fatalf("observed %v, want %v", rec.ops, want)
	}
	for i := range want {
		if rec.ops[i] != want[i] {
			t.Errorf("request %d: %v, want %v", i, rec.ops[i], want[i])
		}
	}
	if rec.read != 7 || rec.written != 128 || rec.sawNonPositive {
		t.Errorf("read %d, written %d bytes (want 7, 128); negative duration: %v", rec.read, rec.written, rec.sawNonPositive)
	}
	for op := Op(0); op < NumOps; op++ {
		if op.String() == "" || op.String() == "unknown" {
			t.Errorf("op %d has no name", op)
		}
	}
	if OpWrite.String() != "write" || OpReaddirplus.String() != "readdirplus" {
		t.Errorf("names: %s, %s", OpWrite, OpReaddirplus)
	}
}
