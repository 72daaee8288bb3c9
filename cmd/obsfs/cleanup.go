package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/obsfs/obsfs/fs"
	"github.com/obsfs/obsfs/journal"
	"github.com/obsfs/obsfs/obsclient"
	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
)

// obsfs cleanup BUCKET[:PREFIX]: abort the incomplete multipart uploads
// under the prefix and delete the temporary objects under its staging
// directory that are older than --older-than — what a crashed mount (or
// any other writer) left billed in the bucket. The mount cleans up after
// its own crashes from its journal; this command is for the rest (another
// machine's crashed mount, a lost state directory, other tools' uploads).

// defaultCleanupAge is cleanup's default --older-than. A bucket may be
// shared: an incomplete upload may be another writer's copy in progress,
// and aborting it breaks that copy. A day is far longer than any live
// upload obsfs makes on a working link, and short enough for the bill.
const defaultCleanupAge = 24 * time.Hour

// cleanupOptions are cleanup's own flags.
type cleanupOptions struct {
	olderThan time.Duration
	dryRun    bool
	pageSize  int
}

// cleanupFlags are the mount flags that mean something to cleanup; the
// others are accepted (so a mount's -o list can be pasted) but not shown.
var cleanupFlags = map[string]bool{
	"endpoint": true, "region": true, "signature": true, "path-style": true, "passwd-file": true,
	"ca-file": true, "insecure-skip-verify": true, "retries": true,
	"older-than": true, "dry-run": true,
}

func addCleanupFlags(c *cleanupOptions) func(*pflag.FlagSet) {
	return func(fl *pflag.FlagSet) {
		c.olderThan = defaultCleanupAge
		fl.Var(ageValue{&c.olderThan}, "older-than", "only uploads started and staged objects written longer ago than this (e.g. 36h, 2d; 0: all)")
		fl.BoolVar(&c.dryRun, "dry-run", false, "print what would be removed, remove nothing")
		fl.IntVar(&c.pageSize, "list-page-size", 0, "uploads and objects per listing request (tests; 0: the service's 1000)")
		fl.VisitAll(func(f *pflag.Flag) {
			if !cleanupFlags[f.Name] {
				f.Hidden = true
			}
		})
	}
}

// ageValue is a pflag.Value for ages: Go durations ("36h", "90m") with
// days allowed in front ("2d", "1d12h").
type ageValue struct{ p *time.Duration }

func (a ageValue) String() string {
	if a.p == nil {
		return "0"
	}
	return formatAge(*a.p)
}

func (a ageValue) Set(v string) error {
	d, err := parseAge(v)
	if err != nil {
		return err
	}
	*a.p = d
	return nil
}

func (a ageValue) Type() string { return "age" }

var daysRe = regexp.MustCompile(`^(\d+)d(.*)$`)

func parseAge(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	var d time.Duration
	if m := daysRe.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("%q is not an age (examples: 36h, 2d, 1d12h)", v)
		}
		d, s = time.Duration(n)*24*time.Hour, m[2]
		if s == "" {
			return d, nil
		}
	}
	rest, err := time.ParseDuration(s)
	if err != nil || rest < 0 {
		return 0, fmt.Errorf("%q is not an age (examples: 36h, 2d, 1d12h)", v)
	}
	return d + rest, nil
}

// formatAge prints an age coarsely: 3d4h, 5h12m, 42s.
func formatAge(d time.Duration) string {
	two := func(n1 time.Duration, u1 string, n2 time.Duration, u2 string) string {
		if n2 == 0 {
			return fmt.Sprintf("%d%s", n1, u1)
		}
		return fmt.Sprintf("%d%s%d%s", n1, u1, n2, u2)
	}
	switch {
	case d >= 24*time.Hour:
		return two(d/(24*time.Hour), "d", d%(24*time.Hour)/time.Hour, "h")
	case d >= time.Hour:
		return two(d/time.Hour, "h", d%time.Hour/time.Minute, "m")
	case d >= time.Minute:
		return two(d/time.Minute, "m", d%time.Minute/time.Second, "s")
	}
	return d.Round(time.Second).String()
}

func cleanupUsage(w io.Writer) {
	var o options
	var c cleanupOptions
	fl := newFlagSet(&o)
	addCleanupFlags(&c)(fl)
	fmt.Fprintf(w, `obsfs cleanup aborts the incomplete multipart uploads under BUCKET[:PREFIX]
and deletes the temporary objects under PREFIX/%s/ that are older than
--older-than (default %s: a bucket may be shared, and a younger upload may
be another writer's copy in progress). Run it with the BUCKET:PREFIX the
mount uses. It prints one line per item and a total; --dry-run removes
nothing. Credentials and endpoint as for mounting (mount flags and -o
lists are accepted; those below matter).

usage: obsfs cleanup [flags] BUCKET[:PREFIX]

flags:
%s`, fs.StagingDir, formatAge(defaultCleanupAge), fl.FlagUsagesWrapped(100))
}

// runCleanup is "obsfs cleanup ARGS": 0 when every item was removed, 1
// when one could not be (or listing failed), 2 for a usage error.
func runCleanup(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "--help" {
			cleanupUsage(stdout)
			return 0
		}
	}
	var c cleanupOptions
	o, err := parseCommand(args, addCleanupFlags(&c), "BUCKET[:PREFIX]")
	if err == nil && (c.pageSize < 0 || c.pageSize > 1000) {
		err = fmt.Errorf("--list-page-size %d must be within 0..1000", c.pageSize)
	}
	if err != nil {
		fmt.Fprintf(stderr, "obsfs cleanup: %s\n", oneLine(err))
		fmt.Fprintln(stderr, "usage: obsfs cleanup [flags] BUCKET[:PREFIX] (obsfs cleanup --help lists the flags)")
		return 2
	}
	client, err := cleanupClient(o)
	if err != nil {
		fmt.Fprintf(stderr, "obsfs cleanup: %s\n", oneLine(err))
		return 1
	}
	var mu sync.Mutex
	s := &sweeper{
		store: client, bucket: o.bucket, prefix: o.prefix, olderThan: c.olderThan, dryRun: c.dryRun,
		pageSize: c.pageSize, now: time.Now,
		report: func(it sweepItem) {
			mu.Lock()
			defer mu.Unlock()
			if it.err != nil {
				fmt.Fprintln(stderr, it.describe(c.dryRun, time.Now()))
				return
			}
			fmt.Fprintln(stdout, it.describe(c.dryRun, time.Now()))
		},
	}
	tot, err := s.run(context.Background())
	fmt.Fprintln(stdout, tot.describe(c.dryRun, c.olderThan))
	if err != nil {
		fmt.Fprintf(stderr, "obsfs cleanup: %s\n", oneLine(err))
		return 1
	}
	if tot.failed > 0 {
		return 1
	}
	return 0
}

// cleanupClient builds a client as the mount does and checks the bucket.
func cleanupClient(o *options) (*obsclient.Client, error) {
	ccfg, err := clientConfig(o, nil)
	if err != nil {
		return nil, err
	}
	client, err := obsclient.New(ccfg)
	if err != nil {
		return nil, plain(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := checkBucket(ctx, client, o); err != nil {
		return nil, err
	}
	return client, nil
}

// sweepStore is what the sweeper needs of the store; *obsclient.Client
// satisfies it.
type sweepStore interface {
	ListMultipartUploads(ctx context.Context, in *obsclient.ListMultipartUploadsInput) (*obsclient.ListMultipartUploadsOutput, error)
	AbortMultipartUpload(ctx context.Context, in *obsclient.AbortMultipartUploadInput) (*obsclient.AbortMultipartUploadOutput, error)
	ListObjects(ctx context.Context, in *obsclient.ListObjectsInput) (*obsclient.ListObjectsOutput, error)
	DeleteObject(ctx context.Context, in *obsclient.DeleteObjectInput) (*obsclient.DeleteObjectOutput, error)
}

// sweeper aborts the uploads under a prefix and deletes the objects under
// its staging directory that are older than an age. It is obsfs cleanup,
// and the mount's --sweep-older-than.
type sweeper struct {
	store     sweepStore
	bucket    string
	prefix    string        // "" or ending in "/"
	olderThan time.Duration // items at least this old go
	dryRun    bool
	pageSize  int // 0: the service's default
	now       func() time.Time
	report    func(sweepItem) // every item removed (or to be), or failed; called from several goroutines
}

// sweepItem is one upload or staged object.
type sweepItem struct {
	upload   bool
	key      string
	uploadID string
	when     time.Time // upload started, object last modified
	size     int64     // objects
	err      error
}

func (it sweepItem) describe(dryRun bool, now time.Time) string {
	ago := formatAge(now.Sub(it.when))
	if it.upload {
		what := fmt.Sprintf("upload %q (upload ID %s, started %s, %s ago)", it.key, it.uploadID, it.when.UTC().Format(time.DateTime+" UTC"), ago)
		switch {
		case it.err != nil:
			return "failed to abort " + what + ": " + oneLine(it.err)
		case dryRun:
			return "would abort " + what
		}
		return "aborted " + what
	}
	what := fmt.Sprintf("staged object %q (%s, written %s, %s ago)", it.key, units.BytesSize(float64(it.size)), it.when.UTC().Format(time.DateTime+" UTC"), ago)
	switch {
	case it.err != nil:
		return "failed to delete " + what + ": " + oneLine(it.err)
	case dryRun:
		return "would delete " + what
	}
	return "deleted " + what
}

// sweepTotals counts what a sweep did.
type sweepTotals struct {
	uploads, objects         int // removed (or would be)
	keptUploads, keptObjects int // younger than the age
	failed                   int
}

func (t sweepTotals) describe(dryRun bool, age time.Duration) string {
	verb, del := "aborted", "deleted"
	if dryRun {
		verb, del = "would abort", "delete"
	}
	s := fmt.Sprintf("%s %d upload(s) and %s %d staged object(s)", verb, t.uploads, del, t.objects)
	if t.keptUploads+t.keptObjects > 0 {
		s += fmt.Sprintf("; kept %d upload(s) and %d staged object(s) younger than %s", t.keptUploads, t.keptObjects, formatAge(age))
	}
	if t.failed > 0 {
		s += fmt.Sprintf("; %d failed", t.failed)
	}
	return s
}

// sweepParallel bounds the aborts and deletes in flight.
const sweepParallel = 8

// old reports whether something from when is at least olderThan old.
func (s *sweeper) old(when, now time.Time) bool {
	return s.olderThan <= 0 || !now.Before(when.Add(s.olderThan))
}

// run lists every upload under the prefix and every object under its
// staging directory, page by page, removing the old ones as it goes. It
// returns an error only when a listing fails; failures to remove an item
// are reported and counted.
func (s *sweeper) run(ctx context.Context) (sweepTotals, error) {
	var tot sweepTotals
	var mu sync.Mutex
	now := s.now()
	emit := func(it sweepItem, removed *int) {
		mu.Lock()
		if it.err != nil {
			tot.failed++
		} else {
			*removed++
		}
		mu.Unlock()
		s.report(it)
	}
	// The whole bucket's uploads are listed and those under the prefix
	// kept: MinIO lists nothing for a prefix that is not a whole key
	// (without one, it lists the uploads it has in memory, in one page).
	in := &obsclient.ListMultipartUploadsInput{Bucket: s.bucket, MaxUploads: s.pageSize}
	for {
		page, err := s.store.ListMultipartUploads(ctx, in)
		if err != nil {
			return tot, err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(sweepParallel)
		for _, u := range page.Uploads {
			if !strings.HasPrefix(u.Key, s.prefix) {
				continue
			}
			if !s.old(u.Initiated, now) {
				tot.keptUploads++
				continue
			}
			it := sweepItem{upload: true, key: u.Key, uploadID: u.UploadID, when: u.Initiated}
			if s.dryRun {
				emit(it, &tot.uploads)
				continue
			}
			g.Go(func() error {
				_, it.err = s.store.AbortMultipartUpload(gctx, &obsclient.AbortMultipartUploadInput{Bucket: s.bucket, Key: u.Key, UploadID: u.UploadID})
				emit(it, &tot.uploads)
				return nil
			})
		}
		_ = g.Wait()
		if err := ctx.Err(); err != nil {
			return tot, err
		}
		if !page.IsTruncated {
			break
		}
		if page.NextKeyMarker == "" {
			return tot, errors.New("listing multipart uploads: a truncated page without a next marker")
		}
		in.KeyMarker, in.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
	}
	staging := s.prefix + fs.StagingDir + "/"
	lin := &obsclient.ListObjectsInput{Bucket: s.bucket, Prefix: staging, MaxKeys: s.pageSize}
	for {
		page, err := s.store.ListObjects(ctx, lin)
		if err != nil {
			return tot, err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(sweepParallel)
		for _, o := range page.Contents {
			if !s.old(o.LastModified, now) {
				tot.keptObjects++
				continue
			}
			it := sweepItem{key: o.Key, when: o.LastModified, size: o.Size}
			if s.dryRun {
				emit(it, &tot.objects)
				continue
			}
			g.Go(func() error {
				_, it.err = s.store.DeleteObject(gctx, &obsclient.DeleteObjectInput{Bucket: s.bucket, Key: o.Key})
				emit(it, &tot.objects)
				return nil
			})
		}
		_ = g.Wait()
		if err := ctx.Err(); err != nil {
			return tot, err
		}
		if !page.IsTruncated {
			break
		}
		next := page.NextMarker
		if next == "" && len(page.Contents) > 0 {
			next = page.Contents[len(page.Contents)-1].Key
		}
		if next == "" {
			return tot, errors.New("listing staged objects: a truncated page without a next marker")
		}
		lin.Marker = next
	}
	return tot, nil
}

// cleanupMain is run's entry for "obsfs cleanup".
func cleanupMain(args []string) int { return runCleanup(args, os.Stdout, os.Stderr) }

// openJournal opens the mount's crash journal in --state-dir and, before
// anything is served, replays what earlier instances of this mount left:
// their uploads are aborted and their temporary objects deleted, one log
// line each and a total. What cannot be cleaned stays in the journal for
// the next mount.
func openJournal(o *options, mnt string, client *obsclient.Client, log *logrus.Entry) (*journal.Journal, error) {
	id := journal.Identity{Endpoint: o.endpoint, Bucket: o.bucket, Prefix: o.prefix}
	j, err := journal.Open(o.stateDir, id, journal.Options{Info: "mountpoint " + mnt})
	if err != nil {
		return nil, fmt.Errorf("crash journal in %s: %v", o.stateDir, err)
	}
	log = log.WithField("journal", j.Path())
	if busy := j.BusySlots(); len(busy) > 0 {
		log.WithField("live", strings.Join(busy, "; ")).
			Info("other mounts of this bucket and prefix are live on this machine: this one keeps a journal of its own")
	}
	if n := j.Unreadable(); n > 0 {
		log.WithField("lines", n).Warn("crash journal: skipped lines that are not records (cut short by a crash)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	failed := journal.Replay(ctx, client, o.bucket, j.Previous(), log)
	cancel()
	if err := j.Settle(failed); err != nil {
		j.Close()
		return nil, fmt.Errorf("crash journal %s: %v", j.Path(), err)
	}
	log.Debug("crash journal ready")
	return j, nil
}

// sweepAtMount is --sweep-older-than: obsfs cleanup of the mount's prefix,
// in the background, logged.
func sweepAtMount(ctx context.Context, client *obsclient.Client, o *options, log *logrus.Entry) {
	s := &sweeper{
		store: client, bucket: o.bucket, prefix: o.prefix, olderThan: o.sweepOlderThan, now: time.Now,
		report: func(it sweepItem) {
			if it.err != nil {
				log.Error(it.describe(false, time.Now()))
				return
			}
			log.Info(it.describe(false, time.Now()))
		},
	}
	tot, err := s.run(ctx)
	if err != nil && ctx.Err() == nil {
		log.WithError(err).Error("sweep of old uploads and staged objects failed")
	}
	log.Info(tot.describe(false, o.sweepOlderThan))
}
