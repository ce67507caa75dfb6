# lib.sh holds what scripts/kafka.sh, scripts/clickhouse.sh and
# scripts/with-services.sh share. The sourcing script sets $name (for
# messages) and $dir (its service folder, e.g. $RISKD_RUN/kafka).

die() { echo "$name: $*" >&2; exit 1; }

# Ports. Several runs may start services on one machine at once (two `make
# test`, or a `scripts/clickhouse.sh start` beside one), so a port is not only
# one that nothing listens on: it is also claimed, by a file $claims/PORT
# that names the service folder holding it, created under a lock on $claims.
# A claim covers the time between the pick and the server's bind, and the
# time a ClickHouse stopped by the outage tests is down (its restart takes
# the same ports back). It holds until release_ports drops it, or until the
# folder it names is gone (a run killed before it could clean up).
claims=/tmp/riskd-ports

# lock_claims takes the lock on $claims (fd 8) for the rest of the (sub)shell;
# without flock(1) (not Linux) the exclusive creation of claims still keeps
# two runs from holding one port.
lock_claims() {
	[ -d "$claims" ] || mkdir -m 1777 "$claims" 2>/dev/null || [ -d "$claims" ] || return 0
	command -v flock >/dev/null || return 0
	exec 8<"$claims" && flock 8
}

# free_port prints a loopback port nothing listens on and no other service
# folder claims, and claims it for $dir. Ports come from below the kernel's
# ephemeral range when that leaves room, so no outgoing connection takes the
# port between the pick and the server's bind.
free_port() {
	local lo=20000 hi=49999 eph p f owner
	read -r eph _ 2>/dev/null </proc/sys/net/ipv4/ip_local_port_range || eph=0
	[ "$eph" -ge $((lo + 5000)) ] 2>/dev/null && hi=$((eph - 1))
	(
		lock_claims
		for _ in $(seq 1 500); do
			p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
			f=$claims/$p
			if [ -e "$f" ]; then
				owner=$(cat "$f" 2>/dev/null) || continue
				{ [ -z "$owner" ] || [ -d "$owner" ]; } && continue
				rm -f "$f" 2>/dev/null || continue # void: its folder is gone
			fi
			(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
			if [ -d "$claims" ] && [ -w "$claims" ]; then
				(set -C && echo "$dir" >"$f") 2>/dev/null || continue
			fi
			echo "$p"
			exit 0
		done
		exit 1
	) || die "no free loopback port found"
}

# release_ports drops the claims of $dir.
release_ports() {
	[ -d "$claims" ] || return 0
	(
		lock_claims
		for f in "$claims"/[0-9]*; do
			[ -f "$f" ] && [ "$(cat "$f" 2>/dev/null)" = "$dir" ] && rm -f "$f"
		done
		exit 0
	)
}

# listens PID PORT tells whether process PID listens on PORT, as far as
# ss(8) can tell (yes when it cannot: no ss, or no process shown). A server
# that answers on its port may still be another process that took the port
# first.
listens() {
	command -v ss >/dev/null || return 0
	local out
	out=$(ss -Hltnp "sport = :$2" 2>/dev/null) || return 0
	case $out in
	*"pid=$1,"*) return 0 ;;
	*users:*) return 1 ;; # another process
	"") return 1 ;;       # nothing (yet)
	*) return 0 ;;
	esac
}

# port_conflict tells whether the server of $dir failed start-up because
# another process took one of its ports first; its logs are the files given.
port_conflict() {
	grep -qsi "address already in use" "$@"
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
