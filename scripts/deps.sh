#!/usr/bin/env bash
# deps.sh installs, on Debian, what the integration tests need besides Go:
# a JDK (17 or newer) and Maven for Apache Kafka, clickhouse-server, and
# prometheus for its promtool, which checks and unit-tests the alert rules
# under deploy/prometheus (the prometheus service itself is not used), and
# kcat, librdkafka's client, with which a test checks the topic contracts
# outside Go, and chromium, in which a test renders riskd report's page
# headless. It does nothing for what is already there, and says what to install when it
# cannot install itself. Two runs at once (two `make test`) install one
# after the other: the second waits on a lock, then finds everything there.
set -euo pipefail

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
[ -x /usr/sbin/clickhouse-server ] || command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v kcat >/dev/null || missing+=(kcat)
command -v openssl >/dev/null || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
if ! command -v apt-get >/dev/null; then
	echo "deps.sh: install ${missing[*]} (the integration tests need them), then run make test again" >&2
	exit 1
fi
# One install at a time: the script runs again under the lock (flock -o
# keeps the lock from whatever apt starts), and finds there what a run it
# waited for installed.
if [ -z "${RISKD_DEPS_LOCKED:-}" ] && command -v flock >/dev/null; then
	lock=/tmp/riskd-deps.lock
	(umask 0 && : >>"$lock") 2>/dev/null || true
	RISKD_DEPS_LOCKED=1 exec flock -o "$lock" "$0" "$@"
fi
echo "deps.sh: installing ${missing[*]}" >&2
# apt waits for the dpkg lock held by anything else (up to 10 minutes).
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2
