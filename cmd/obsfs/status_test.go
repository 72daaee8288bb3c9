package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsfs/obsfs/fs"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/obsclient/obsfake"
	"github.com/obsfs/obsfs/writeback"
	"github.com/sirupsen/logrus"
)

func TestAllowed(t *testing.T) {
	for _, c := range []struct {
		uid, owner uint32
		want       bool
	}{
		{1000, 1000, true}, {0, 1000, true}, {65534, 1000, false}, {1001, 1000, false},
		{0, 0, true}, {65534, 0, false},
	} {
		if got := allowed(c.uid, c.owner); got != c.want {
			t.Errorf("allowed(uid %d, owner %d) = %v, want %v", c.uid, c.owner, got, c.want)
		}
	}
}

const mountTable = `22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
48 22 0:43 / /mnt/my\040bucket rw,nosuid,nodev,relatime - fuse.obsfs obsfs#b rw,user_id=1000,group_id=1000
49 48 0:44 / /mnt/my\040bucket/inner rw - tmpfs tmpfs rw
`

func TestMountIn(t *testing.T) {
	for _, c := range []struct {
		path, dir, fstype string
		uid               int
	}{
		{"/mnt/my bucket", "/mnt/my bucket", "fuse.obsfs", 1000},
		{"/mnt/my bucket/a/b.txt", "/mnt/my bucket", "fuse.obsfs", 1000},
		{"/mnt/my bucket/inner/x", "/mnt/my bucket/inner", "tmpfs", -1},
		{"/mnt/my bucketx", "/", "ext4", -1},
		{"/home", "/", "ext4", -1},
	} {
		m, err := mountIn(strings.NewReader(mountTable), c.path)
		if err != nil || m.dir != c.dir || m.fstype != c.fstype || m.uid != c.uid {
			t.Errorf("mountIn(%q) = %+v, %v; want %s %s uid %d", c.path, m, err, c.dir, c.fstype, c.uid)
		}
	}
}

// TestControlAnswers serves a control socket over a fake store and asks
// it as obsfs status does.
func TestControlAnswers(t *testing.T) {
	store := obsfake.New()
	store.Fault = func(op string, in any) error {
		if op == "PutObject" && strings.Contains(in.(*obsclient.PutObjectInput).Key, "bad") {
			return &obsclient.Error{Status: 500, Code: "InternalError", RequestID: "req-bad"}
		}
		return nil
	}
	log := logrus.NewEntry(logrus.New())
	log.Logger.SetOutput(io.Discard)
	wb, err := writeback.New(store, writeback.Config{Bucket: "bkt", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	cfg := fs.DefaultConfig()
	cfg.Bucket, cfg.Prefix, cfg.Logger = "bkt", "pre/", log
	fsys, err := fs.New(store, wb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	ctx := context.Background()
	for _, name := range []string{"good.txt", "bad.txt"} {
		f := wb.Open("pre/"+name, writeback.Version{})
		if _, err := f.WriteAt(ctx, []byte("hello"), 0); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	open := wb.Open("pre/open.txt", writeback.Version{})
	defer open.Discard()
	if _, err := open.WriteAt(ctx, []byte("pending"), 0); err != nil {
		t.Fatal(err)
	}

	state := t.TempDir()
	ctl, err := startControl(state, "/mnt/x", "bkt", "pre/", wb, fsys, log)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	sock := controlSocketPath(state, "/mnt/x")
	for path, mode := range map[string]os.FileMode{sock: 0o600, filepath.Dir(sock): 0o700} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode().Perm(), err, mode)
		}
	}
	target := statusTarget{mnt: "/mnt/x", socket: sock}

	r, err := ask(target, controlRequest{Op: "status"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "bkt:pre" || len(r.Files) != 1 || r.Files[0].Path != "open.txt" || r.Files[0].Written != 7 || r.Totals.Files != 1 {
		t.Errorf("status: %+v (files %+v)", r, r.Files)
	}
	if len(r.Failures) != 1 || r.Failures[0].Path != "bad.txt" || r.Failures[0].RequestID != "req-bad" || r.Failures[0].Errno != "EIO" {
		t.Errorf("failures: %+v", r.Failures)
	}
	for rel, want := range map[string]string{"good.txt": "committed", "bad.txt": "failed", "open.txt": "pending", "nope.txt": "unknown", "./x/../good.txt": "committed"} {
		r, err := ask(target, controlRequest{Op: "file", Path: rel})
		if err != nil || r.State != want {
			t.Errorf("file %s: %+v, %v; want %s", rel, r, err, want)
			continue
		}
		if want == "committed" && (r.Outcome.ETag == "" || r.Outcome.Size != 5) {
			t.Errorf("file %s: outcome %+v", rel, r.Outcome)
		}
	}
	if _, err := ask(target, controlRequest{Op: "nonsense"}); err == nil || !strings.Contains(err.Error(), "unknown op") {
		t.Errorf("bad op: %v", err)
	}
	if _, err := ask(statusTarget{mnt: "/mnt/other", socket: sock}, controlRequest{Op: "status"}); err == nil {
		t.Error("an answer for another mountpoint was taken")
	}
	ctl.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
}
