package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// The mount table is read from /proc/self/mountinfo (moby/sys/mountinfo
// parses it, octal escapes included), never by stat of a mountpoint: that
// would ask the mount's server, which may be dead or hung.

// isMountPoint reports whether dir (absolute, clean) is a mountpoint.
func isMountPoint(dir string) (bool, error) {
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	return len(ms) > 0, err
}

// mountEntry is what obsfs status needs of a mount.
type mountEntry struct {
	dir, fstype string
	uid         int // FUSE's user_id, -1 if absent
}

// mountOf returns the mount that holds path (absolute, clean): the one
// with the longest mountpoint that is path or one of its parents.
func mountOf(path string) (mountEntry, error) {
	ms, err := mountinfo.GetMounts(holding(path))
	if err != nil {
		return mountEntry{}, err
	}
	return deepest(ms, path)
}

// mountIn is mountOf on the text of a mountinfo file.
func mountIn(r io.Reader, path string) (mountEntry, error) {
	ms, err := mountinfo.GetMountsFromReader(r, holding(path))
	if err != nil {
		return mountEntry{}, err
	}
	return deepest(ms, path)
}

// holding keeps the mounts whose mountpoint is path or one of its parents
// (mountinfo.ParentsFilter would also take /mnt/a for /mnt/ab).
func holding(path string) mountinfo.FilterFunc {
	return func(m *mountinfo.Info) (skip, stop bool) {
		mp := m.Mountpoint
		return !(path == mp || mp == "/" || strings.HasPrefix(path, mp+"/")), false
	}
}

// deepest picks the mount with the longest mountpoint among ms (the last
// one mounted there, as the table lists mounts in order).
func deepest(ms []*mountinfo.Info, path string) (mountEntry, error) {
	var best *mountinfo.Info
	for _, m := range ms {
		if best == nil || len(m.Mountpoint) >= len(best.Mountpoint) {
			best = m
		}
	}
	if best == nil {
		return mountEntry{}, fmt.Errorf("%s is in no mount", path)
	}
	e := mountEntry{dir: best.Mountpoint, fstype: best.FSType, uid: -1}
	for _, opt := range strings.Split(best.VFSOptions, ",") {
		if v, ok := strings.CutPrefix(opt, "user_id="); ok {
			e.uid, _ = strconv.Atoi(v)
		}
	}
	return e, nil
}
