#!/usr/bin/env python3
"""hostile-ids.py USERS EVENTS SIZE: JSON Lines logins on stdout, EVENTS per
user, each with its own device id of about SIZE bytes and a 1 KB user agent:
the input of the state-memory measurement in benchmarks/README.md."""
import json
import sys

users, per, size = (int(a) for a in sys.argv[1:4])
pad = "x" * size
for u in range(users):
    for k in range(per):
        sys.stdout.write(json.dumps({
            "event_id": f"b{u}-{k}", "type": "login", "user_id": f"user{u}",
            "ts": f"2026-03-01T{(k // 60) % 24:02d}:{k % 60:02d}:00Z",
            "outcome": "success", "ip": f"24.10.{u % 250}.{k % 250 + 1}",
            "device_id": f"{k}-{u}-" + pad, "user_agent": pad[:1000],
        }) + "\n")
