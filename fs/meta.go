package fs

import (
	"strconv"
	"strings"
	"syscall"
	"time"
)

// User-metadata names, compatible with s3fs-fuse and Huawei's obsfs: stored
// as x-amz-meta-<name> or x-obs-meta-<name> by the client's dialect.
const (
	metaMode  = "mode"  // decimal st_mode, file type bits included
	metaUID   = "uid"   // decimal
	metaGID   = "gid"   // decimal
	metaMtime = "mtime" // decimal Unix seconds, optionally ".nnnnnnnnn"
)

// attr is what obsfs knows of an object's POSIX attributes.
type attr struct {
	mode  uint32 // full st_mode: type bits | permission bits
	uid   uint32
	gid   uint32
	mtime time.Time
	xattr map[string][]byte // user.* extended attributes
}

// parseMeta overlays the attributes stored in user metadata (if any, and
// well-formed) on def. Malformed values are ignored, not fatal: the object
// was written by some other tool.
func parseMeta(meta map[string]string, def attr) attr {
	a := def
	if v, ok := meta[metaMode]; ok {
		if m, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
			perm := uint32(m) & 07777
			switch uint32(m) & syscall.S_IFMT {
			case syscall.S_IFLNK:
				a.mode = syscall.S_IFLNK | perm
			case syscall.S_IFDIR:
				if def.mode&syscall.S_IFMT == syscall.S_IFDIR {
					a.mode = syscall.S_IFDIR | perm
				}
			default: // regular, or no type bits (some tools store permissions only)
				if def.mode&syscall.S_IFMT != syscall.S_IFDIR {
					a.mode = syscall.S_IFREG | perm
				}
			}
		}
	}
	if v, ok := meta[metaUID]; ok {
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
			a.uid = uint32(n)
		}
	}
	if v, ok := meta[metaGID]; ok {
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
			a.gid = uint32(n)
		}
	}
	if v, ok := meta[metaMtime]; ok {
		if t, ok := parseMtime(v); ok {
			a.mtime = t
		}
	}
	a.xattr = parseXattrs(meta[metaXattr])
	return a
}

// parseMtime reads "1700000000" or "1700000000.123456789".
func parseMtime(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	secStr, fracStr, hasFrac := strings.Cut(v, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var nsec int64
	if hasFrac {
		if fracStr == "" || len(fracStr) > 9 {
			return time.Time{}, false
		}
		f, err := strconv.ParseUint(fracStr, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		nsec = int64(f)
		for i := len(fracStr); i < 9; i++ {
			nsec *= 10
		}
	}
	return time.Unix(sec, nsec), true
}

// formatMtime writes whole seconds as s3fs does, with nanoseconds when there
// are any (s3fs reads the integer part).
func formatMtime(t time.Time) string {
	if t.Nanosecond() == 0 {
		return strconv.FormatInt(t.Unix(), 10)
	}
	return strconv.FormatInt(t.Unix(), 10) + "." + leftPad9(t.Nanosecond())
}

func leftPad9(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", 9-len(s)) + s
}

// encodeMeta is the metadata obsfs writes with every object it stores.
func encodeMeta(a attr) map[string]string {
	m := map[string]string{
		metaMode:  strconv.FormatUint(uint64(a.mode), 10),
		metaUID:   strconv.FormatUint(uint64(a.uid), 10),
		metaGID:   strconv.FormatUint(uint64(a.gid), 10),
		metaMtime: formatMtime(a.mtime),
	}
	if x := encodeXattrs(a.xattr); x != "" {
		m[metaXattr] = x
	}
	return m
}
