#!/usr/bin/env python3
"""W1 with a backlog (docs/performance.md, "What was changed"): COUNT workflows of 3 activities
started at once against one `keel serve` on a fresh SQLite file, with the bench's Python worker
(4,000 run slots, 256 activity slots). Past about 2,000 at once each activity waits in the node's
queue longer than a step is held (5 s), which is what this measures: the rate, the node's CPU per
workflow, and how many runs a workflow took (1 when no run was suspended and replayed).

Usage: examples/bench/w1_backlog.py [--keel .build/release/keel] [--count 6000]
"""
import asyncio

from w1_node import bench_parser, cpu_ms, run_w1, serving


async def run(args):
    serve = ["--db", "{work}/k.db"]
    async with serving(args.keel, serve, "keel-w1-backlog-") as (node, clients, _):
        node_before = cpu_ms(node.pid)
        seconds = await run_w1(clients, args.count)
        node_cpu = cpu_ms(node.pid) - node_before
        sample = range(0, args.count, max(1, args.count // 50))
        runs = [(await clients[0].describe(f"w-{i}")).get("runs", 0) for i in sample]
        n = args.count
        print(f"W1 {n}: {n / seconds:.0f} workflows/s; node CPU per workflow {node_cpu / n:.2f} ms; "
              f"runs per workflow {sum(runs) / len(runs):.2f} (most {max(runs)})")


def main():
    parser = bench_parser(__doc__, count=6000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
