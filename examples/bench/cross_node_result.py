"""Cross-node result latency (docs/scaling.md): two `keel serve` nodes on one PostgreSQL, the
bench's Python worker on node A only. Each workflow (one activity) is started on A; its result is
awaited on A ("same") or on B ("cross"), alternately. Prints p50 and p90 of start → result.

    python3 examples/bench/cross_node_result.py KEEL_BINARY postgres://USER@/DB?host=SOCKDIR COUNT
"""
import asyncio, os, subprocess, sys, tempfile, time, statistics
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
import keel  # noqa: E402
BIN, URL, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
PAYLOAD = {"orderId": 12345, "sku": "KEEL-1", "quantity": 2, "note": "bench"}
async def main():
    d = tempfile.mkdtemp(); log = open(os.path.join(d, "log"), "w")
    socks = [os.path.join(d, f"{n}.sock") for n in "ab"]
    nodes = [subprocess.Popen([BIN, "serve", "--store", URL, "--socket", s, "--log-level", "error"], stdout=log, stderr=log) for s in socks]
    w = None
    try:
        for s in socks:
            for _ in range(600):
                if os.path.exists(s): break
                await asyncio.sleep(0.05)
        w = subprocess.Popen([sys.executable, os.path.join(HERE, "worker.py")], env=dict(os.environ, KEEL_SOCKET=socks[0]), stdout=log, stderr=log)
        a = await keel.Client.connect(socket=socks[0]); b = await keel.Client.connect(socket=socks[1])
        for _ in range(600):
            if await a.workers(): break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        lat = {"same": [], "cross": []}
        for i in range(N):
            for kind, waiter in (("same", a), ("cross", b)):
                t0 = time.monotonic()
                await a.start_workflow("bench.flow", {"activities": 1, "payload": PAYLOAD}, f"{kind}-{i}")
                r = await waiter.workflow_result(f"{kind}-{i}", timeout=60); assert r.status == "completed"
                lat[kind].append((time.monotonic() - t0) * 1000)
        for k, v in lat.items():
            v.sort(); print(f"{os.path.basename(BIN)} {k}: p50 {statistics.median(v):.2f} ms p90 {v[int(len(v)*0.9)]:.2f} ms")
    finally:
        for q in [w, *nodes]:
            if q and q.poll() is None: q.kill(); q.wait()
asyncio.run(main())
