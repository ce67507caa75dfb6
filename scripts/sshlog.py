#!/usr/bin/env python3
"""sshlog.py [--year YEAR] [--prefix PREFIX] LOG: the login attempts of an
OpenSSH syslog (such as Loghub's OpenSSH_2k.log) as riskd events, contract
v1 JSON Lines on stdout, sorted by time.

It feeds a real brute-force log to the engine, for the lockout check of
issue 12 (scripts/lockouts.py reads what replay decides):

    python3 scripts/sshlog.py /tmp/loghub/OpenSSH_2k.log > /tmp/loghub/events.jsonl
    bin/riskd replay --events /tmp/loghub/events.jsonl --out /tmp/loghub/decisions.jsonl
    python3 scripts/lockouts.py /tmp/loghub/decisions.jsonl

Which lines are login attempts. sshd logs one attempt on several lines;
counting more than one would make one guess look like a burst. Only the
line of sshd's own verdict counts:

  "Failed password for [invalid user] U from IP port P ssh2"
      one login, outcome failure, failure_reason bad_password (or
      unknown_user when sshd says "invalid user").
  "message repeated N times: [ Failed password for ... ]"
      syslog's compression of N more identical verdicts: N failures, at the
      time of this line (the earlier ones are not logged).
  "Accepted password|publickey|keyboard-interactive/pam for U from IP ..."
      one login, outcome success.
  "Failed publickey|keyboard-interactive/pam for ..."
      one failure too: a refused credential.

Skipped, because they are the same attempt again or not an attempt:
"pam_unix(sshd:auth): authentication failure; ... rhost=IP user=U" (PAM's
view of the attempt whose "Failed password" line follows), "PAM N more
authentication failures" (a tally of lines already counted), "Invalid user U
from IP" and "input_userauth_request: invalid user U" (the unknown name is
announced before the password is tried; its "Failed password for invalid
user" line is the attempt), "Failed none for ..." (the client asking which
methods exist, no credential sent), "check pass; user unknown", "Received
disconnect", "Connection closed", "Disconnecting: Too many authentication
failures", "reverse mapping checking getaddrinfo", "Did not receive
identification string" and session open/close lines. These are counted on
stderr by kind; lines that are not sshd syslog lines at all, and verdicts
with an impossible date or an address that is not IPv4 or IPv6 (sshd logs
the host name when UseDNS is on), are counted as unparsable. Nothing is silently lost: the stderr summary accounts for every
input line.

Fields. ts: syslog's "Mon DD HH:MM:SS" in the year of --year (default
2024), read as UTC (the log names no zone); a month smaller than the one
before moves to the next year, so a log across New Year stays in order.
event_id: PREFIX:LINE (PREFIX defaults to the file's name without its
extension), and PREFIX:LINE#K for the K-th of a "message repeated" line, so
the ids are the same on every run. user_id: the name as submitted (sshd's
text between "for [invalid user ]" and " from", leading spaces kept).
ip: the client address. Events are stable-sorted by ts, so attempts of the
same second keep their order in the file.
"""
import argparse
import collections
import datetime
import ipaddress
import json
import os
import re
import sys

MONTHS = {m: i for i, m in enumerate(
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}

# SYSLOG is one sshd line: month, day, time, host, pid, message.
SYSLOG = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d) "
    r"\S+ sshd(?:-session)?\[\d+\]: (?P<msg>.*)$")
# VERDICT is sshd's verdict on one authentication attempt. The user is
# greedy up to the last " from IP port", as sshd writes the name unquoted.
VERDICT = re.compile(
    r"^(?P<verdict>Failed|Accepted) (?P<method>\S+) for "
    r"(?P<invalid>invalid user )?(?P<user>.*) from (?P<ip>\S+) port \d+"
    r"(?: .*)?$")
REPEATED = re.compile(r"^message repeated (?P<n>\d+) times: \[ ?(?P<msg>.*?) ?\]$")
# SKIPPED names the sshd lines that are not an attempt of their own.
SKIPPED = [
    ("pam authentication failure", re.compile(r"^pam_unix\(sshd:auth\): authentication failure;")),
    ("pam check pass", re.compile(r"^pam_unix\(sshd:auth\): check pass;")),
    ("pam session", re.compile(r"^pam_unix\(sshd:session\): session ")),
    ("pam tally", re.compile(r"^PAM (\d+ more authentication failures?|service\(sshd\) ignoring max retries)")),
    ("invalid user notice", re.compile(r"^(Invalid user |input_userauth_request: invalid user )")),
    ("method probe (Failed none)", re.compile(r"^Failed none for ")),
    ("disconnect", re.compile(r"^(error: )?(Received disconnect|Disconnecting:|Connection closed|Disconnected from)")),
    ("reverse mapping", re.compile(r"^reverse mapping checking getaddrinfo")),
    ("no identification", re.compile(r"^Did not receive identification string")),
    ("fatal", re.compile(r"^fatal: ")),
]


class Clock:
    """Clock turns year-less syslog stamps into RFC 3339 UTC, moving to the
    next year when the month goes back."""

    def __init__(self, year):
        self.year, self.month = year, 0

    def ts(self, mon, day, hms):
        month = MONTHS.get(mon)
        if month is None:
            return None
        if month < self.month:
            self.year += 1
        self.month = month
        try:
            t = datetime.datetime.strptime(f"{self.year}-{month:02d}-{int(day):02d} {hms}", "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def attempt(msg):
    """attempt returns (outcome, failure_reason, user, ip) of a verdict
    line, or None when msg is not one."""
    m = VERDICT.match(msg)
    if not m or m["method"] == "none" or not m["user"]:
        return None
    if m["verdict"] == "Accepted":
        return "success", None, m["user"], m["ip"]
    reason = "unknown_user" if m["invalid"] else "bad_password"
    return "failure", reason, m["user"], m["ip"]


def is_ip(s):
    """is_ip reports whether s is an IPv4 or IPv6 address riskd accepts."""
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def events_of(n, line, clock, prefix, counts):
    """events_of returns the events of line number n (none, one, or N for a
    "message repeated N times" line) and counts what it skipped."""
    s = SYSLOG.match(line)
    if not s:
        counts["unparsable"] += 1
        return []
    msg, times, ids = s["msg"], 1, [f"{prefix}:{n}"]
    rep = REPEATED.match(msg)
    if rep:
        msg, times = rep["msg"], int(rep["n"])
        ids = [f"{prefix}:{n}#{k}" for k in range(1, times + 1)]
    a = attempt(msg)
    if a is None:
        for kind, pattern in SKIPPED:
            if pattern.match(msg):
                counts["skipped: " + kind] += 1
                break
        else:
            counts["skipped: other sshd line"] += 1
        return []
    ts = clock.ts(s["mon"], s["day"], s["time"])
    if ts is None or not is_ip(a[3]):
        counts["unparsable"] += 1
        return []
    outcome, reason, user, ip = a
    out = []
    for eid in ids:
        ev = {"event_id": eid, "type": "login", "ts": ts, "user_id": user,
              "outcome": outcome, "ip": ip}
        if reason:
            ev["failure_reason"] = reason
        out.append(ev)
    counts[f"login {outcome}" + (f" (message repeated, {times} events)" if rep else "")] += 1
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--year", type=int, default=2024, help="year of the log's first line (default 2024)")
    p.add_argument("--prefix", help="event id prefix (default: the file name without extension)")
    p.add_argument("log", help="OpenSSH syslog file (- for stdin)")
    args = p.parse_args()
    prefix = args.prefix or (os.path.splitext(os.path.basename(args.log))[0] if args.log != "-" else "stdin")
    counts = collections.Counter()
    clock, events = Clock(args.year), []
    try:
        f = sys.stdin if args.log == "-" else open(args.log, encoding="utf-8", errors="replace", newline="")
    except OSError as e:
        sys.exit(f"sshlog.py: cannot read {args.log}: {e.strerror}; give a readable OpenSSH log file")
    lines = 0
    with f:
        for n, line in enumerate(f, start=1):
            lines = n
            line = line.rstrip("\r\n")
            if not line.strip():
                counts["skipped: blank"] += 1
                continue
            events.extend(events_of(n, line, clock, prefix, counts))
    events.sort(key=lambda e: e["ts"])  # stable: file order within a second
    for ev in events:
        sys.stdout.write(json.dumps(ev, ensure_ascii=False) + "\n")
    print(f"sshlog.py: {lines} lines, {len(events)} events; lines by kind:", file=sys.stderr)
    for kind, c in sorted(counts.items()):
        print(f"  {c:6d} {kind}", file=sys.stderr)


if __name__ == "__main__":
    main()
