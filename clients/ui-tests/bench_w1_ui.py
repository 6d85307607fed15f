"""What the web UI costs the engine (issue 14: W1 drops by at most 5 % with the UI open).

W1 — 200 workflows of 3 activities each, started at once, with the Python bench worker — against a
real `keel serve`, without `--http` and with it while a browser's worth of load runs: the list
page's server-sent-event stream held open and `/metrics` plus the list page fetched every second.
5 alternating runs; prints workflows/s per run and the medians. Asserts nothing.

Run: python3 clients/ui-tests/bench_w1_ui.py
"""
import asyncio, os, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
import keel  # noqa: E402

KEEL = os.environ.get("KEEL_BINARY", os.path.join(ROOT, ".build", "debug", "keel"))

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def scraper(port, stop):
    # A browser's worth of load: an open SSE stream of the list page, /metrics every second.
    def sse():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/events?view=/workflows", timeout=120) as r:
                while not stop.is_set():
                    if not r.readline(): break
        except Exception:
            pass
    t = threading.Thread(target=sse, daemon=True); t.start()
    while not stop.is_set():
        for path in ("/metrics", "/workflows"):
            try: urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()
            except Exception as e: print("scrape failed", path, e)
        stop.wait(1.0)

async def w1(sock, n=200):
    client = await keel.Client.connect(socket=sock)
    t0 = time.perf_counter()
    ids = [f"wf-{time.time_ns()}-{i}" for i in range(n)]
    await asyncio.gather(*(client.start_workflow("bench.flow", {"payload": {"i": i}, "activities": 3}, ids[i]) for i in range(n)))
    results = await asyncio.gather(*(client.workflow_result(i, timeout=120) for i in ids))
    dt = time.perf_counter() - t0
    assert all(r.status == "completed" for r in results), [r.status for r in results][:5]
    await client.close()
    return n / dt

def run(with_ui):
    d = tempfile.mkdtemp(prefix="w1ui-")
    sock = d + "/k.sock"
    args = [KEEL, "serve", "--db", d + "/k.db", "--socket", sock, "--log-level", "error"]
    port = free_port()
    if with_ui: args += ["--http", f"127.0.0.1:{port}"]
    k = subprocess.Popen(args, stdout=open(d + "/k.log", "w"), stderr=subprocess.STDOUT)
    while not os.path.exists(sock): time.sleep(0.05)
    w = subprocess.Popen([sys.executable, ROOT + "/examples/bench/worker.py"], env={**os.environ, "KEEL_SOCKET": sock},
                         stdout=open(d + "/w.log", "w"), stderr=subprocess.STDOUT)
    time.sleep(1.5)
    stop = threading.Event()
    if with_ui:
        threading.Thread(target=scraper, args=(port, stop), daemon=True).start()
        time.sleep(1.0)
    rate = asyncio.run(w1(sock))
    stop.set()
    w.terminate(); k.terminate(); w.wait(); k.wait()
    return rate

without, withui = [], []
for i in range(5):
    without.append(run(False)); withui.append(run(True))
    print(f"run {i+1}: without {without[-1]:.0f}/s, with UI {withui[-1]:.0f}/s", flush=True)
print(f"W1 200 workflows: median without UI {statistics.median(without):.0f} wf/s, with UI open + /metrics every 1 s {statistics.median(withui):.0f} wf/s, ratio {statistics.median(withui)/statistics.median(without):.3f}")
