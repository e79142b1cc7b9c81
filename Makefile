GO       ?= go
CONFIG   ?= configs/tollgate.yaml
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...
# The load benchmark's phase length and flags (see README, Benchmarks).
BENCH_DURATION ?= 10s
BENCH_FLAGS    ?= -scaling
# The Go modules of the repository, each tested, vetted and benchmarked on
# its own: the server; pkg/verify, what other services import (standard
# library and golang-jwt only); the interop tests, which run the built
# server against a real registry and real clients (and alone require them).
MODULES  := . pkg/verify cmd/tollgate/interop
# Runs $(1) in every module's directory, naming the module first.
each_module = @set -e; for m in $(MODULES); do echo "== $$m: $(1)"; (cd $$m && $(1)); done

.PHONY: build run test bench lint fuzz

build: ## build bin/tollgate (static, no cgo)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/tollgate ./cmd/tollgate

run: build ## serve configs/tollgate.yaml, creating dev keys and a dev user on first run
	./bin/tollgate serve --config $(CONFIG) --init-dev

test: lint ## unit, integration and end-to-end tests (real registry, real client), every module
	$(call each_module,$(GO) test -race -count=1 $(PKGS))

bench: ## benchmarks of the hot path, every module; then the load benchmark (bench.json)
	$(call each_module,$(GO) test -run '^$$' -bench . -benchmem $(PKGS))
	$(GO) run ./cmd/tollgate-bench -duration $(BENCH_DURATION) $(BENCH_FLAGS) -json bench.json

fuzz: ## a short fuzzing pass over the parsers
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./pkg/scope

lint: ## gofmt and go vet, every module
	@out=$$(gofmt -l cmd pkg server keys); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(call each_module,$(GO) vet $(PKGS))
