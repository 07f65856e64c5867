# builder — see README.md. The quick start is `make image` then `make test`.

# Debian installs Go under /usr/local/go; a non-login shell may not have it.
# bin/tools holds test-only tools built from Go modules (test-deps).
export PATH := $(CURDIR)/bin/tools:/usr/local/go/bin:$(PATH)
export GOFLAGS := -buildvcs=false

VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN         := bin/builder
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GO_FILES    := $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go')

.PHONY: all build test test-deps lint-ci test-short bench lint fmt-check fuzz deps image clean

all: build

build:
	go build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/builder

# The whole suite, as CI runs it. Root and daemon tests skip with a reason
# when run as a normal user; CI sets BUILDER_TEST_REQUIRE=1 to make such
# skips failures.
test: fmt-check test-deps lint-ci
	go vet ./...
	go test -count=1 -timeout 30m ./...
	$(MAKE) build
	./$(BIN) fmt --check recipes
	for r in recipes/*.hcl; do ./$(BIN) validate "$$r" || exit 1; done

# Tools only the tests use, built once into bin/tools: versitygw, the
# S3-compatible server the publish tests run on loopback. As root, also
# the LXD and Incus daemons the import, test and end-to-end tests use (no
# systemd here to start them; both scripts are safe to run again).
VERSITYGW := github.com/versity/versitygw/cmd/versitygw@v1.8.0
test-deps:
	@command -v versitygw >/dev/null || GOBIN=$(CURDIR)/bin/tools go install $(VERSITYGW)
	@if [ "$$(id -u)" = 0 ] && command -v lxd >/dev/null; then ./ci/start-lxd.sh; fi
	@if [ "$$(id -u)" = 0 ] && [ -x /usr/libexec/incus/incusd ]; then ./ci/start-incus.sh; fi

# The CI workflows users copy must stay valid: actionlint checks the
# GitHub one (expressions, contexts, job graph, action inputs).
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
lint-ci:
	go run $(ACTIONLINT) ci/github/nightly.yml

# Unit tests only: no root, no network, seconds.
test-short:
	go test -short ./...

bench:
	go test -run '^$$' -bench . -benchmem ./...

lint: fmt-check
	go vet ./...
	go run $(STATICCHECK) ./...

fmt-check:
	@out=$$(gofmt -l $(GO_FILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fuzz:
	go test ./builder/recipe -run '^$$' -fuzz FuzzLoad -fuzztime 60s

# Installs the Debian packages builds and tests need (as root).
deps:
	./ci/install-deps.sh

# The main job (as root): install what is missing, build the binary, check
# the machine, and build recipes/debian.hcl into out/IMAGE-NAME/.
image: deps build
	./$(BIN) doctor recipes/debian.hcl
	./$(BIN) build recipes/debian.hcl

clean:
	rm -rf bin out
