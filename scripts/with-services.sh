#!/usr/bin/env bash
# with-services.sh runs a command with the integration tests' services up:
# Apache Kafka (scripts/kafka.sh) and ClickHouse (scripts/clickhouse.sh). It
# exports their addresses as RISKD_TEST_KAFKA and RISKD_TEST_CLICKHOUSE, sets
# RISKD_REQUIRE_SERVICES=1 so that a test missing one fails instead of
# skipping, and stops them when the command ends.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

stop() {
	"$here/kafka.sh" stop || true
	"$here/clickhouse.sh" stop || true
}
trap stop EXIT

RISKD_TEST_KAFKA=$("$here/kafka.sh" start)
RISKD_TEST_CLICKHOUSE=$("$here/clickhouse.sh" start)
export RISKD_TEST_KAFKA RISKD_TEST_CLICKHOUSE RISKD_REQUIRE_SERVICES=1
echo "with-services: Apache Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml") (KRaft, from Maven Central jars) at $RISKD_TEST_KAFKA" >&2
echo "with-services: ClickHouse $(dpkg-query -W -f='${Version}' clickhouse-server 2>/dev/null) (Debian's clickhouse-server, unprivileged) at $RISKD_TEST_CLICKHOUSE" >&2
"$@"
