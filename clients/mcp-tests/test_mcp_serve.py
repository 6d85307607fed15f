"""The official MCP Python SDK as a client of `keel mcp serve` (issue 18): Keel's activities as
MCP tools, each call durable, surviving a kill -9 of the orchestrator.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from harness import CALL_TIMEOUT, KEEL_BIN, Orchestrator, wait_for

pytestmark = pytest.mark.skipif(not os.access(KEEL_BIN, os.X_OK), reason=f"no keel binary at {KEEL_BIN}")
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def keel(tmp_path_factory):
    directory = tempfile.mkdtemp(prefix="mcps-", dir="/tmp")
    log = os.path.join(directory, "executions.log")
    open(log, "w").close()
    orchestrator = Orchestrator(
        directory, ["--worker", f"python3 {HERE}/workers/mcp_activities.py", "--pass-env", "KEEL_MCP_TEST_LOG"],
        env={"KEEL_MCP_TEST_LOG": log})
    orchestrator.executions = log
    orchestrator.start()
    orchestrator.wait_for_activities("mcptest.add", "mcptest.slow", "mcptest.steps")
    yield orchestrator
    orchestrator.stop()
    shutil.rmtree(directory, ignore_errors=True)


class MCPClient:
    """mcp_client.py in the venv: one JSON line per step on its stdout."""

    def __init__(self, env_dir, keel, steps, session="s1", mode="auto"):
        path = os.path.join(keel.directory, f"steps-{time.monotonic_ns()}.json")
        with open(path, "w") as f:
            json.dump(steps, f)
        self.process = subprocess.Popen(
            [f"{env_dir}/bin/python", f"{HERE}/mcp_client.py", KEEL_BIN, keel.socket, session, path, mode],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def line(self):
        text = self.process.stdout.readline()
        if not text:
            raise AssertionError(f"the MCP client ended: {self.process.stderr.read()[-3000:]}")
        return json.loads(text)

    def finish(self):
        assert self.process.wait(timeout=CALL_TIMEOUT) == 0, self.process.stderr.read()[-3000:]


def executions(keel, event="done"):
    with open(keel.executions) as f:
        return [json.loads(line) for line in f if json.loads(line)["event"] == event]


def test_an_mcp_client_lists_keel_activities_and_calls_one(env_dir, keel):
    client = MCPClient(env_dir, keel, [{"list": True}, {"call": "mcptest.add", "arguments": {"a": 2, "b": 40}}])
    assert client.line()["protocolVersion"] == "2026-07-28"  # server/discover answered: no initialize
    tools = {t["name"]: t for t in client.line()["tools"]}
    assert tools["mcptest.add"]["inputSchema"]["required"] == ["a", "b"]
    assert tools["mcptest.add"]["outputSchema"]["properties"] == {"sum": {"type": "integer"}}
    assert tools["mcptest.add"]["description"] == "Adds two integers."
    assert {"keel_start_workflow", "keel_workflow_result", "keel_signal_workflow"} <= set(tools)
    result = client.line()
    assert result["isError"] is False, result
    assert result["structuredContent"] == {"sum": 42}
    assert result["_meta"]["keel.dev/status"] == "completed"
    client.finish()
    assert len(executions(keel)) == 1


def test_a_bad_input_is_a_tool_error_the_model_can_read(env_dir, keel):
    client = MCPClient(env_dir, keel, [{"call": "mcptest.add", "arguments": {"a": "two", "b": 1}}])
    client.line()
    result = client.line()
    assert result["isError"] is True
    assert "inputContractViolation" in result["content"][0]["text"]
    client.finish()


def test_a_call_survives_kill_9_of_the_orchestrator_and_a_retry_gets_the_stored_result(env_dir, keel):
    key = "order-17-lookup"
    call = {"call": "mcptest.slow", "arguments": {"seconds": 4}, "meta": {"idempotencyKey": key}}
    client = MCPClient(env_dir, keel, [call])
    client.line()
    wait_for(lambda: executions(keel, "start"), 60, "the activity to start")
    keel.kill9()  # mid-call: the MCP client and `keel mcp serve` stay up
    keel.start()  # same store and socket; `keel mcp serve` reconnects and asks again with the key
    first = client.line()
    client.finish()
    assert first["isError"] is False, first
    assert json.loads(first["content"][0]["text"]) == {"slept": 4}  # no outputSchema: the output as text
    done = executions(keel)
    assert len(done) == 1 and done[0]["key"] == key
    # The client "crashed" and retries the same call from a new session: the stored result, no new execution.
    again = MCPClient(env_dir, keel, [call], session="s2")
    again.line()
    second = again.line()
    again.finish()
    assert json.loads(second["content"][0]["text"]) == {"slept": 4}
    assert second["_meta"]["keel.dev/taskId"] == first["_meta"]["keel.dev/taskId"]
    assert len(executions(keel)) == 1


def test_notifications_cancelled_cancels_the_keel_task(env_dir, keel):
    key = "cancel-me"
    go = os.path.join(keel.directory, "cancel-now")
    client = MCPClient(env_dir, keel, [
        {"call": "mcptest.slow", "arguments": {"seconds": 60}, "meta": {"idempotencyKey": key}, "cancelWhen": go},
        {"list": True}])
    client.line()
    wait_for(lambda: executions(keel, "start"), 60, "the activity to start")
    open(go, "w").close()
    assert client.line() == {"cancelled": True}
    client.line()
    client.finish()
    def task_status():
        out = keel.keel("call", "mcptest.slow", json.dumps({"seconds": 60}), "--idempotency-key", key,
                        "--no-wait", "--format", "json", check=False)
        return json.loads(out.stdout).get("status") if out.stdout else None
    assert wait_for(lambda: task_status() == "cancelled", 60, "the task to be cancelled")
    assert executions(keel) == []  # never completed


def test_a_long_call_reports_progress_to_a_client_that_asks(env_dir, keel):
    client = MCPClient(env_dir, keel, [{"call": "mcptest.slow", "arguments": {"seconds": 7}, "progress": True}])
    client.line()
    result = client.line()
    client.finish()
    assert result["isError"] is False, result
    heard = result["progressHeard"]
    assert heard, result
    # The first may come before a worker took the task (under load): scheduled, then running.
    assert all(re.fullmatch(r"mcptest\.slow: (scheduled|running), attempt \d+", m) for m in heard), heard


def test_a_workers_heartbeats_reach_the_client_as_progress_messages(env_dir, keel):
    client = MCPClient(env_dir, keel, [{"call": "mcptest.steps", "arguments": {"steps": 3}, "progress": True}])
    client.line()
    result = client.line()
    client.finish()
    assert result["isError"] is False, result
    heard = result["progressHeard"]
    steps = [m for m in heard if re.fullmatch(r"mcptest\.steps: running, attempt 1: step \d of 3", m)]
    # Each step holds its heartbeat 2 s and Keel looks every second: the steps arrive, in order.
    assert steps, heard
    assert steps == sorted(steps), heard
    assert len(set(steps)) >= 2, heard


def test_following_a_workflow_reports_its_steps_as_progress_and_answers_its_result(env_dir, keel):
    follow_a_workflow_while_signalling_it(env_dir, keel, keel, "follow-1")


def follow_a_workflow_while_signalling_it(env_dir, keel, target, wid):
    """Starts mcptest.approval and follows it through `target` (stdio or HTTP) with progress,
    signals it once the client heard the signal wait, and checks the steps told and the answer."""
    heard_file = os.path.join(keel.directory, f"follow-progress-{wid}")
    client = MCPClient(env_dir, target, [
        {"call": "keel_start_workflow", "arguments": {"name": "mcptest.approval", "input": {"a": 1}, "workflowId": wid}},
        {"call": "keel_follow_workflow", "arguments": {"workflowId": wid, "timeoutMs": 120000}, "progress": True,
         "progressTo": heard_file}])
    client.line()
    started = client.line()
    assert started["isError"] is False, started

    def heard_the_signal_wait():
        if not os.path.exists(heard_file):
            return False
        with open(heard_file) as f:
            return "step 2 signal approve scheduled" in f.read().splitlines()
    # Signal only once the client was told the workflow waits: then the open wait was surely seen.
    wait_for(heard_the_signal_wait, 60, "the follow to report the signal wait")
    keel.keel("workflow", "signal", wid, "approve", json.dumps({"by": "ana", "extra": 40}))
    result = client.line()
    client.finish()
    assert result["isError"] is False, result
    answer = result["structuredContent"]
    assert answer["status"] == "completed" and answer["followed"] == "ended", answer
    assert answer["output"] == {"total": 42, "approvedBy": "ana"}
    assert [(s["seq"], s["kind"], s["name"], s["status"]) for s in answer["steps"]] == [
        (1, "activity", "mcptest.add", "completed"), (2, "signal", "approve", "completed"),
        (3, "activity", "mcptest.add", "completed")]
    heard = list(dict.fromkeys(result["progressHeard"]))  # the last one repeats while nothing changes
    print("\n".join(heard))
    # The follow may begin after step 1 ended (then it is told completed at once); step 3 may
    # end between two samples (then it is told completed only).
    ended = [m for m in heard if m.endswith("completed")]
    assert ended == ["step 1 activity mcptest.add completed", "step 2 signal approve completed",
                     "step 3 activity mcptest.add completed", f"workflow {wid} completed"], heard
    assert heard.index("step 2 signal approve scheduled") < heard.index("step 2 signal approve completed")
    assert heard[-1] == f"workflow {wid} completed"


def test_cancelling_a_follow_stops_following_but_not_the_workflow(env_dir, keel):
    cancel_a_follow(env_dir, keel, keel, "follow-2")


def cancel_a_follow(env_dir, keel, target, wid):
    """Follows mcptest.approval through `target`, cancels the call mid-follow, and checks the
    workflow runs on to its result."""
    go = os.path.join(keel.directory, f"stop-following-{wid}")
    heard_file = os.path.join(keel.directory, f"follow-progress-{wid}")
    client = MCPClient(env_dir, target, [
        {"call": "keel_start_workflow", "arguments": {"name": "mcptest.approval", "input": {"a": 1}, "workflowId": wid}},
        {"call": "keel_follow_workflow", "arguments": {"workflowId": wid}, "progress": True, "cancelWhen": go,
         "progressTo": heard_file},
        {"call": "keel_workflow_result", "arguments": {"workflowId": wid, "waitTimeoutMs": 0}}])
    client.line()
    client.line()
    wait_for(lambda: os.path.exists(heard_file) and "signal approve" in open(heard_file).read(), 60,
             "the follow to report the signal wait")
    open(go, "w").close()  # cancel mid-follow
    assert client.line() == {"cancelled": True}
    still = client.line()
    assert still["structuredContent"]["status"] not in ("cancelled", "failed"), still
    keel.keel("workflow", "signal", wid, "approve", json.dumps({"by": "bo", "extra": 0}))
    out = keel.keel("workflow", "result", wid, "--format", "json")
    assert json.loads(out.stdout)["output"] == {"total": 2, "approvedBy": "bo"}
    client.finish()
