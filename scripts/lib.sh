# lib.sh holds what scripts/kafka.sh and scripts/clickhouse.sh share. The
# sourcing script sets $name (for messages) and $dir (its run folder).

die() { echo "$name: $*" >&2; exit 1; }

# free_port prints a loopback port nothing listens on.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free loopback port found"
}

# stop ends the process of $dir/pid: TERM, then KILL after $1 tenths of a
# second.
stop() {
	if [ -f "$dir/pid" ]; then
		local pid
		pid=$(cat "$dir/pid")
		if kill "$pid" 2>/dev/null; then
			for _ in $(seq 1 "${1:-100}"); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f "$dir/pid"
	fi
}
