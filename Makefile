# Doorway. `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: build demo test bench bench-quick bench-webhook bench-token lint vet staticcheck fmt-check

build:
	$(GO) build -o bin/doorway ./cmd/doorway

demo:
	$(GO) run ./cmd/doorway demo

# The end-to-end suites that run a second time on PostgreSQL
# (DOORWAY_TEST_STORE=postgres); the conformance suite runs on both in the
# first pass. One throwaway PostgreSQL serves the whole run.
E2E = ./oauth ./web ./guard ./webhook ./internal/cli

test: fmt-check vet staticcheck
	$(GO) run ./internal/pgtest/throwaway -- sh -c '\
	  $(GO) test -race -count=1 ./... && \
	  echo "--- the end-to-end suites again, on PostgreSQL" && \
	  DOORWAY_TEST_STORE=postgres $(GO) test -race -count=1 $(E2E)'

# The load harness (internal/bench): a real doorway serve on SQLite and on
# a throwaway PostgreSQL, against a net/http floor measured in the same run.
# 4 to 5 minutes; BENCHMARKS.md says how to read it. Flags: go run
# ./internal/bench -help (e.g. BENCH_FLAGS='-stores sqlite -profile prof').
bench:
	$(GO) run ./internal/bench $(BENCH_FLAGS)

# The same scenarios, short (under a minute): CI runs it to prove that every
# scenario works. It fails on errors, never on speed.
bench-quick:
	$(GO) run ./internal/bench -quick $(BENCH_FLAGS)

# The webhook dispatcher's Go benchmarks, against a plain POST yardstick.
bench-webhook:
	$(GO) test -run '^$$' -bench . -benchtime 2000x -count 3 ./webhook/

# Scenario a's handler in-process (no network, real SQLite), against a
# hello-world form handler in the same run: where a handler change moves a.
bench-token:
	$(GO) test -run '^$$' -bench 'InstanceToken|HelloForm' -benchtime 20000x -count 3 ./oauth/
	$(GO) test -run '^$$' -bench 'ReadByKey' -count 3 ./store/sqlite/

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
