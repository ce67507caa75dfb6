#!/usr/bin/env bash
# deps.sh installs, on Debian, what the integration tests need besides Go:
# a JDK (17 or newer) and Maven for Apache Kafka, and clickhouse-server. It
# does nothing for what is already there, and says what to install when it
# cannot install itself.
set -euo pipefail

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
[ -x /usr/sbin/clickhouse-server ] || command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
if ! command -v apt-get >/dev/null; then
	echo "deps.sh: install ${missing[*]} (the integration tests need them), then run make test again" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
