package writeback

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPartsCheckCatchesBrokenTransitions makes transitions the way a bug
// would, and requires the invariant check (parts.go) to catch each at
// once — the check bites — then repairs the state so the file closes.
func TestPartsCheckCatchesBrokenTransitions(t *testing.T) {
	ctx := context.Background()
	// open returns a file with part 0 uploaded (full) and part 1 filling
	// (half written), nothing in flight.
	open := func(t *testing.T) *File {
		m := newTestManager(t, newFake(), hostileCache{}, nil)
		f := m.Open("check/obj", Version{})
		if _, err := f.WriteAt(ctx, make([]byte, pageSize+pageSize/2), 0); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			f.mu.Lock()
			st := f.parts.state(0)
			f.mu.Unlock()
			if st == partUploaded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("part 1 still %s", st)
			}
			time.Sleep(time.Millisecond)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.parts.state(1) != partFilling || f.checkLocked() != nil {
			t.Fatalf("setup: part 2 %s, check %v", f.parts.state(1), f.checkLocked())
		}
		return f
	}
	// Each case returns the broken transition and what undoes it.
	cases := []struct {
		name, want string
		make       func(f *File) (broken, repair func())
	}{
		{"truncate that keeps an uploaded part past the end", "past the file's", func(f *File) (func(), func()) {
			old := f.size
			return func() { f.size = pageSize / 2 }, // forgets to drop part 1 and cut part 2
				func() { f.size = old }
		}},
		{"write that does not charge the memory it takes", "charged", func(f *File) (func(), func()) {
			var b *partBuf
			return func() { // a new buffer for part 3, written without charge
					f.size = 2*pageSize + 10
					var spare int64
					b = f.fillLocked(2, 0, &spare)
					b.writeAt(make([]byte, 10), 0)
					b.valid = b.valid.add(0, 10)
				}, func() {
					delete(f.parts.m, 2)
					b.free()
					f.size = pageSize + pageSize/2
				}
		}},
		{"drop that forgets the budget", "budget", func(f *File) (func(), func()) {
			b := f.parts.filling(1)
			return func() { delete(f.parts.m, 1) },
				func() { f.parts.m[1] = &part{state: partFilling, buf: b} }
		}},
		{"seal of a part not fully written", "not full", func(f *File) (func(), func()) {
			pt := f.parts.get(1)
			return func() { pt.buf.sealed, pt.state = true, partUploading; f.parts.uploading++ },
				func() { pt.buf.sealed, pt.state = false, partFilling; f.parts.uploading-- }
		}},
		{"write into a sealed buffer", "after it was sealed", func(f *File) (func(), func()) {
			b := f.parts.filling(1)
			return func() { b.sealed = true; b.writeAt([]byte{1}, 0) },
				func() { b.sealed = false }
		}},
		{"uploaded part of the wrong size", "the layout says", func(f *File) (func(), func()) {
			pt := f.parts.get(0)
			return func() { pt.done.size-- }, func() { pt.done.size++ }
		}},
		{"part staged where it fits in memory", "small enough", func(f *File) (func(), func()) {
			sp := &stagedPart{f: f.m.Open("check/tmp", Version{})}
			return func() { f.parts.m[2] = &part{state: partStaged, sp: sp}; f.size = 3 * pageSize },
				func() {
					delete(f.parts.m, 2)
					f.size = pageSize + pageSize/2
					go sp.f.Discard() // takes its own lock: not under f.mu
				}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := open(t)
			f.mu.Lock()
			broken, repair := c.make(f)
			caught := func() (r any) {
				defer func() { r = recover() }()
				broken()
				f.afterLocked("a broken transition")
				return nil
			}()
			repair()
			err := f.checkLocked()
			f.mu.Unlock()
			if caught == nil {
				t.Errorf("the check let it pass")
			} else if msg := fmt.Sprint(caught); !strings.Contains(msg, c.want) {
				t.Errorf("the check caught %q, want a message with %q", msg, c.want)
			}
			if err != nil {
				t.Fatalf("the repair left: %v", err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
