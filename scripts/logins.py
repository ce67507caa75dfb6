#!/usr/bin/env python3
"""logins.py USERS LOGINS [DEVICE_ID_BYTES]: JSON Lines logins on stdout,
LOGINS per user, each a success from its own address (USERS * LOGINS
distinct IPv4 addresses, 24.x.y.z, no two logins sharing one) and its own
device id of about DEVICE_ID_BYTES bytes (default 8), with a user agent of
up to 1 KB.

It is the input of the replay memory figure of issue 11: with the shipped
caps (max_ips 200,000) 100,000 users x 3 logins fill the address store and
evict 100,000 addresses, the most state an address-heavy stream holds:

    python3 scripts/logins.py 100000 3 8 | /usr/bin/time -v bin/riskd replay --events - --out /dev/null

The output is a pure function of the arguments (no randomness), so a
figure measured on it is reproducible. As scripts/hostile-ids.py, but
that one reuses 250 x 250 addresses across users.
"""
import json
import sys

if not 3 <= len(sys.argv) <= 4:
    sys.exit(__doc__)
users, per = int(sys.argv[1]), int(sys.argv[2])
size = int(sys.argv[3]) if len(sys.argv) == 4 else 8
if users * per > 1 << 24:
    sys.exit("logins.py: at most 16,777,216 logins (one 24.x.y.z address each)")
pad = "x" * size
for u in range(users):
    for k in range(per):
        a = u * per + k
        sys.stdout.write(json.dumps({
            "event_id": f"b{u}-{k}", "type": "login", "user_id": f"user{u}",
            "ts": f"2026-03-01T{(k // 60) % 24:02d}:{k % 60:02d}:00Z",
            "outcome": "success", "ip": f"24.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}",
            "device_id": f"{k}-{u}-" + pad, "user_agent": pad[:1000],
        }) + "\n")
