#!/usr/bin/env python3
"""lockouts.py [DECISIONS.jsonl|-]: per subject, how many enforced lockouts
riskd emitted and how many of them repeat a lockout still in force without
escalating it. Exit 1 when there is any such repeat, 0 when none, 2 when
the input cannot be read or a line is not a decision.

It is the check of issue 12 ("at most one lockout per subject per lockout
lifetime unless the expiry escalates"), run on a real brute-force log:

    python3 scripts/sshlog.py /tmp/loghub/OpenSSH_2k.log > /tmp/loghub/events.jsonl
    bin/riskd replay --events /tmp/loghub/events.jsonl --out /tmp/loghub/decisions.jsonl
    python3 scripts/lockouts.py /tmp/loghub/decisions.jsonl

Input: contract v1 decisions (section 2), one per line. Only lockouts in
mode enforce count; step_up, allow and shadow decisions are counted in the
summary and otherwise ignored. A subject is its kind and id (user root and
address 1.2.3.4 are two subjects). Each subject's lockouts are taken in ts
order (file order within the same ts, as replay writes them).

Definitions, for a lockout L of a subject:
  lifetime(L) = L.expires_at - L.ts.
  in force: an earlier lockout P of the same subject has L.ts < P.expires_at.
    P is the earlier lockout that ends last (the latest expires_at; the
    later one of a tie), so a short lockout emitted under a longer one
    does not hide that the longer one still holds.
  repeat: L is in force under P and lifetime(L) <= lifetime(P), i.e. it
    does not escalate the expiry. A lockout after P has expired, or one
    whose lifetime is longer than P's (an escalation), is not a repeat.
The "in force" column counts every lockout under P, escalating or not;
"repeats" is the subset that the issue forbids.
"""
import collections
import datetime
import json
import sys


def parse_ts(s):
    """parse_ts reads an RFC 3339 timestamp (fraction optional, Z or an
    offset) as an aware datetime; it raises ValueError otherwise."""
    if not isinstance(s, str) or len(s) < 20:
        raise ValueError(f"not an RFC 3339 timestamp: {s!r}")
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    t = datetime.datetime.fromisoformat(s)
    if t.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {s!r}")
    return t


def read(f, name):
    """read returns the enforced lockouts of f as {(kind, id): [(ts,
    expires_at, line)]}, the other decisions by (action, mode), and the
    number of bad lines, each reported on stderr."""
    subjects, others, bad = collections.defaultdict(list), collections.Counter(), 0
    for n, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            action, mode = d["action"], d["mode"]
            if action != "lockout" or mode != "enforce":
                others[(action, mode)] += 1
                continue
            key = (d["subject"]["kind"], d["subject"]["id"])
            ts, exp = parse_ts(d["ts"]), parse_ts(d["expires_at"])
        except (ValueError, KeyError, TypeError) as e:
            bad += 1
            print(f"{name}:{n}: not a contract v1 decision ({type(e).__name__}: {e}); "
                  "give the JSON Lines that riskd replay --out writes", file=sys.stderr)
            continue
        subjects[key].append((ts, exp, n))
    return subjects, others, bad


def judge(lockouts):
    """judge returns (in_force, repeats) of one subject's lockouts, as
    defined in the module doc."""
    in_force = repeats = 0
    prev = None  # (ts, expires_at) of the earlier lockout that ends last
    for ts, exp, _ in sorted(lockouts, key=lambda x: (x[0], x[2])):
        if prev is not None and ts < prev[1]:
            in_force += 1
            if exp - ts <= prev[1] - prev[0]:
                repeats += 1
        if prev is None or exp >= prev[1]:
            prev = (ts, exp)
    return in_force, repeats


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help")):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    name = sys.argv[1] if len(sys.argv) == 2 else "-"
    try:
        f = sys.stdin if name == "-" else open(name, encoding="utf-8")
        with f:
            subjects, others, bad = read(f, name)
    except (OSError, UnicodeDecodeError) as e:
        print(f"lockouts.py: cannot read {name}: {e}; give a decisions file (riskd replay --out)", file=sys.stderr)
        sys.exit(2)
    rows = [(k, len(v), *judge(v)) for k, v in subjects.items()]
    rows.sort(key=lambda r: (-r[3], -r[1], r[0]))
    print(f"{'kind':<8} {'subject':<40} {'lockouts':>8} {'in force':>8} {'repeats':>8}")
    for (kind, sid), total, in_force, repeats in rows:
        print(f"{kind:<8} {json.dumps(sid)[1:-1]:<40} {total:>8} {in_force:>8} {repeats:>8}")
    total = sum(r[1] for r in rows)
    in_force = sum(r[2] for r in rows)
    repeats = sum(r[3] for r in rows)
    with_repeats = sum(1 for r in rows if r[3])
    ignored = ", ".join(f"{a}/{m} {c}" for (a, m), c in sorted(others.items())) or "none"
    print(f"summary: {total} enforced lockouts for {len(rows)} subjects; {in_force} emitted while "
          f"an earlier one was in force, {repeats} of them not escalating (repeats) for "
          f"{with_repeats} subjects; other decisions: {ignored}; bad lines: {bad}")
    if bad:
        sys.exit(2)
    sys.exit(1 if repeats else 0)


if __name__ == "__main__":
    main()
