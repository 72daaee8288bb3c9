package journal

import (
	"context"
	"sync"
	"time"

	"github.com/obsfs/obsfs/obsclient"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"
)

// Cleaner is what Replay needs of the store. *obsclient.Client satisfies
// it: an abort of an upload that no longer exists succeeds, and so does a
// delete of a missing key.
type Cleaner interface {
	AbortMultipartUpload(ctx context.Context, in *obsclient.AbortMultipartUploadInput) (*obsclient.AbortMultipartUploadOutput, error)
	DeleteObject(ctx context.Context, in *obsclient.DeleteObjectInput) (*obsclient.DeleteObjectOutput, error)
}

var _ Cleaner = (*obsclient.Client)(nil)

// replayParallel bounds the requests of a replay in flight.
const replayParallel = 8

// Replay aborts every upload in entries, then deletes every temporary
// object (so that an upload that was building one cannot bring it back),
// logging one line per entry and a total. It returns the entries it could
// not clean, to be kept pending (Settle) and tried again by the next
// mount.
func Replay(ctx context.Context, store Cleaner, bucket string, entries []Entry, log *logrus.Entry) (failed []Entry) {
	if len(entries) == 0 {
		return nil
	}
	var mu sync.Mutex
	aborted, deleted := 0, 0
	run := func(uploads bool) {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(replayParallel)
		for _, e := range entries {
			if e.Upload != uploads {
				continue
			}
			g.Go(func() error {
				l := log.WithField("key", e.Key)
				if !e.Time.IsZero() {
					l = l.WithField("since", e.Time.Format(time.RFC3339))
				}
				var err error
				if e.Upload {
					l = l.WithField("upload_id", e.UploadID)
					_, err = store.AbortMultipartUpload(gctx, &obsclient.AbortMultipartUploadInput{Bucket: bucket, Key: e.Key, UploadID: e.UploadID})
				} else {
					_, err = store.DeleteObject(gctx, &obsclient.DeleteObjectInput{Bucket: bucket, Key: e.Key})
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					failed = append(failed, e)
					l.WithError(err).WithField("req_id", obsclient.RequestID(err)).
						Error("crash recovery: could not clean up what a previous instance left; kept in the journal for the next mount")
				case e.Upload:
					aborted++
					l.Info("crash recovery: aborted the multipart upload of a previous instance")
				default:
					deleted++
					l.Info("crash recovery: deleted a temporary object of a previous instance")
				}
				return nil
			})
		}
		_ = g.Wait()
	}
	run(true)
	run(false)
	log.WithFields(logrus.Fields{"uploads_aborted": aborted, "objects_deleted": deleted, "failed": len(failed)}).
		Info("crash recovery: cleaned up after a previous instance")
	return failed
}
