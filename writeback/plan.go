package writeback

// planParts turns the per-part jobs of a multipart commit (one per part
// of the layout, in order) into the parts the commit sends, so that an
// edit costs requests in proportion to what changed, not to the object's
// size:
//
//   - Consecutive unchanged ranges of the committed version (jobCopy)
//     become one UploadPartCopy of up to 5 GiB, and consecutive holes
//     (jobZeros) one copy from the zero object (zeros.go). A 1-byte edit
//     in the middle of a 1 GiB object is then: copy before, the edited
//     part, copy after. A commit that only copies (a rename, a metadata
//     rewrite) keeps copies in parallel instead: its ranges are cut into
//     about Config.Concurrency pieces.
//   - A written part next to a hole gives the hole its leading or trailing
//     pages that hold only zeros, as long as it keeps the minimum part
//     size (the base part size) or is the last part: a byte written at
//     4 TiB sends a page, not the multi-GiB part of zeros around it.
//
// A merged part keeps the part number of its first layout part: part
// numbers need only ascend, and those of the parts it swallowed stay
// unused. Parts already uploaded (jobKeep) and staged parts keep their
// layout range. The result covers [0, size) in order.
func (f *File) planParts(jobs []*partJob, size, baseLimit int64) []*partJob {
	maxCopy := f.lay.maxPart
	copyPiece := maxCopy
	pureCopy := len(jobs) > 0
	for _, j := range jobs {
		if j.kind != jobCopy {
			pureCopy = false
			break
		}
	}
	if pureCopy {
		per := (size + int64(f.m.cfg.Concurrency) - 1) / int64(f.m.cfg.Concurrency)
		copyPiece = min(maxCopy, max(f.lay.base, per))
	}
	out := make([]*partJob, 0, len(jobs))
	for _, j := range jobs {
		if n := len(out); n > 0 && (j.kind == jobCopy || j.kind == jobZeros) {
			p := out[n-1]
			limit := maxCopy
			if j.kind == jobCopy {
				limit = copyPiece
			}
			if p.kind == j.kind && p.end == j.start && j.end-p.start <= limit {
				p.end = j.end
				continue
			}
		}
		out = append(out, j)
	}
	for i, j := range out {
		if j.kind != jobUpload && j.kind != jobFill {
			continue
		}
		lo, hi, ok := f.dataExtent(j, baseLimit)
		if !ok {
			continue
		}
		last := i == len(out)-1
		if i > 0 && out[i-1].kind == jobZeros && j.kind == jobUpload {
			prev := out[i-1]
			x := lo / pageSize * pageSize
			if x > j.start && (last || j.end-x >= f.lay.base) && x-prev.start <= maxCopy {
				prev.end, j.start = x, x
			}
		}
		if !last && out[i+1].kind == jobZeros {
			next := out[i+1]
			y := min((hi+pageSize-1)/pageSize*pageSize, j.end)
			if y < j.end && y-j.start >= f.lay.base && next.end-y <= maxCopy {
				next.start, j.end = y, y
			}
		}
	}
	return out
}

// dataExtent is the range of job j's part that may hold bytes other than
// zeros: written bytes, and bytes of the committed version. ok is false
// when there are none.
func (f *File) dataExtent(j *partJob, baseLimit int64) (lo, hi int64, ok bool) {
	lo, hi = j.end, j.start
	if baseLimit > j.start {
		lo, hi = j.start, min(baseLimit, j.end)
	}
	if j.kind == jobUpload {
		if v := j.buf.valid; len(v) > 0 {
			lo = min(lo, j.buf.start+v[0].s)
			hi = max(hi, min(j.buf.start+v[len(v)-1].e, j.end))
		}
	}
	return lo, hi, lo < hi
}
