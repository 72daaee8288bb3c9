// Command devmount is what `make run` runs: it starts the pinned MinIO on
// 127.0.0.1 with a fresh data directory, creates a bucket, and mounts it
// with obsfs in the foreground, so a newcomer can try obsfs with nothing
// but this repository. Ctrl-C unmounts, stops MinIO and discards the data.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/obsfs/obsfs/integration/miniotest"
)

func main() {
	bin := flag.String("obsfs", "bin/obsfs", "the obsfs binary")
	mnt := flag.String("mountpoint", "mnt", "where to mount")
	bucket := flag.String("bucket", "obsfs-dev", "bucket to create and mount")
	flag.Parse()
	if err := run(*bin, *mnt, *bucket, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "devmount: %v\n", err)
		os.Exit(1)
	}
}

func run(bin, mnt, bucket string, extra []string) error {
	logf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	srv, err := miniotest.Launch(miniotest.Options{}, logf)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "devmount: stopping MinIO: %v\n", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		return err
	}
	abs, err := filepath.Abs(mnt)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	args := append([]string{bucket, abs, "-f", "--endpoint", srv.Endpoint}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "OBS_ACCESS_KEY_ID="+srv.AccessKey, "OBS_SECRET_ACCESS_KEY="+srv.SecretKey)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	// `make run | tee log` and Ctrl-C: tee ends first; a line printed
	// after that must not kill us before MinIO is stopped.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The banner once the mount is live (its directory is on another
	// device than its parent), so that what it suggests works.
	for mounted := false; !mounted; {
		select {
		case err := <-done:
			return fmt.Errorf("obsfs exited: %v", err)
		case <-sigs:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return <-done
		case <-time.After(50 * time.Millisecond):
		}
		var st, parent syscall.Stat_t
		mounted = syscall.Stat(abs, &st) == nil && syscall.Stat(filepath.Dir(abs), &parent) == nil && st.Dev != parent.Dev
	}
	fmt.Print(banner(srv, bucket, abs, mnt))
	select {
	case err := <-done:
		return fmt.Errorf("obsfs exited: %v", err)
	case <-sigs:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		return <-done
	}
}

// banner tells what runs and how to look at the bucket with something
// other than obsfs: the local MinIO's endpoint and keys, and a curl
// command listing the bucket. curl (which make deps installs) signs S3
// requests itself since 7.75 (--aws-sigv4), so it needs no S3 client:
// rclone, s3cmd, mc and the aws CLI are not on a fresh Debian, and MinIO's
// data directory holds its own format, not the objects' bytes.
func banner(srv *miniotest.Server, bucket, abs, mnt string) string {
	return fmt.Sprintf(`
obsfs mounts bucket %[1]q of a local MinIO on %[2]s.
Try:   cp some-file %[3]s/   ls -l %[3]s   dd if=/dev/zero of=%[3]s/big bs=1M count=100

The MinIO (any S3 client can use it while this runs):
  endpoint    %[4]s   (path-style, Signature V4)
  region      %[5]s
  bucket      %[1]s
  access key  %[6]s
  secret key  %[7]s
List the bucket out of band:
  curl -sS --aws-sigv4 aws:amz:%[5]s:s3 --user '%[6]s:%[7]s' '%[4]s/%[1]s?list-type=2' | grep -o '<Key>[^<]*' | cut -c6-

Press Ctrl-C to unmount and stop MinIO (the data is discarded).

`, bucket, abs, mnt, srv.Endpoint, srv.Region, srv.AccessKey, srv.SecretKey)
}
