#!/usr/bin/env python3
"""What one W1 workflow costs a `keel serve` node on PostgreSQL (docs/scaling.md, "Runs as one
statement"): statements, shared buffers and CPU per workflow.

Runs W1 of `keel bench` (COUNT workflows of 3 activities started at once over 16 client
connections, the bench's Python worker) against one node on a database of its own, then reads
`pg_stat_statements` for that database and /proc for the CPU the node and the PostgreSQL
processes used during the run. Prints the rate, CPU per workflow, then each statement that ran at
least once per 20 workflows: calls per workflow, shared buffers per call, rows per workflow.

Needs a PostgreSQL started with `shared_preload_libraries=pg_stat_statements` on a Unix socket
directory (--socket-dir), a superuser `postgres` to drop and create the database (--database,
owned by role `keel`) on it, and the server's processes on this machine (for their CPU).

Usage: examples/bench/pg_statements.py --keel .build/release/keel [--count 2000]
           [--socket-dir /tmp/pgsock] [--database stmts] [--commit-slots 4]
"""
import asyncio
import os
import subprocess

from w1_node import bench_parser, cpu_ms, run_w1, serving


def psql(args, database, sql):
    return subprocess.run(
        ["psql", "-h", args.socket_dir, "-U", "postgres", "-d", database, "-qAtF", "\t", "-c", sql],
        capture_output=True, text=True, check=True).stdout


def postgres_cpu_ms():
    """utime + stime (and that of reaped children) of every process named postgres, in ms."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if "(postgres)" not in stat:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15])
    return total * 10


async def run(args):
    psql(args, "postgres", f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
    psql(args, "postgres", f"CREATE DATABASE {args.database} OWNER keel")
    psql(args, args.database, "CREATE EXTENSION pg_stat_statements")
    store = f"postgres://keel@localhost/{args.database}?host={args.socket_dir}"
    serve = ["--store", store, "--commit-slots", str(args.commit_slots)]
    async with serving(args.keel, serve, "keel-pgstmts-") as (node, clients, _):
        psql(args, args.database, "SELECT pg_stat_statements_reset()")
        node_before, pg_before = cpu_ms(node.pid), postgres_cpu_ms()
        seconds = await run_w1(clients, args.count)
        node_cpu, pg_cpu = cpu_ms(node.pid) - node_before, postgres_cpu_ms() - pg_before
        n = args.count
        print(f"W1 {n}: {n / seconds:.0f} workflows/s; CPU per workflow: node {node_cpu / n:.2f} ms, "
              f"PostgreSQL {pg_cpu / n:.2f} ms")
        rows = psql(args, args.database, f"""
            SELECT calls, shared_blks_hit + shared_blks_read, rows, regexp_replace(left(query, 110), '\\s+', ' ', 'g')
            FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{args.database}')
            ORDER BY calls DESC""")
        statements = buffers = 0
        for line in rows.splitlines():
            calls, blocks, returned, text = line.split("\t", 3)
            calls, blocks, returned = int(calls), int(blocks), int(returned)
            statements += calls
            buffers += blocks
            if calls * 20 >= n:
                print(f"{calls / n:6.2f}/wf {blocks / calls:7.0f} buffers/call {returned / n:6.2f} rows/wf  {text}")
        print(f"statements per workflow: {statements / n:.2f}; shared buffers per workflow: {buffers / n:.0f}")


def main():
    parser = bench_parser(__doc__, count=2000)
    parser.add_argument("--socket-dir", default="/tmp/pgsock")
    parser.add_argument("--database", default="stmts")
    parser.add_argument("--commit-slots", type=int, default=4)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
