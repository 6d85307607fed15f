"""Live: the real `keel` binary (`keel serve`) with the Python worker in tests/live_worker.py.

Skipped when the binary is missing: set KEEL_BIN, or build it with `swift build --product keel`.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
from conftest import REPO, run

import keel

KEEL_BIN = os.environ.get("KEEL_BIN") or os.path.join(REPO, ".build", "debug", "keel")
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "live_worker.py")
# Bound on waiting for `keel serve` to bind its socket, and for a worker to register.
START_TIMEOUT_S = 15.0

pytestmark = pytest.mark.skipif(
    not os.access(KEEL_BIN, os.X_OK),
    reason=f"no keel binary at {KEEL_BIN}: build it with `swift build --product keel` or set KEEL_BIN",
)


class Live:
    """A `keel serve` on a temp dir and the live worker connected to it, both killable."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.socket = os.path.join(directory, "k.sock")
        self.log = os.path.join(directory, "side-effects.jsonl")
        self.keel = None
        self.worker = None

    def start_keel(self) -> None:
        out = open(os.path.join(self.dir, "keel.log"), "ab")
        self.keel = subprocess.Popen([KEEL_BIN, "serve", "--db", os.path.join(self.dir, "keel.db"), "--socket", self.socket,
                                      "--sync", "normal"], stdout=out, stderr=out)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._accepting():  # after a kill -9 the old socket file is still there
            assert self.keel.poll() is None and time.monotonic() < deadline, self.tail("keel.log")
            time.sleep(0.05)

    def _accepting(self) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def start_worker(self, max_concurrent: int = 64) -> None:
        out = open(os.path.join(self.dir, "worker.log"), "ab")
        env = dict(os.environ, KEEL_SOCKET=self.socket, LIVE_LOG=self.log, LIVE_MAX_CONCURRENT=str(max_concurrent))
        env.pop("KEEL_TRANSPORT", None)
        self.worker = subprocess.Popen([sys.executable, WORKER], stdout=out, stderr=out, env=env)
        self.wait_for_worker()

    def wait_for_worker(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(w.get("name") == "live-worker" for w in self.call(lambda c: c.workers())):
            assert time.monotonic() < deadline, self.tail("worker.log")
            time.sleep(0.1)

    def kill(self, process: "subprocess.Popen") -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(5)

    def call(self, fn, timeout: float = 30.0):
        async def main():
            async with await keel.Client.connect(socket=self.socket) as client:
                return await fn(client)

        return run(main(), timeout)

    def records(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log, encoding="utf-8") as file:
            return [json.loads(line) for line in file if line.strip()]

    def tail(self, name: str) -> str:
        with open(os.path.join(self.dir, name), "rb") as file:
            return file.read()[-3000:].decode("utf-8", "replace")

    def close(self) -> None:
        for process in (self.worker, self.keel):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


@contextlib.contextmanager
def _serving(with_worker: bool):
    directory = tempfile.mkdtemp(prefix="keel-", dir="/tmp")  # short: Unix socket paths stay < ~100 bytes
    env = Live(directory)
    try:
        env.start_keel()
        if with_worker:
            env.start_worker()
        yield env
    finally:
        env.close()
        if os.environ.get("KEEL_TEST_KEEP_TMPDIR") == "1":
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def live():
    with _serving(with_worker=True) as env:
        yield env


@pytest.fixture
def live_keel():
    """`keel serve` alone: the test starts the worker when it wants one."""
    with _serving(with_worker=False) as env:
        yield env


def wait_status(live, workflow_id, *statuses, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        described = live.call(lambda c: c.describe(workflow_id))
        if described["status"] in statuses or any(s in statuses for s in [s for s in [_waiting(described)] if s]):
            return described
        assert time.monotonic() < deadline, described
        time.sleep(0.1)


def _waiting(described):
    step = described.get("currentStep") or {}
    return f"waiting:{step.get('kind')}" if step.get("status") in ("scheduled", "running") else None


def test_a_workflow_runs_parallel_steps_sleeps_and_waits_for_a_signal(live):
    started = live.call(lambda c: c.start_workflow("live.order", {}, workflow_id="order-1"))
    assert (started.workflow_id, started.started) == ("order-1", True)
    wait_status(live, "order-1", "waiting:signal")
    again = live.call(lambda c: c.start_workflow("live.order", {}, workflow_id="order-1"))
    assert again.started is False  # idempotent start: the same execution

    async def approve_and_wait(client):
        await client.signal("order-1", "approve", {"approved": True})
        return await client.workflow_result("order-1", timeout=20)

    result = live.call(approve_and_wait)
    assert result.status == "completed" and result.done
    assert result.output["approval"] == {"approved": True} and result.output["a"] == {"tag": "a"}
    history = live.call(lambda c: c.history("order-1"))
    assert [(e["seq"], e["kind"], e["name"]) for e in history] == [
        (1, "activity", "record"), (2, "activity", "record"), (3, "sleep", "sleep"), (4, "signal", "approve"),
        (5, "activity", "record"), (6, "uuid", "uuid")]
    assert sorted(r["tag"] for r in live.records()) == ["a", "b", "slow"]


def test_a_signal_sent_again_with_its_request_id_is_delivered_once_and_default_ids_never_collide(live):
    async def signals(client):
        await client.start_workflow("live.approve_twice", None, workflow_id="twice-1")
        first = await client.signal("twice-1", "approve", "A", request_id="approve-A")
        again = await client.signal("twice-1", "approve", "A again", request_id="approve-A")
        default = await client.signal("twice-1", "approve", "B")
        return first, again, default, await client.workflow_result("twice-1", timeout=20)

    first, again, default, result = live.call(signals)
    assert (first.delivered, first.duplicate) == (True, False), first.raw
    assert (again.delivered, again.duplicate) == (True, True), again.raw
    assert (default.delivered, default.duplicate) == (True, False), default.raw
    assert (result.status, result.output) == ("completed", ["A", "B"]), result  # not ["A", "A again"]

    async def two_defaults(client):
        await client.start_workflow("live.approve_twice", None, workflow_id="twice-2")
        sent = [await client.signal("twice-2", "approve", "C") for _ in range(2)]
        return sent, await client.workflow_result("twice-2", timeout=20)

    sent, result = live.call(two_defaults)
    assert [s.duplicate for s in sent] == [False, False], [s.raw for s in sent]
    assert (result.status, result.output) == ("completed", ["C", "C"]), result  # each default signal delivered


def test_cancel_reaches_the_waiting_step_and_the_workflow_compensates(live):
    live.call(lambda c: c.start_workflow("live.cancellable", None, workflow_id="cancel-1"))
    wait_status(live, "cancel-1", "waiting:signal")
    live.call(lambda c: c.cancel_workflow("cancel-1", reason="test"))
    result = live.call(lambda c: c.workflow_result("cancel-1", timeout=15))
    assert result.status == "cancelled" and result.failure["type"] == "Cancelled"
    assert [r["tag"] for r in live.records()] == ["compensate"]


def test_a_batch_cancels_what_its_query_matches_and_a_reset_runs_one_again(live):
    for i in range(3):
        live.call(lambda c, i=i: c.start_workflow("live.cancellable", None, workflow_id=f"batch-{i}"))
        wait_status(live, f"batch-{i}", "waiting:signal")
    dry = live.call(lambda c: c.batch_workflows("cancel", "workflowId=batch-* AND status=open", dry_run=True))
    assert (dry["matched"], dry["applied"], dry["sample"]) == (3, 0, ["batch-0", "batch-1", "batch-2"])
    done = live.call(lambda c: c.batch_workflows("cancel", "workflowId=batch-*", dry_run=False, reason="batch"))
    assert (done["matched"], done["applied"], done["failed"]) == (3, 3, [])
    for i in range(3):
        assert live.call(lambda c, i=i: c.workflow_result(f"batch-{i}", timeout=15)).status == "cancelled"
    with pytest.raises(keel.KeelError) as bad:
        live.call(lambda c: c.batch_workflows("cancel", "stauts=open", dry_run=True))
    assert bad.value.code == 1013 and "did you mean status?" in str(bad.value)

    reset = live.call(lambda c: c.reset_workflow("batch-1", 0, reason="again"))
    assert (reset["previousStatus"], reset["generation"]) == ("cancelled", 1)
    wait_status(live, "batch-1", "waiting:signal")
    with pytest.raises(keel.KeelError) as beyond:
        live.call(lambda c: c.reset_workflow("batch-1", 1))
    assert beyond.value.code == 1011  # step 1 (the signal wait) has no outcome yet


def test_continue_as_new_and_a_child_workflow(live):
    live.call(lambda c: c.start_workflow("live.loop", {"i": 0}, workflow_id="loop-1"))
    result = live.call(lambda c: c.workflow_result("loop-1", timeout=20))
    assert result.output == {"done": 2, "child": {"doubled": 4}}, result
    described = live.call(lambda c: c.describe("loop-1"))
    assert described["input"] == {"i": 2}


def test_killing_the_worker_and_then_keel_loses_no_step_and_repeats_no_completed_one(live):
    live.call(lambda c: c.start_workflow("live.order", {"slowMs": 1500}, workflow_id="order-k"))
    wait_status(live, "order-k", "waiting:signal")
    live.kill(live.worker)  # kill -9 the workflow's worker while it waits for the signal
    live.start_worker()
    live.call(lambda c: c.signal("order-k", "approve", {"approved": "yes"}))
    deadline = time.monotonic() + 15
    while "slow" not in [r["tag"] for r in live.records()]:
        assert time.monotonic() < deadline, live.tail("keel.log")
        time.sleep(0.05)
    live.kill(live.keel)  # kill -9 Keel while the last activity runs
    live.start_keel()
    live.wait_for_worker()  # the worker reconnects by itself
    result = live.call(lambda c: c.workflow_result("order-k", timeout=30), timeout=40)
    assert result.status == "completed" and result.output["approval"] == {"approved": "yes"}, result
    records = live.records()
    done_once = [r["tag"] for r in records if r["tag"] in ("a", "b")]
    assert sorted(done_once) == ["a", "b"], records  # completed before the kills: never again
    slow = [r for r in records if r["tag"] == "slow"]
    assert len({r["key"] for r in slow}) == 1, slow  # re-dispatched at least once: same idempotency key


def test_hundreds_of_concurrent_workflows_through_one_python_worker(live):
    count = 200

    async def burst(client):
        started = time.monotonic()
        await asyncio.gather(*(client.start_workflow("live.chain", {"n": n}, workflow_id=f"chain-{n}") for n in range(count)))
        results = await asyncio.gather(*(client.workflow_result(f"chain-{n}", timeout=60) for n in range(count)))
        return time.monotonic() - started, results

    elapsed, results = live.call(burst, timeout=90)
    assert [r.output for r in results] == [{"n": n + 1} for n in range(count)]
    print(f"{count} workflows x 2 steps in {elapsed:.2f}s")


def test_follow_collects_every_published_event_once_in_offset_order_and_ends_with_the_workflow(live):
    async def scenario(client):
        await client.start_workflow("live.stream", {"n": 4}, workflow_id="stream-1")
        collected = []

        async def follow():
            async for event in client.follow("stream-1"):
                collected.append(event)

        # Follow from 0 while the workflow runs: the follower waits at the signal with the rest.
        following = asyncio.ensure_future(follow())
        deadline = time.monotonic() + 15
        while len(collected) < 5:
            assert time.monotonic() < deadline and not following.done(), collected
            await asyncio.sleep(0.05)
        assert not following.done()  # the execution is open: the follow goes on
        await client.signal("stream-1", "go", "yes")
        await asyncio.wait_for(following, 20)  # ends once the workflow completed
        later = [event async for event in client.follow("stream-1", 3)]
        return collected, later, await client.workflow_result("stream-1", timeout=5)

    collected, later, result = live.call(scenario, timeout=60)
    assert result.status == "completed"
    assert [e.offset for e in collected] == [1, 2, 3, 4, 5, 6]
    assert [(e.source, e.name, e.event) for e in collected] == [
        ("workflow", "phase", {"phase": "start"}),
        ("activity", "count", {"i": 1}), ("activity", "count", {"i": 2}),
        ("activity", "count", {"i": 3}), ("activity", "count", {"i": 4}),
        ("workflow", "phase", {"phase": "end", "approval": "yes"})]
    assert collected[0].seq == 1 and collected[5].seq is not None
    assert all(e.task_id and e.attempt == 1 for e in collected[1:5])
    assert [e.offset for e in later] == [4, 5, 6] and later == collected[3:]


def test_a_query_lists_by_search_attributes_from_the_start_and_an_upsert_and_describe_shows_them_and_the_memo(live):
    async def scenario(client):
        await client.start_workflow("live.ship", None, workflow_id="ship-acme",
                                    search_attributes={"customer": "acme", "tier": 1}, memo={"owner": "ops"})
        await client.start_workflow("live.ship", None, workflow_id="ship-globex",
                                    search_attributes={"customer": "globex", "tier": 1})
        results = [await client.workflow_result(i, timeout=20) for i in ("ship-acme", "ship-globex")]
        listed = await client.list_workflows('customer = "acme" AND stage = "shipped"')
        return results, listed, await client.describe("ship-acme")

    results, listed, described = live.call(scenario)
    attributes = {"customer": "acme", "tier": 1, "stage": "shipped"}
    assert [(r.status, r.output) for r in results] == [
        ("completed", attributes), ("completed", {"customer": "globex", "tier": 1, "stage": "shipped"})], results
    assert [w["workflowId"] for w in listed["workflows"]] == ["ship-acme"], listed  # not ship-globex
    assert listed["workflows"][0]["searchAttributes"] == attributes, listed
    assert (described["searchAttributes"], described["memo"]) == (attributes, {"owner": "ops"}), described

    with pytest.raises(keel.KeelError) as bad:
        live.call(lambda c: c.list_workflows('customer = "acme" AND'))
    assert bad.value.code == 1013, bad.value


def test_a_child_started_with_search_attributes_and_a_memo_is_listed_by_them_and_describe_shows_the_memo(live):
    async def scenario(client):
        await client.start_workflow("live.batch", {"x": 21}, workflow_id="batch-parent")
        result = await client.workflow_result("batch-parent", timeout=20)
        listed = await client.list_workflows('customer = "acme"')
        return result, listed, await client.describe("batch-parent/1"), await client.describe("batch-parent")

    result, listed, child, parent = live.call(scenario)
    assert (result.status, result.output) == ("completed", {"doubled": 42}), result
    assert [w["workflowId"] for w in listed["workflows"]] == ["batch-parent/1"], listed  # the child, not its parent
    assert listed["workflows"][0]["searchAttributes"] == {"customer": "acme"}, listed
    assert (child["status"], child["searchAttributes"], child["memo"]) == (
        "completed", {"customer": "acme"}, {"source": "batch"}), child
    assert "memo" not in parent and "searchAttributes" not in parent, parent  # the parent's own: none given


def test_queued_calls_run_by_priority_then_round_robin_over_fairness_keys_and_a_start_keeps_both(live_keel):
    async def queue(client):
        for tag in ("a1", "a2", "a3", "a4", "a5", "a6"):
            await client.call_activity("record", {"tag": tag}, wait=False, fairness_key="a")
        for tag in ("b1", "b2"):
            await client.call_activity("record", {"tag": tag}, wait=False, fairness_key="b")
        high = await client.call_activity("record", {"tag": "h"}, wait=False, priority=9)
        return high

    high = live_keel.call(queue)
    assert high.status == "scheduled", high.raw  # no worker yet: everything waits in the queue
    live_keel.start_worker(max_concurrent=1)  # one at a time, so the log's order is the dispatch order
    deadline = time.monotonic() + 20
    while len(live_keel.records()) < 9:
        assert time.monotonic() < deadline, (live_keel.records(), live_keel.tail("keel.log"))
        time.sleep(0.05)
    assert [r["tag"] for r in live_keel.records()] == ["h", "a1", "b1", "a2", "b2", "a3", "a4", "a5", "a6"]

    async def start(client):
        await client.start_workflow("live.chain", {"n": 1}, workflow_id="prio-1", priority=5, fairness_key="acme")
        await client.start_workflow("live.chain", {"n": 1}, workflow_id="prio-0")
        return await client.describe("prio-1"), await client.describe("prio-0"), await client.workflow_result("prio-1", timeout=20)

    described, plain, result = live_keel.call(start)
    assert (described["priority"], described["fairnessKey"]) == (5, "acme"), described
    assert plain["priority"] == 0 and plain.get("fairnessKey") is None, plain
    assert result.output == {"n": 2}, result

    with pytest.raises(keel.KeelError) as refused:  # Keel checks the range, the client does not
        live_keel.call(lambda c: c.call_activity("record", {"tag": "x"}, wait=False, priority=1001))
    assert refused.value.code == -32602


def test_a_schedule_starts_its_workflow_every_second_and_pauses_triggers_lists_and_deletes(live_keel):
    # No worker: each started `sched.noop` stays pending, so the schedule overlaps its own runs;
    # under the default "skip" only the first slot would start.
    schedule_id = "every-second"
    created = live_keel.call(lambda c: c.create_schedule(schedule_id, spec={"intervalMs": 1000},
                                                         action={"workflow": "sched.noop"}, overlap="allowAll"))
    assert (created["scheduleId"], created["paused"], created["overlap"]) == (schedule_id, False, "allowAll"), created
    deadline = time.monotonic() + 20
    while True:
        described = live_keel.call(lambda c: c.describe_schedule(schedule_id))
        if described["started"] >= 2:
            break
        assert time.monotonic() < deadline, (described, live_keel.tail("keel.log"))
        time.sleep(0.2)
    ids = [action["workflowId"] for action in described["recentActions"]]
    assert len(ids) >= 2 and len(set(ids)) == len(ids), described
    assert all(i.startswith(f"{schedule_id}-") for i in ids), ids

    with pytest.raises(keel.KeelError) as taken:
        live_keel.call(lambda c: c.create_schedule(schedule_id, spec={"intervalMs": 1000}, action={"workflow": "sched.noop"}))
    assert taken.value.code == 1021

    live_keel.call(lambda c: c.pause_schedule(schedule_id, note="from the test"))
    assert live_keel.call(lambda c: c.describe_schedule(schedule_id))["paused"] is True
    triggered = live_keel.call(lambda c: c.trigger_schedule(schedule_id))
    assert triggered["started"] is True, triggered

    listed = live_keel.call(lambda c: c.list_schedules())
    assert schedule_id in [s["scheduleId"] for s in listed["schedules"]], listed
    assert live_keel.call(lambda c: c.delete_schedule(schedule_id))["deleted"] is True
    with pytest.raises(keel.KeelError) as gone:
        live_keel.call(lambda c: c.describe_schedule(schedule_id))
    assert gone.value.code == 1020


def test_signal_with_start_starts_or_signals_and_a_query_reads_the_latest_value_the_workflow_set(live):
    # (a) No execution has the id: started and signalled in one go; the first wait gets the signal.
    started = live.call(lambda c: c.signal_with_start("live.progress", {}, "go", {"n": 1}, workflow_id="sws-1"))
    assert started["workflowId"] == "sws-1" and started["started"] is True, started
    assert started["signal"]["delivered"] is True and started["signal"]["duplicate"] is False, started
    result = live.call(lambda c: c.workflow_result("sws-1", timeout=20))
    assert (result.status, result.output) == ("completed", {"n": 1}), result
    assert live.call(lambda c: c.query_workflow("sws-1", "stage")) == {"shipped": {"n": 1}}

    # (b) An open execution: the value it set before waiting, then the signal goes to it.
    assert live.call(lambda c: c.start_workflow("live.progress", {}, workflow_id="sws-2")).started is True
    deadline = time.monotonic() + 15
    while True:
        try:
            stage = live.call(lambda c: c.query_workflow("sws-2", "stage"))
        except keel.KeelError as error:
            assert error.code == 1030, error  # not set yet
            stage = None
        if stage == "packed":
            break
        assert time.monotonic() < deadline, (stage, live.tail("keel.log"))
        time.sleep(0.1)
    signalled = live.call(lambda c: c.signal_with_start("live.progress", {}, "go", {"n": 2}, workflow_id="sws-2"))
    assert signalled["started"] is False and signalled["signal"]["delivered"] is True, signalled
    result = live.call(lambda c: c.workflow_result("sws-2", timeout=20))
    assert (result.status, result.output) == ("completed", {"n": 2}), result
    assert live.call(lambda c: c.query_workflow("sws-2", "stage")) == {"shipped": {"n": 2}}

    # (c) A name the workflow never set: 1030 naming the ones it did; an unknown workflow: 1001.
    with pytest.raises(keel.KeelError) as missing:
        live.call(lambda c: c.query_workflow("sws-1", "no-such-query"))
    assert missing.value.code == 1030, missing.value
    assert missing.value.data["known"] == ["stage"] and missing.value.data["name"] == "no-such-query", missing.value.data
    with pytest.raises(keel.KeelError) as unknown:
        live.call(lambda c: c.query_workflow("no-such-workflow", "stage"))
    assert unknown.value.code == 1001, unknown.value

    # An ended execution refuses a signal-with-start with 1001, like workflow/signal.
    with pytest.raises(keel.KeelError) as ended:
        live.call(lambda c: c.signal_with_start("live.progress", {}, "go", {"n": 3}, workflow_id="sws-1"))
    assert ended.value.code == 1001, ended.value


def test_an_update_is_answered_once_a_resent_update_id_gets_the_same_outcome_and_a_rejection_comes_back_rejected(live):
    async def scenario(client):
        await client.start_workflow("live.approvals", {"count": 2}, workflow_id="upd-1")
        first = await client.update_workflow("upd-1", "approve", {"amount": 5}, update_id="approve-5")
        # The same id again, while the workflow waits for its second update: the same outcome,
        # and nothing delivered to that wait.
        again = await client.update_workflow("upd-1", "approve", {"amount": 5}, update_id="approve-5")
        rejected = await client.update_workflow("upd-1", "approve", {"amount": 500})  # a default (fresh) id
        result = await client.workflow_result("upd-1", timeout=20)
        resent_after_end = await client.update_workflow("upd-1", "approve", {"amount": 5}, update_id="approve-5")
        return first, again, rejected, result, resent_after_end, await client.history("upd-1")

    first, again, rejected, result, resent_after_end, history = live.call(scenario, timeout=60)
    completed = {"workflowId": "upd-1", "updateId": "approve-5", "name": "approve", "status": "completed", "result": {"approved": 5}}
    assert first == completed, first
    assert again == completed, again
    assert resent_after_end == completed, resent_after_end
    assert (rejected["status"], rejected["name"], "result" in rejected) == ("rejected", "approve", False), rejected
    assert rejected["failure"]["type"] == "Rejected" and rejected["failure"]["message"] == "amount 500 is over 100", rejected
    assert rejected["failure"].get("details") == {"limit": 100}, rejected
    assert rejected["updateId"] not in ("approve-5", "") and rejected["updateId"] == str(uuid.UUID(rejected["updateId"])), rejected
    assert (result.status, result.output) == ("completed", [5, 500]), result  # not [5, 5]: the resend was not delivered
    assert [(e["seq"], e["kind"], e["name"]) for e in history] == [
        (1, "signal", "update:approve"), (2, "respond", "approve-5"),
        (3, "signal", "update:approve"), (4, "respond", rejected["updateId"])], history

    # An unknown workflow: 1001, raised.
    with pytest.raises(keel.KeelError) as unknown:
        live.call(lambda c: c.update_workflow("no-such-workflow", "approve", {"amount": 1}))
    assert unknown.value.code == 1001, unknown.value
