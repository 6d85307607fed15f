"""A spawned stdio worker for the security tests: it reports which KEEL_* variables it was given
and what Keel answered to its `initialize` and `shutdown`, as one JSON line in $KEEL_REPORT,
then waits for its stdin to close."""
import json
import os
import sys


def call(n, method, params):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params}) + "\n")
    sys.stdout.flush()
    while True:
        line = sys.stdin.readline()
        if not line:
            return None
        message = json.loads(line)
        if message.get("id") == n and "method" not in message:
            return message


hello = call(1, "initialize", {"protocolVersion": "1"})
stop = call(2, "shutdown", {})
report = {
    "keelVariables": sorted(k for k in os.environ if k.startswith("KEEL_")),
    "initialize": hello,
    "shutdown": stop,
}
with open(os.environ["KEEL_REPORT"] + ".tmp", "w") as f:
    f.write(json.dumps(report) + "\n")
os.rename(os.environ["KEEL_REPORT"] + ".tmp", os.environ["KEEL_REPORT"])
for _ in sys.stdin:
    pass
