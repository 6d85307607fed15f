"""The durable agent survives kill -9 of every process: run it once undisturbed (the reference),
then again while killing the model worker mid-call, the orchestrator during a call to the MCP
server (mcp-server-git, from PyPI) and during a model call and while it waits for approval, and
every tool worker, the MCP bridge and the workflow's worker; then approve. The answer must be the
reference's, and no tool call whose completion Keel recorded may run again.

    python3 -m pytest -q examples/agent/test_agent.py

Runs `keel dev` on a generated keel.json (the example's, with absolute paths and a temp state
dir) when the binary has it, else `keel serve` with the same workers (KEEL_AGENT_TEST_MODE=serve
forces the latter). Needs the built `keel`
($KEEL_BIN or .build/debug/keel), python3, go, node, ruby, cc, git and libjansson; skips otherwise.
mcp-server-git comes from the MCP tests' private venv (clients/mcp-tests/setup_venv.sh), made here
when missing.
KEEL_TEST_KEEP_TMPDIR=1 keeps the state dirs.
"""
import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

EXAMPLE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(EXAMPLE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "clients", "python", "src"))
import keel  # noqa: E402

KEEL_BIN = os.environ.get("KEEL_BIN") or os.path.join(REPO, ".build", "debug", "keel")
WORKFLOW_ID = "agent-test"
# The tool workers read this instead of the clock, so both runs give the same answer.
FIXED_NOW = "2026-01-15T09:30:00Z"
# Bounds: start-up (first spawn of six workers and the MCP bridge), one phase of a run, a whole run.
START_TIMEOUT_S = 30.0
PHASE_TIMEOUT_S = 30.0
# The scripted model's latency in these runs: the window in which a kill lands mid-call.
THINK_MS = 800
TOOL_WORKERS = ["tools-go", "tools-c", "tools-ruby", "tools-node", "mcp.git"]
# The journal of a run: seq 1 is the first model call, 2-6 the tools it asks for (in the plan's
# order; 6 is the MCP tool), 7 the model call that plans the email.
TOOL_CALLS = ["weather.lookup", "time.now", "calc.evaluate", "docs.search", "mcp.git.git_log", "email.send"]
MCP_STEP = (6, "mcp.git.git_log")
SECOND_MODEL_CALL = 7
# The documents' repository (tools-mcp/docs_repo.sh) has fixed authors and dates: fixed commit ids.
POLICY_COMMIT = "595f2ca49bc3b47d1b27df6daadbd16d21af3c2c"


def _missing():
    tools = ["python3", "go", "node", "ruby", "make", "cc", "git"]
    missing = [t for t in tools if shutil.which(t) is None]
    if not os.access(KEEL_BIN, os.X_OK):
        missing.append(f"keel binary at {KEEL_BIN} (swift build --product keel, or set KEEL_BIN)")
    if not os.path.exists("/usr/include/jansson.h"):
        missing.append("libjansson-dev")
    return missing


pytestmark = pytest.mark.skipif(bool(_missing()), reason=f"the agent example needs: {', '.join(_missing())}")


def has_dev():
    return subprocess.run([KEEL_BIN, "dev", "--help"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def built():
    """Builds the Go and C workers and makes the MCP venv once, so no timed phase includes them."""
    subprocess.run(["go", "build", "-o", "build/tools-go", "."], cwd=os.path.join(EXAMPLE, "tools-go"), check=True)
    subprocess.run(["make", "-s", "-C", os.path.join(EXAMPLE, "tools-c")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(REPO, "clients", "mcp-tests", "setup_venv.sh")], check=True, stdout=subprocess.DEVNULL, timeout=600)


class Agent:
    """One state dir: a keel.json derived from the example's, `keel dev` (or `keel serve`) on it."""

    def __init__(self, mode):
        self.mode = mode
        self.dir = tempfile.mkdtemp(prefix="keel-agent-", dir="/tmp")  # Unix socket paths stay < ~100 bytes
        self.socket = os.path.join(self.dir, "k.sock")
        self.db = os.path.join(self.dir, "keel.db")
        self.log = os.path.join(self.dir, "side-effects.jsonl")
        self.config = self._config()
        self.env = dict(os.environ, KEEL_EXAMPLE_LOG=self.log, KEEL_EXAMPLE_NOW=FIXED_NOW)
        self.env.pop("KEEL_TRANSPORT", None)
        self.process = None
        self.outputs = []
        self.stopped = []  # pids this test stopped with SIGSTOP: killed on close if still there

    def _config(self):
        with open(os.path.join(EXAMPLE, "keel.json"), encoding="utf-8") as file:
            config = json.load(file)
        def absolute(command):
            words = shlex.split(command)
            words = [os.path.join(EXAMPLE, w) if os.path.exists(os.path.join(EXAMPLE, w)) else w for w in words]
            if "--think-ms" in words:
                words[words.index("--think-ms") + 1] = str(THINK_MS)
            return shlex.join(words)
        for worker in config["workers"]:
            worker["command"] = absolute(worker["command"])
        config["mcp"] = {name: absolute(command) for name, command in config.get("mcp", {}).items()}
        config.update(db=self.db, socket=self.socket)
        config["run"]["workflowId"] = WORKFLOW_ID
        config["run"]["input"]["remindEverySeconds"] = 1
        with open(os.path.join(self.dir, "keel.json"), "w", encoding="utf-8") as file:
            json.dump(config, file, indent=2)
        return config

    # Processes

    def start(self):
        """`keel dev DIR` (it starts or continues the run), or `keel serve` + workflow/start."""
        # After a kill -9, workers still busy with a call hold the inherited listening socket
        # until they notice stdin's end, and a new keel refuses to start while it accepts.
        self.wait(lambda: not self._accepting(), "the killed orchestrator's socket to close")
        out = open(os.path.join(self.dir, f"keel-{len(self.outputs)}.log"), "wb")
        self.outputs.append(out.name)
        if self.mode == "dev":
            command = [KEEL_BIN, "dev", self.dir, "--sync", "normal"]
        else:
            command = [KEEL_BIN, "serve", "--db", self.db, "--socket", self.socket, "--sync", "normal"]
            for worker in self.config["workers"]:
                command += ["--worker", worker["command"]]
            for name, server in self.config["mcp"].items():
                command += ["--mcp", f"{name}={server}"]
        self.process = subprocess.Popen(command, cwd=self.dir, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._accepting():  # after a kill -9 the old socket file is still there
            assert self.process.poll() is None, self.tail()
            assert time.monotonic() < deadline, self.tail()
            time.sleep(0.05)
        if self.mode == "serve":
            run = self.config["run"]
            self.call(lambda c: c.start_workflow(run["workflow"], run["input"], workflow_id=run["workflowId"]))

    def kill_keel(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def kill_worker(self, name):
        """kill -9 the worker registered as ``name``; returns once Keel has restarted it."""
        old = self.wait(lambda: self.worker_pid(name), f"{name} connected")  # an MCP bridge connects after its server's handshake
        os.kill(old, signal.SIGKILL)
        self.wait(lambda: self.worker_pid(name) not in (None, old), f"{name} restarted")

    def stop_mcp_server(self, worker):
        """SIGSTOPs the MCP server behind the bridge ``worker``, so a call to it hangs; returns its pid."""
        def server():
            bridge = self.worker_pid(worker)
            return bridge and next((pid for pid in children(bridge) if "mcp-server" in cmdline(pid)), None)
        pid = self.wait(server, f"the MCP server of {worker}")
        os.kill(pid, signal.SIGSTOP)
        self.stopped.append(pid)
        return pid

    def resume(self, pid):
        """SIGCONTs a process stop_mcp_server stopped (then close leaves it alone)."""
        os.kill(pid, signal.SIGCONT)
        self.stopped.remove(pid)

    def finish(self):
        """Waits for the run to end; returns its result (read through a plain `keel serve`)."""
        if self.mode == "dev":
            assert self.process.wait(PHASE_TIMEOUT_S) == 0, self.tail()  # keel dev exits when the workflow ends
            server = subprocess.Popen([KEEL_BIN, "serve", "--db", self.db, "--socket", self.socket, "--sync", "normal"],
                                      cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.process = server
            deadline = time.monotonic() + START_TIMEOUT_S
            while not self._accepting():
                assert time.monotonic() < deadline
                time.sleep(0.05)
        result = self.call(lambda c: c.workflow_result(WORKFLOW_ID, timeout=PHASE_TIMEOUT_S), timeout=PHASE_TIMEOUT_S + 10)
        history = self.call(lambda c: c.history(WORKFLOW_ID))
        return result, history

    def close_server(self):
        self.process.terminate()
        self.process.wait(15)

    def close(self):
        for pid in self.stopped:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if os.environ.get("KEEL_TEST_KEEP_TMPDIR") == "1":
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # Observing

    def _accepting(self):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def call(self, fn, timeout=20.0):
        async def main():
            async with await keel.Client.connect(socket=self.socket) as client:
                return await fn(client)

        async def bounded():
            return await asyncio.wait_for(main(), timeout)

        return asyncio.run(bounded())

    def worker_pid(self, name):
        workers = self.call(lambda c: c.workers())
        return next((w.get("pid") for w in workers if w.get("name") == name), None)

    def entries(self):
        try:
            return self.call(lambda c: c.history(WORKFLOW_ID))
        except keel.KeelError:
            return []  # not started yet

    def wait(self, predicate, what, timeout=PHASE_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except (OSError, keel.ConnectionClosedError):
                value = None
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.tail()}"
            time.sleep(0.05)

    def waiting_for_approval(self):
        entries = self.entries()
        return bool(entries) and entries[-1]["kind"] == "signal" and entries[-1]["status"] in ("scheduled", "running")

    def in_flight(self, seq, name, statuses=("scheduled", "running")):
        entries = {e["seq"]: e for e in self.entries()}
        entry = entries.get(seq)
        return entry is not None and entry["name"] == name and entry["status"] in statuses

    def running(self, seq, name):
        """Whether step ``seq`` (activity ``name``) is a task a worker holds now: the journal says
        only scheduled until the step ends, the task's own status says running."""
        entry = next((e for e in self.entries() if e["seq"] == seq), None)
        if entry is None or entry["name"] != name or entry["status"] != "scheduled" or not entry.get("taskId"):
            return False
        return self.call(lambda c: c.activity_result(entry["taskId"], wait_timeout=0)).status == "running"

    def records(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log, encoding="utf-8") as file:
            return [json.loads(line) for line in file if line.strip()]

    def outbox(self):
        directory = os.path.join(self.dir, "outbox")
        return sorted(os.listdir(directory)) if os.path.isdir(directory) else []

    def tail(self):
        text = ""
        for name in self.outputs[-2:]:
            with open(name, "rb") as file:
                text += f"--- {name}\n" + file.read()[-3000:].decode("utf-8", "replace")
        return text


def children(pid):
    """The pids whose parent is ``pid`` (from /proc)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", encoding="utf-8") as file:
                    stat = file.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(name))
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


@pytest.fixture
def agents(built):
    made = []
    mode = os.environ.get("KEEL_AGENT_TEST_MODE") or ("dev" if has_dev() else "serve")
    yield lambda: made.append(Agent(mode)) or made[-1]
    for agent in made:
        agent.close()


def approve(agent):
    agent.call(lambda c: c.signal(WORKFLOW_ID, "approve", {"approved": True}))


def check_no_completed_call_ran_again(agent, history):
    """Every side effect of a step happened before Keel recorded the step's completion (the steps
    of our own workers: the MCP server writes no side-effect log; mcp_step checks its step)."""
    completed = {f"{WORKFLOW_ID}/0/{e['seq']}": e for e in history
                 if e["kind"] == "activity" and e["status"] == "completed" and not e["name"].startswith("mcp.")}
    records = agent.records()
    assert records, "no side-effect log"
    for record in records:
        entry = completed.get(record["idempotencyKey"])
        assert entry is not None, f"a side effect for a step that never completed: {record}"
        assert entry["name"] == record["tool"], (entry, record)
        assert record["atMs"] <= entry["completedAtMs"], f"{record['tool']} ran again after its completion was recorded: {record}"
    for key, entry in completed.items():
        ran = [r for r in records if r["idempotencyKey"] == key]
        assert 1 <= len(ran) <= max(entry["attempts"], 1) + 1, (key, entry, ran)
    assert len(agent.outbox()) == 1, agent.outbox()  # one email, however often email.send ran
    return records


def mcp_step(history):
    """The journal entry of the MCP tool call: completed, with mcp-server-git's log of the documents."""
    steps = [e for e in history if e["name"].startswith("mcp.")]
    assert [(e["seq"], e["name"]) for e in steps] == [MCP_STEP], steps
    step = steps[0]
    assert step["kind"] == "activity" and step["status"] == "completed", step
    assert step["input"] == {"max_count": 5, "repo_path": "."}, step
    text = "".join(block["text"] for block in step["result"]["content"])
    assert text.startswith("Commit history:") and f"Commit: {POLICY_COMMIT}" in text, text
    return step


def streamed_answer(agent, history, answer):
    """The run's stream (`workflow/follow` from offset 0, to its end): offsets 1..N, and the
    tokens the model published while writing its answer, in order, giving the answer exactly.
    Only the attempt that completed counts (a killed attempt may have published some tokens)."""
    async def follow(client):
        return [event async for event in client.follow(WORKFLOW_ID)]

    events = agent.call(follow, timeout=PHASE_TIMEOUT_S)
    assert [e.offset for e in events] == list(range(1, len(events) + 1)), events
    tokens = [e for e in events if e.name == "token"]
    assert tokens and all(e.source == "activity" for e in tokens), events
    last_model_call = [e for e in history if e["name"] == "llm.complete"][-1]
    final = [e.event["token"] for e in tokens if (e.task_id, e.attempt) == (last_model_call["taskId"], last_model_call["attempts"])]
    assert "".join(final) == answer, (final, answer)
    assert len(final) > 10  # word by word, not the answer in one piece
    return final


def test_the_agent_gives_the_same_answer_when_every_process_is_killed(agents):
    reference = agents()
    reference.start()
    reference.wait(reference.waiting_for_approval, "the approval wait")
    approve(reference)
    expected, expected_history = reference.finish()
    assert expected.status == "completed", expected
    assert expected.output["toolCalls"] == TOOL_CALLS
    assert "Emailed the summary to ada@example.com." in expected.output["answer"]
    assert f"The travel policy last changed on 2026-01-05 (commit {POLICY_COMMIT[:7]}, Grace Hopper)" in expected.output["answer"]
    check_no_completed_call_ran_again(reference, expected_history)
    assert mcp_step(expected_history)["attempts"] == 1
    expected_tokens = streamed_answer(reference, expected_history, expected.output["answer"])

    chaos = agents()
    chaos.start()
    # 1. The model worker, mid-call: seq 1 retried after its simulated 429, then killed while thinking.
    #    Stopped first, so the call cannot end before the MCP server is stopped too (for 2).
    chaos.wait(lambda: chaos.in_flight(1, "llm.complete") and any(e["attempts"] >= 2 for e in chaos.entries()[:1]), "the retried first model call")
    os.kill(chaos.worker_pid("model"), signal.SIGSTOP)
    server = chaos.stop_mcp_server("mcp.git")
    chaos.kill_worker("model")
    # 2. The orchestrator, during the call to the MCP server (which hangs, stopped): Keel restarts
    #    with the step running, starts a new bridge and server, and runs it again (git_log is
    #    annotated read-only, so the bridge allows a second attempt).
    chaos.wait(lambda: chaos.running(*MCP_STEP), "the MCP tool call, running")
    chaos.kill_keel()
    chaos.resume(server)  # the old server answers into the void, sees stdin's end and exits
    chaos.start()
    chaos.wait(lambda: chaos.in_flight(*MCP_STEP, statuses=("completed",)), "the MCP tool call after the restart")
    # 3. The orchestrator, mid-call: while the model plans the email.
    chaos.wait(lambda: chaos.in_flight(SECOND_MODEL_CALL, "llm.complete"), "the second model call")
    chaos.kill_keel()
    chaos.start()
    # 4. Every tool worker, the MCP bridge and the workflow's own worker, while the agent waits for approval.
    chaos.wait(chaos.waiting_for_approval, "the approval wait")
    for name in TOOL_WORKERS + ["agent"]:
        chaos.kill_worker(name)
    chaos.wait(lambda: any(e["name"] == "notify.remind" and e["status"] == "completed" for e in chaos.entries()), "a reminder")
    # 5. The orchestrator again, while the agent waits; then the human approves.
    chaos.kill_keel()
    chaos.start()
    chaos.wait(chaos.waiting_for_approval, "the approval wait after a restart")
    approve(chaos)
    result, history = chaos.finish()

    assert result.status == "completed", result
    assert result.output == expected.output
    records = check_no_completed_call_ran_again(chaos, history)
    assert history[0]["attempts"] >= 2  # the model's 429 was retried (and the kill cost at most one more)
    tools = [r["tool"] for r in records if r["tool"] not in ("llm.complete", "notify.remind")]
    ours = [t for t in expected.output["toolCalls"] if not t.startswith("mcp.")]  # the MCP server logs nothing
    assert sorted(tools) == sorted(ours), tools  # each of our tools ran exactly once
    step = mcp_step(history)  # the MCP call, cut by the kill, ran again once and was recorded once
    assert step["attempts"] == 2 and step["result"] == mcp_step(expected_history)["result"], step
    assert streamed_answer(chaos, history, result.output["answer"]) == expected_tokens

    if chaos.mode == "dev":  # running the same command once more: it reports the result, runs nothing
        chaos.close_server()
        chaos.start()
        assert chaos.process.wait(PHASE_TIMEOUT_S) == 0, chaos.tail()
        assert "completed" in chaos.tail() and len(chaos.records()) == len(records)
