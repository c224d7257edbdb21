# Berth's build. `make help` lists the targets.

PREFIX       ?= /usr/local
SYSTEMD_DIR  ?= /etc/systemd/system
BUNDLES      := bundles
GO           ?= go
PKG          := github.com/berth-engine/berth
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
COMMIT       ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILDTIME    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS      := -s -w -X $(PKG)/internal/version.Version=$(VERSION) \
                -X $(PKG)/internal/version.GitCommit=$(COMMIT) \
                -X $(PKG)/internal/version.BuildTime=$(BUILDTIME)
GOBUILD      := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
UNIT_PKGS     = $(shell $(GO) list ./... | grep -v /integration)

.DEFAULT_GOAL := help
.PHONY: help binary run test test-unit test-integration bench lint install clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

binary: ## Build berthd, berth and berth-shim into bundles/ (all static; berth-shim links libseccomp with cgo)
	$(GOBUILD) -o $(BUNDLES)/berthd ./cmd/berthd
	$(GOBUILD) -o $(BUNDLES)/berth ./cmd/berth
	CGO_ENABLED=1 $(GO) build -tags "seccomp netgo osusergo" -trimpath -ldflags "$(LDFLAGS) -linkmode external -extldflags -static" -o $(BUNDLES)/berth-shim ./cmd/berth-shim

run: binary ## Build and start berthd on its defaults (as root: /run/berth.sock, /var/lib/berth)
	./$(BUNDLES)/berthd

test: test-unit test-integration ## Run every test (unit and integration; as root)

test-unit: ## Unit tests, with the race detector
	$(GO) test -race -count=1 $(UNIT_PKGS)

test-integration: binary ## Integration suites: start real berthd processes and drive them with the API, berth and docker
	BERTHD_BIN=$(CURDIR)/$(BUNDLES)/berthd BERTH_BIN=$(CURDIR)/$(BUNDLES)/berth \
		$(GO) test -count=1 -timeout 20m ./integration/...

RUNC_VERSION ?= v1.5.2

# runbench goes first: the benchmarks that create and delete thousands of
# files (volumes, image layers) leave an ext4 without a journal walking past
# them on every create for minutes after (see hack/pullbench), which would
# land in its timings.
bench: binary $(BUNDLES)/tools/runc ## Benchmarks: the VolumeStore, the json-file log, the runtime spec (go test -bench) and berthd through its socket (hack/runbench, volbench, imgbench, pullbench, netbench)
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./volume/store/
	$(GO) test -run '^$$' -bench . ./container/logger/jsonfile/ ./container/spec/
	$(GO) run ./hack/runbench -berthd $(BUNDLES)/berthd -runc $(BUNDLES)/tools/runc
	$(GO) run ./hack/volbench -berthd $(BUNDLES)/berthd
	$(GO) run ./hack/imgbench -berthd $(BUNDLES)/berthd
	$(GO) run ./hack/pullbench -berthd $(BUNDLES)/berthd
	CGO_ENABLED=0 $(GO) run ./hack/netbench -berthd $(BUNDLES)/berthd

# runc, for runbench's floor: the same libcontainer release berth-shim embeds.
$(BUNDLES)/tools/runc:
	CGO_ENABLED=1 GOBIN=$(CURDIR)/$(BUNDLES)/tools $(GO) install -tags seccomp github.com/opencontainers/runc@$(RUNC_VERSION)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

install: binary ## Install the binaries into $(PREFIX)/bin and the systemd units into $(SYSTEMD_DIR)
	install -D -m 0755 $(BUNDLES)/berthd $(DESTDIR)$(PREFIX)/bin/berthd
	install -D -m 0755 $(BUNDLES)/berth $(DESTDIR)$(PREFIX)/bin/berth
	install -D -m 0755 $(BUNDLES)/berth-shim $(DESTDIR)$(PREFIX)/bin/berth-shim
	install -D -m 0644 contrib/init/systemd/berth.service $(DESTDIR)$(SYSTEMD_DIR)/berth.service
	install -D -m 0644 contrib/init/systemd/berth.socket $(DESTDIR)$(SYSTEMD_DIR)/berth.socket
	@if [ -z "$(DESTDIR)" ] && ! getent group berth >/dev/null; then groupadd --system berth; fi

clean: ## Remove build output
	rm -rf $(BUNDLES)
