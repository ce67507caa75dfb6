# riskd: the two commands of the README are `make demo` and `make test`.
GO       ?= go
BIN      := bin/riskd
GEOIP    := testdata/geoip
CITY     := $(GEOIP)/riskd-test-City.mmdb
ASN      := $(GEOIP)/riskd-test-ASN.mmdb
BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

.PHONY: all build test fuzz demo replay-demo bench bench-replay bench-services geoip scenarios toolchain

all: build

# The Go toolchain comes with the machine image; go.mod names the version,
# and the go command fetches that toolchain from the module proxy when the
# installed one is older.
toolchain:
	@command -v $(GO) >/dev/null || { echo "riskd needs Go 1.21 or newer on PATH (https://go.dev/doc/install); on Debian: apt-get install golang-go, then run make again" >&2; exit 1; }

build: toolchain
	$(GO) build -o $(BIN) ./cmd/riskd

# INTEGRATION are the tests that run against the brokers and ClickHouse;
# `go test -v` shows each of them per broker (kfake, kafka).
INTEGRATION := TestStream|TestRunCommand|TestFault|TestExample|TestSink|TestBacktest|TestClickHouse

# Every test: unit, golden scenarios, the end-to-end replay of the shipped
# traffic, and the integration tests against the embedded broker, a real
# Apache Kafka and Debian's ClickHouse, which scripts/with-services.sh starts
# (and stops).
test: toolchain
	scripts/deps.sh
	$(GO) vet ./...
	$(MAKE) fuzz
	scripts/with-services.sh sh -c '$(GO) test -count=1 -skip "$(INTEGRATION)" ./... && \
		$(GO) test -count=1 -p 1 -v -run "$(INTEGRATION)" ./pipeline/... ./cmd/riskd/ ./examples/... ./storage/...'

# FUZZ lists the fuzz targets as package:Target:EXECS; each runs for EXECS
# executions in `make test` (go test runs one fuzz target at a time), about
# 20 s of each on an idle 2-core machine. A count, not a duration: with a
# duration, go1.26's fuzz coordinator can fail a target with "context
# deadline exceeded" and no crasher when the deadline meets a busy worker
# (golang/go#75804, fixed in go1.27); seen twice here under load. FUZZTIME
# (e.g. FUZZTIME=10m) overrides every count for a longer run by hand. Seed
# corpora live in the packages' testdata/fuzz; a crash found is saved there
# too, and committed with its fix, so it stays a regression case of every
# plain `go test` from then on.
FUZZ     := ./detectors:FuzzStateDecode:300000 ./event:FuzzDecode:200000 ./event:FuzzDecodeMatchesSchema:100000 \
	./pipeline/record:FuzzDecode:200000 ./pipeline/stream:FuzzObservation:30000 ./rules:FuzzLoad:10000
FUZZTIME ?=

fuzz: toolchain
	@for t in $(FUZZ); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$${rest#*:}; \
		budget=$${n}x; [ -z "$(FUZZTIME)" ] || budget=$(FUZZTIME); \
		echo "fuzz $$pkg $$name for $$budget"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $$budget -fuzzminimizetime 5s $$pkg || exit 1; \
	done

# The main job: the whole streaming path on an embedded Kafka-protocol
# broker, fed the shipped labelled traffic, with a report at the end.
# CLICKHOUSE=clickhouse://HOST:PORT/DB also stores and queries the rows
# (e.g. CLICKHOUSE=$$(scripts/clickhouse.sh start)).
demo: build
	./$(BIN) demo --events testdata/scenarios/traffic.jsonl --labels testdata/scenarios/labels.json \
		--geoip-city $(CITY) --geoip-asn $(ASN) $(if $(CLICKHOUSE),--clickhouse $(CLICKHOUSE))

# The same traffic offline, through `riskd replay`.
replay-demo: build
	./$(BIN) replay --events testdata/scenarios/traffic.jsonl --geoip-city $(CITY) --geoip-asn $(ASN) \
		--labels testdata/scenarios/labels.json --out bin/decisions.jsonl
	@echo "decisions written to bin/decisions.jsonl"

# Benchmarks of the engine, six runs each, summarised by benchstat (see
# benchmarks/README.md).
bench: toolchain
	@mkdir -p bin
	$(GO) test -run '^$$' -bench 'Decode|UserStage|Rules|Replay|CacheHit|LookupUncached' -benchmem -count 6 ./benchmarks/ ./pipeline/geoip/ | tee bin/bench.txt
	$(GO) run $(BENCHSTAT) bin/bench.txt

# riskd replay against its floor (a read-and-decode-to-map loop over the
# same half a million unseen events), in alternation: PAIRS pairs.
PAIRS ?= 5
bench-replay: toolchain
	scripts/replay-vs-floor.sh $(PAIRS)

# The streaming path (riskd run against a bare kafka-go group and a bare
# copy hop, each in the same run), the ClickHouse writer and the state
# restore (1,000,000 users), against the embedded broker, Apache Kafka and
# ClickHouse (started and stopped around them).
bench-services: toolchain
	scripts/deps.sh
	@mkdir -p bin
	scripts/with-services.sh sh -c '$(GO) test -run "^$$" -bench "MemberVsGroup" -benchtime 3x -timeout 30m ./benchmarks/ && \
		$(GO) test -run "^$$" -bench "LatencyVsHop" -benchtime 2x -timeout 30m ./benchmarks/ && \
		$(GO) test -run "^$$" -bench "StreamThroughput|ClickHouseWrite" -benchtime 3x -count 3 ./benchmarks/ && \
		$(GO) test -run "^$$" -bench StreamLatency -benchtime 300x -count 3 ./benchmarks/ && \
		$(GO) test -run "^$$" -bench Restore -benchtime 2x -benchmem -timeout 30m ./pipeline/stream/' | tee bin/bench-services.txt

# Rebuild the test GeoIP databases from testdata/geoip/networks.csv.
geoip: toolchain
	$(GO) run ./testdata/geoip/build.go

# Regenerate the shipped labelled traffic.
scenarios: toolchain
	$(GO) run ./testdata/scenarios/gen.go
