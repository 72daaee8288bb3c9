package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/obsfs/obsfs/fs"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/obsfs/obsfs/writeback"
	"github.com/sirupsen/logrus"
)

// conditionMode turns --conditional-writes into the commits' mode; auto
// probes the store (probeConditions).
func conditionMode(ctx context.Context, c *obsclient.Client, o *options, sse obsclient.SSE, log *logrus.Entry) writeback.ConditionMode {
	switch o.conditionalWrites {
	case "on":
		return writeback.ConditionsStore
	case "off":
		return writeback.ConditionsOff
	}
	if o.readOnly {
		return writeback.ConditionsStore // nothing is committed
	}
	return probeConditions(ctx, c, o.bucket, o.prefix+fs.StagingDir+"/", sse, log)
}

// probeConditions finds out whether the store honours If-None-Match on
// PutObject: it puts a small hidden object under the staging prefix twice
// with If-None-Match "*", expects the second to be refused with 412, and
// deletes the object. A store that takes both (or fails the probe) gets
// ConditionsCheck: a HEAD right before each commit.
func probeConditions(ctx context.Context, c *obsclient.Client, bucket, staging string, sse obsclient.SSE, log *logrus.Entry) writeback.ConditionMode {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := staging + "probe-" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	put := func() error {
		_, err := c.PutObject(ctx, &obsclient.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader([]byte("probe")),
			IfNoneMatch: "*", SSE: sse})
		return err
	}
	log = log.WithField("key", key)
	err := put()
	if err == nil {
		err = put()
		if _, derr := c.DeleteObject(ctx, &obsclient.DeleteObjectInput{Bucket: bucket, Key: key}); derr != nil {
			log.WithError(derr).Warn("deleting the conditional-write probe object failed")
		}
		if obsclient.IsPreconditionFailed(err) {
			log.Debug("the store honours conditional writes")
			return writeback.ConditionsStore
		}
		if err == nil {
			log.Info("the store ignores conditional writes (If-None-Match): each commit compares with a HEAD first, which narrows the window for lost updates between mounts but does not close it")
			return writeback.ConditionsCheck
		}
	}
	log.WithError(err).WithField("req_id", obsclient.RequestID(err)).
		Warn("probing conditional writes failed: each commit compares with a HEAD first")
	return writeback.ConditionsCheck
}
