#!/usr/bin/env python3
"""What `keel serve` holds in memory with many executions open (docs/performance.md, "Memory").

Each scenario starts its own `keel serve` (SQLite, --sync full) on a temp dir and the bench
worker (examples/bench/worker.py), then reads the orchestrator's /proc/PID/status:

- idle:      VmRSS 1 s after the worker registered, nothing started;
- running:   W1 of `keel bench`: COUNT workflows of 3 activities started at once over 16
             connections, each awaited with workflow/result; VmHWM once all completed (the
             peak with COUNT open), and VmRSS --settle seconds later;
- suspended: COUNT `bench.wait` workflows (3 activities, then a wait for signal "go"), started
             at once; 3 s later VmRSS while each run's step waits held for its signal
             (heldStepsRssMiB); --settle seconds after every one is suspended (its held step answered
             after stepHoldMs) VmRSS, what the open executions hold, and VmHWM; then a
             workflow/result is sent for each and held: --settle seconds later VmRSS and the
             bytes per held result; then each is signalled and its result awaited: VmHWM, and
             VmRSS --settle seconds later.

Usage: examples/bench/open_rss.py [--keel .build/release/keel] [--count 2000] [--repeat 1]
           [--scenario idle,running,suspended] [--wrap "heaptrack -o /tmp/h"] [--kill-suspended]
           [--kill-held]
With --wrap the orchestrator runs under that command (e.g. heaptrack) and RSS figures are not
printed: the wrapper's process is not the orchestrator's. --kill-suspended SIGKILLs it once every
execution is suspended, so that what heaptrack reports as leaked is what they held then;
--kill-held once a workflow/result is held for each.
Prints one JSON line per run.
"""
import argparse
import asyncio
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
import keel  # noqa: E402

PAYLOAD = {"orderId": 12345, "sku": "KEEL-1", "quantity": 2, "note": "bench"}
CONNECTIONS = 16


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def mib(kib):
    return round(kib / 1024, 1)


class Orchestrator:
    def __init__(self, binary, wrap):
        self.dir = tempfile.mkdtemp(prefix="keel-rss-")
        self.socket = os.path.join(self.dir, "k.sock")
        self.db = os.path.join(self.dir, "k.db")
        argv = shlex.split(wrap) if wrap else []
        argv += [binary, "serve", "--db", self.db, "--socket", self.socket, "--sync", "full", "--log-level", "error"]
        self.log = open(os.path.join(self.dir, "keel.log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        self.worker = None

    async def start(self):
        for _ in range(600):
            if os.path.exists(self.socket):
                break
            await asyncio.sleep(0.05)
        env = dict(os.environ, KEEL_SOCKET=self.socket)
        self.worker = subprocess.Popen([sys.executable, os.path.join(HERE, "worker.py")], env=env,
                                       stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        self.clients = [await keel.Client.connect(socket=self.socket) for _ in range(CONNECTIONS)]
        for _ in range(600):
            if await self.clients[0].workers():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)

    def count(self, status):
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute("SELECT count(*) FROM workflows WHERE status = ?", (status,)).fetchone()[0]
        finally:
            db.close()

    def signal_orchestrator(self, sig):
        """Sends `sig` to `keel serve` and, under --wrap, to the keel process below the wrapper
        (a wrapper such as heaptrack does not pass signals on)."""
        out = subprocess.run(["pgrep", "-f", "-P", str(self.proc.pid), "keel"], capture_output=True, text=True).stdout
        for pid in [int(p) for p in out.split()] + [self.proc.pid]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill_orchestrator(self):
        """SIGKILLs `keel serve`: what a wrapper such as heaptrack then reports as never freed is
        what was live at this point."""
        self.signal_orchestrator(signal.SIGKILL)
        self.proc.wait()

    async def stop(self):
        for c in self.clients:
            await c.close()
        if self.proc.poll() is None:
            self.signal_orchestrator(signal.SIGTERM)
        for p in (self.worker, self.proc):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.log.close()
        subprocess.run(["rm", "-rf", self.dir])


async def start_all(o, name, count, prefix):
    ids = [f"{prefix}-{i}" for i in range(count)]
    sem = asyncio.Semaphore(256)

    async def one(i, wid):
        async with sem:
            await o.clients[i % CONNECTIONS].start_workflow(name, {"activities": 3, "payload": PAYLOAD}, wid)

    await asyncio.gather(*(one(i, w) for i, w in enumerate(ids)))
    return ids


async def await_all(o, ids):
    async def one(i, wid):
        r = await o.clients[i % CONNECTIONS].workflow_result(wid, timeout=300)
        assert r.status == "completed", (wid, r.status)

    await asyncio.gather(*(one(i, w) for i, w in enumerate(ids)))


async def run(args, scenario):
    o = Orchestrator(args.keel, args.wrap)
    pid = o.proc.pid
    out = {"scenario": scenario, "count": args.count}
    try:
        await o.start()
        measure = not args.wrap
        if measure:
            out["idleRssMiB"] = mib(status_kib(pid, "VmRSS"))
        if scenario == "running":
            t = time.monotonic()
            ids = [f"run-{i}" for i in range(args.count)]

            async def flow(i, wid):
                c = o.clients[i % CONNECTIONS]
                await c.start_workflow("bench.flow", {"activities": 3, "payload": PAYLOAD}, wid)
                r = await c.workflow_result(wid, timeout=300)
                assert r.status == "completed", (wid, r.status)

            await asyncio.gather(*(flow(i, w) for i, w in enumerate(ids)))
            out["seconds"] = round(time.monotonic() - t, 2)
            if measure:
                out["peakRssMiB"] = mib(status_kib(pid, "VmHWM"))
                await asyncio.sleep(args.settle)
                out["settledRssMiB"] = mib(status_kib(pid, "VmRSS"))
        elif scenario == "suspended":
            ids = await start_all(o, "bench.wait", args.count, "wait")
            # 3 s after the last start the runs wait on their signal, each step held (stepHoldMs
            # is 5 s) before it is answered `suspend`: what a held workflow/step costs.
            await asyncio.sleep(3)
            if measure:
                out["heldStepsRssMiB"] = mib(status_kib(pid, "VmRSS"))
            for _ in range(1200):
                if o.count("suspended") >= args.count:
                    break
                await asyncio.sleep(0.1)
            assert o.count("suspended") == args.count, "not every execution suspended"
            await asyncio.sleep(args.settle)
            if measure:
                out["suspendedRssMiB"] = mib(status_kib(pid, "VmRSS"))
                out["suspendedPeakMiB"] = mib(status_kib(pid, "VmHWM"))
            if args.hold:
                await asyncio.sleep(args.hold)
            if args.kill_suspended:
                o.kill_orchestrator()
                return out
            # What a caller waiting on an execution costs: a workflow/result held for each.
            held = [asyncio.ensure_future(o.clients[i % CONNECTIONS].workflow_result(w, timeout=300))
                    for i, w in enumerate(ids)]
            await asyncio.sleep(args.settle)
            if measure:
                out["heldResultsRssMiB"] = mib(status_kib(pid, "VmRSS"))
                out["bytesPerHeldResult"] = round((status_kib(pid, "VmRSS") * 1024 - out["suspendedRssMiB"] * 1048576)
                                                  / args.count)
            if args.kill_held:
                o.kill_orchestrator()
                for f in held:
                    f.cancel()
                return out

            async def go(i, wid):
                await o.clients[i % CONNECTIONS].signal(wid, "go", {"n": i})

            sem = asyncio.Semaphore(256)

            async def go_bounded(i, wid):
                async with sem:
                    await go(i, wid)

            await asyncio.gather(*(go_bounded(i, w) for i, w in enumerate(ids)))
            for r in await asyncio.gather(*held):
                assert r.status == "completed", r.status
            if measure:
                out["peakRssMiB"] = mib(status_kib(pid, "VmHWM"))
                await asyncio.sleep(args.settle)
                out["settledRssMiB"] = mib(status_kib(pid, "VmRSS"))
    finally:
        await o.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keel", default=os.path.join(ROOT, ".build", "release", "keel"))
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--scenario", default="idle,running,suspended")
    ap.add_argument("--wrap", default="", help="a command to run keel under, e.g. 'heaptrack -o /tmp/h'")
    ap.add_argument("--settle", type=float, default=6,
                    help="seconds to wait before reading a steady RSS (keel serve trims its heap every 5 s)")
    ap.add_argument("--hold", type=float, default=0, help="seconds to stay suspended before the signals")
    ap.add_argument("--kill-suspended", action="store_true",
                    help="SIGKILL the orchestrator once every execution is suspended (for heaptrack's view of them)")
    ap.add_argument("--kill-held", action="store_true",
                    help="SIGKILL the orchestrator while a workflow/result is held for every suspended execution")
    args = ap.parse_args()
    for _ in range(args.repeat):
        for scenario in args.scenario.split(","):
            print(json.dumps(asyncio.run(run(args, scenario))), flush=True)


if __name__ == "__main__":
    main()
