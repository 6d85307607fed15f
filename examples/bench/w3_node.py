#!/usr/bin/env python3
"""W3 against one node, with what each activity costs it: one workflow of COUNT sequential
activities on a fresh SQLite file. Prints, per activity, the time, the node's CPU, and its store
commits with their time (from the node's `keel_store_commit_seconds` histogram on
`--metrics-listen`), so a step whose cost grows with the journal before it shows as a rise from
`--count 300` to `--count 6000` (docs/performance.md, "A step's cost and its journal").

Usage: examples/bench/w3_node.py [--keel .build/release/keel] [--count 1000] [--repeat 3]
"""
import asyncio
import socket
import time
import urllib.request

from w1_node import PAYLOAD, bench_parser, cpu_ms, serving

WARM_UP = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def commit_totals(port):
    """(commits, seconds committing) so far, from the node's Prometheus text."""
    totals = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
        for line in response.read().decode().splitlines():
            name = line.split("{")[0].split(" ")[0]
            if name in ("keel_store_commit_seconds_count", "keel_store_commit_seconds_sum"):
                totals[name] = float(line.rsplit(" ", 1)[1])
    return totals.get("keel_store_commit_seconds_count", 0), totals.get("keel_store_commit_seconds_sum", 0)


async def one_workflow(client, workflow_id, steps):
    await client.start_workflow("bench.flow", {"activities": steps, "payload": PAYLOAD}, workflow_id)
    result = await client.workflow_result(workflow_id, timeout=600)
    assert result.status == "completed", (workflow_id, result.status)


async def run(args):
    port = free_port()
    serve = ["--db", "{work}/k.db", "--metrics-listen", f"127.0.0.1:{port}"]
    async with serving(args.keel, serve, "keel-w3-node-") as (node, clients, _):
        client = clients[0]
        for i in range(WARM_UP):
            await one_workflow(client, f"warm-{i}", 20)
        for r in range(args.repeat):
            commits, committing = commit_totals(port)
            cpu, started = cpu_ms(node.pid), time.monotonic()
            await one_workflow(client, f"w3-{r}", args.count)
            elapsed, cpu = time.monotonic() - started, cpu_ms(node.pid) - cpu
            commits, committing = (a - b for a, b in zip(commit_totals(port), (commits, committing)))
            n = args.count
            print(f"W3 {n} steps: {elapsed * 1000 / n:.3f} ms per activity; node CPU {cpu / n:.3f} ms, "
                  f"commits {commits / n:.2f} taking {committing * 1000 / n:.3f} ms")


def main():
    parser = bench_parser(__doc__, count=1000)
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
