#!/usr/bin/env bash
# kafka.sh starts and stops the single-node Apache Kafka broker (KRaft, no
# ZooKeeper) that the integration tests run against.
#
#   scripts/kafka.sh start     # prints the bootstrap address, e.g. 127.0.0.1:39092
#   scripts/kafka.sh stop
#   scripts/kafka.sh restart   # stop and start again: same data, same ports
#   scripts/kafka.sh env       # prints the SASL_SSL listener's RISKD_TEST_* variables
#
# Besides the plaintext listener, whose address start prints, the broker has
# a SASL_SSL one on a port of its own, for the tests of riskd's TLS and SASL
# settings: its certificate (for 127.0.0.1 and localhost) is signed by a CA
# made at start ($dir/tls/ca.pem), it checks a client certificate when one
# is presented (ssl.client.auth=requested; $dir/tls/client.pem and
# client.key are one signed by that CA), and it takes PLAIN, SCRAM-SHA-256 and
# SCRAM-SHA-512 logins of the user riskd, whose password, random per start,
# is in $dir/sasl/password (the SCRAM credentials are written at format
# time). `eval "$(scripts/kafka.sh env)"` exports RISKD_TEST_KAFKA_SASL (the
# listener's address), RISKD_TEST_KAFKA_CA, RISKD_TEST_KAFKA_SASL_USER and
# RISKD_TEST_KAFKA_SASL_PASSWORD_FILE (and RISKD_TEST_KAFKA_CLIENT_CERT and
# _KEY); scripts/with-services.sh does.
#
# The jars come from Maven Central through scripts/kafka/pom.xml and are cached
# in $RISKD_CACHE (default ~/.cache/riskd), so only the first run downloads;
# runs that start at once wait for that one download (flock), which lands
# in the cache by a rename, whole or not at all.
# Each start formats a fresh data folder under $RISKD_RUN (default
# /tmp/riskd-services; scripts/with-services.sh gives each run its own) and
# listens on free loopback ports only (broker and controller), claimed
# against other runs (see lib.sh); a port taken by another process during
# start-up means a new start on other ports. A restart keeps the folder and
# the ports (they stay claimed while the broker is down), as a broker
# restarted in place does: the broker-restart test needs its clients to
# find it where it was, with the topics and offsets it had.
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
	mkdir -p "$(dirname "$libs")"
	# One download at a time (mvn's ~/.m2 is not safe for two either); a run
	# that waited finds the jars there.
	if command -v flock >/dev/null; then
		exec 9>>"$(dirname "$libs")/.lock"
		flock 9
	fi
	if [ ! -f "$libs/.complete" ]; then
		echo "kafka.sh: fetching Apache Kafka $version jars from Maven Central into $libs" >&2
		local tmp
		tmp=$(mktemp -d "$libs.XXXXXX")
		if ! mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
			-DincludeScope=runtime -DoutputDirectory="$tmp" >&2; then
			rm -rf "$tmp"
			die "mvn dependency:copy-dependencies failed (is Maven Central reachable?)"
		fi
		touch "$tmp/.complete"
		chmod 755 "$tmp"
		rm -rf "$libs" # an incomplete download of before
		mv -T "$tmp" "$libs" 2>/dev/null || rm -rf "$tmp" # without flock another run may have won
		[ -f "$libs/.complete" ] || die "could not move the jars into $libs"
	fi
	exec 9>&- # not inherited by the broker
}

start() {
	command -v java >/dev/null || die "java not found: install a JDK 17 or newer (apt-get install openjdk-17-jre-headless)"
	fetch
	stop
	local address
	for _ in 1 2 3 4 5; do
		launch
		if [ -n "$address" ]; then
			echo "$address"
			return
		fi
		echo "kafka.sh: a port of the broker was taken during start-up; starting again on others" >&2
	done
	die "broker did not start: its ports were taken during start-up five times running; see $dir/server.log"
}

# launch formats a fresh broker in $dir on newly claimed ports and starts it.
# It sets address to the bootstrap address once the broker runs, or leaves
# it empty when another process took one of the ports first.
launch() {
	address=
	release_ports
	rm -rf "$dir"
	mkdir -p "$dir/data"
	local port cport sport
	port=$(free_port)
	cport=$(free_port)
	while [ "$port" = "$cport" ]; do cport=$(free_port); done
	sport=$(free_port)
	while [ "$sport" = "$port" ] || [ "$sport" = "$cport" ]; do sport=$(free_port); done
	secrets
	configure
	local cluster password
	password=$(cat "$dir/sasl/password")
	cluster=$("${java[@]}" kafka.tools.StorageTool random-uuid 2>>"$dir/stderr") ||
		die "StorageTool random-uuid failed: $(tail -5 "$dir/stderr")"
	"${java[@]}" kafka.tools.StorageTool format -t "$cluster" -c "$dir/server.properties" \
		--add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$password]" \
		--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$password]" \
		>>"$dir/format.log" 2>&1 || die "StorageTool format failed: $(tail -5 "$dir/format.log")"
	boot "$port"
}

# sasl_user is the user of the SASL_SSL listener's logins.
sasl_user=riskd

# secrets makes what the SASL_SSL listener needs in $dir: a CA, the
# broker's certificate and key signed by it (PKCS#8 PEM, as Kafka reads
# it), a client certificate and key signed by it, and the password of
# $sasl_user, random, readable by its owner only.
secrets() {
	command -v openssl >/dev/null || die "openssl not found: install it (apt-get install openssl)"
	local tls=$dir/tls
	mkdir -p "$tls" "$dir/sasl"
	chmod 700 "$dir/sasl"
	(umask 077 && openssl rand -hex 24 >"$dir/sasl/password")
	{
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=riskd test CA" \
			-keyout "$tls/ca.key" -out "$tls/ca.pem" &&
			openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
				-keyout "$tls/broker.key" -out "$tls/broker.csr" &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/broker.ext" &&
			openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
				-days 2 -extfile "$tls/broker.ext" -out "$tls/broker.pem" &&
			openssl pkcs8 -topk8 -nocrypt -in "$tls/broker.key" -out "$tls/broker.pk8" &&
			openssl req -newkey rsa:2048 -nodes -subj "/CN=$sasl_user" \
				-keyout "$tls/client.key" -out "$tls/client.csr" &&
			printf 'extendedKeyUsage=clientAuth\n' >"$tls/client.ext" &&
			openssl x509 -req -in "$tls/client.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
				-days 2 -extfile "$tls/client.ext" -out "$tls/client.pem"
	} >>"$dir/openssl.log" 2>&1 || die "openssl could not make the test certificates: $(tail -5 "$dir/openssl.log")"
	# Kafka's PEM key store is one file: the key, then the certificate chain.
	cat "$tls/broker.pk8" "$tls/broker.pem" "$tls/ca.pem" >"$tls/keystore.pem"
	chmod 600 "$tls"/*.key "$tls/broker.pk8" "$tls/keystore.pem"
}

# configure writes the broker's and its logger's settings into $dir for
# $port, $cport and $sport (the SASL_SSL listener, with the secrets of
# $dir), and sets java to the command line that runs Kafka's tools.
configure() {
	local password
	password=$(cat "$dir/sasl/password")
	(umask 077 && : >"$dir/server.properties") # it holds the PLAIN password
	cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport,SASL_SSL://127.0.0.1:$sport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://127.0.0.1:$sport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$dir/tls/keystore.pem
listener.name.sasl_ssl.ssl.truststore.type=PEM
listener.name.sasl_ssl.ssl.truststore.location=$dir/tls/ca.pem
listener.name.sasl_ssl.ssl.client.auth=requested
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$password";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
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
	java=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
		-Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$libs/*")
}

# boot starts the broker configured in $dir, listening on $1, and waits
# until it runs. It sets address, or leaves it empty when another process
# took one of the ports first.
boot() {
	local mark
	mark=$(wc -l <"$dir/server.log" 2>/dev/null || echo 0)
	nohup "${java[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/stdout" 2>>"$dir/stderr" </dev/null &
	echo $! >"$dir/pid"
	for _ in $(seq 1 600); do
		# Not grep -q: under pipefail, tail killed by SIGPIPE when grep
		# quits at the match (a long log, as after a restart) fails the test.
		if tail -n +"$((mark + 1))" "$dir/server.log" 2>/dev/null | grep "Kafka Server started" >/dev/null; then
			address=127.0.0.1:$1
			echo "$address" >"$dir/address"
			echo "127.0.0.1:$sport" >"$dir/sasl-address"
			return
		fi
		if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
			rm -f "$dir/pid"
			port_conflict "$dir/server.log" "$dir/stderr" "$dir/stdout" && return
			die "broker exited during start-up; see $dir/server.log: $(tail -5 "$dir/stderr" "$dir/server.log" 2>/dev/null)"
		fi
		sleep 0.1
	done
	stop
	die "broker did not start within 60 s; see $dir/server.log"
}

# restart stops the broker of $dir and starts it again on its data and
# ports (read back from its settings).
restart() {
	[ -f "$dir/server.properties" ] || die "no broker to restart in $dir: run kafka.sh start first"
	stop 300
	local port cport sport
	port=$(sed -n 's/^listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\),.*/\1/p' "$dir/server.properties")
	cport=$(sed -n 's/^controller.quorum.voters=1@127.0.0.1:\([0-9]*\)$/\1/p' "$dir/server.properties")
	sport=$(sed -n 's/^listeners=.*SASL_SSL:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$dir/server.properties")
	[ -n "$port" ] && [ -n "$cport" ] && [ -n "$sport" ] || die "cannot read the ports of $dir/server.properties"
	configure
	local address
	boot "$port"
	[ -n "$address" ] || die "a port of the broker was taken while it was down; see $dir/server.log"
	echo "$address"
}

# env prints the SASL_SSL listener's test variables as shell assignments.
print_env() {
	[ -f "$dir/sasl-address" ] || die "no broker started in $dir: run kafka.sh start first"
	echo "RISKD_TEST_KAFKA_SASL=$(cat "$dir/sasl-address")"
	echo "RISKD_TEST_KAFKA_CA=$dir/tls/ca.pem"
	echo "RISKD_TEST_KAFKA_SASL_USER=$sasl_user"
	echo "RISKD_TEST_KAFKA_SASL_PASSWORD_FILE=$dir/sasl/password"
	echo "RISKD_TEST_KAFKA_CLIENT_CERT=$dir/tls/client.pem"
	echo "RISKD_TEST_KAFKA_CLIENT_KEY=$dir/tls/client.key"
	echo "export RISKD_TEST_KAFKA_SASL RISKD_TEST_KAFKA_CA RISKD_TEST_KAFKA_SASL_USER RISKD_TEST_KAFKA_SASL_PASSWORD_FILE RISKD_TEST_KAFKA_CLIENT_CERT RISKD_TEST_KAFKA_CLIENT_KEY"
}

case "${1:-}" in
start) start ;;
restart) restart ;;
env) print_env ;;
stop)
	stop
	release_ports
	;;
*) die "usage: kafka.sh start|restart|stop|env" ;;
esac
