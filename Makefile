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

export GOTOOLCHAIN := local

.PHONY: all build envtest test test-unit demo vet fmt clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/driftwatch ./cmd/driftwatch

# envtest builds (or finds in the cache) kube-apiserver, etcd and kubectl.
envtest:
	@bash .ci/envtest.sh

# test runs every unit and integration test against a real API server and
# a real Git server (git http-backend on 127.0.0.1).
# It prints the fidelity tally: driftwatch's verdicts against the API
# server's own (server-side apply dry runs) on testdata/fidelity.
test:
	@command -v git >/dev/null || { echo "git is required (apt-get install git)"; exit 2; }
	@mkdir -p $(BIN) && rm -f $(BIN)/fidelity-tally.txt
	KUBEBUILDER_ASSETS="$$(bash .ci/envtest.sh)" DRIFTWATCH_FIDELITY_TALLY=$(CURDIR)/$(BIN)/fidelity-tally.txt \
		$(GO) test $(GOTESTFLAGS) -count=1 ./...
	@cat $(BIN)/fidelity-tally.txt

# test-unit runs the tests that need neither API server nor envtest build.
test-unit:
	$(GO) test -count=1 ./drift/... ./gitsource/...

demo: build
	KUBEBUILDER_ASSETS="$$(bash .ci/envtest.sh)" $(GO) run ./cmd/driftwatch-demo --driftwatch $(BIN)/driftwatch --manifests testdata/demo

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }

clean:
	rm -rf $(BIN)
