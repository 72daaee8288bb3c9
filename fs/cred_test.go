package fs

import (
	"slices"
	"syscall"
	"testing"
)

func TestParseProcStatus(t *testing.T) {
	const status = "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t77\n" +
		"Uid:\t1000\t1001\t1002\t1003\nGid:\t2000\t2001\t2002\t2003\nFDSize:\t64\n" +
		"Groups:\t4 24 27 \nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n" +
		"CapEff:\t0000000000000010\nCapBnd:\t000001ffffffffff\n"
	c, ok := parseProcStatus(status)
	if !ok || c.uid != 1003 || c.gid != 2003 || !slices.Equal(c.groups, []uint32{4, 24, 27}) || c.caps != 0x10 {
		t.Fatalf("parseProcStatus = %+v, %v", c, ok)
	}
	if !c.has(capFsetid) || c.has(capDacOverride) {
		t.Errorf("capabilities %x: want CAP_FSETID only", c.caps)
	}
	noGroups := "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapEff:\t000001ffffffffff\n"
	if c, ok := parseProcStatus(noGroups); !ok || len(c.groups) != 0 || !c.has(capDacOverride) {
		t.Errorf("root without groups: %+v, %v", c, ok)
	}
	for _, bad := range []string{
		"", "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n", // no CapEff
		"Uid:\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\nCapEff:\t0\n",
		"Uid:\t0\t0\t0\tx\nGid:\t0\t0\t0\t0\nGroups:\t\nCapEff:\t0\n",
		"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\tstaff\nCapEff:\t0\n",
	} {
		if c, ok := parseProcStatus(bad); ok {
			t.Errorf("parseProcStatus(%q) = %+v, want failure", bad, c)
		}
	}
}

func TestMayAccess(t *testing.T) {
	const reg, dir = syscall.S_IFREG, syscall.S_IFDIR
	owner := cred{uid: 10, gid: 20}
	member := cred{uid: 11, gid: 99, groups: []uint32{20}}
	other := cred{uid: 12, gid: 30}
	root := cred{uid: 0, gid: 0, caps: 1<<capDacOverride | 1<<capDacReadSearch | 1<<capFsetid}
	reader := cred{uid: 13, gid: 30, caps: 1 << capDacReadSearch}
	f := func(mode uint32) attr { return attr{mode: reg | mode, uid: 10, gid: 20} }
	d := func(mode uint32) attr { return attr{mode: dir | mode, uid: 10, gid: 20} }
	cases := []struct {
		name string
		a    attr
		c    cred
		want uint32
		ok   bool
	}{
		{"owner reads 0600", f(0o600), owner, mayRead, true},
		{"owner writes 0400", f(0o400), owner, mayWrite, false},
		{"owner of 0000", f(0), owner, mayRead, false},
		{"owner bits only, even if others may", f(0o077), owner, mayRead, false},
		{"group member via supplementary group", f(0o640), member, mayRead, true},
		{"group member writes 0640", f(0o640), member, mayWrite, false},
		{"other reads 0644", f(0o644), other, mayRead, true},
		{"other reads 0640", f(0o640), other, mayRead, false},
		{"other reads 0000", f(0), other, mayRead, false},
		{"other read-write 0646", f(0o646), other, mayRead | mayWrite, true},
		{"other read-write 0644", f(0o644), other, mayRead | mayWrite, false},
		{"root reads 0000", f(0), root, mayRead | mayWrite, true},
		{"root executes 0644", f(0o644), root, mayExec, false},
		{"root executes 0100", f(0o100), root, mayExec, true},
		{"root searches a 0000 directory", d(0), root, mayExec, true},
		{"CAP_DAC_READ_SEARCH reads 0000", f(0), reader, mayRead, true},
		{"CAP_DAC_READ_SEARCH writes 0000", f(0), reader, mayWrite, false},
		{"CAP_DAC_READ_SEARCH searches a 0700 directory", d(0o700), reader, mayExec | mayRead, true},
		{"other searches a 0711 directory", d(0o711), other, mayExec, true},
		{"other lists a 0711 directory", d(0o711), other, mayRead, false},
	}
	for _, c := range cases {
		if got := mayAccess(c.a, c.c, c.want); got != c.ok {
			t.Errorf("%s: mayAccess = %v, want %v", c.name, got, c.ok)
		}
	}
}

func TestAccessFor(t *testing.T) {
	for _, c := range []struct {
		flags uint32
		want  uint32
	}{
		{syscall.O_RDONLY, mayRead},
		{syscall.O_WRONLY, mayWrite},
		{syscall.O_RDWR, mayRead | mayWrite},
		{syscall.O_WRONLY | syscall.O_APPEND, mayWrite},
		{syscall.O_RDONLY | syscall.O_TRUNC, mayRead | mayWrite},
		{syscall.O_RDONLY | 0o40, mayRead | mayExec}, // execve's open
	} {
		if got := accessFor(c.flags); got != c.want {
			t.Errorf("accessFor(%#o) = %d, want %d", c.flags, got, c.want)
		}
	}
}

func TestPrivsToKill(t *testing.T) {
	const reg = syscall.S_IFREG
	const suid, sgid = syscall.S_ISUID, syscall.S_ISGID
	f := func(mode uint32) attr { return attr{mode: reg | mode, uid: 10, gid: 20} }
	writer := cred{uid: 12, gid: 30}
	member := cred{uid: 12, gid: 20}
	fsetid := cred{uid: 12, gid: 30, caps: 1 << capFsetid}
	cases := []struct {
		name string
		a    attr
		c    cred
		kill uint32
	}{
		{"plain file", f(0o777), writer, 0},
		{"setuid", f(suid | 0o777), writer, suid},
		{"setuid, writer is the owner", f(suid | 0o777), cred{uid: 10, gid: 20}, suid},
		{"setgid group-executable", f(sgid | 0o777), member, sgid},
		{"setgid not group-executable, member (locking mark)", f(sgid | 0o666), member, 0},
		{"setgid not group-executable, not a member", f(sgid | 0o666), writer, sgid},
		{"both", f(suid | sgid | 0o777), writer, suid | sgid},
		{"CAP_FSETID keeps them", f(suid | sgid | 0o777), fsetid, 0},
		{"directory", attr{mode: syscall.S_IFDIR | sgid | 0o777}, writer, 0},
	}
	for _, c := range cases {
		if got := privsToKill(c.a, c.c); got != c.kill {
			t.Errorf("%s: privsToKill = %#o, want %#o", c.name, got, c.kill)
		}
	}
}
