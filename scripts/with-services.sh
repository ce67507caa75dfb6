#!/usr/bin/env bash
# with-services.sh runs a command with the integration tests' services up:
# Apache Kafka (scripts/kafka.sh) and ClickHouse (scripts/clickhouse.sh). It
# exports their addresses as RISKD_TEST_KAFKA and RISKD_TEST_CLICKHOUSE (and
# the broker's SASL_SSL listener's as RISKD_TEST_KAFKA_SASL, with
# RISKD_TEST_KAFKA_CA, RISKD_TEST_KAFKA_SASL_USER and
# RISKD_TEST_KAFKA_SASL_PASSWORD_FILE: see kafka.sh env), sets
# RISKD_REQUIRE_SERVICES=1 so that a test missing one fails instead of
# skipping, and stops them when the command ends.
#
# Each run has a service folder of its own (data, configs, logs), a fresh
# mktemp -d one unless RISKD_RUN names one, and ports of its own, so two runs
# at once (two `make test` on one machine) leave each other alone. RISKD_RUN
# is exported for the command (the outage tests stop and restart ClickHouse
# through scripts/clickhouse.sh). On exit, also on failure or interrupt, the
# services are stopped and the run's own folder is removed; a folder named by
# RISKD_RUN is kept, for its logs. The exit status is the command's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

name=with-services.sh
dir=
# shellcheck source=lib.sh
. "$here/lib.sh"

own=
if [ -z "${RISKD_RUN:-}" ]; then
	# In /tmp rather than $TMPDIR: under root the ClickHouse server runs as
	# nobody, who must be able to reach its folder.
	RISKD_RUN=$(mktemp -d /tmp/riskd-services.XXXXXX)
	chmod 755 "$RISKD_RUN"
	own=1
fi
export RISKD_RUN

cleanup() {
	local status=$?
	trap '' INT TERM HUP # a second ^C must not leave the services running
	"$here/kafka.sh" stop || true
	"$here/clickhouse.sh" stop || true
	if [ -n "$own" ]; then
		for dir in "$RISKD_RUN/kafka" "$RISKD_RUN/clickhouse"; do
			release_ports || true
		done
		rm -rf "$RISKD_RUN"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

echo "with-services: services' folder $RISKD_RUN$([ -z "$own" ] || echo ' (removed on exit)')" >&2
RISKD_TEST_KAFKA=$("$here/kafka.sh" start)
# The same broker's SASL_SSL listener: RISKD_TEST_KAFKA_SASL, its CA, user
# and password file.
sasl_env=$("$here/kafka.sh" env) # an assignment, so that set -e stops on its failure
eval "$sasl_env"
RISKD_TEST_CLICKHOUSE=$("$here/clickhouse.sh" start)
export RISKD_TEST_KAFKA RISKD_TEST_CLICKHOUSE RISKD_REQUIRE_SERVICES=1
echo "with-services: Apache Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml") (KRaft, from Maven Central jars) at $RISKD_TEST_KAFKA, SASL_SSL (PLAIN, SCRAM-SHA-256/512; CA $RISKD_TEST_KAFKA_CA) at $RISKD_TEST_KAFKA_SASL" >&2
echo "with-services: ClickHouse $(dpkg-query -W -f='${Version}' clickhouse-server 2>/dev/null) (Debian's clickhouse-server, unprivileged) at $RISKD_TEST_CLICKHOUSE" >&2
"$@"
