#!/bin/sh
# replay-vs-floor.sh [PAIRS]: times `riskd replay` against its floor, a loop
# that only reads the same file and JSON-decodes each line into a map, in
# alternation on the same machine (absolute times on a shared machine lie;
# the ratio of neighbours does not). The events (about half a million, a
# seed the shipped traffic does not use) are generated once into bin/.
set -eu
cd "$(dirname "$0")/.."
pairs=${1:-5}
mkdir -p bin
go build -o bin/riskd ./cmd/riskd
go build -o bin/floor ./benchmarks/floor
events=bin/replay-floor-events.jsonl
[ -s "$events" ] || bin/floor gen "$events"
geo=testdata/geoip
# secs CMD...: runs CMD quietly and prints its wall time in seconds.
secs() {
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	echo $(( $(date +%s%N) - t0 ))
}
for i in $(seq "$pairs"); do
	f=$(secs bin/floor decode "$events")
	r=$(secs bin/riskd replay --events "$events" --geoip-city $geo/riskd-test-City.mmdb \
		--geoip-asn $geo/riskd-test-ASN.mmdb --out bin/replay-floor-decisions.jsonl)
	echo "$f $r" | awk '{printf "floor %.2fs  replay %.2fs  ratio %.2f\n", $1/1e9, $2/1e9, $2/$1}'
done
