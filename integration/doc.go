// Package integration holds the tests and benchmarks that need a real
// store: obsclient against a real MinIO, and the real obsfs binary on a
// real FUSE mount against it. Results are checked out of band, through
// obsclient, wherever they are about the bucket's contents. The package
// has no code of its own.
//
// Tests of obsclient:
//
//   - obsclient_test.go: every API the filesystem uses, round-tripped and
//     read back, in both AWS signature dialects, with awkward keys, with
//     SSE-C and SSE-KMS over HTTPS, and the pagination of every listing.
//     The OBS-native dialect is not exercised here, because MinIO does not
//     speak it; package obsclient tests it against the golden vectors of
//     shared/reference/obs-protocol.md §9.
//   - obsclient_bench_test.go: UploadPart throughput by parts in flight,
//     and the client's own CPU time per GiB.
//
// Tests of the obsfs binary (each mounts with mounttest unless it runs
// obsfs itself):
//
//   - mount_test.go: cp of files around the part size, the shell tools
//     people write with, memory bounded under parallel writers, an upload
//     failure reaching close(2), and staged parts.
//   - fs_test.go: ls -l of a large directory without a HEAD per entry,
//     renames above the copy threshold, s3fs metadata, cp -a, tar, rsync,
//     git, the fsmodel model test, and appends to a large object.
//   - conformance_test.go: the README's namespace, metadata and editing
//     sections, one subtest per operation, with a remount.
//   - posix_test.go: modes, owner and mtime of zero, --stat-cache-ttl 0s,
//     unlink while open, and setuid cleared on write.
//   - edge_test.go: the bucket deleted under the mount, a listed key that
//     is not UTF-8, and an object hidden by a directory of the same name.
//   - cli_test.go: the command as a user runs it: daemon mode, the
//     mount(8) and mount.fuse3 forms, one-line failures, signals (with
//     files open), and awkward names.
//   - bounds_test.go: reads and writes of a stalled store fail with EIO
//     within --op-timeout, and programs blocked on it return at once when
//     killed.
//   - throttle_test.go: a copy rides out 60 s of 503 SlowDown; a benchmark
//     copies a tree through a proxy that faults 8 % of the requests.
//   - journal_test.go: the crash journal: a mount after SIGKILL cleans up
//     what the killed one left, a second mount leaves the first's journal
//     alone, and --sweep-older-than sweeps only the mount's prefix;
//     journal_bench_test.go measures what the journal costs on writes.
//   - cleanup_test.go: obsfs cleanup removes exactly the prefix's leaked
//     uploads and staged objects, and --dry-run removes nothing.
//   - logloss_test.go: obsfs keeps serving when the reader of its log's
//     pipe goes away.
//   - visibility_test.go: what a user sees from outside: --version, -o
//     nonempty, the source findmnt shows, the log reopened on SIGHUP and
//     its fallback file, `make run`, and a stop bounded by --stop-timeout.
//   - metrics_test.go: --metrics-addr: what /metrics reports for a copy,
//     retries and errors, an address in use, and a benchmark of the cost
//     of metrics.
//   - status_test.go: obsfs status: an upload in flight, committed and
//     failed files, unknown paths, and other users refused.
//   - soak_test.go: concurrent writers and readers through a fault proxy
//     for OBSFS_SOAK_DURATION (20 s; `make stress`: 10 minutes), then the
//     bucket checked byte for byte.
//   - bench_test.go: 1 GiB copy and read through the mount against a
//     direct obsclient caller with the same resources (`make bench`).
//
// Helper packages:
//
//   - miniotest starts the pinned MinIO on 127.0.0.1, and builds it when
//     missing; main_test.go stops the shared servers after the tests.
//   - mounttest builds and mounts the obsfs binary ($OBSFS_BIN instead, if
//     set), checks results out of band, and guards its mounts against a
//     hang (Guard).
//   - faultproxy is a fault-injecting HTTP proxy between obsfs or obsclient
//     and MinIO: status errors, resets, truncated bodies, delays, stalls.
//   - fsmodel applies random file operations to the mount and to a local
//     directory and compares them after each step.
//   - devmount is the command `make run` runs: MinIO and a mount of a fresh
//     bucket in the foreground.
//
// MinIO is started once per server configuration (miniotest.Shared). Under
// CI=true a test that cannot get MinIO or FUSE fails; otherwise it is
// skipped with the reason. With -short (make unit) the obsclient tests and
// the slowest mount tests are skipped and say so; `make integration` runs
// them.
package integration
