"""A spawned stdio worker for the security tests: it registers the activity declared in the JSON
file named by its first argument, writes Keel's answer and its pid to `<file>.answer-<n>` (n counts
its lives), then waits for its stdin to close."""
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


contract_file = sys.argv[1]
call(1, "initialize", {"protocolVersion": "1"})
with open(contract_file) as f:
    contract = json.load(f)
answer = call(2, "worker/register", {"name": "redeployed", "activities": [contract]})
life = 1
while os.path.exists("%s.answer-%d" % (contract_file, life)):
    life += 1
path = "%s.answer-%d" % (contract_file, life)
with open(path + ".tmp", "w") as f:
    f.write(json.dumps({"pid": os.getpid(), "answer": answer}) + "\n")
os.rename(path + ".tmp", path)
for _ in sys.stdin:
    pass
