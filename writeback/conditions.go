package writeback

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/sirupsen/logrus"
)

// Conditional commits: a commit replaces the object only if it still is
// the version the file is based on. A file created here (base.Exists
// false) commits with If-None-Match "*", a file edited or replaced with
// If-Match: base.ETag, on PutObject and on CompleteMultipartUpload alike.
// A refusal (412, or 404 for If-Match of a deleted object) fails the
// commit with ErrExists or ErrConflict; the upload is aborted and the
// other writer's object is left as it is. Where the store ignores the
// conditions (Config.Conditions = ConditionsCheck), a HEAD right before
// the PUT or Complete compares instead: that narrows the window in which
// another writer's object can be lost, but does not close it.

// ConditionMode says how a commit makes sure it replaces the version it
// is based on (Config.Conditions).
type ConditionMode int

const (
	// ConditionsStore sends If-Match / If-None-Match; the store refuses a
	// commit whose base is no longer current. The default.
	ConditionsStore ConditionMode = iota
	// ConditionsCheck, for stores that ignore the conditions, compares the
	// store's version with a HEAD right before the PUT or Complete.
	ConditionsCheck
	// ConditionsOff commits unconditionally: the last writer wins.
	ConditionsOff
)

// String names the mode as the --conditional-writes option does.
func (m ConditionMode) String() string {
	switch m {
	case ConditionsStore:
		return "on"
	case ConditionsCheck:
		return "check"
	case ConditionsOff:
		return "off"
	}
	return fmt.Sprintf("ConditionMode(%d)", int(m))
}

// ErrExists: a file created by this mount was committed by another writer
// first; the other writer's object is kept.
var ErrExists = errors.New("writeback: object created in the store by another writer")

// commitGuard is the condition of one commit, captured with f.mu held.
type commitGuard struct {
	mode ConditionMode
	base Version
}

// guardLocked returns the condition of a commit of f. A staged part's
// temporary object is this mount's own, and a copy to another key
// (OpenCopy: a rename) has no base version of its destination: both are
// committed unconditionally.
func (f *File) guardLocked() commitGuard {
	if f.nested || f.src.key != f.key {
		return commitGuard{mode: ConditionsOff}
	}
	return commitGuard{mode: f.m.cfg.Conditions, base: f.base}
}

// headers returns the If-Match / If-None-Match values of the commit.
func (g commitGuard) headers() (ifMatch, ifNoneMatch string) {
	switch {
	case g.mode != ConditionsStore:
		return "", ""
	case g.base.Exists:
		return g.base.ETag, ""
	default:
		return "", "*"
	}
}

// conflict is the error of a commit of key refused because the store no
// longer holds the base version.
func (g commitGuard) conflict(key string) error {
	if g.base.Exists {
		return fmt.Errorf("%w: %q is no longer the version read (ETag %s)", ErrConflict, key, g.base.ETag)
	}
	return fmt.Errorf("%w: %q", ErrExists, key)
}

// check is ConditionsCheck's HEAD right before the commit: it fails with
// the conflict unless the store holds the base version.
func (g commitGuard) check(ctx context.Context, m *Manager, key string) error {
	if g.mode != ConditionsCheck {
		return nil
	}
	head, err := m.store.HeadObject(ctx, &obsclient.HeadObjectInput{Bucket: m.cfg.Bucket, Key: key,
		SseC: m.cfg.SSE.SseC, SseCKey: m.cfg.SSE.SseCKey})
	switch {
	case obsclient.IsNotFound(err) && !g.base.Exists:
		return nil
	case err == nil && g.base.Exists && strings.Trim(head.ETag, `"`) == strings.Trim(g.base.ETag, `"`):
		return nil
	case err != nil && !obsclient.IsNotFound(err):
		return fmt.Errorf("checking %q before the commit: %w", key, err)
	}
	reqID := obsclient.RequestID(err)
	if head != nil {
		reqID = head.RequestID
	}
	m.log.WithFields(logrus.Fields{"key": key, "req_id": reqID, "base_etag": g.base.ETag}).
		Warn("commit refused: another writer changed the object (checked by HEAD)")
	return g.conflict(key)
}

// refused maps a store refusal of the commit's condition to the conflict
// (and logs it with the key and request ID); other errors pass.
func (g commitGuard) refused(m *Manager, key string, err error) error {
	ifMatch, ifNoneMatch := g.headers()
	if ifMatch == "" && ifNoneMatch == "" || err == nil {
		return err
	}
	if !obsclient.IsPreconditionFailed(err) && !(ifMatch != "" && obsclient.Code(err) == "NoSuchKey") {
		return err
	}
	m.log.WithFields(logrus.Fields{"key": key, "req_id": obsclient.RequestID(err), "if_match": ifMatch,
		"if_none_match": ifNoneMatch}).Warn("commit refused: another writer changed the object; its version is kept")
	return fmt.Errorf("%w (request id %s)", g.conflict(key), obsclient.RequestID(err))
}
