"""What examples/bench/pg_statements.py and w1_backlog.py share: one `keel serve` node with the
bench's Python worker and 16 client connections, and W1 (COUNT workflows of 3 activities started
at once) against it."""
import argparse
import asyncio
import contextlib
import os
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


def bench_parser(doc, count):
    """The argument parser of a script here, described by the first paragraph of its `doc`, with
    the two options every one takes: --keel (the binary) and --count (default `count`)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--keel", default=os.path.join(ROOT, ".build", "release", "keel"))
    parser.add_argument("--count", type=int, default=count)
    return parser


def cpu_ms(pid):
    """utime + stime of one process, in ms (clock ticks of 10 ms)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 10


@contextlib.asynccontextmanager
async def serving(keel_binary, store_args, prefix, launcher=(), log_level="error"):
    """Runs `keel serve STORE_ARGS` on a socket in a temporary directory (`{work}` in an argument
    names it), the bench's worker and CONNECTIONS clients, once the worker has registered; yields
    (node process, clients, directory) and stops them all after. LAUNCHER (e.g. a profiler's
    command line) runs the node when given; the node logs at LOG_LEVEL."""
    work = tempfile.mkdtemp(prefix=prefix)
    socket = os.path.join(work, "k.sock")
    log = open(os.path.join(work, "keel.log"), "w")
    node = subprocess.Popen([*launcher, keel_binary, "serve", *(a.format(work=work) for a in store_args), "--socket", socket, "--log-level", log_level],
                            stdout=log, stderr=log)
    worker = None
    clients = []
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
        yield node, clients, work
    finally:
        for c in clients:
            await c.close()
        for p in (worker, node):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        log.close()
        subprocess.run(["rm", "-rf", work])


async def run_w1(clients, count):
    """Starts COUNT bench.flow workflows of 3 activities at once and waits for each; answers the
    seconds it took."""
    started = time.monotonic()

    async def flow(i):
        c = clients[i % CONNECTIONS]
        await c.start_workflow("bench.flow", {"activities": 3, "payload": PAYLOAD}, f"w-{i}")
        result = await c.workflow_result(f"w-{i}", timeout=300)
        assert result.status == "completed", (i, result.status)

    await asyncio.gather(*(flow(i) for i in range(count)))
    return time.monotonic() - started
