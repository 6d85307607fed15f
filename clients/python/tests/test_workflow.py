"""Workflows against a scripted orchestrator on a real Unix socket: replay, parallel steps,
suspend, failures, non-determinism, continue-as-new, and throughput."""

import asyncio
import dataclasses
import logging
import time

import pytest
from conftest import Orchestrator, Peer, run

import keel


@dataclasses.dataclass
class Order:
    id: str
    quantity: int = 1


def run_request(id, name, input, journal=(), workflow_id="wf-1", run_id=1, cancel_requested=False):
    return {"jsonrpc": "2.0", "id": id, "method": "workflow/run", "params": {
        "workflowId": workflow_id, "runId": run_id, "name": name, "input": input,
        "journal": list(journal), "cancelRequested": cancel_requested}}


async def serving(worker, orchestrator):
    task = asyncio.ensure_future(worker.run())
    peer = await orchestrator.accept()
    await peer.handshake()
    return task, peer


async def stop(worker, task, peer):
    worker.stop()
    peer.close()
    await asyncio.wait_for(task, 5)


def test_registration_lists_workflows_with_their_contracts():
    worker = keel.Worker("w", max_concurrent_workflows=50)

    @worker.workflow("orders.fulfil", output={"type": "object"})
    async def fulfil(ctx, order: Order):
        """Fulfils an order."""
        return {}

    @worker.workflow("plain")
    async def plain(ctx):
        return None

    registration = worker.registration()
    first, second = registration["workflows"]
    assert first["name"] == "orders.fulfil" and first["description"] == "Fulfils an order."
    assert first["input"]["required"] == ["id"] and first["output"] == {"type": "object"}
    assert second == {"name": "plain"}
    assert registration["maxConcurrentWorkflows"] == 50
    with pytest.raises(TypeError, match="async"):
        worker.workflow("sync")(lambda ctx, input: None)
    with pytest.raises(ValueError):
        worker.workflow("plain")(plain)
    assert "maxConcurrentWorkflows" not in keel.Worker("only-activities").registration()


def test_suspend_unwinds_the_function_and_forgets_its_other_steps(sock_path, caplog):
    worker = keel.Worker("w", socket=sock_path)
    seen = {"finally": 0, "after": 0}

    @worker.workflow("wf.pair")
    async def pair(ctx, input):
        try:
            await asyncio.gather(ctx.activity("a", {}), ctx.activity("b", {}))
            seen["after"] += 1
        finally:
            seen["finally"] += 1
            ctx.activity("cleanup", {})  # started while unwinding: never sent

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.pair", {}))
            a, b = await peer.recv(), await peer.recv()
            assert [a["params"]["seq"], b["params"]["seq"]] == [1, 2]
            assert a["params"]["input"] == {} and "options" not in a["params"]
            peer.answer(a, {"status": "suspend"})
            assert await peer.recv() == {"jsonrpc": "2.0", "id": "k1", "result": {"status": "suspended"}}
            peer.answer(b, {"status": "completed", "result": {}})  # late: ignored
            peer.send({"jsonrpc": "2.0", "id": 9, "method": "ping", "params": {}})
            assert (await peer.recv())["id"] == 9  # nothing else was sent (no cleanup step)
            assert seen == {"finally": 1, "after": 0}
            assert worker._runs == set()
            await stop(worker, task, peer)

    with caplog.at_level(logging.WARNING):
        run(main())
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage() or "destroyed" in r.getMessage()]


def test_failures_raise_typed_errors_that_the_workflow_may_catch(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.catching")
    async def catching(ctx, input):
        caught = []
        try:
            await ctx.activity("charge", {}, retry_policy=keel.RetryPolicy(maximum_attempts=2), start_to_close=5)
        except keel.ActivityError as error:
            caught.append([error.type, error.message, error.retryable, error.details, error.retry_after])
        try:
            await ctx.signal("approve", timeout=2.5)
        except keel.TimedOut as error:
            caught.append(["TimedOut", isinstance(error, keel.ActivityError)])
        try:
            await ctx.activity("bad", {})
        except keel.KeelError as error:
            caught.append(["KeelError", error.code])
        try:
            await ctx.activity("work", {})
        except keel.Cancelled:
            caught.append(["Cancelled", ctx.cancel_requested])
        return caught

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.catching", None, cancel_requested=True, journal=[
                {"seq": 1, "kind": "activity", "name": "charge", "status": "failed",
                 "failure": {"type": "Declined", "message": "no", "retryable": False, "retryAfterMs": 1500, "details": {"code": 51}}}]))
            signal = await peer.recv()
            assert signal["params"]["seq"] == 2 and signal["params"]["input"] == {"timeoutMs": 2500}
            peer.answer(signal, {"status": "failed", "failure": {"type": "TimedOut", "message": "no signal", "retryable": False}})
            bad = await peer.recv()
            peer.send({"jsonrpc": "2.0", "id": bad["id"], "error": {"code": 3001, "message": "input breaks the contract"}})
            work = await peer.recv()
            peer.answer(work, {"status": "failed", "failure": {"type": "Cancelled", "message": "cancelled by client"}})
            answer = await peer.recv()
            assert answer["result"] == {"status": "completed", "output": [
                ["Declined", "no", False, {"code": 51}, 1.5], ["TimedOut", True], ["KeelError", 3001], ["Cancelled", True]]}
            await stop(worker, task, peer)

    run(main())


def test_options_dataclass_input_and_uncaught_errors(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.typed")
    async def typed(ctx, order: Order):
        assert isinstance(order, Order)
        await ctx.activity("charge", order, retry_policy=keel.RetryPolicy(maximum_attempts=5), start_to_close=30)
        raise ValueError(f"order {order.id} is odd")

    @worker.workflow("wf.unsendable")
    async def unsendable(ctx, input):
        return {"x": object()}

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.typed", {"id": "o-7", "quantity": 2, "ignored": True}))
            step = await peer.recv()
            assert step["params"]["input"] == {"id": "o-7", "quantity": 2}
            assert step["params"]["options"] == {"retryPolicy": {"maximumAttempts": 5}, "timeouts": {"startToCloseMs": 30000}}
            peer.answer(step, {"status": "completed", "result": {}})
            assert (await peer.recv())["result"] == {"status": "failed", "failure": {
                "type": "ValueError", "message": "order o-7 is odd", "retryable": True, "details": None}}
            peer.send(run_request("k2", "wf.unsendable", {}))
            assert (await peer.recv())["result"]["failure"]["type"] == "OutputNotSerializable"
            peer.send(run_request("k3", "wf.nope", {}))
            assert (await peer.recv())["error"]["code"] == -32602
            await stop(worker, task, peer)

    run(main())


def test_non_determinism_from_keel_and_superseded_runs(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.one")
    async def one(ctx, input):
        return await ctx.activity("echo", input)

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.one", {}))
            step = await peer.recv()
            peer.send({"jsonrpc": "2.0", "id": step["id"], "error": {"code": 1003, "message": "step 1 differs",
                       "data": {"seq": 1, "journal": {"kind": "sleep", "name": "sleep"}, "code": {"kind": "activity", "name": "echo"}}}})
            failure = (await peer.recv())["result"]["failure"]
            assert failure["type"] == "NonDeterminism" and failure["message"] == "step 1 differs"
            assert failure["details"]["journal"] == {"kind": "sleep", "name": "sleep"}
            peer.send(run_request("k2", "wf.one", {}, run_id=2))
            step = await peer.recv()
            peer.send({"jsonrpc": "2.0", "id": step["id"], "error": {"code": 2006, "message": "superseded"}})
            assert (await peer.recv())["error"]["code"] == 2006
            await stop(worker, task, peer)

    run(main())


def test_continue_as_new_is_not_swallowed_by_except_exception(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.again")
    async def again(ctx, input):
        assert ctx.is_replaying
        await ctx.activity("echo", {})
        assert not ctx.is_replaying
        try:
            ctx.continue_as_new({"i": input["i"] + 1})
        except Exception:
            return "swallowed"

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.again", {"i": 1}, journal=[{"seq": 1, "kind": "activity", "name": "echo", "status": "completed", "result": {}}]))
            assert (await peer.recv())["result"] == {"status": "continueAsNew", "input": {"i": 2}}
            await stop(worker, task, peer)

    run(main())


def test_hundreds_of_concurrent_runs_through_one_worker(sock_path):
    worker = keel.Worker("w", socket=sock_path)
    runs, steps_per_run = 500, 3

    @worker.workflow("wf.chain")
    async def chain(ctx, input):
        total = 0
        for i in range(steps_per_run):
            total += (await ctx.activity("add", {"i": i}))["v"]
        return {"total": total}

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            started = time.monotonic()
            for n in range(runs):
                peer.send(run_request(f"r{n}", "wf.chain", {}, workflow_id=f"wf-{n}"))
            answers = 0
            while answers < runs:
                message = await peer.recv()
                if message.get("method") == "workflow/step":
                    peer.answer(message, {"status": "completed", "result": {"v": message["params"]["seq"]}})
                else:
                    assert message["result"] == {"status": "completed", "output": {"total": 6}}, message
                    answers += 1
            elapsed = time.monotonic() - started
            await stop(worker, task, peer)
            return elapsed

    elapsed = run(main(), timeout=60)
    # 2,000 messages each way: well under a second on a laptop; the bound catches O(n^2) or a drain per message.
    assert elapsed < 10, elapsed


def test_a_peer_that_drops_mid_run_ends_the_run(sock_path):
    worker = keel.Worker("w", socket=sock_path, reconnect=False)

    @worker.workflow("wf.one")
    async def one(ctx, input):
        return await ctx.activity("echo", input)

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task = asyncio.ensure_future(worker.run())
            peer: Peer = await orchestrator.accept()
            await peer.handshake()
            peer.send(run_request("k1", "wf.one", {}))
            await peer.recv()
            peer.close()
            await asyncio.wait_for(task, 5)
            assert worker._runs == set()

    run(main())


def test_a_drain_that_times_out_answers_the_run_with_an_error_not_suspended(sock_path):
    # Issue 13: "suspended" with no step pending left the execution waiting for nothing.
    worker = keel.Worker("w", socket=sock_path, drain_timeout=0.2)

    @worker.workflow("wf.busy")
    async def busy(ctx, input):
        while True:
            await asyncio.sleep(0.05)  # the workflow's own code: no step pending

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.busy", {}))
            await asyncio.sleep(0.1)
            worker.stop()
            answer = await peer.recv()
            assert answer["id"] == "k1" and "result" not in answer, answer
            assert answer["error"]["code"] == -32003
            peer.close()
            await asyncio.wait_for(task, 5)

    run(main())


def test_a_workflow_cancel_notification_stops_the_matching_run(sock_path):
    worker = keel.Worker("w", socket=sock_path)
    stopped = []

    @worker.workflow("wf.busy")
    async def busy(ctx, input):
        try:
            while True:
                await asyncio.sleep(0.05)
        finally:
            stopped.append(ctx.workflow_id)

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.busy", {}, workflow_id="wf-a", run_id=3))
            await asyncio.sleep(0.1)
            peer.send({"jsonrpc": "2.0", "method": "workflow/cancel", "params": {"workflowId": "wf-a", "runId": 2}})
            peer.send({"jsonrpc": "2.0", "id": 9, "method": "ping", "params": {}})
            assert (await peer.recv())["id"] == 9  # another run's notification: ignored
            assert stopped == []
            peer.send({"jsonrpc": "2.0", "method": "workflow/cancel", "params": {"workflowId": "wf-a", "runId": 3, "reason": "terminated"}})
            answer = await peer.recv()
            assert answer["id"] == "k1" and answer["error"]["code"] == 2006, answer
            assert "terminated" in answer["error"]["message"]
            assert stopped == ["wf-a"]
            await stop(worker, task, peer)

    run(main())
