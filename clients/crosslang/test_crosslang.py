"""Cross-language: one real `keel serve` with workers in Go, Ruby, C, Node, Python and Swift
(issue #5). Workflows in one language call activities and child workflows in others; the Python
client starts them, signals them and reads their results and histories.

Run: python3 -m pytest -q clients/crosslang

Needs the `keel` binary (.build/debug/keel or $KEEL_BIN). A test whose toolchain (go, ruby, node,
cc with libjansson, the Swift worker binary) is missing is skipped with the reason.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
WORKERS = os.path.join(HERE, "workers")
sys.path.insert(0, os.path.join(REPO, "clients", "python", "src"))

import keel  # noqa: E402

KEEL_BIN = os.environ.get("KEEL_BIN") or os.path.join(REPO, ".build", "debug", "keel")
SWIFT_WORKER = os.environ.get("KEEL_SWIFT_WORKER") or os.path.join(REPO, ".build", "debug", "keel-swift-worker")

# Bounds on every wait (seconds).
BUILD_TIMEOUT = 180.0
START_TIMEOUT = 30.0  # keel binding its socket, and every worker registering
CALL_TIMEOUT = 30.0  # one client call, including a workflow_result wait
STOP_TIMEOUT = 10.0

pytestmark = pytest.mark.skipif(
    not os.access(KEEL_BIN, os.X_OK),
    reason=f"no keel binary at {KEEL_BIN}: build it with `swift build --product keel` or set KEEL_BIN",
)


def _missing_toolchains():
    """{language: why it cannot run here}."""
    missing = {}
    for lang, tool in (("go", "go"), ("ruby", "ruby"), ("node", "node"), ("c", "cc")):
        if shutil.which(tool) is None:
            missing[lang] = f"`{tool}` is not on PATH"
    if "c" not in missing and not any(
        os.path.exists(os.path.join(d, "jansson.h")) for d in ("/usr/include", "/usr/local/include")
    ):
        missing["c"] = "jansson.h not found (install libjansson-dev)"
    if "c" not in missing and shutil.which("make") is None:
        missing["c"] = "`make` is not on PATH"
    if not os.access(SWIFT_WORKER, os.X_OK):
        missing["swift"] = f"no Swift worker at {SWIFT_WORKER} (swift build --product keel-swift-worker)"
    return missing


MISSING = _missing_toolchains()


def needs(*langs):
    """Skips the calling test, naming what is missing, unless every language in langs can run."""
    reasons = [f"{lang}: {MISSING[lang]}" for lang in langs if lang in MISSING]
    if reasons:
        pytest.skip("toolchain missing: " + "; ".join(reasons))


def run(coro, timeout=CALL_TIMEOUT):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def _checked(cmd, cwd, env=None):
    try:
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(cmd)} took over {BUILD_TIMEOUT} s")
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


@pytest.fixture(scope="session")
def tmp():
    # Short and under /tmp: a Unix socket path must stay under ~100 bytes.
    directory = tempfile.mkdtemp(prefix="xl-", dir="/tmp")
    yield directory
    if os.environ.get("KEEL_TEST_KEEP_TMPDIR") == "1":
        print(f"kept {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def binaries(tmp):
    """Builds the Go and C workers once per session: {language: executable}."""
    built = {}
    if "go" not in MISSING:
        exe = os.path.join(tmp, "goworker")
        # The module needs no download: its one dependency is replaced by ../../../go.
        env = dict(os.environ, GO111MODULE="on", GOFLAGS="", GOPROXY="off")
        _checked(["go", "build", "-o", exe, "."], cwd=os.path.join(WORKERS, "go"), env=env)
        built["go"] = exe
    if "c" not in MISSING:
        c_dir = os.path.join(REPO, "clients", "c")
        _checked(["make", "-C", c_dir, "build/libkeel.a"], cwd=REPO)
        exe = os.path.join(tmp, "cworker")
        _checked(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(c_dir, "include"),
                  os.path.join(WORKERS, "worker.c"), os.path.join(c_dir, "build", "libkeel.a"),
                  "-ljansson", "-lssl", "-lcrypto", "-pthread", "-o", exe], cwd=REPO)
        built["c"] = exe
    return built


def _start_time(pid):
    """The process's start time from /proc (tells a live process from a reused pid), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Orchestrator:
    """One `keel serve` spawning every worker over stdio, plus the bookkeeping to kill it all."""

    def __init__(self, tmp, binaries):
        self.dir = tmp
        self.socket = os.path.join(tmp, "k.sock")
        self.log_path = os.path.join(tmp, "keel.log")
        # language -> (registered worker name, command line; keel serve runs in workers/)
        self.commands = {"python": ("crosslang-python", f"{sys.executable} worker.py")}
        if "ruby" not in MISSING:
            self.commands["ruby"] = ("crosslang-ruby", "ruby worker.rb")
        if "node" not in MISSING:
            self.commands["node"] = ("crosslang-node", "node worker.mjs")
        if "go" in binaries:
            self.commands["go"] = ("crosslang-go", binaries["go"])
        if "c" in binaries:
            self.commands["c"] = ("crosslang-c", binaries["c"])
        if "swift" not in MISSING:
            self.commands["swift"] = ("swift-worker", SWIFT_WORKER)
        self.seen = {}  # worker pid -> start time: every worker process we saw, for the teardown
        self.process = None

    def start(self):
        argv = [KEEL_BIN, "serve", "--db", os.path.join(self.dir, "keel.db"), "--socket", self.socket,
                "--sync", "normal"]
        for _, command in self.commands.values():
            argv += ["--worker", command]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(argv, cwd=WORKERS, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._accepting():
            assert self.process.poll() is None, "keel serve exited:\n" + self.tail()
            assert time.monotonic() < deadline, "keel serve did not bind its socket:\n" + self.tail()
            time.sleep(0.05)
        self.wait_for_workers(START_TIMEOUT)

    def _accepting(self):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def workers(self):
        listed = self.call(lambda c: c.workers())
        for w in listed:
            if w.get("pid"):
                self.seen.setdefault(w["pid"], _start_time(w["pid"]))
        return listed

    def wait_for_workers(self, timeout):
        """Waits until a worker of every language is registered."""
        expected = {name for name, _ in self.commands.values()}
        deadline = time.monotonic() + timeout
        while True:
            registered = {w["name"] for w in self.workers()}
            if expected <= registered:
                return
            assert self.process.poll() is None, "keel serve exited:\n" + self.tail()
            assert time.monotonic() < deadline, f"not registered: {sorted(expected - registered)}\n" + self.tail()
            time.sleep(0.2)

    def call(self, fn, timeout=CALL_TIMEOUT):
        async def main():
            async with await keel.Client.connect(socket=self.socket) as client:
                return await fn(client)

        return run(main(), timeout)

    def tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM keel (it stops its workers: close stdin, SIGTERM, SIGKILL), then SIGKILL
        whatever is left: keel itself and any worker process group still alive."""
        if self.process is not None and self.process.poll() is None:
            try:
                self.workers()  # record the pids of workers restarted since the last look
            except Exception:
                pass
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        for pid, started in self.seen.items():
            if started is not None and _start_time(pid) == started:
                try:
                    os.killpg(pid, signal.SIGKILL)  # each worker leads its own process group
                except OSError:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture(scope="session")
def orch(tmp, binaries):
    o = Orchestrator(tmp, binaries)
    try:
        o.start()
        yield o
    finally:
        o.stop()


def result_of(orch, workflow_id, timeout=20.0):
    result = orch.call(lambda c: c.workflow_result(workflow_id, timeout=timeout), timeout + 10)
    assert result.status == "completed", f"{workflow_id}: {result}\n{orch.tail()}"
    return result.output


def wait_until(predicate, what, orch, timeout=15.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{orch.tail()}"
        time.sleep(interval)


def test_go_workflow_calls_ruby_activity(orch):
    needs("go", "ruby")
    orch.call(lambda c: c.start_workflow("go.greet", {"name": "Ada"}, workflow_id="go-greet"))
    output = result_of(orch, "go-greet")
    assert output == {"greeting": "Hello from Go, adA", "activityBy": "ruby", "by": "go"}
    [step] = orch.call(lambda c: c.history("go-greet"))
    assert (step["seq"], step["kind"], step["name"], step["status"]) == (1, "activity", "ruby.reverse", "completed")


def test_python_workflow_calls_c_and_node_in_parallel(orch):
    needs("c", "node")
    orch.call(lambda c: c.start_workflow("py.parallel", {"a": 2, "b": 40, "text": "hi", "ms": 700},
                                         workflow_id="py-parallel"))
    output = result_of(orch, "py-parallel")
    assert output == {"c": {"sum": 42, "by": "c"}, "node": {"text": "hi!", "by": "node"}, "by": "python"}
    entries = sorted(orch.call(lambda c: c.history("py-parallel")), key=lambda e: e["seq"])
    assert [(e["seq"], e["kind"], e["name"], e["status"]) for e in entries] == [
        (1, "activity", "c.add", "completed"),
        (2, "activity", "node.shout", "completed"),
    ]
    c_step, node_step = entries
    # Parallel, not one after the other: step 2 was started while step 1 (sleeping 700 ms in C) ran.
    assert node_step["createdAtMs"] < c_step["completedAtMs"], entries


def test_node_workflow_calls_swift_and_waits_for_a_python_signal(orch):
    needs("node", "swift")
    orch.call(lambda c: c.start_workflow("node.approve", {"text": "durable"}, workflow_id="node-approve"))

    def waiting_for_signal():
        entries = orch.call(lambda c: c.history("node-approve"))
        return any(e["kind"] == "signal" and e["status"] not in ("completed", "failed") for e in entries) and entries

    entries = wait_until(waiting_for_signal, "node-approve to wait for its signal", orch)
    assert (entries[0]["kind"], entries[0]["name"], entries[0]["status"]) == ("activity", "swift.upper", "completed")
    pending = orch.call(lambda c: c.workflow_result("node-approve", timeout=0.5))
    assert not pending.done, pending  # it really waits for the signal

    orch.call(lambda c: c.signal("node-approve", "approve", {"approvedBy": "python"}))
    output = result_of(orch, "node-approve")
    assert output == {"upper": {"text": "DURABLE", "by": "swift"}, "approval": {"approvedBy": "python"}, "by": "node"}


def test_python_workflow_runs_a_go_child_workflow(orch):
    needs("go", "ruby")
    orch.call(lambda c: c.start_workflow("py.parent", {"name": "Bob"}, workflow_id="py-parent"))
    output = result_of(orch, "py-parent")
    assert output == {"child": {"greeting": "Hello from Go, boB", "activityBy": "ruby", "by": "go"}, "by": "python"}
    [step] = orch.call(lambda c: c.history("py-parent"))
    assert (step["seq"], step["kind"], step["name"], step["status"]) == (1, "child", "go.greet", "completed")
    child = orch.call(lambda c: c.describe("py-parent-child"))
    assert (child["name"], child["status"], child.get("parentId")) == ("go.greet", "completed", "py-parent")


def test_kill_9_of_a_worker_mid_activity_and_the_work_completes(orch):
    needs("node")

    def node_running_slow():
        for w in orch.workers():
            if w["name"] == "crosslang-node" and w.get("inFlight", 0) > 0:
                return w
        return None

    orch.call(lambda c: c.start_workflow("py.survive", {"ms": 2000, "tag": "survivor"}, workflow_id="py-survive"))
    victim = wait_until(node_running_slow, "node.slow to run on the Node worker", orch, interval=0.05)
    os.kill(victim["pid"], signal.SIGKILL)  # mid-activity: it sleeps 2 s

    output = result_of(orch, "py-survive", timeout=25.0)
    slow = output["slow"]
    assert (slow["tag"], slow["by"]) == ("survivor", "node"), output
    assert slow["pid"] != victim["pid"] and slow["attempt"] >= 2, output  # finished by the restarted worker
    [step] = orch.call(lambda c: c.history("py-survive"))
    assert (step["seq"], step["name"], step["status"]) == (1, "node.slow", "completed") and step["attempts"] >= 2, step
    orch.wait_for_workers(START_TIMEOUT)  # the supervisor restarted it: every language is back
