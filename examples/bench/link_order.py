#!/usr/bin/env python3
"""Writes .ci/keel-link-order.txt, the order .ci/install links keel's functions in: the functions
`keel serve` runs from its start to idle (the bench's worker and 16 clients connected) first, then
those a few workflows run. Laid out so, the pages a node maps at start hold little else
(docs/performance.md, "What idle RSS is"). Runs the node under valgrind's callgrind, which names
every function run (valgrind must be installed: `apt-get install valgrind`); rerun it when a change
moves much of the start.

Usage: examples/bench/link_order.py [--keel .build/install/release/keel] [--out .ci/keel-link-order.txt]
       examples/bench/link_order.py --check BINARY   (how much of the list BINARY follows; exits 1
                                                     when it is not laid out by it: .ci/install-check)
"""
import argparse
import asyncio
import glob
import os
import re
import subprocess
import sys
import tempfile

from w1_node import ROOT, run_w1, serving


def dump(pid, name):
    """Has callgrind write what the node ran since its last dump."""
    subprocess.run(["callgrind_control", f"--dump={name}", str(pid)], check=True, capture_output=True)


def functions_run(path):
    """The names of the functions a callgrind dump counts (a recursion's "'2" suffix dropped)."""
    names = set()
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                name = re.sub(r"^c?fn=(\(\d+\) ?)?", "", line.rstrip("\n"))
                names.add(re.sub(r"'\d+$", "", name))
    names.discard("")
    return names


def function_addresses(binary):
    """The functions BINARY's symbol table defines, each with its address."""
    output = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True, text=True).stdout
    addresses = {}
    for fields in map(str.split, output.splitlines()):
        if len(fields) == 3 and fields[1] in "tTwW":
            addresses.setdefault(fields[2], int(fields[0], 16))
    return addresses


def check(binary, order_file):
    """Exits 1 unless BINARY lays out the functions of ORDER_FILE it defines in that order: all but
    a few, since the Swift runtime's prebuilt objects put some functions in one section together."""
    addresses = function_addresses(binary)
    with open(order_file) as f:
        placed = [addresses[name] for name in f.read().split() if name in addresses]
    in_order = sum(b > a for a, b in zip(placed, placed[1:])) / max(len(placed) - 1, 1)
    print(f"link order: {len(placed)} functions of the list in the binary, {in_order:.1%} in the list's order")
    if len(placed) < 1000 or in_order < 0.9:
        sys.exit(f"{binary} is not laid out in {order_file}'s order: check .ci/install's flags; "
                 "objects built before them keep their old sections (rm -rf .build/install)")


async def profile(binary, work):
    """The dumps of one profiled node, logging as `keel serve` does by default: at idle, then after
    16 workflows of 3 activities and one of 30."""
    out = os.path.join(work, "callgrind.out")
    launcher = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--demangle=no",
                "--compress-strings=no", "--dump-line=no"]
    async with serving(binary, ["--db", "{work}/k.db", "--handshake-timeout", "120"], "keel-link-order-",
                       launcher, log_level="info") as (node, clients, _):
        dump(node.pid, "idle")
        await run_w1(clients, 16)
        await clients[0].start_workflow("bench.flow", {"activities": 30, "payload": {}}, "sequential")
        await clients[0].workflow_result("sequential", timeout=300)
        dump(node.pid, "workflows")
    return sorted(glob.glob(out + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keel", default=os.path.join(ROOT, ".build", "install", "release", "keel"))
    parser.add_argument("--out", default=os.path.join(ROOT, ".ci", "keel-link-order.txt"))
    parser.add_argument("--check", metavar="BINARY")
    args = parser.parse_args()
    if args.check:
        return check(args.check, args.out)
    with tempfile.TemporaryDirectory(prefix="keel-link-order-") as work:
        # valgrind 3.19 cannot read the binary's DWARF 5; the symbol table is all it needs.
        binary = os.path.join(work, "keel")
        subprocess.run(["objcopy", "--strip-debug", args.keel, binary], check=True)
        dumps = asyncio.run(profile(binary, work))
        assert len(dumps) == 2, dumps
        defined = function_addresses(binary).keys()
        order, seen = [], set()
        for phase, path in zip(("start to idle", "workflows"), dumps):
            ran = sorted(functions_run(path) & defined - seen)
            seen.update(ran)
            order += ran
            print(f"{phase}: {len(ran)} functions of keel's own")
    with open(args.out, "w") as f:
        f.write("".join(name + "\n" for name in order))
    print(f"wrote {args.out}: {len(order)} functions")


if __name__ == "__main__":
    main()
