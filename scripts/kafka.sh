#!/usr/bin/env bash
# kafka.sh starts and stops the single-node Apache Kafka broker (KRaft, no
# ZooKeeper) that the integration tests run against.
#
#   scripts/kafka.sh start   # prints the bootstrap address, e.g. 127.0.0.1:39092
#   scripts/kafka.sh stop
#
# The jars come from Maven Central through scripts/kafka/pom.xml and are cached
# in $RISKD_CACHE (default ~/.cache/riskd), so only the first run downloads.
# Each start formats a fresh data folder under $RISKD_RUN (default
# /tmp/riskd-services) and listens on free loopback ports only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${RISKD_CACHE:-$HOME/.cache/riskd}
run=${RISKD_RUN:-/tmp/riskd-services}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
libs=$cache/kafka-$version/libs
dir=$run/kafka

name=kafka.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

fetch() {
	[ -f "$libs/.complete" ] && return
	command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven) and a JDK 17 or newer"
	echo "kafka.sh: fetching Apache Kafka $version jars from Maven Central into $libs" >&2
	rm -rf "$libs"
	mkdir -p "$libs"
	mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$libs" >&2 ||
		die "mvn dependency:copy-dependencies failed (is Maven Central reachable?)"
	touch "$libs/.complete"
}

start() {
	command -v java >/dev/null || die "java not found: install a JDK 17 or newer (apt-get install openjdk-17-jre-headless)"
	fetch
	stop
	rm -rf "$dir"
	mkdir -p "$dir/data"
	local port cport
	port=$(free_port)
	cport=$(free_port)
	[ "$port" != "$cport" ] || cport=$((port + 1))
	cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=4
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
EOF
	cat >"$dir/log4j2.properties" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
EOF
	local java=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
		-Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$libs/*")
	local cluster
	cluster=$("${java[@]}" kafka.tools.StorageTool random-uuid 2>>"$dir/stderr")
	"${java[@]}" kafka.tools.StorageTool format -t "$cluster" -c "$dir/server.properties" \
		>>"$dir/format.log" 2>&1 || die "StorageTool format failed: $(tail -5 "$dir/format.log")"
	nohup "${java[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/stdout" 2>>"$dir/stderr" </dev/null &
	echo $! >"$dir/pid"
	for _ in $(seq 1 600); do
		if grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; then
			echo "127.0.0.1:$port" >"$dir/address"
			echo "127.0.0.1:$port"
			return
		fi
		kill -0 "$(cat "$dir/pid")" 2>/dev/null ||
			die "broker exited during start-up; see $dir/server.log: $(tail -5 "$dir/stderr" "$dir/server.log" 2>/dev/null)"
		sleep 0.1
	done
	stop
	die "broker did not start within 60 s; see $dir/server.log"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) die "usage: kafka.sh start|stop" ;;
esac
