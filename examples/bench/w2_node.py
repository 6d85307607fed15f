#!/usr/bin/env python3
"""W2 against one node, with what it costs the node (docs/scaling.md, "The pool's timers"):
COUNT workflows of one activity, one after another, from one client connection, on a fresh
SQLite file or on a PostgreSQL database of its own. Prints the latency (p50, p99), and per
workflow the node's voluntary thread switches (every thread's `voluntary_ctxt_switches`: a
thread that slept until another handed it work, a count the machine's load moves little) and
its CPU time.

PostgreSQL needs a server on a Unix socket directory (--socket-dir) with a superuser `postgres`
to drop and create the database (--database, owned by role `keel`). Environment variables reach
the node, e.g. `KEEL_NIO_EXECUTOR=0` for Swift's own pool (docs/performance.md, "Thread crossings").

Usage: examples/bench/w2_node.py [--keel .build/release/keel] [--count 500]
           [--store sqlite|postgres] [--socket-dir /tmp/pgsock] [--database w2node]
"""
import asyncio
import os
import time

from pg_statements import psql
from w1_node import PAYLOAD, bench_parser, cpu_ms, serving

WARM_UP = 50


def voluntary_switches(pid):
    """The sum of every thread's voluntary context switches in process PID."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        total += int(line.split()[1])
        except OSError:
            pass  # the thread ended between the listing and the read
    return total


async def one_workflow(client, workflow_id):
    await client.start_workflow("bench.flow", {"activities": 1, "payload": PAYLOAD}, workflow_id)
    result = await client.workflow_result(workflow_id, timeout=30)
    assert result.status == "completed", (workflow_id, result.status)


async def run(args):
    if args.store == "postgres":
        psql(args, "postgres", f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        psql(args, "postgres", f"CREATE DATABASE {args.database} OWNER keel")
        serve = ["--store", f"postgres://keel@localhost/{args.database}?host={args.socket_dir}"]
    else:
        serve = ["--db", "{work}/k.db"]
    async with serving(args.keel, serve, "keel-w2-node-") as (node, clients, _):
        client = clients[0]
        for i in range(WARM_UP):
            await one_workflow(client, f"warm-{i}")
        switches, cpu = voluntary_switches(node.pid), cpu_ms(node.pid)
        latencies = []
        for i in range(args.count):
            started = time.monotonic()
            await one_workflow(client, f"w-{i}")
            latencies.append((time.monotonic() - started) * 1000)
        switches, cpu = voluntary_switches(node.pid) - switches, cpu_ms(node.pid) - cpu
    latencies.sort()
    n = args.count
    print(f"W2 {args.store} {n}: p50 {latencies[n // 2]:.2f} ms, p99 {latencies[int(n * 0.99)]:.2f} ms; "
          f"per workflow: node thread switches {switches / n:.1f}, node CPU {cpu / n:.2f} ms")


def main():
    parser = bench_parser(__doc__, count=500)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--socket-dir", default="/tmp/pgsock")
    parser.add_argument("--database", default="w2node")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
