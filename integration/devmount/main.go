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
	fmt.Printf(`
obsfs mounts bucket %q of a local MinIO (%s) on %s.
Try:   cp some-file %s/   ls -l %s   dd if=/dev/zero of=%s/big bs=1M count=100
Out of band, the objects are under %s.
Press Ctrl-C to unmount and stop MinIO (the data is discarded).

`, bucket, srv.Endpoint, abs, mnt, mnt, mnt, srv.DataDir)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("obsfs exited: %v", err)
	case <-sigs:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		return <-done
	}
}
