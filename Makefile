# Shoal — make targets. `make test` is the default test run (what CI runs).
GO ?= go

.PHONY: test vet unit bench-smoke bench run

test: vet unit bench-smoke

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

# The comparative benchmark, tiny, to prove it still builds and runs.
bench-smoke:
	cd bench && $(GO) run ./cmd/localbench -n 20000 -casts 20000 -calls 2000 -runs 1

# The full comparative benchmark recorded in BENCHMARKS.md (several minutes).
bench:
	cd bench && $(GO) build -o ../bin/localbench ./cmd/localbench && ../bin/localbench -n 1000000 -casts 2000000 -calls 200000 -runs 3

run:
	$(GO) run ./cmd/houseparty
