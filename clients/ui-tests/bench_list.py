"""How long the web UI's pages take under 2,000 workflows (issue 14: the list page < 200 ms).

Starts a real `keel serve --http` with no worker, starts 2,000 workflows (half of them then
terminated, so the counts have two statuses), and times each page over loopback HTTP: the
median and the slowest of 20 requests. Prints figures; asserts nothing.

Run: python3 clients/ui-tests/bench_list.py [--workflows 2000]
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_ui import KEEL_BIN, _free_port  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "python", "src"))
import keel  # noqa: E402
import subprocess  # noqa: E402


async def populate(sock, count):
    async with await keel.Client.connect(socket=sock) as client:
        for start in range(0, count, 100):
            await asyncio.gather(*(
                client.start_workflow("bench.a" if i % 2 else "bench.b", {"i": i}, workflow_id=f"w-{i:05d}")
                for i in range(start, min(count, start + 100))))
        await client.batch_workflows("terminate", "name=bench.a", dry_run=False, reason="bench")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflows", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="keel-ui-bench-") as d:
        port = _free_port()
        sock = os.path.join(d, "k.sock")
        proc = subprocess.Popen([KEEL_BIN, "serve", "--db", os.path.join(d, "keel.db"), "--socket", sock,
                                 "--sync", "normal", "--http", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            began = time.monotonic()
            asyncio.run(populate(sock, args.workflows))
            print(f"{args.workflows} workflows started (half terminated) in {time.monotonic() - began:.1f} s")
            for path in ["/workflows", "/workflows?status=terminated", "/workflows?prefix=w-01",
                         "/workflow?id=w-00002", "/queues", "/stuck", "/metrics"]:
                times = []
                size = 0
                for _ in range(args.requests):
                    t = time.perf_counter()
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as r:
                        size = len(r.read())
                    times.append((time.perf_counter() - t) * 1000)
                print(f"{path:32s} median {statistics.median(times):7.1f} ms   slowest {max(times):7.1f} ms   {size / 1024:6.1f} KB")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
