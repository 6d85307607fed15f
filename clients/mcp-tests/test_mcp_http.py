"""The official MCP Python SDK's streamable-HTTP client against `POST /mcp` on `keel serve --http`
(docs/mcp.md, "Streamable HTTP"): tools listed, an activity called durably with an idempotency
key, progress from a worker's heartbeats as server-sent events, and bad requests answered with
a clear JSON-RPC error and HTTP status.
"""
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.request

import pytest

from harness import KEEL_BIN, START_TIMEOUT, Orchestrator, wait_for
from test_mcp_serve import HERE, MCPClient, cancel_a_follow, executions, follow_a_workflow_while_signalling_it

pytestmark = pytest.mark.skipif(not os.access(KEEL_BIN, os.X_OK), reason=f"no keel binary at {KEEL_BIN}")


@pytest.fixture
def keel():
    directory = tempfile.mkdtemp(prefix="mcph-", dir="/tmp")
    log = os.path.join(directory, "executions.log")
    open(log, "w").close()
    orchestrator = Orchestrator(
        directory, ["--http", "127.0.0.1:0", "--worker", f"python3 {HERE}/workers/mcp_activities.py",
                    "--pass-env", "KEEL_MCP_TEST_LOG"],
        env={"KEEL_MCP_TEST_LOG": log})
    orchestrator.executions = log
    orchestrator.start()
    orchestrator.wait_for_activities("mcptest.add", "mcptest.slow", "mcptest.steps")
    port = wait_for(lambda: re.search(r"http://127\.0\.0\.1:(\d+)/", orchestrator.log()), START_TIMEOUT, "the web listener's port")
    orchestrator.url = f"http://127.0.0.1:{port.group(1)}/mcp"
    yield orchestrator
    orchestrator.stop()
    shutil.rmtree(directory, ignore_errors=True)


class HTTPTarget:
    """What MCPClient needs of an orchestrator, with the endpoint's URL in place of the socket."""

    def __init__(self, keel):
        self.directory = keel.directory
        self.socket = keel.url


def post(url, body, headers=None):
    """(status, parsed JSON body, headers) of one raw POST."""
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode()), error.headers


@pytest.mark.parametrize("mode,version", [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_the_sdk_http_client_lists_tools_and_calls_an_activity_durably(env_dir, keel, mode, version):
    key = f"http-order-{mode}"
    call = {"call": "mcptest.add", "arguments": {"a": 40, "b": 2}, "meta": {"idempotencyKey": key}}
    client = MCPClient(env_dir, HTTPTarget(keel), [{"list": True}, call, call], mode=mode)
    assert client.line()["protocolVersion"] == version
    tools = {t["name"]: t for t in client.line()["tools"]}
    assert tools["mcptest.add"]["inputSchema"]["required"] == ["a", "b"]
    first, second = client.line(), client.line()
    client.finish()
    assert first["isError"] is False and first["structuredContent"] == {"sum": 42}, first
    # The same key answers the stored result: the same task, one execution.
    assert second["_meta"]["keel.dev/taskId"] == first["_meta"]["keel.dev/taskId"]
    assert [e["key"] for e in executions(keel)] == [key]


def test_a_workers_heartbeats_reach_the_http_client_as_progress_events(env_dir, keel):
    client = MCPClient(env_dir, HTTPTarget(keel), [{"call": "mcptest.steps", "arguments": {"steps": 3}, "progress": True}])
    client.line()
    result = client.line()
    client.finish()
    assert result["isError"] is False, result
    steps = [m for m in result["progressHeard"] if re.fullmatch(r"mcptest\.steps: running, attempt 1: step \d of 3", m)]
    assert len(set(steps)) >= 2 and steps == sorted(steps), result["progressHeard"]


def test_following_a_workflow_over_http_streams_its_steps_as_progress_events(env_dir, keel):
    follow_a_workflow_while_signalling_it(env_dir, keel, HTTPTarget(keel), "follow-http")


def test_closing_a_follows_event_stream_stops_following_but_not_the_workflow(env_dir, keel):
    cancel_a_follow(env_dir, keel, HTTPTarget(keel), "follow-http-2")


def test_bad_requests_get_a_clear_json_rpc_error_and_http_status(keel):
    status, body, _ = post(keel.url, '{"jsonrpc": "2.0", "id": 1, "method": ')
    assert status == 400 and body["error"]["code"] == -32700, body
    status, body, _ = post(keel.url, '{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}', {"Mcp-Session-Id": "not-a-session"})
    assert status == 404 and "initialize again" in body["error"]["message"], body
    status, body, _ = post(keel.url, '{"jsonrpc": "2.0", "id": 3, "method": "tools/list"}')
    assert status == 400 and "Mcp-Session-Id" in body["error"]["message"], body
    status, body, headers = post(keel.url, json.dumps({"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}))
    assert status == 200 and headers["Mcp-Session-Id"], body
    status, body, _ = post(keel.url, json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "mcptest.add", "arguments": {"a": "two", "b": 1}}}), {"Mcp-Session-Id": headers["Mcp-Session-Id"]})
    assert status == 200 and body["result"]["isError"] is True, body
    assert "inputContractViolation" in body["result"]["content"][0]["text"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_call_over_http_survives_kill_9_and_its_retry_gets_the_one_execution(tmp_path):
    """The orchestrator is the HTTP server: a kill -9 drops the client's POST. The client retries
    with the same idempotency key once Keel is back and gets the task's result; no second execution."""
    directory = tempfile.mkdtemp(prefix="mcpk-", dir="/tmp")
    log = os.path.join(directory, "executions.log")
    open(log, "w").close()
    port = free_port()
    keel = Orchestrator(directory, ["--http", f"127.0.0.1:{port}", "--worker", f"python3 {HERE}/workers/mcp_activities.py",
                                    "--pass-env", "KEEL_MCP_TEST_LOG"], env={"KEEL_MCP_TEST_LOG": log})
    keel.executions = log
    url = f"http://127.0.0.1:{port}/mcp"
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
            "idempotencyKey": "http-kill-9"}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "mcptest.slow", "arguments": {"seconds": 4}, "_meta": meta}})
    try:
        keel.start()
        keel.wait_for_activities("mcptest.slow")
        dropped = {}
        first = threading.Thread(target=lambda: dropped.update(outcome=_post_or_error(url, body)))
        first.start()
        wait_for(lambda: executions(keel, "start"), 60, "the activity to start")
        keel.kill9()
        first.join(timeout=60)
        assert isinstance(dropped.get("outcome"), Exception), dropped  # the POST died with the orchestrator
        keel.start()
        wait_for(lambda: _post_or_error(url, '{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{}}')
                 .__class__ is tuple, 60, "the web listener back on the same port")
        status, answer, _ = post(url, body)
        assert status == 200 and answer["result"]["isError"] is False, answer
        assert json.loads(answer["result"]["content"][0]["text"]) == {"slept": 4}
        again_status, again, _ = post(url, body)
        assert again["result"]["_meta"]["keel.dev/taskId"] == answer["result"]["_meta"]["keel.dev/taskId"]
        assert [e["key"] for e in executions(keel)] == ["http-kill-9"]  # one execution completed
    finally:
        keel.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _post_or_error(url, body):
    try:
        return post(url, body)
    except Exception as error:  # noqa: BLE001 (a refused or reset connection is the expected outcome)
        return error


def task_status(keel, key):
    out = keel.keel("call", "mcptest.slow", json.dumps({"seconds": 60}), "--idempotency-key", key,
                    "--no-wait", "--format", "json", check=False)
    return json.loads(out.stdout).get("status") if out.stdout else None


@pytest.mark.parametrize("mode,progress", [("auto", True), ("legacy", False)])
def test_a_client_that_cancels_a_call_over_http_cancels_the_keel_task(env_dir, keel, mode, progress):
    """2026-07-28: the client closes the call's event stream; 2025-11-25: it POSTs notifications/cancelled."""
    key = f"http-cancel-{mode}"
    go, done = os.path.join(keel.directory, f"cancel-{mode}"), os.path.join(keel.directory, f"cancelled-{mode}")
    client = MCPClient(env_dir, HTTPTarget(keel), [
        {"call": "mcptest.slow", "arguments": {"seconds": 60}, "meta": {"idempotencyKey": key}, "cancelWhen": go,
         "progress": progress},
        # The client stays up until the task is cancelled, so the cancelled call's POST ends first.
        {"list": True, "waitFor": done}], mode=mode)
    client.line()
    wait_for(lambda: executions(keel, "start"), 60, "the activity to start")
    open(go, "w").close()
    assert client.line() == {"cancelled": True}
    assert wait_for(lambda: task_status(keel, key) == "cancelled", 60, "the task to be cancelled")
    open(done, "w").close()
    client.line()
    client.finish()
    assert executions(keel) == []
