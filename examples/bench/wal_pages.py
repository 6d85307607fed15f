#!/usr/bin/env python3
"""Which tables and indexes a W3 step's commits write: one workflow of COUNT sequential activities
on a fresh SQLite file, then the node is killed (-9, so its WAL is not checkpointed away) and each
commit in the WAL is listed by the b-trees its pages belong to (SQLite's `dbstat`). A commit's cost
grows with its pages (docs/performance.md, "What a commit writes").

Usage: examples/bench/wal_pages.py [--keel .build/release/keel] [--count 150]
"""
import asyncio
import collections
import os
import shutil
import sqlite3
import struct
import tempfile

from w1_node import bench_parser, serving
from w3_node import one_workflow


def wal_commits(wal_path):
    """The page numbers of each commit still in the WAL (frames after its last restart)."""
    with open(wal_path, "rb") as f:
        wal = f.read()
    _, _, page_size, _, salt1, salt2, _, _ = struct.unpack(">IIIIIIII", wal[:32])
    commits, pages, offset = [], [], 32
    while offset + 24 + page_size <= len(wal):
        page, size_after_commit, s1, s2 = struct.unpack(">IIII", wal[offset:offset + 16])
        if (s1, s2) != (salt1, salt2):
            break
        pages.append(page)
        if size_after_commit:
            commits.append(pages)
            pages = []
        offset += 24 + page_size
    return commits


async def run(args, copy):
    async with serving(args.keel, ["--db", "{work}/k.db"], "keel-wal-pages-") as (node, clients, work):
        await one_workflow(clients[0], "warm", 20)
        await one_workflow(clients[0], "w3", args.count)
        node.kill()
        node.wait()
        for suffix in ("", "-wal"):
            shutil.copy(os.path.join(work, "k.db" + suffix), copy + suffix)


def main():
    args = bench_parser(__doc__, count=150).parse_args()
    with tempfile.TemporaryDirectory(prefix="keel-wal-pages-") as scratch:
        copy = os.path.join(scratch, "k.db")
        asyncio.run(run(args, copy))
        commits = wal_commits(copy + "-wal")
        db = sqlite3.connect(copy)  # opening it reads the WAL: dbstat sees the pages as committed
        owner = {page: name for name, page in db.execute("SELECT name, pageno FROM dbstat")}
        db.close()
    named = [sorted(owner.get(p, f"page {p}") for p in c) for c in commits]
    pages = sum(len(c) for c in named)
    print(f"{len(named)} commits in the WAL, {pages / max(1, len(named)):.2f} pages per commit")
    for shape, n in collections.Counter(tuple(c) for c in named).most_common(4):
        print(f"  {n} commits of {len(shape)} pages: {', '.join(shape)}")
    print("pages per commit, by b-tree:")
    for name, n in collections.Counter(x for c in named for x in c).most_common():
        print(f"  {name}: {n / len(named):.2f}")


if __name__ == "__main__":
    main()
