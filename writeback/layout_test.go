package writeback

import "testing"

func TestLayoutDefaultReaches5TiB(t *testing.T) {
	l, err := newLayout(DefaultPartSize, DefaultTierParts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.maxSize(), int64(5)<<40; got < want {
		t.Fatalf("max file size %d < 5 TiB", got)
	}
	if got := l.partSize(l.maxParts - 1); got > 5<<30 {
		t.Fatalf("largest part %d exceeds 5 GiB", got)
	}
}

func TestLayoutTable(t *testing.T) {
	l, _ := newLayout(8<<20, 1000)
	cases := []struct {
		i    int
		off  int64
		size int64
	}{
		{0, 0, 8 << 20},
		{1, 8 << 20, 8 << 20},
		{999, 999 * (8 << 20), 8 << 20},
		{1000, 1000 * (8 << 20), 16 << 20},
		{1001, 1000*(8<<20) + 16<<20, 16 << 20},
		{2000, 1000*(8<<20) + 1000*(16<<20), 32 << 20},
		{9999, 1000*(8<<20)*(1<<9-1) + 999*(4<<30), 4 << 30},
	}
	for _, c := range cases {
		if got := l.partOffset(c.i); got != c.off {
			t.Errorf("partOffset(%d) = %d, want %d", c.i, got, c.off)
		}
		if got := l.partSize(c.i); got != c.size {
			t.Errorf("partSize(%d) = %d, want %d", c.i, got, c.size)
		}
		if got := l.partIndex(c.off); got != c.i {
			t.Errorf("partIndex(%d) = %d, want %d", c.off, got, c.i)
		}
		if got := l.partIndex(c.off + c.size - 1); got != c.i {
			t.Errorf("partIndex(end of %d) = %d", c.i, got)
		}
	}
}

func TestLayoutConsistency(t *testing.T) {
	for _, tp := range []int{1, 2, 3, 1000} {
		l, _ := newLayout(1<<20, tp)
		for i := 0; i < l.maxParts; i += 1 + i/7 {
			off := l.partOffset(i)
			if l.partIndex(off) != i || (i > 0 && l.partIndex(off-1) != i-1) {
				t.Fatalf("tier %d: part %d at %d maps back wrongly", tp, i, off)
			}
			if l.partOffset(i+1)-off != l.partSize(i) {
				t.Fatalf("tier %d: part %d size mismatch", tp, i)
			}
		}
		if l.numParts(0) != 0 || l.numParts(1) != 1 || l.numParts(l.partSize(0)) != 1 || l.numParts(l.partSize(0)+1) != 2 {
			t.Fatalf("numParts wrong")
		}
		if l.numParts(l.maxSize()) != l.maxParts {
			t.Fatalf("numParts(maxSize) = %d", l.numParts(l.maxSize()))
		}
	}
}

func TestNewLayoutRejects(t *testing.T) {
	for _, c := range []struct {
		base int64
		tier int
	}{{0, 1}, {-1, 1}, {1<<20 + 1, 1}, {1 << 20, 0}} {
		if _, err := newLayout(c.base, c.tier); err == nil {
			t.Errorf("newLayout(%d, %d) accepted", c.base, c.tier)
		}
	}
}
