# Shoal — make targets. `make test` is the default test run (what CI runs).
GO ?= go

.PHONY: ui-test test vet unit sim-smoke fuzz-smoke bench-smoke bench bench-cluster bench-durable bench-scale run cluster image compose-up compose-down e2e sim

test: vet unit sim-smoke fuzz-smoke bench-smoke

# The modules of this repository besides the root one: Kubernetes
# discovery and what imports it live in modules of their own, so that a
# program importing only the library does not pull client-go. Each
# replaces github.com/shoalhq/shoal with this checkout.
MODULES := discovery/kubernetes discovery/all cmd/houseparty test/kube

vet:
	$(GO) vet ./...
	for m in $(MODULES); do $(GO) vet -C $$m ./... || exit 1; done
	cd bench && $(GO) vet ./...
	cd test/ui && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...
	for m in $(MODULES); do $(GO) test -C $$m -race -count=1 ./... || exit 1; done

# The registry's state machine under the seeded fault simulator, at
# length (a failing seed prints the command that replays it). `make unit`
# runs the first 300 schedules under the race detector, sim-smoke 5,000
# without it.
SIM_SCHEDULES ?= 100000
sim-smoke:
	$(GO) test -count=1 -run TestSimulation ./registry/internal/dirsim -sim.schedules=5000

sim:
	$(GO) test -count=1 -timeout 60m -run TestSimulation ./registry/internal/dirsim -sim.schedules=$(SIM_SCHEDULES)

# The benchmarks, tiny, to prove they still build and run.
bench-smoke:
	cd bench && $(GO) build -o ../bin/localbench ./cmd/localbench && $(GO) build -o ../bin/hollywoodchild ./cmd/hollywoodchild && ../bin/localbench -n 20000 -casts 20000 -calls 2000 -runs 1
	cd bench && $(GO) build -o ../bin/clusterbench ./cmd/clusterbench && $(GO) build -o ../bin/hollywoodchild ./cmd/hollywoodchild && ../bin/clusterbench -n 2000 -lookups 20000 -casts 20000 -calls 1000 -handoff 2000 -runs 1

# The full comparative benchmark recorded in BENCHMARKS.md (several
# minutes): Shoal, Proto.Actor-Go and Hollywood (a child binary of its
# own: both peers register actor.proto with protobuf) and the Go channel
# limit, one table.
bench:
	cd bench && $(GO) build -o ../bin/localbench ./cmd/localbench && $(GO) build -o ../bin/hollywoodchild ./cmd/hollywoodchild && ../bin/localbench -n 1000000 -casts 2000000 -calls 200000 -runs 3

# The cluster benchmark recorded in BENCHMARKS.md: registry on 3 nodes,
# remote messaging (1 and 16 senders) against Proto.Actor-Go's remote and
# Hollywood's (plain and TLS; in hollywoodchild, as for bench), each
# beside its TLS limit, handoff on graceful leave (a few minutes).
bench-cluster:
	cd bench && $(GO) build -o ../bin/clusterbench ./cmd/clusterbench && $(GO) build -o ../bin/hollywoodchild ./cmd/hollywoodchild && ../bin/clusterbench -n 100000 -workers 64 -lookups 2000000 -casts 2000000 -calls 100000 -handoff 100000 -runs 3

# The durability benchmark recorded in BENCHMARKS.md (issue 11): calls
# to counters on 3 nodes with checkpoints off, async and sync, beside the
# same state written on every call to PostgreSQL 15 and to Redis (each
# started by the benchmark on a unix socket); memory per checkpointed
# process. Installs the two databases from Debian if missing.
bench-durable:
	test -x /usr/lib/postgresql/15/bin/postgres || (apt-get update && apt-get install -y postgresql-15)
	command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)
	cd bench && $(GO) build -o ../bin/durabench ./cmd/durabench && ../bin/durabench -runs 3

# The scale benchmark of the partitioned registry recorded in BENCHMARKS.md
# (issue 10; about 25 minutes): heap, lookups and a join on 10 nodes, and
# registrations on 3 nodes against clusterbench built from $(SCALE_OLD),
# the last commit before issue 10 (extracted by git archive under bin/, so
# the clone must hold that commit). SCALE_FLAGS are scalebench's flags.
SCALE_OLD ?= 00cf116
SCALE_FLAGS ?= -n 300000 -runs 3
bench-scale:
	rm -rf bin/old-$(SCALE_OLD) && mkdir -p bin/old-$(SCALE_OLD)
	git archive $(SCALE_OLD) | tar -x -C bin/old-$(SCALE_OLD)
	cd bin/old-$(SCALE_OLD)/bench && $(GO) build -o ../../clusterbench-$(SCALE_OLD) ./cmd/clusterbench
	cd bench && $(GO) build -o ../bin/scalebench ./cmd/scalebench && ../bin/scalebench -old ../bin/clusterbench-$(SCALE_OLD) $(SCALE_FLAGS)

# The live view in a real browser (test/ui, its own module): Debian's
# chromium, installed here if missing, driven by chromedp against real
# nodes on loopback. Screenshots of each state go to $(UI_OUT).
UI_OUT ?= $(CURDIR)/bin/ui
ui-test:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	cd test/ui && UI_OUT='$(UI_OUT)' $(GO) test -count=1 -v -timeout 10m ./...

run:
	$(GO) run -C cmd/houseparty .

# Three nodes on this machine, one cookie, static discovery (Ctrl-C stops).
cluster:
	./scripts/local-cluster.sh 3

# Each fuzz target of a network decoder, briefly (the seeds also run in unit).
# A count of inputs, not a duration: when a duration ends while a worker is
# busy, go test can fail the run with "context deadline exceeded".
FUZZ_TIME ?= 40000x
fuzz-smoke:
	$(GO) test -run '^$$' -fuzz '^FuzzReadFrame$$' -fuzztime $(FUZZ_TIME) ./transport
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeHello$$' -fuzztime $(FUZZ_TIME) ./transport
	$(GO) test -run '^$$' -fuzz '^FuzzNextFrame$$' -fuzztime $(FUZZ_TIME) ./transport
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMeta$$' -fuzztime $(FUZZ_TIME) ./cluster
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeNotice$$' -fuzztime $(FUZZ_TIME) ./cluster
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePacket$$' -fuzztime $(FUZZ_TIME) ./discovery/gossip
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZ_TIME) ./codec
	$(GO) test -run '^$$' -fuzz '^FuzzFastMatchesLibrary$$' -fuzztime $(FUZZ_TIME) ./codec
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeFrame$$' -fuzztime $(FUZZ_TIME) ./remote
	$(GO) test -run '^$$' -fuzz '^FuzzDirectoryMessage$$' -fuzztime $(FUZZ_TIME) ./registry
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeState$$' -fuzztime $(FUZZ_TIME) ./registry
	$(GO) test -run '^$$' -fuzz '^FuzzWire$$' -fuzztime $(FUZZ_TIME) ./registry/internal/directory
# The container image: the static binary, built here (no image can be
# pulled), copied into an image FROM scratch. IMAGE names it.
IMAGE ?= shoal/houseparty:latest
image:
	@GO='$(GO)' IMAGE='$(IMAGE)' ./scripts/image.sh

# A fresh random cookie for the compose cluster; never committed.
deploy/cookie.env:
	umask 077 && printf 'SHOAL_COOKIE=%s\n' "$$(openssl rand -base64 32)" > $@

# The 3-node compose cluster (deploy/compose.yaml) on this machine; the
# entry node's HTTP port is 127.0.0.1:4001.
compose-up: image deploy/cookie.env
	docker-compose -f deploy/compose.yaml -p houseparty up -d

compose-down:
	docker-compose -f deploy/compose.yaml -p houseparty down -v --remove-orphans -t 30

# The cluster in containers, end to end: scale-out, rolling update with
# SIGTERM, SIGKILL, partition and heal under a running party (about 6 min).
e2e: image
	./scripts/e2e.sh

include mk/kube.mk
