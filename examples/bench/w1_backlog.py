#!/usr/bin/env python3
"""W1 with a backlog (docs/performance.md, "What was changed"): COUNT workflows of 3 activities
started at once against one `keel serve` on a fresh SQLite file, with the bench's Python worker
(4,000 run slots, 256 activity slots). Past about 2,000 at once each activity waits in the node's
queue longer than a step is held (5 s), which is what this measures: the rate, the node's CPU per
workflow, and how many runs a workflow took (1 when no run was suspended and replayed).

Usage: examples/bench/w1_backlog.py [--keel .build/release/keel] [--count 6000]
"""
import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pg_statements import CONNECTIONS, PAYLOAD, ROOT, cpu_ms  # noqa: E402
import keel  # noqa: E402  (pg_statements put the client on the path)


async def run(args):
    work = tempfile.mkdtemp(prefix="keel-w1-backlog-")
    socket = os.path.join(work, "k.sock")
    log = open(os.path.join(work, "keel.log"), "w")
    node = subprocess.Popen([args.keel, "serve", "--db", os.path.join(work, "k.db"), "--socket", socket,
                             "--log-level", "error"], stdout=log, stderr=log)
    worker = None
    try:
        for _ in range(600):
            if os.path.exists(socket):
                break
            await asyncio.sleep(0.05)
        worker = subprocess.Popen([sys.executable, os.path.join(HERE, "worker.py")],
                                  env=dict(os.environ, KEEL_SOCKET=socket), stdout=log, stderr=log)
        clients = [await keel.Client.connect(socket=socket) for _ in range(CONNECTIONS)]
        for _ in range(600):
            if await clients[0].workers():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        node_before, started = cpu_ms(node.pid), time.monotonic()

        async def flow(i):
            c = clients[i % CONNECTIONS]
            await c.start_workflow("bench.flow", {"activities": 3, "payload": PAYLOAD}, f"w-{i}")
            result = await c.workflow_result(f"w-{i}", timeout=300)
            assert result.status == "completed", (i, result.status)

        await asyncio.gather(*(flow(i) for i in range(args.count)))
        seconds = time.monotonic() - started
        node_cpu = cpu_ms(node.pid) - node_before
        sample = range(0, args.count, max(1, args.count // 50))
        runs = [(await clients[0].describe(f"w-{i}")).get("runs", 0) for i in sample]
        n = args.count
        print(f"W1 {n}: {n / seconds:.0f} workflows/s; node CPU per workflow {node_cpu / n:.2f} ms; "
              f"runs per workflow {sum(runs) / len(runs):.2f} (most {max(runs)})")
        for c in clients:
            await c.close()
    finally:
        for p in (worker, node):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        log.close()
        subprocess.run(["rm", "-rf", work])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keel", default=os.path.join(ROOT, ".build", "release", "keel"))
    parser.add_argument("--count", type=int, default=6000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
