#!/usr/bin/env bash
# clickhouse.sh starts and stops the ClickHouse server that the storage and
# backtest tests run against: Debian's clickhouse-server package, run as an
# unprivileged process with its own data folder, on free loopback ports.
#
#   scripts/clickhouse.sh start     # prints the DSN, e.g. clickhouse://127.0.0.1:39000/default
#   scripts/clickhouse.sh stop
#   scripts/clickhouse.sh restart   # after a stop: same data, same ports (the outage tests)
#
# The folder is $RISKD_RUN/clickhouse (RISKD_RUN defaults to
# /tmp/riskd-services; scripts/with-services.sh gives each run its own). The
# server listens on two loopback ports, native TCP and HTTP, claimed against
# other runs (see lib.sh) and kept in the folder's ports file for a restart;
# a port taken by another process during a start means a new start on other
# ports. It opens no interserver port: the config names none, and without
# interserver_http_port ClickHouse 18.16 does not listen for replicas.
#
# scripts/deps.sh installs the package when it is missing.
set -euo pipefail

run=${RISKD_RUN:-/tmp/riskd-services}
dir=$run/clickhouse
server=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)

name=clickhouse.sh
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# start [keep]: a fresh data folder on new ports, unless keep is given (a
# restart).
start() {
	[ -x "$server" ] || die "clickhouse-server not found: apt-get install clickhouse-server (scripts/deps.sh does)"
	stop 150
	local dsn
	for _ in 1 2 3 4 5; do
		if [ "${1:-}" != keep ]; then
			release_ports
			rm -rf "$dir"
		fi
		launch
		if [ -n "$dsn" ]; then
			echo "$dsn"
			return
		fi
		[ "${1:-}" != keep ] ||
			die "a port of $dir/ports was taken while the server was stopped: $(tail -5 "$dir/stderr" "$dir/error.log" 2>/dev/null)"
		echo "clickhouse.sh: a port of the server was taken during start-up; starting again on others" >&2
	done
	die "server did not start: its ports were taken during start-up five times running; see $dir/error.log"
}

# launch starts the server of $dir, on the ports of $dir/ports or on newly
# claimed ones. It sets dsn once the server answers, or leaves it empty when
# another process took one of the ports first.
launch() {
	dsn=
	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
	local port hport
	if [ -f "$dir/ports" ]; then
		read -r port hport <"$dir/ports"
	else
		port=$(free_port)
		hport=$(free_port)
		while [ "$port" = "$hport" ]; do hport=$(free_port); done
		echo "$port $hport" >"$dir/ports"
	fi
	cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/server.log</log>
        <errorlog>$dir/error.log</errorlog>
        <console>false</console>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$port</tcp_port>
    <http_port>$hport</http_port>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
EOF
	cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default></default></quotas>
</yandex>
EOF
	local as=()
	if [ "$(id -u)" -eq 0 ]; then
		# Never as root: the server gets nobody's identity and owns its folder,
		# which nobody must be able to reach (a mktemp -d folder is 0700).
		chown -R 65534:65534 "$dir"
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
		"${as[@]}" test -x "$dir" || chmod a+x "$run"
		"${as[@]}" test -x "$dir" || die "user nobody cannot reach $dir: let others search the folders above it"
	fi
	cd "$dir"
	nohup "${as[@]}" "$server" --config-file="$dir/config.xml" >>"$dir/stdout" 2>>"$dir/stderr" </dev/null &
	echo $! >"$dir/pid"
	cd - >/dev/null
	local pid
	pid=$(cat "$dir/pid")
	for _ in $(seq 1 300); do
		if { curl -sf "http://127.0.0.1:$hport/ping" >/dev/null 2>&1 ||
			(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; } &&
			listens "$pid" "$port" && listens "$pid" "$hport"; then
			dsn=clickhouse://127.0.0.1:$port/default
			return
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$dir/pid"
			port_conflict "$dir/stderr" "$dir/error.log" "$dir/server.log" && return
			die "server exited during start-up: $(tail -5 "$dir/stderr" "$dir/error.log" 2>/dev/null)"
		fi
		sleep 0.1
	done
	stop 150
	die "server did not start within 30 s; see $dir/error.log"
}

case "${1:-}" in
start) start ;;
restart) start keep ;;
stop) stop 150 ;;
*) die "usage: clickhouse.sh start|restart|stop" ;;
esac
