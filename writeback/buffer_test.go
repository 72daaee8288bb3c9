package writeback

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

func TestSpans(t *testing.T) {
	var r spans
	r = r.add(10, 20)
	r = r.add(30, 40)
	r = r.add(20, 25) // adjacent: merges
	if want := (spans{{10, 25}, {30, 40}}); !reflect.DeepEqual(r, want) {
		t.Fatalf("add: %v, want %v", r, want)
	}
	r = r.add(5, 35)
	if want := (spans{{5, 40}}); !reflect.DeepEqual(r, want) {
		t.Fatalf("add overlap: %v", r)
	}
	r = r.add(50, 60).add(0, 1)
	if !r.covers(5, 40) || r.covers(4, 6) || !r.covers(7, 7) || r.covers(39, 41) {
		t.Fatalf("covers wrong on %v", r)
	}
	if got, want := r.gaps(0, 70), (spans{{1, 5}, {40, 50}, {60, 70}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("gaps: %v, want %v", got, want)
	}
	if got := r.gaps(6, 30); len(got) != 0 {
		t.Fatalf("gaps inside a range: %v", got)
	}
	r = r.cut(55)
	if want := (spans{{0, 1}, {5, 40}, {50, 55}}); !reflect.DeepEqual(r, want) {
		t.Fatalf("cut: %v", r)
	}
	if r = r.cut(0); len(r) != 0 {
		t.Fatalf("cut(0): %v", r)
	}
}

func TestPartBufWriteReadTruncate(t *testing.T) {
	b := newPartBuf(0, 0, 3*pageSize, newPagePool(pageSize, true))
	data := bytes.Repeat([]byte("abcdefgh"), int(pageSize/4)) // 2 pages
	b.writeAt(data, pageSize/2)
	got := make([]byte, 3*pageSize)
	b.readAt(got, 0)
	want := make([]byte, 3*pageSize)
	copy(want[pageSize/2:], data)
	if !bytes.Equal(got, want) {
		t.Fatal("read back differs")
	}
	b.truncate(pageSize)
	b.readAt(got, 0)
	clear(want[pageSize:])
	if !bytes.Equal(got, want) {
		t.Fatal("truncate did not zero the tail")
	}
	// Small first page grows by doubling, not to a whole page at once.
	s := newPartBuf(0, 0, pageSize, nil)
	if g := s.growth(0, 10); g != 4096 {
		t.Fatalf("growth of a tiny write = %d, want 4096", g)
	}
	r := &pagesReader{pages: b.pages, n: 3 * pageSize}
	all, err := io.ReadAll(io.NewSectionReader(r, 0, r.n))
	if err != nil || !bytes.Equal(all, want) {
		t.Fatalf("pagesReader: %v", err)
	}
}

// A truncate followed by a write past the new end must leave zeros in the
// hole, not the bytes written before the truncate.
func TestPartBufTruncateThenExtendReadsZeros(t *testing.T) {
	b := newPartBuf(1, 5*pageSize, 4*pageSize, newPagePool(pageSize, true))
	b.writeAt(bytes.Repeat([]byte{0xAA}, int(2*pageSize)), 0)
	b.truncate(pageSize / 2)
	b.writeAt([]byte{1}, 2*pageSize-1)
	got := make([]byte, 2*pageSize)
	b.readAt(got, 0)
	for i := pageSize / 2; i < 2*pageSize-1; i++ {
		if got[i] != 0 {
			t.Fatalf("byte %d of the hole is %#x, want 0", i, got[i])
		}
	}
}
