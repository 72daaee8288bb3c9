// Package fsmodel is a random-operation model test for a mounted
// filesystem: it applies the same random sequence of
// open/write/pwrite/truncate/append/rename/unlink/close/read operations to
// a directory in the mount and to a local directory (the model) and
// compares results and contents after every step.
//
// It is used with an in-process mount over an in-memory store (package fs
// unit tests) and with the real binary over MinIO (integration). The seed
// is printed on failure; rerun with OBSFS_FSMODEL_SEED=<seed>.
package fsmodel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
)

// Options tune a run.
type Options struct {
	Files   int   // distinct file names (default 4)
	Ops     int   // operations (default 2000)
	MaxSize int64 // largest offset written (default 20 MiB)
	// Verify, if set, is called after every close with the file's name and
	// the bytes it must hold in the store (out-of-band check).
	Verify func(name string, want []byte) error
}

// Seeds returns the seeds to run: $OBSFS_FSMODEL_SEED if set, else def.
func Seeds(def ...uint64) []uint64 {
	if s := os.Getenv("OBSFS_FSMODEL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err == nil {
			return []uint64{n}
		}
	}
	return def
}

type openFile struct {
	name   string
	mount  *os.File
	local  *os.File
	append bool
}

// Run applies opts.Ops random operations under mountDir and localDir.
func Run(t testing.TB, seed uint64, mountDir, localDir string, opts Options) {
	t.Helper()
	if opts.Files == 0 {
		opts.Files = 4
	}
	if opts.Ops == 0 {
		opts.Ops = 2000
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = 20 << 20
	}
	r := rand.New(rand.NewPCG(seed, 0xfeed))
	trace := os.Getenv("OBSFS_FSMODEL_TRACE") != ""
	var open []*openFile
	fail := func(step int, format string, args ...any) {
		t.Helper()
		for _, of := range open { // leave nothing open on the mount
			of.mount.Close()
			of.local.Close()
		}
		t.Fatalf("fsmodel seed %d (rerun with OBSFS_FSMODEL_SEED=%d) step %d: %s", seed, seed, step, fmt.Sprintf(format, args...))
	}
	names := make([]string, opts.Files)
	for i := range names {
		names[i] = fmt.Sprintf("f%d", i)
	}
	logf := func(step int, format string, args ...any) {
		if trace {
			t.Logf("step %d: %s", step, fmt.Sprintf(format, args...))
		}
	}
	closeOne := func(step int, i int) {
		of := open[i]
		open = append(open[:i], open[i+1:]...)
		logf(step, "close %s", of.name)
		errM := of.mount.Close()
		errL := of.local.Close()
		if (errM == nil) != (errL == nil) {
			fail(step, "close %s: mount %v, local %v", of.name, errM, errL)
		}
		if opts.Verify != nil && errM == nil && !isOpen(open, of.name) {
			if want, err := os.ReadFile(filepath.Join(localDir, of.name)); err == nil {
				if err := opts.Verify(of.name, want); err != nil {
					fail(step, "after close of %s: %v", of.name, err)
				}
			}
		}
	}
	buf := make([]byte, 0, 4<<20)
	for step := 0; step < opts.Ops; step++ {
		name := names[r.IntN(len(names))]
		pm, pl := filepath.Join(mountDir, name), filepath.Join(localDir, name)
		switch op := r.IntN(100); {
		case op < 15: // open
			if len(open) >= 6 {
				continue
			}
			flags := []int{os.O_RDWR | os.O_CREATE, os.O_RDWR, os.O_WRONLY | os.O_CREATE | os.O_TRUNC,
				os.O_RDONLY, os.O_WRONLY | os.O_APPEND | os.O_CREATE}[r.IntN(5)]
			fm, errM := os.OpenFile(pm, flags, 0o644)
			fl, errL := os.OpenFile(pl, flags, 0o644)
			if !sameErr(errM, errL) {
				fail(step, "open %s flags %#x: mount %v, local %v", name, flags, errM, errL)
			}
			logf(step, "open %s flags %#x: %v", name, flags, errM)
			if errM == nil {
				open = append(open, &openFile{name: name, mount: fm, local: fl, append: flags&os.O_APPEND != 0})
			}
		case op < 45: // write / pwrite
			if len(open) == 0 {
				continue
			}
			of := open[r.IntN(len(open))]
			n := 1 + r.IntN(256<<10)
			if r.IntN(8) == 0 {
				n = 1 + r.IntN(3<<20)
			}
			data := buf[:n]
			fillRandom(r, data)
			var off int64
			switch r.IntN(3) {
			case 0: // at the end
				st, _ := of.local.Stat()
				off = st.Size()
			default:
				off = r.Int64N(opts.MaxSize)
			}
			if off+int64(n) > opts.MaxSize {
				off = max(0, opts.MaxSize-int64(n))
			}
			logf(step, "write %s %d bytes at %d (append %v)", of.name, n, off, of.append)
			var errM, errL error
			if of.append {
				_, errM = of.mount.Write(data)
				_, errL = of.local.Write(data)
			} else {
				_, errM = of.mount.WriteAt(data, off)
				_, errL = of.local.WriteAt(data, off)
			}
			if !sameErr(errM, errL) {
				fail(step, "write %d bytes to %s at %d: mount %v, local %v", n, of.name, off, errM, errL)
			}
		case op < 55: // truncate (through a descriptor or the path)
			size := r.Int64N(opts.MaxSize)
			if r.IntN(2) == 0 {
				size = r.Int64N(2 << 20)
			}
			var errM, errL error
			if len(open) > 0 && r.IntN(2) == 0 {
				of := open[r.IntN(len(open))]
				errM, errL = of.mount.Truncate(size), of.local.Truncate(size)
				name = of.name
			} else {
				errM, errL = os.Truncate(pm, size), os.Truncate(pl, size)
			}
			logf(step, "truncate %s to %d", name, size)
			if !sameErr(errM, errL) {
				fail(step, "truncate %s to %d: mount %v, local %v", name, size, errM, errL)
			}
		case op < 70: // read and compare
			if len(open) == 0 {
				continue
			}
			of := open[r.IntN(len(open))]
			st, err := of.local.Stat()
			if err != nil {
				fail(step, "stat local: %v", err)
			}
			off := r.Int64N(st.Size() + 2)
			n := 1 + r.IntN(1<<20)
			bm, bl := make([]byte, n), make([]byte, n)
			km, errM := of.mount.ReadAt(bm, off)
			kl, errL := of.local.ReadAt(bl, off)
			if km != kl || !bytes.Equal(bm[:km], bl[:kl]) || !sameErr(errM, errL) {
				fail(step, "read %d at %d of %s: mount %d bytes (%v), local %d bytes (%v), equal %v",
					n, off, of.name, km, errM, kl, errL, bytes.Equal(bm[:km], bl[:kl]))
			}
		case op < 82: // close
			if len(open) == 0 {
				continue
			}
			closeOne(step, r.IntN(len(open)))
		case op < 90: // rename
			to := names[r.IntN(len(names))]
			if to == name || isOpen(open, to) {
				continue
			}
			logf(step, "rename %s to %s", name, to)
			errM := os.Rename(pm, filepath.Join(mountDir, to))
			errL := os.Rename(pl, filepath.Join(localDir, to))
			if !sameErr(errM, errL) {
				fail(step, "rename %s to %s: mount %v, local %v", name, to, errM, errL)
			}
			for _, of := range open {
				if of.name == name && errM == nil {
					of.name = to
				}
			}
		case op < 95: // unlink (only files not open: see the package doc of fs)
			if isOpen(open, name) {
				continue
			}
			logf(step, "unlink %s", name)
			errM, errL := os.Remove(pm), os.Remove(pl)
			if !sameErr(errM, errL) {
				fail(step, "unlink %s: mount %v, local %v", name, errM, errL)
			}
		default: // compare whole files and the listing
			compareDirs(t, step, seed, mountDir, localDir, fail)
		}
	}
	for len(open) > 0 {
		closeOne(opts.Ops, 0)
	}
	compareDirs(t, opts.Ops, seed, mountDir, localDir, fail)
}

func isOpen(open []*openFile, name string) bool {
	for _, of := range open {
		if of.name == name {
			return true
		}
	}
	return false
}

func fillRandom(r *rand.Rand, p []byte) {
	for i := 0; i < len(p); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(p); j++ {
			p[i+j] = byte(v >> (8 * j))
		}
	}
}

// sameErr reports whether two errors agree: both nil, or the same errno.
func sameErr(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	var ea, eb syscall.Errno
	if errors.As(a, &ea) && errors.As(b, &eb) {
		return ea == eb
	}
	return errors.Is(a, io.EOF) == errors.Is(b, io.EOF)
}

func compareDirs(t testing.TB, step int, seed uint64, mountDir, localDir string, fail func(int, string, ...any)) {
	t.Helper()
	list := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			fail(step, "readdir %s: %v", dir, err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		sort.Strings(out)
		return out
	}
	lm, ll := list(mountDir), list(localDir)
	if fmt.Sprint(lm) != fmt.Sprint(ll) {
		fail(step, "listing differs: mount %v, local %v", lm, ll)
	}
	for _, name := range ll {
		bm, errM := os.ReadFile(filepath.Join(mountDir, name))
		bl, errL := os.ReadFile(filepath.Join(localDir, name))
		if errM != nil || errL != nil || !bytes.Equal(bm, bl) {
			fail(step, "file %s differs: mount %d bytes (%v), local %d bytes (%v)", name, len(bm), errM, len(bl), errL)
		}
	}
}
