# driftwatch: build, test, demo.
#
# kube-apiserver and etcd are built from source through the Go module proxy
# (no download site is reachable) into a per-version cache outside the repo:
# $(DRIFTWATCH_CACHE)/envtest. The first build takes several minutes.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin
GOTESTFLAGS ?=
# TESTTIMEOUT bounds each package's test binary (go test's default is 10m);
# the slowest is cmd/driftwatch with DRIFTWATCH_LONG_TESTS=1. Packages run
# in parallel, GOMAXPROCS at a time (go test's -p default).
TESTTIMEOUT ?= 30m
# HOSTARCH is this machine's architecture: the image test runs the static
# binary it packs, so make test builds that one for this machine.
HOSTARCH  ?= $(shell $(GO) env GOARCH)

export GOTOOLCHAIN := local

.PHONY: all build deps envtest test test-unit demo vet fmt clean bench docs fuzz image dist tidy-check helm-golden FORCE

# deps installs git and chromium from Debian's archive when missing.
deps:
	@bash .ci/deps.sh

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/driftwatch ./cmd/driftwatch

# envtest builds (or finds in the cache) kube-apiserver, etcd and kubectl.
envtest:
	@bash .ci/envtest.sh

# test runs every unit and integration test against a real API server and
# a real Git server (git http-backend on 127.0.0.1).
# DRIFTWATCH_REQUIRE_APISERVER=1 makes a missing API server fail the
# integration tests instead of skipping them (plain go test skips them);
# DRIFTWATCH_REQUIRE_POSTGRES=1 does the same for PostgreSQL (the audit
# log's tests; .ci/deps.sh installs Debian's postgresql).
# The static binary the image test packs is built first, outside go
# test's timeout (DRIFTWATCH_IMAGE_BINARY).
# It prints the fidelity tally: driftwatch's verdicts against the API
# server's own (server-side apply dry runs) on testdata/fidelity.
test: deps tidy-check $(BIN)/driftwatch-linux-$(HOSTARCH)
	@mkdir -p $(BIN) && rm -f $(BIN)/fidelity-tally.txt
	assets="$$(bash .ci/envtest.sh)" && \
	KUBEBUILDER_ASSETS="$$assets" DRIFTWATCH_REQUIRE_APISERVER=1 DRIFTWATCH_REQUIRE_POSTGRES=1 \
	DRIFTWATCH_IMAGE_BINARY=$(CURDIR)/$(BIN)/driftwatch-linux-$(HOSTARCH) \
	DRIFTWATCH_FIDELITY_TALLY=$(CURDIR)/$(BIN)/fidelity-tally.txt \
		$(GO) test -count=1 -timeout $(TESTTIMEOUT) $(GOTESTFLAGS) ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)
	@cat $(BIN)/fidelity-tally.txt

# fuzz runs each fuzz target briefly (FUZZTIME each); new failures are
# written to drift/testdata/fuzz and fail the run.
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzCompare$$' -fuzztime $(FUZZTIME) ./drift/
	$(GO) test -run '^$$' -fuzz '^FuzzParsePathPattern$$' -fuzztime $(FUZZTIME) ./drift/
	$(GO) test -run '^$$' -fuzz '^FuzzPathRoundTrip$$' -fuzztime $(FUZZTIME) ./drift/
	$(GO) test -run '^$$' -fuzz '^FuzzCompactFields$$' -fuzztime $(FUZZTIME) ./drift/

# test-unit runs go test ./... without the API server: the unit tests run
# and the integration tests skip (one line per package says so).
test-unit: $(BIN)/driftwatch-linux-$(HOSTARCH)
	KUBEBUILDER_ASSETS= DRIFTWATCH_REQUIRE_APISERVER= \
	DRIFTWATCH_IMAGE_BINARY=$(CURDIR)/$(BIN)/driftwatch-linux-$(HOSTARCH) \
		$(GO) test -count=1 -timeout $(TESTTIMEOUT) $(GOTESTFLAGS) ./...

demo: build deps
	KUBEBUILDER_ASSETS="$$(bash .ci/envtest.sh)" $(GO) run ./cmd/driftwatch-demo --driftwatch $(BIN)/driftwatch --manifests testdata/demo

# bench runs the Go benchmarks (comparison engine and rendering, a Helm
# chart of 100 templates beside kustomize of the same objects; watch
# latency with 5,000 objects), then driftwatch-bench: driftwatch check
# against a minimal client-go LIST and kubectl diff, memory with and
# without undeclared objects, and watch latency, on one local API server.
# Results go to bench/results.md and bench/results.json. make test never
# runs it. With 100,000 objects (and as many undeclared ConfigMaps as
# noise) it takes about 25 minutes on 2 cores, most of it creating objects.
BENCH_SIZES ?= 1000,10000,100000
BENCH_REPS  ?= 1
BENCH_NOISE ?= 1
bench:
	assets="$$(bash .ci/envtest.sh)" && KUBEBUILDER_ASSETS="$$assets" DRIFTWATCH_REQUIRE_APISERVER=1 \
		$(GO) test -count=1 -run '^$$' -bench . -benchtime 300x ./cmd/driftwatch/
	$(GO) test -count=1 -run '^$$' -bench . ./drift/
	KUBEBUILDER_ASSETS="$$(bash .ci/envtest.sh)" DRIFTWATCH_REQUIRE_APISERVER=1 $(GO) test -count=1 -run '^$$' -bench . -benchtime 120x ./drift/pipeline/reports/
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 20x ./gitsource/
	KUBEBUILDER_ASSETS="$$(bash .ci/envtest.sh)" $(GO) run ./cmd/driftwatch-bench --sizes $(BENCH_SIZES) --reps $(BENCH_REPS) --noise-factor $(BENCH_NOISE) --out bench/
	$(GO) run ./cmd/driftwatch-bench fleet --clusters 10,100,1000 --out bench/

# docs regenerates the configuration reference from the code: the
# //go:generate step in cmd/driftwatch/docs.go, so `go generate
# ./cmd/driftwatch` does the same (a test checks docs/reference.md is
# current).
docs:
	$(GO) generate -run 'docs --out' ./cmd/driftwatch

# helm-golden writes testdata/helm/golden again with the helm CLI itself
# (built from source into the cache by .ci/helm.sh, about 5 minutes the
# first time): the renderings gitsource's TestRenderAgreesWithHelmCLI
# holds driftwatch's renderer to.
helm-golden:
	helm="$$(bash .ci/helm.sh)" && cd testdata/helm && \
	"$$helm" template shop ./webapp -f webapp/values-prod.yaml -f webapp/values-extra.yaml \
		--kube-version v1.37.2 --api-versions policy/v1/PodDisruptionBudget --include-crds > golden/webapp.yaml && \
	"$$helm" template edge ./ingress-nginx -f ingress-values.yaml --namespace helm-ingress \
		--kube-version v1.37.2 --api-versions autoscaling/v2 > golden/ingress-nginx.yaml

# tidy-check fails when go.mod or go.sum is not what go mod tidy writes
# (a direct import marked // indirect, a module no longer used), and
# names the command that fixes it. make test runs it first.
tidy-check:
	@$(GO) mod tidy -diff >/dev/null 2>&1 || { $(GO) mod tidy -diff; \
		echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result" >&2; exit 1; }

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }

# image builds the container image without Docker: a static linux/amd64 binary,
# then a docker-loadable image tarball (docker load -i dist/driftwatch-image.tar).
IMAGE ?= ghcr.io/driftwatch/driftwatch
image: $(BIN)/driftwatch-linux-amd64
	$(GO) run ./cmd/driftwatch-image --binary $(BIN)/driftwatch-linux-amd64 --out dist/driftwatch-image.tar --tag $(IMAGE):$(VERSION)

# dist builds the release files into dist/ with cmd/driftwatch-dist: for
# linux and darwin on amd64 and arm64, driftwatch_$(VERSION)_<os>_<arch>.tar.gz
# (the static binary, README.md, LICENSE when there is one) and its SPDX
# SBOM, the krew plugin manifest driftwatch.yaml and checksums.txt
# (docs/install.md). Two runs give the same bytes: every time in them is
# SOURCE_DATE_EPOCH, by default the HEAD commit's.
dist:
	SOURCE_DATE_EPOCH="$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)}" \
		$(GO) run ./cmd/driftwatch-dist --version $(VERSION) --out dist --readme README.md --license "$(wildcard LICENSE)"

# bin/driftwatch-linux-<arch> is the static binary the image packs. go build
# runs every time (FORCE) and its cache decides what to recompile.
$(BIN)/driftwatch-linux-%: FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $@ ./cmd/driftwatch

FORCE:

clean:
	rm -rf $(BIN) dist
