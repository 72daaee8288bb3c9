# obsfs — see README.md. `make run` mounts a local MinIO bucket; `make test`
# runs every test (unit and integration) with -race.
SHELL := /bin/bash
GO ?= go
MINIO_MODULE  := github.com/minio/minio
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
CACHE_DIR     ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/obsfs
MINIO_BIN     := $(CACHE_DIR)/minio-$(MINIO_VERSION)/bin/minio
export OBSFS_MINIO_BIN := $(MINIO_BIN)


.PHONY: all build test unit integration stress bench run deps packages minio lint fmt clean

all: build

## build: bin/obsfs (BIN=path elsewhere), stamped with the version (git
## describe) and the commit that obsfs --version prints. It always runs go
## build (cached, quick): a new commit changes the stamp, not the sources.
BIN     ?= bin/obsfs
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/obsfs

## deps: everything the tests need that is not Go code: FUSE, the tools the
## tests drive (rsync, git), curl (make run's command that lists the bucket
## out of band), and the pinned MinIO.
deps: packages minio

# apt packages by the command they provide.
PACKAGES := fusermount3:fuse3 rsync:rsync git:git unzip:unzip curl:curl
packages:
	@missing=; for pc in $(PACKAGES); do command -v $${pc%%:*} >/dev/null 2>&1 || missing="$$missing $${pc#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing (apt-get)"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@test -e /dev/fuse || { echo "error: /dev/fuse is missing: FUSE is not available on this machine" >&2; exit 1; }

minio: $(MINIO_BIN)

$(MINIO_BIN):
	@echo "building MinIO $(MINIO_VERSION) into $(dir $@) (about 2 minutes the first time)"
	@mkdir -p $(dir $@)
	cd /tmp && GOBIN=$(dir $@) GOFLAGS=-mod=mod $(GO) install $(MINIO_MODULE)@$(MINIO_VERSION)

## run: mount a bucket of a local MinIO on ./mnt (Ctrl-C to stop).
run: build deps
	$(GO) build -o bin/devmount ./integration/devmount
	bin/devmount -obsfs $(BIN) -mountpoint mnt

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## test: unit and integration tests, all with -race. TEST_TIMEOUT is each
## package's limit: raise it on a loaded machine (`make test TEST_TIMEOUT=90m`).
TEST_TIMEOUT ?= 30m
test: deps lint
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

unit:
	$(GO) test -race -count=1 -short ./...

integration: deps
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./integration/...

## stress: the soak test (TestSoak: concurrent writers and readers with
## faults injected, RSS bounded) for 10 minutes instead of make test's 20 s,
## with -race. Not part of `make test`. STRESS_DURATION sets another
## length; STRESS_RACE=1 also builds obsfs with -race (its RSS is then not
## bounded); OBSFS_SOAK_SEED replays a run.
STRESS_DURATION ?= 10m
STRESS_RACE     ?=
stress: deps
	OBSFS_SOAK_DURATION=$(STRESS_DURATION) OBSFS_SOAK_RACE=$(STRESS_RACE) \
		$(GO) test -race -count=1 -run '^TestSoak$$' -v -timeout 60m ./integration/

## bench: the benchmarks of ./integration (end-to-end mount vs direct
## obsclient, obsfs vs s3fs on the same MinIO, and the client's own),
## without -race; then one summary line per end-to-end benchmark and the
## peers' tables. Not part of `make test`. BENCH and BENCHTIME select
## others, e.g. `make bench BENCH=UploadPart BENCHTIME=64x`. It installs
## what it needs with apt-get (tc, s3fs) and stops with one line if it
## cannot.
BENCH     ?= .
BENCHTIME ?= 5x
# tc: BenchmarkRead1GiBShaped shapes lo; s3fs: the peer of BenchmarkMetadataMix and BenchmarkSmallFiles.
BENCH_PACKAGES := $(PACKAGES) tc:iproute2 s3fs:s3fs
bench: minio
	@$(MAKE) -s packages PACKAGES="$(BENCH_PACKAGES)" || true # one apt-get update for all
	@for pc in $(BENCH_PACKAGES); do command -v $${pc%%:*} >/dev/null 2>&1 || \
		{ echo "error: $${pc%%:*} is not installed and apt-get could not install it (package $${pc#*:}): make bench needs it" >&2; exit 1; }; done
	@test -e /dev/fuse || { echo "error: /dev/fuse is missing: FUSE is not available on this machine" >&2; exit 1; }
	@set -o pipefail; out=$$(mktemp); \
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -timeout 120m ./integration/ | tee $$out; \
	status=$$?; \
	awk 'BEGIN { head = 0 } \
		/^Benchmark/ { v = ""; for (i = 3; i < NF; i += 2) if ($$(i+1) != "ns/op") v = v " " $$(i+1) "=" $$i; \
			if (v ~ / ratio=/) { if (!head++) print "\nsummary (ratio = mount MiB/s / direct MiB/s, goal >= 0.9):"; \
				r = v; sub(/.* ratio=/, "", r); sub(/ .*/, "", r); \
				md = v; sub(/.* ratio-median=/, "", md); sub(/ .*/, "", md); \
				printf "  %-24s ratio %s, median of iterations %s  (%s)\n", $$1, r, md, substr(v, 2) } } \
		/ per tool:$$/ { print "\n" $$0; table = 1; next } \
		table && /^(\||  )/ { print; next } { table = 0 }' $$out; \
	rm -f $$out; exit $$status

clean:
	rm -rf bin
