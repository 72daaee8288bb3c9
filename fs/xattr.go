package fs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/url"
	"sort"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/obsfs/obsfs/obsclient"
)

// Extended attributes: only the user.* namespace, stored as s3fs-fuse
// stores them, in one metadata entry:
//
//	xattr: urlencode({"user.name":"base64(value)",...})
//
// Other namespaces have no attributes (ENODATA) and cannot be set
// (EOPNOTSUPP), so the kernel's security.* probes cost nothing.
const (
	metaXattr     = "xattr"
	xattrPrefix   = "user."
	maxXattrBytes = 4096 // encoded, so that all metadata stays within 8 KB
)

// parseXattrs decodes the xattr metadata entry; malformed input yields
// none (it was written by another tool).
func parseXattrs(v string) map[string][]byte {
	if v == "" {
		return nil
	}
	dec, err := url.PathUnescape(v)
	if err != nil {
		return nil
	}
	var raw map[string]string
	if json.Unmarshal([]byte(dec), &raw) != nil {
		return nil
	}
	out := make(map[string][]byte, len(raw))
	for k, b := range raw {
		if val, err := base64.StdEncoding.DecodeString(b); err == nil {
			out[k] = val
		}
	}
	return out
}

// encodeXattrs is the inverse of parseXattrs ("" for none).
func encodeXattrs(x map[string][]byte) string {
	if len(x) == 0 {
		return ""
	}
	raw := make(map[string]string, len(x))
	for k, v := range x {
		raw[k] = base64.StdEncoding.EncodeToString(v)
	}
	data, _ := json.Marshal(raw) // map keys are sorted: stable output
	return url.PathEscape(string(data))
}

// xattrGet implements getxattr over a set of attributes.
func xattrGet(x map[string][]byte, name string, dest []byte) (uint32, syscall.Errno) {
	v, ok := x[name]
	if !ok {
		return 0, syscall.ENODATA
	}
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// xattrList implements listxattr: NUL-terminated names.
func xattrList(x map[string][]byte, dest []byte) (uint32, syscall.Errno) {
	names := make([]string, 0, len(x))
	for k := range x {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(0)
	}
	if len(dest) == 0 {
		return uint32(b.Len()), 0
	}
	if len(dest) < b.Len() {
		return uint32(b.Len()), syscall.ERANGE
	}
	return uint32(copy(dest, b.String())), 0
}

// xattrSet returns a copy of x with name set (or removed when data is
// nil), honouring XATTR_CREATE / XATTR_REPLACE, or an errno.
func xattrSet(x map[string][]byte, name string, data []byte, flags uint32, remove bool) (map[string][]byte, syscall.Errno) {
	if !strings.HasPrefix(name, xattrPrefix) || len(name) == len(xattrPrefix) {
		return nil, syscall.EOPNOTSUPP
	}
	_, exists := x[name]
	const xattrCreate, xattrReplace = 1, 2
	switch {
	case remove && !exists:
		return nil, syscall.ENODATA
	case flags&xattrCreate != 0 && exists:
		return nil, syscall.EEXIST
	case flags&xattrReplace != 0 && !exists:
		return nil, syscall.ENODATA
	}
	out := maps.Clone(x)
	if out == nil {
		out = map[string][]byte{}
	}
	if remove {
		delete(out, name)
	} else {
		out[name] = append([]byte(nil), data...)
	}
	if len(encodeXattrs(out)) > maxXattrBytes {
		return nil, syscall.E2BIG
	}
	return out, 0
}

var (
	_ = (fusefs.NodeGetxattrer)((*fileNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*fileNode)(nil))
	_ = (fusefs.NodeListxattrer)((*fileNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*fileNode)(nil))
)

// loadMetaLocked makes sure the node's attributes came from the object's
// own metadata (a HEAD), not just from a listing.
func (n *fileNode) loadMetaLocked(ctx context.Context) syscall.Errno {
	if n.metaLoaded || !n.exists || n.wf != nil && n.wf.Dirty() {
		return 0
	}
	fsys := n.fsys
	key := n.key()
	ctx, done := fsys.op(ctx)
	defer done()
	head, err := fsys.store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: fsys.cfg.Bucket, Key: key,
		SseC: fsys.cfg.SSE.SseC, SseCKey: fsys.cfg.SSE.SseCKey})
	if err != nil {
		return fsys.toErrno("getxattr", key, err)
	}
	if head.ETag == n.etag {
		n.a = parseMeta(head.Metadata, fsys.defaultFile(head.LastModified))
		n.mtimeSet = head.Metadata[metaMtime] != ""
		fsys.rememberMeta(key, n.etag, n.a)
	}
	n.metaLoaded = true
	return 0
}

func (n *fileNode) Getxattr(ctx context.Context, name string, dest []byte) (uint32, syscall.Errno) {
	if !strings.HasPrefix(name, xattrPrefix) {
		return 0, syscall.ENODATA
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if errno := n.loadMetaLocked(ctx); errno != 0 {
		return 0, errno
	}
	return xattrGet(n.a.xattr, name, dest)
}

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if errno := n.loadMetaLocked(ctx); errno != 0 {
		return 0, errno
	}
	return xattrList(n.a.xattr, dest)
}

func (n *fileNode) Setxattr(ctx context.Context, name string, data []byte, flags uint32) syscall.Errno {
	return n.changeXattr(ctx, name, data, flags, false)
}

func (n *fileNode) Removexattr(ctx context.Context, name string) syscall.Errno {
	return n.changeXattr(ctx, name, nil, 0, true)
}

func (n *fileNode) changeXattr(ctx context.Context, name string, data []byte, flags uint32, remove bool) syscall.Errno {
	ctx, done := n.fsys.op(ctx)
	defer done()
	n.mu.Lock()
	defer n.mu.Unlock()
	if errno := n.loadMetaLocked(ctx); errno != 0 {
		return errno
	}
	x, errno := xattrSet(n.a.xattr, name, data, flags, remove)
	if errno != 0 {
		return errno
	}
	n.a.xattr = x
	return n.metaChangedLocked(ctx)
}

var (
	_ = (fusefs.NodeGetxattrer)((*dirNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*dirNode)(nil))
	_ = (fusefs.NodeListxattrer)((*dirNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*dirNode)(nil))
)

func (d *dirNode) Getxattr(ctx context.Context, name string, dest []byte) (uint32, syscall.Errno) {
	if !strings.HasPrefix(name, xattrPrefix) {
		return 0, syscall.ENODATA
	}
	if errno := d.revalidate(ctx); errno != 0 {
		return 0, errno
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return xattrGet(d.a.xattr, name, dest)
}

func (d *dirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if errno := d.revalidate(ctx); errno != 0 {
		return 0, errno
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return xattrList(d.a.xattr, dest)
}

func (d *dirNode) Setxattr(ctx context.Context, name string, data []byte, flags uint32) syscall.Errno {
	return d.changeXattr(ctx, name, data, flags, false)
}

func (d *dirNode) Removexattr(ctx context.Context, name string) syscall.Errno {
	return d.changeXattr(ctx, name, nil, 0, true)
}

func (d *dirNode) changeXattr(ctx context.Context, name string, data []byte, flags uint32, remove bool) syscall.Errno {
	ctx, done := d.fsys.op(ctx)
	defer done()
	if errno := d.revalidate(ctx); errno != 0 {
		return errno
	}
	d.mu.Lock()
	x, errno := xattrSet(d.a.xattr, name, data, flags, remove)
	a := d.a
	d.mu.Unlock()
	if errno != 0 {
		return errno
	}
	a.xattr = x
	if errno := d.writeMarker(ctx, a); errno != 0 {
		return errno
	}
	d.mu.Lock()
	d.a, d.loaded, d.fetched = a, true, d.fsys.now()
	d.mu.Unlock()
	return 0
}
