"""MCP servers we did not write, run as Keel workers through `keel serve --mcp` (issue 18).

Run: python3 -m pytest -q clients/mcp-tests   (needs .build/debug/keel and PyPI for the first run:
setup_venv.sh installs mcp-server-time, mcp-server-git and the MCP SDK into a private venv)
"""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest

from harness import KEEL_BIN, Orchestrator, wait_for

pytestmark = pytest.mark.skipif(not os.access(KEEL_BIN, os.X_OK), reason=f"no keel binary at {KEEL_BIN}")
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def tmp():
    directory = tempfile.mkdtemp(prefix="mcp-", dir="/tmp")  # short: a socket path has ~100 bytes
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def time_server(env_dir, tmp):
    keel = Orchestrator(tmp, ["--mcp", f"time={env_dir}/bin/mcp-server-time"])
    keel.start()
    yield keel
    keel.stop()


def test_time_tools_are_discovered_with_their_schemas(time_server):
    time_server.wait_for_activities("mcp.time.get_current_time", "mcp.time.convert_time")
    out = time_server.keel("workers", "--format", "json")
    workers = json.loads(out.stdout)
    workers = workers.get("workers", workers) if isinstance(workers, dict) else workers
    contracts = {c["name"]: c for w in workers for c in w.get("activityContracts", [])}
    current = contracts["mcp.time.get_current_time"]
    assert current["input"]["required"] == ["timezone"]
    assert set(current["output"]["required"]) == {"timezone", "datetime", "day_of_week", "is_dst"}
    # convert_time's output schema has a $ref into $defs: registered as the server declared it.
    assert current and contracts["mcp.time.convert_time"]["output"]["properties"]["source"] == {"$ref": "#/$defs/TimeResult"}


def test_time_tool_called_durably_through_keel_call(time_server):
    time_server.wait_for_activities("mcp.time.get_current_time")
    code, answer = time_server.call("mcp.time.get_current_time", {"timezone": "Asia/Tokyo"})
    assert code == 0, answer
    # mcp-server-time answers server/discover: the bridge speaks the stateless revision to it.
    assert "time: the MCP server speaks revision 2026-07-28" in time_server.log()
    assert answer["status"] == "completed"
    assert answer["output"]["timezone"] == "Asia/Tokyo"
    assert answer["output"]["datetime"].endswith("+09:00")
    # The $ref output schema is checked by Keel against the structured result.
    code, answer = time_server.call(
        "mcp.time.convert_time", {"source_timezone": "Europe/Paris", "time": "12:00", "target_timezone": "Asia/Tokyo"})
    assert code == 0, answer
    assert answer["output"]["target"]["timezone"] == "Asia/Tokyo"


def test_time_tool_error_is_a_failure_with_the_servers_message(time_server):
    time_server.wait_for_activities("mcp.time.get_current_time")
    code, answer = time_server.call("mcp.time.get_current_time", {"timezone": "Mars/Olympus_Mons"})
    assert code == 1, answer
    assert answer["status"] == "failed"
    assert answer["attempts"] == 1  # isError: true is the tool's own answer: not retried
    assert answer["failure"]["type"] == "MCPToolError"
    assert "Invalid timezone" in answer["failure"]["message"]
    assert "Mars/Olympus_Mons" in answer["failure"]["message"]


def test_input_breaking_the_tools_input_schema_is_refused_before_the_server_sees_it(time_server):
    time_server.wait_for_activities("mcp.time.get_current_time")
    code, error = time_server.call("mcp.time.get_current_time", {"zone": "Europe/Paris"})
    assert code == 2, error
    assert error["error"]["code"] == 3001


def test_git_tools_on_a_throwaway_repository(env_dir, tmp):
    repo = os.path.join(tmp, "repo")
    os.makedirs(repo)
    for args in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "T"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    with open(os.path.join(repo, "a.txt"), "w") as f:
        f.write("hello\n")
    keel = Orchestrator(tmp, ["--mcp", f"git={env_dir}/bin/mcp-server-git --repository {repo}"])
    keel.start()
    try:
        keel.wait_for_activities("mcp.git.git_status", "mcp.git.git_add", "mcp.git.git_commit")
        code, answer = keel.call("mcp.git.git_status", {"repo_path": repo})
        assert code == 0, answer
        text = "".join(block.get("text", "") for block in answer["output"]["content"])
        assert "a.txt" in text
        code, answer = keel.call("mcp.git.git_add", {"repo_path": repo, "files": ["a.txt"]})
        assert code == 0, answer
        code, answer = keel.call("mcp.git.git_commit", {"repo_path": repo, "message": "from keel"})
        assert code == 0, answer
        log = subprocess.run(["git", "log", "--oneline"], cwd=repo, capture_output=True, text=True, check=True).stdout
        assert log.count("from keel") == 1
    finally:
        keel.stop()


def test_a_wedged_server_is_killed_restarted_and_the_call_retried(env_dir, tmp):
    marker = os.path.join(tmp, "marker")
    server = f"{env_dir}/bin/python {HERE}/servers/wedge_server.py"
    keel = Orchestrator(tmp, ["--worker", f"{KEEL_BIN} mcp bridge wedge --timeout 20s -- {server}"])
    keel.start()
    try:
        keel.wait_for_activities("mcp.wedge.hang_once")
        code, answer = keel.call("mcp.wedge.hang_once", {"marker": marker})
        assert code == 0, answer
        assert answer["attempts"] == 2
        with open(marker) as f:
            wedged_pid = int(f.read())
        # No outputSchema (a dict return): the output is the content, a JSON text block.
        answered_pid = json.loads(answer["output"]["content"][0]["text"])["pid"]
        assert answered_pid != wedged_pid  # answered by a new server process
        assert "killing it" in keel.log() and "restarted the MCP server wedge" in keel.log()
        # The wedged server is gone.
        wait_for(lambda: not os.path.exists(f"/proc/{wedged_pid}") or _is_zombie(wedged_pid), 30, "the wedged server's end")
    finally:
        keel.stop()


def test_a_destructive_tool_is_not_retried_after_a_timeout(env_dir, tmp):
    log = os.path.join(tmp, "calls.log")
    server = f"{env_dir}/bin/python {HERE}/servers/wedge_server.py"
    keel = Orchestrator(tmp, ["--worker", f"{KEEL_BIN} mcp bridge wedge --timeout 5s -- {server}"])
    keel.start()
    try:
        keel.wait_for_activities("mcp.wedge.hang_destructive")
        code, answer = keel.call("mcp.wedge.hang_destructive", {"log": log})
        assert code == 1, answer
        assert answer["attempts"] == 1, answer
        with open(log) as f:
            assert len(f.read().splitlines()) == 1  # called once: maximumAttempts 1 from its annotations
    finally:
        keel.stop()


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_kill_9_during_a_destructive_tool_call_does_not_call_it_twice(env_dir, tmp):
    log = os.path.join(tmp, "calls.log")
    server = f"{env_dir}/bin/python {HERE}/servers/wedge_server.py"
    keel = Orchestrator(tmp, ["--worker", f"{KEEL_BIN} mcp bridge wedge --timeout 60s -- {server}"])
    keel.start()
    try:
        keel.wait_for_activities("mcp.wedge.hang_destructive")
        out = keel.keel("call", "mcp.wedge.hang_destructive", json.dumps({"log": log}), "--no-wait",
                        "--idempotency-key", "delete-42")
        assert out.returncode == 0, out.stderr
        wait_for(lambda: os.path.exists(log), 60, "the tool's first call")
        keel.kill9()
        keel.start()  # the running task goes back to scheduled and is dispatched as attempt 2
        out = keel.keel("call", "mcp.wedge.hang_destructive", json.dumps({"log": log}), "--idempotency-key", "delete-42",
                        "--format", "json", check=False)
        answer = json.loads(out.stdout)
        assert answer["status"] == "failed", answer
        assert answer["failure"]["type"] == "MCPNotRetried", answer
        with open(log) as f:
            assert len(f.read().splitlines()) == 1  # the server saw one call, before the crash
    finally:
        keel.stop()
        _kill_wedged(log)


def _kill_wedged(log):
    """The first server wedged when its bridge died with the orchestrator: kill it by the pid it logged."""
    try:
        with open(log) as f:
            pids = [int(line.split()[1]) for line in f]
    except FileNotFoundError:
        return
    for pid in pids:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def test_servers_of_the_initialize_era_are_reached_by_falling_back_from_server_discover(env_dir, tmp):
    legacy = f"python3 {HERE}/servers/legacy_server.py"
    keel = Orchestrator(tmp, [
        "--mcp", f"old={legacy}",  # answers server/discover with -32601: initialize on the same connection
        "--mcp", f"older={legacy} --exit-on-unknown",  # exits on server/discover: started again for initialize
        "--worker", f"{KEEL_BIN} mcp bridge pinned --protocol-mode legacy -- {env_dir}/bin/mcp-server-time",
    ])
    keel.start()
    try:
        keel.wait_for_activities("mcp.old.echo", "mcp.older.echo", "mcp.pinned.get_current_time")
        for name in ("mcp.old.echo", "mcp.older.echo"):
            code, answer = keel.call(name, {"text": "hi"})
            assert code == 0, answer
            assert answer["output"]["content"] == [{"type": "text", "text": "hi"}]
        code, answer = keel.call("mcp.pinned.get_current_time", {"timezone": "Etc/UTC"})
        assert code == 0, answer
        log = keel.log()
        assert "old: the MCP server speaks revision 2025-06-18" in log
        assert "older: the MCP server speaks revision 2025-06-18" in log
        assert "exited or stayed silent on server/discover" in log
        assert "pinned: the MCP server speaks revision 2025-11-25" in log
    finally:
        keel.stop()


def test_tools_list_changed_registers_the_new_list(env_dir, tmp):
    grow_file = os.path.join(tmp, "grown")
    server = f"{env_dir}/bin/python {HERE}/servers/wedge_server.py --grow-file {grow_file}"
    # The initialize era: there the server may notify at any time.
    keel = Orchestrator(tmp, ["--worker", f"{KEEL_BIN} mcp bridge wedge --protocol-mode legacy -- {server}"])
    keel.start()
    try:
        keel.wait_for_activities("mcp.wedge.grow")
        assert "mcp.wedge.extra" not in keel.activities()
        code, answer = keel.call("mcp.wedge.grow", {})
        assert code == 0, answer
        keel.wait_for_activities("mcp.wedge.extra")  # the bridge exited, was restarted, and listed again
        code, answer = keel.call("mcp.wedge.extra", {})
        assert code == 0, answer
        assert "the server's tools changed; restarting" in keel.log()
    finally:
        keel.stop()


def test_kill_9_during_an_idempotent_tool_call_loses_nothing(env_dir, tmp):
    marker = os.path.join(tmp, "marker")
    server = f"{env_dir}/bin/python {HERE}/servers/wedge_server.py"
    keel = Orchestrator(tmp, ["--worker", f"{KEEL_BIN} mcp bridge wedge --timeout 60s -- {server}"])
    keel.start()
    try:
        keel.wait_for_activities("mcp.wedge.hang_once")
        out = keel.keel("call", "mcp.wedge.hang_once", json.dumps({"marker": marker}), "--no-wait",
                        "--idempotency-key", "lookup-7")
        assert out.returncode == 0, out.stderr
        wait_for(lambda: os.path.exists(marker) and os.path.getsize(marker) > 0, 60, "the tool's first call")
        keel.kill9()
        keel.start()  # the task was running: it goes back to scheduled and runs as attempt 2
        out = keel.keel("call", "mcp.wedge.hang_once", json.dumps({"marker": marker}), "--idempotency-key", "lookup-7",
                        "--format", "json", check=False)
        answer = json.loads(out.stdout)
        assert answer["status"] == "completed", answer
        assert answer["attempts"] == 2
    finally:
        keel.stop()
        _kill_pid_in(marker)


def _kill_pid_in(path):
    """The wedged server's pid, which it wrote to `path`: killed in case its bridge died first."""
    try:
        with open(path) as f:
            os.kill(int(f.read()), 9)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass


class _FlakyPage(http.server.BaseHTTPRequestHandler):
    """/flaky answers 503 the first time, then the page; /page always the page."""
    hits = {}

    def do_GET(self):
        _FlakyPage.hits[self.path] = _FlakyPage.hits.get(self.path, 0) + 1
        if self.path == "/flaky" and _FlakyPage.hits[self.path] == 1:
            self.send_response(503)
            self.end_headers()
            return
        body = b"<html><body><h1>Hotel policy</h1><p>At most 180 EUR per night.</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_fetch_over_loopback_with_a_real_io_error_retried_by_policy(env_dir, tmp):
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlakyPage)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{http_server.server_address[1]}"
    fetch = f"{env_dir}/bin/mcp-server-fetch --ignore-robots-txt --allow-private-ips"
    keel = Orchestrator(tmp, [
        "--mcp", f"fetch={fetch}",  # isError is not retried (the default)
        "--worker", f"{KEEL_BIN} mcp bridge fetchr --retry-tool-errors -- {fetch}",  # isError retried
    ])
    keel.start()
    try:
        keel.wait_for_activities("mcp.fetch.fetch", "mcp.fetchr.fetch")
        # raw: the markdown simplification of this server version can stall for tens of seconds.
        code, answer = keel.call("mcp.fetch.fetch", {"url": f"{base}/page", "raw": True})
        assert code == 0, answer
        assert "180 EUR per night" in answer["output"]["content"][0]["text"]
        # Connection refused: the server's own error, with its message, not retried by default.
        code, answer = keel.call("mcp.fetch.fetch", {"url": "http://127.0.0.1:1/nothing", "raw": True})
        assert code == 1 and answer["failure"]["type"] == "MCPToolError" and answer["attempts"] == 1, answer
        assert "127.0.0.1:1" in answer["failure"]["message"]
        # A 503 then a 200: with --retry-tool-errors the read-only tool is retried and completes.
        code, answer = keel.call("mcp.fetchr.fetch", {"url": f"{base}/flaky", "raw": True})
        assert code == 0, answer
        assert answer["attempts"] == 2
        assert _FlakyPage.hits["/flaky"] == 2
    finally:
        keel.stop()
        http_server.shutdown()
