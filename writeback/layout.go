package writeback

import "fmt"

// pageSize is the unit of buffering and of the clean-block cache. Part
// sizes are multiples of it, so every part starts on a page boundary. It is
// a variable only so that unit tests can scale everything down (the logic
// does not depend on the value); it never changes while a Manager exists.
var pageSize int64 = 1 << 20

// layout maps file offsets to part numbers. Part sizes grow in tiers: the
// first tierParts parts have the base size, the next tierParts twice that,
// and so on, so a file of unknown final size can be streamed while the
// 10,000-part limit still allows a very large file. With the default 8 MiB
// base and 1,000 parts per tier the tiers are 8 MiB … 4 GiB and the largest
// file is 1000·8 MiB·(2¹⁰−1) ≈ 7.8 TiB.
type layout struct {
	base      int64 // size of the parts of tier 0
	tierParts int   // parts per tier
	maxParts  int   // 10,000
	maxPart   int64 // 5 GiB: a tier never exceeds it
}

func newLayout(base int64, tierParts int) (layout, error) {
	if base <= 0 || base%pageSize != 0 {
		return layout{}, fmt.Errorf("part size %d must be a positive multiple of %d", base, pageSize)
	}
	if tierParts <= 0 {
		return layout{}, fmt.Errorf("parts per tier %d must be positive", tierParts)
	}
	return layout{base: base, tierParts: tierParts, maxParts: 10000, maxPart: 5 << 30}, nil
}

// tierSize is the part size of tier t.
func (l layout) tierSize(t int) int64 {
	s := l.base
	for i := 0; i < t; i++ {
		if s*2 > l.maxPart {
			return s
		}
		s *= 2
	}
	return s
}

// partSize is the size of part index i (0-based).
func (l layout) partSize(i int) int64 { return l.tierSize(i / l.tierParts) }

// partOffset is the file offset where part index i starts.
func (l layout) partOffset(i int) int64 {
	var off int64
	t := 0
	for ; (t+1)*l.tierParts <= i; t++ {
		off += int64(l.tierParts) * l.tierSize(t)
	}
	return off + int64(i-t*l.tierParts)*l.tierSize(t)
}

// maxSize is the largest file the layout can hold.
func (l layout) maxSize() int64 { return l.partOffset(l.maxParts) }

// partIndex returns the index of the part containing offset off, which must
// be below maxSize.
func (l layout) partIndex(off int64) int {
	i := 0
	for t := 0; ; t++ {
		s := l.tierSize(t)
		span := int64(l.tierParts) * s
		if off < span || i+l.tierParts >= l.maxParts {
			return i + int(off/s)
		}
		off -= span
		i += l.tierParts
	}
}

// numParts is the number of parts of a file of the given size (0 for 0).
func (l layout) numParts(size int64) int {
	if size <= 0 {
		return 0
	}
	return l.partIndex(size-1) + 1
}

// partRange returns [start, end) of part i in a file of the given size.
func (l layout) partRange(i int, size int64) (start, end int64) {
	start = l.partOffset(i)
	end = min(start+l.partSize(i), size)
	return start, end
}
