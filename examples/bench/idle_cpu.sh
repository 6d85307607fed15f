#!/bin/bash
# CPU an idle orchestrator uses (docs/performance.md, "Idle"): `keel serve` on a temp SQLite
# file, 10 s with no timer set, then 10 s with one timer an hour away (a queued call no worker
# serves, with a schedule-to-close timeout). Prints CPU milliseconds (user + system, from
# /proc/PID/stat) for each 10 s. Usage: examples/bench/idle_cpu.sh [KEEL_BINARY]
set -eu
bin=${1:-.build/debug/keel}
dir=$(mktemp -d)
"$bin" serve --db "$dir/k.db" --socket "$dir/k.sock" > "$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -S "$dir/k.sock" ] && break; sleep 0.1; done
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); sleep 10; t1=$(ticks)
python3 - "$dir/k.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
def call(i, method, params):
    f.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n")
    f.flush()
    return json.loads(f.readline())
call(1, "initialize", {"protocolVersion": "1"})
answer = call(2, "activity/call", {"name": "idle.nobody", "input": {}, "wait": False,
                                   "timeouts": {"scheduleToCloseMs": 3600000}})
assert answer["result"]["status"] == "scheduled", answer
PY
sleep 1
t2=$(ticks); sleep 10; t3=$(ticks)
echo "idle, no timer set: $(( (t1 - t0) * 1000 / hz )) ms CPU in 10 s"
echo "idle, one timer set an hour away: $(( (t3 - t2) * 1000 / hz )) ms CPU in 10 s"
