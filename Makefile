# berth: two commands on a fresh machine.
#   make demo   builds berth, its shim and the example guests, builds images and runs them
#               (the http-server detached, with a published port and a curl)
#   make test   the fast test suite (what .ci/run runs, with the slow suites beside it)
GO       ?= go
BIN      := bin
BERTH    := $(BIN)/berth
DEMO_ROOT ?= $(CURDIR)/.demo-root
export GOFLAGS := -buildvcs=false

SHIM     := $(BIN)/containerd-shim-berth-v1

.PHONY: all shim berth demo test test-race fuzz bench vet clean guests conformance

all: berth shim

# The containerd runtime v2 shim (runtime type io.containerd.berth.v1) and berth-guest,
# the process it runs for each container: put both on containerd's PATH.
shim:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(SHIM) ./cmd/containerd-shim-berth-v1
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/berth-guest ./cmd/berth-guest

# bin/berth is the core build (-tags berth_core): the commands of containers and stored
# images, without the registry client, builder and archive formats, so that it starts
# ~0.6 ms sooner; it execs bin/berth-full, the complete berth, for the rest (pull, push,
# build, load, save, login, logout, shim). Install the two side by side.
berth:
	CGO_ENABLED=0 $(GO) build -trimpath -tags berth_core -o $(BERTH) ./cmd/berth
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/berth-full ./cmd/berth

examples/hello/hello.wasm: examples/hello/main.go
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o $@ ./examples/hello

examples/http-server/http-server.wasm: examples/http-server/main.go examples/http-server/listen_wasip1.go
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o $@ ./examples/http-server

guests: examples/hello/hello.wasm examples/http-server/http-server.wasm

demo: berth shim guests
	@echo "== berth build -t hello:1 examples/hello   (stamped with the last commit's time: reproducible)"
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) BERTH_ROOT=$(DEMO_ROOT) $(BERTH) build -t hello:1 examples/hello
	@echo "== berth images"
	BERTH_ROOT=$(DEMO_ROOT) $(BERTH) images
	@echo "== berth run --rm -e WHO=you hello:1"
	BERTH_ROOT=$(DEMO_ROOT) $(BERTH) run --rm -e WHO=you hello:1
	@echo "== berth run --rm examples/hello/hello.wasm (a local module, like wasmtime run)"
	BERTH_ROOT=$(DEMO_ROOT) $(BERTH) run --rm examples/hello/hello.wasm a b
	@echo "== berth build -t http-server:1 examples/http-server   (Docker's Wasm demo server)"
	BERTH_ROOT=$(DEMO_ROOT) $(BERTH) build -t http-server:1 examples/http-server
	BERTH=$(BERTH) BERTH_ROOT=$(DEMO_ROOT) examples/http-server/demo.sh

vet:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags berth_core ./cmd/berth
	$(GO) build -tags berth_core ./...

# The test command of the README and of .ci/run.
test: vet
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz

# Execution counts, not durations: Go 1.26's fuzz coordinator can fail a target with a
# spurious "context deadline exceeded" when a -fuzztime duration expires (golang/go#75804,
# fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 10000x
fuzz:
	@set -e; for spec in \
	  internal/build:FuzzParse internal/build:FuzzExpand internal/network:FuzzParsePort internal/network:FuzzParseHostRule internal/network:FuzzFromAnnotations \
	  internal/bundle:FuzzUnpack internal/archive:FuzzRead internal/store:FuzzIndex internal/jsonlite:FuzzParse internal/service:FuzzDecodeMeta \
	  internal/cli:FuzzParseVolume internal/cli:FuzzParseEnvFile internal/cli:FuzzParseMemory internal/cli:FuzzParseTimestamp internal/cli:FuzzParseSignal internal/cli:FuzzParsePsFilter \
	  internal/image:FuzzParseName internal/image:FuzzValidRegistry internal/credentials:FuzzParseServer internal/registry:FuzzParseRetryAfter internal/registry:FuzzInsecure internal/shiminstall:FuzzInstall internal/cgroup:FuzzParseCgroupsPath internal/cgroup:FuzzParseProcCgroup internal/engine:FuzzScanModule internal/engine:FuzzParseTrap \
	  internal/logs:FuzzParseOptions internal/logs:FuzzRead internal/logs:FuzzParseURI internal/shimclient:FuzzParseStartResponse internal/shim:FuzzParseBootstrapParams internal/shimclient:FuzzFrames internal/shimclient:FuzzDecode internal/restart:FuzzParse \
	  internal/procstat:FuzzParseStat internal/procstat:FuzzParseStatus internal/procstat:FuzzParseIO internal/procstat:FuzzParseSystemStat internal/procstat:FuzzParseMeminfo \
	  internal/wasi:FuzzPathResolution internal/wasi:FuzzIovecs internal/wasi:FuzzFsFuncs internal/wasi:FuzzPollSock internal/wasi:FuzzWasmEdge; do \
	  pkg=$${spec%%:*}; fn=$${spec##*:}; \
	  echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	  $(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$pkg >/dev/null || \
	    { $(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$pkg; exit 1; }; \
	done

bench: berth
	$(GO) run ./bench/runbench

clean:
	rm -rf $(BIN) $(DEMO_ROOT) examples/hello/hello.wasm

# Test suites nobody here wrote, run against `berth run` on both WASI hosts (BERTH_WASI=wazero
# and berth): Go's standard-library tests for GOOS=wasip1 and, with WASI_TESTSUITE set to a
# checkout of github.com/WebAssembly/wasi-testsuite, its C tests. Prints a table per suite.
# Slow (see docs/conformance.md), so not part of `make test`.
conformance:
	conformance/run.sh

# End-to-end tests (package e2e): the shim under containerd 1.6 and 2.4, Docker Engine 29,
# CRI with crictl and a single-node Kubernetes, each daemon in a private mount and network
# namespace. Needs root and the components .ci/run installs (see e2e/doc.go);
# BERTH_E2E_LOOPS sets the run-loop count. e2e-kube runs the Kubernetes tests alone
# (~40 s, plus ~1–1.5 min for TestKubeInstall's installs, uninstalls and containerd restarts).
.PHONY: e2e e2e-kube
e2e: berth shim
	BERTH_E2E=1 $(GO) test -count=1 -timeout 40m ./e2e/

e2e-kube: berth shim
	BERTH_E2E=1 $(GO) test -count=1 -timeout 15m -run 'TestKube' -v ./e2e/
