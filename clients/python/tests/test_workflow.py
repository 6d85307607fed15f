"""Workflows against a scripted orchestrator on a real Unix socket: replay, parallel steps,
suspend, failures, non-determinism, continue-as-new, and throughput."""

import asyncio
import dataclasses
import json
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


def test_a_steps_priority_and_fairness_key_go_in_its_options_and_a_step_without_sends_neither(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.prio")
    async def prio(ctx, input):
        a = await ctx.activity("charge", input, priority=7, fairness_key="tenant-a", start_to_close=30)
        b = await ctx.activity("charge", input, priority=0)
        c = await ctx.activity("charge", input, fairness_key="tenant-b")
        d = await ctx.activity("charge", input)
        return [a, b, c, d]

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.prio", {"n": 1}))
            sent = []
            for i in range(4):
                step = await peer.recv()
                sent.append(step["params"].get("options"))
                peer.answer(step, {"status": "completed", "result": i})
            assert sent == [{"priority": 7, "fairnessKey": "tenant-a", "timeouts": {"startToCloseMs": 30000}},
                            {"priority": 0}, {"fairnessKey": "tenant-b"}, None]
            assert (await peer.recv())["result"] == {"status": "completed", "output": [0, 1, 2, 3]}
            await stop(worker, task, peer)

    run(main())


def test_upserts_are_steps_whose_null_removal_is_sent_as_null_and_that_replay_answers_from_the_journal(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.upsert")
    async def upsert(ctx, input):
        with pytest.raises(TypeError):
            ctx.upsert_memo("note")  # refused at the call: no step, no seq used
        first = await ctx.upsert_search_attributes({"customer": "acme", "vip": True})
        second = await ctx.upsert_search_attributes({"vip": None})
        memo = await ctx.upsert_memo({"note": "hi"})
        return {"first": first, "second": second, "memo": memo}

    merged = [("searchAttributes", {"customer": "acme", "vip": True}), ("searchAttributes", {"customer": "acme"}),
              ("memo", {"note": "hi"})]
    journal = [{"seq": seq, "kind": "upsert", "name": name, "status": "completed", "result": result}
               for seq, (name, result) in enumerate(merged, 1)]
    output = {"first": journal[0]["result"], "second": journal[1]["result"], "memo": journal[2]["result"]}

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.upsert", {}))
            for entry in journal:
                raw = await asyncio.wait_for(peer.reader.readline(), 5)
                step = json.loads(raw)
                keys = ("seq", "kind", "name")
                assert {k: step["params"][k] for k in keys} == {k: entry[k] for k in keys}
                assert "options" not in step["params"]
                if entry["seq"] == 2:
                    assert b'"input":{"vip":null}' in raw, raw  # the removal is on the wire, not dropped
                peer.answer(step, {"status": "completed", "result": entry["result"]})
            assert (await peer.recv())["result"] == {"status": "completed", "output": output}

            peer.send(run_request("k2", "wf.upsert", {}, journal=journal, run_id=2))
            answer = await peer.recv()  # the run's answer, with no step sent before it
            assert (answer["id"], answer["result"]) == ("k2", {"status": "completed", "output": output})
            await stop(worker, task, peer)

    run(main())


def test_a_child_step_carries_search_attributes_and_memo_only_when_given(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.children")
    async def children(ctx, input):
        with pytest.raises(TypeError):
            ctx.child("wf.kid", {}, memo="batch")  # refused at the call: no step, no seq used
        with pytest.raises(TypeError):
            ctx.child("wf.kid", {}, search_attributes=[("customer", "acme")])
        plain = await ctx.child("wf.kid", {"n": 1})
        named = await ctx.child("wf.kid", {"n": 2}, "kid-2")
        both = await ctx.child("wf.kid", {"n": 3}, workflow_id="kid-3",
                               search_attributes={"customer": "acme", "tier": 1}, memo={"source": "batch"})
        memo_only = await ctx.child("wf.kid", None, memo={"source": {"run": 7}})
        empty = await ctx.child("wf.kid", {"n": 5}, search_attributes={}, memo={})  # given: sent, even empty
        return [plain, named, both, memo_only, empty]

    inputs = [
        {"input": {"n": 1}},
        {"input": {"n": 2}, "workflowId": "kid-2"},
        {"input": {"n": 3}, "workflowId": "kid-3", "searchAttributes": {"customer": "acme", "tier": 1},
         "memo": {"source": "batch"}},
        {"input": None, "memo": {"source": {"run": 7}}},
        {"input": {"n": 5}, "searchAttributes": {}, "memo": {}},
    ]

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.children", {}))
            for seq, expected in enumerate(inputs, 1):
                raw = await asyncio.wait_for(peer.reader.readline(), 5)
                step = json.loads(raw)
                assert step["params"] == {"workflowId": "wf-1", "runId": 1, "seq": seq, "kind": "child", "name": "wf.kid",
                                          "input": expected}
                if seq == 1:  # without the new fields the step is byte for byte what it was
                    assert b'"kind":"child","name":"wf.kid","input":{"input":{"n":1}}}' in raw, raw
                peer.answer(step, {"status": "completed", "result": seq})
            assert (await peer.recv())["result"] == {"status": "completed", "output": [1, 2, 3, 4, 5]}

            journal = [{"seq": seq, "kind": "child", "name": "wf.kid", "status": "completed", "result": seq}
                       for seq in range(1, 6)]
            peer.send(run_request("k2", "wf.children", {}, journal=journal, run_id=2))
            answer = await peer.recv()  # the run's answer, with no step sent before it
            assert (answer["id"], answer["result"]) == ("k2", {"status": "completed", "output": [1, 2, 3, 4, 5]})
            await stop(worker, task, peer)

    run(main())


def test_query_values_are_steps_sending_the_value_under_value_and_replay_sends_nothing(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.query")
    async def query(ctx, input):
        first = await ctx.set_query_value("progress", {"pct": 50})
        await ctx.set_query_value("progress", None)  # null is a value: sent under "value", not dropped
        await ctx.set_query_value("stage", "packed")
        return {"first": first}

    values = [("progress", {"pct": 50}), ("progress", None), ("stage", "packed")]
    journal = [{"seq": seq, "kind": "query", "name": name, "status": "completed", "result": None}
               for seq, (name, _) in enumerate(values, 1)]

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.query", {}))
            for seq, (name, value) in enumerate(values, 1):
                step = await peer.recv()
                assert step["method"] == "workflow/step"
                assert step["params"] == {"workflowId": "wf-1", "runId": 1, "seq": seq, "kind": "query", "name": name,
                                          "input": {"value": value}}
                peer.answer(step, {"status": "completed", "result": None})
            assert (await peer.recv())["result"] == {"status": "completed", "output": {"first": None}}

            peer.send(run_request("k2", "wf.query", {}, journal=journal, run_id=2))
            answer = await peer.recv()  # the run's answer, with no step sent before it
            assert (answer["id"], answer["result"]) == ("k2", {"status": "completed", "output": {"first": None}})

            # A journal with another kind at seq 1: NonDeterminism, not a silent query value.
            other = [dict(journal[0], kind="publish")]
            peer.send(run_request("k3", "wf.query", {}, journal=other, run_id=3))
            failure = (await peer.recv())["result"]["failure"]
            assert failure["type"] == "NonDeterminism"
            await stop(worker, task, peer)

    run(main())


def test_updates_are_signal_steps_named_update_colon_name_answered_by_respond_steps_named_by_the_update_id(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.approvals")
    async def approvals(ctx, input):
        first = await ctx.wait_for_update("approve")
        answered = await ctx.respond(first, {"approved": first.input["amount"]})
        second = await ctx.wait_for_update("order.approve", timeout_ms=2500)
        await ctx.reject(second, "amount 500 is over 100")
        await ctx.reject(second.id, "no stock", type="OutOfStock", details={"sku": "A-1"})  # a bare id works too
        await ctx.respond("u-3", None)  # null is a result: sent under "result", not dropped
        return {"first": [first.id, first.name, first.input], "second": [second.id, second.name, second.input],
                "answered": answered, "types": [type(first).__name__, isinstance(second, keel.Update)]}

    steps = [
        ("signal", "update:approve", {}, {"updateId": "u-1", "input": {"amount": 5}}),
        ("respond", "u-1", {"result": {"approved": 5}}, None),
        ("signal", "update:order.approve", {"timeoutMs": 2500}, {"updateId": "u-2", "input": {"amount": 500}}),
        ("respond", "u-2", {"failure": {"type": "Rejected", "message": "amount 500 is over 100"}}, None),
        ("respond", "u-2", {"failure": {"type": "OutOfStock", "message": "no stock", "details": {"sku": "A-1"}}}, None),
        ("respond", "u-3", {"result": None}, None),
    ]
    output = {"first": ["u-1", "approve", {"amount": 5}], "second": ["u-2", "order.approve", {"amount": 500}],
              "answered": None, "types": ["Update", True]}
    journal = [{"seq": seq, "kind": kind, "name": name, "status": "completed", "result": result}
               for seq, (kind, name, _, result) in enumerate(steps, 1)]

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.approvals", {}))
            for seq, (kind, name, input, result) in enumerate(steps, 1):
                step = await peer.recv()
                assert step["method"] == "workflow/step"
                assert step["params"] == {"workflowId": "wf-1", "runId": 1, "seq": seq, "kind": kind, "name": name, "input": input}
                peer.answer(step, {"status": "completed", "result": result})
            assert (await peer.recv())["result"] == {"status": "completed", "output": output}

            peer.send(run_request("k2", "wf.approvals", {}, journal=journal, run_id=2))
            answer = await peer.recv()  # the run's answer, with no step sent before it
            assert (answer["id"], answer["result"]) == ("k2", {"status": "completed", "output": output})

            # A journal answering the wait by its name without the prefix: NonDeterminism.
            other = [dict(journal[0], name="approve")]
            peer.send(run_request("k3", "wf.approvals", {}, journal=other, run_id=3))
            failure = (await peer.recv())["result"]["failure"]
            assert failure["type"] == "NonDeterminism" and failure["details"]["code"] == {"kind": "signal", "name": "update:approve"}
            await stop(worker, task, peer)

    run(main())


def test_an_update_wait_past_its_timeout_raises_timed_out_and_a_bad_update_to_answer_raises_type_error(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.late")
    async def late(ctx, input):
        try:
            await ctx.wait_for_update("approve", timeout_ms=10)
        except keel.TimedOut as error:
            caught = ["TimedOut", error.message]
        for bad in ("", None, {"id": "u-1"}):
            with pytest.raises(TypeError, match="an update is answered by its Update or its id"):
                ctx.respond(bad, {})
            with pytest.raises(TypeError):
                ctx.reject(bad, "no")
        return caught

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.late", {}))
            wait = await peer.recv()
            assert (wait["params"]["kind"], wait["params"]["name"], wait["params"]["input"]) == ("signal", "update:approve", {"timeoutMs": 10})
            peer.answer(wait, {"status": "failed", "failure": {"type": "TimedOut", "message": "no update", "retryable": False}})
            answer = await peer.recv()  # no respond step was sent for the refused arguments
            assert answer["result"] == {"status": "completed", "output": ["TimedOut", "no update"]}
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


def _patched_worker(sock_path, seen):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("wf.patched")
    async def patched(ctx, input):
        p = await ctx.patched("add-discount")
        if p:
            await ctx.activity("discount", {})
        charge = await ctx.activity("charge", {})
        again = await ctx.patched("add-discount")
        return {"patched": p, "again": again, "charge": charge}

    @worker.workflow("wf.deprecated")
    async def deprecated(ctx, input):
        await ctx.deprecate_patch("add-discount")
        return await ctx.activity("charge", {})

    @worker.workflow("wf.bad")
    async def bad(ctx, input):
        for id in ("", None):
            try:
                ctx.patched(id)
            except ValueError as error:
                seen.append(str(error))
        try:
            ctx.deprecate_patch("")
        except ValueError as error:
            seen.append(str(error))
        return len(seen)

    return worker


def test_patched_new_execution_records_one_marker_then_memoizes(sock_path):
    worker = _patched_worker(sock_path, [])

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.patched", {}))
            marker = await peer.recv()
            assert marker["method"] == "workflow/step"
            assert {k: marker["params"][k] for k in ("workflowId", "runId", "seq", "kind", "name", "input")} == {
                "workflowId": "wf-1", "runId": 1, "seq": 1, "kind": "patch", "name": "add-discount", "input": {}}
            peer.answer(marker, {"status": "completed", "result": True})
            discount = await peer.recv()
            assert (discount["params"]["seq"], discount["params"]["name"]) == (2, "discount")
            peer.answer(discount, {"status": "completed", "result": {}})
            charge = await peer.recv()
            assert (charge["params"]["seq"], charge["params"]["name"]) == (3, "charge")
            peer.answer(charge, {"status": "completed", "result": {"ok": 1}})
            # The second patched("add-discount") sends nothing: the next message is the answer.
            assert (await peer.recv())["result"] == {"status": "completed", "output": {"patched": True, "again": True, "charge": {"ok": 1}}}
            await stop(worker, task, peer)

    run(main())


def test_patched_replay_with_marker_and_old_executions_without_one(sock_path):
    worker = _patched_worker(sock_path, [])

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            # Replay of a new-code execution: the marker answers True, nothing is sent.
            peer.send(run_request("k1", "wf.patched", {}, journal=[
                {"seq": 1, "kind": "patch", "name": "add-discount", "status": "completed", "result": True},
                {"seq": 2, "kind": "activity", "name": "discount", "status": "completed", "result": {}},
                {"seq": 3, "kind": "activity", "name": "charge", "status": "completed", "result": {"ok": 1}}]))
            assert (await peer.recv())["result"] == {"status": "completed", "output": {"patched": True, "again": True, "charge": {"ok": 1}}}
            # An old execution (completed step at seq 1): False, the seq stays for the old path.
            peer.send(run_request("k2", "wf.patched", {}, journal=[
                {"seq": 1, "kind": "activity", "name": "charge", "status": "completed", "result": {"ok": 2}}]))
            assert (await peer.recv())["result"] == {"status": "completed", "output": {"patched": False, "again": False, "charge": {"ok": 2}}}
            # An old execution whose step is still scheduled: False, and the old step is sent at seq 1.
            peer.send(run_request("k3", "wf.patched", {}, journal=[
                {"seq": 1, "kind": "activity", "name": "charge", "status": "scheduled"}]))
            charge = await peer.recv()
            assert (charge["params"]["seq"], charge["params"]["kind"], charge["params"]["name"]) == (1, "activity", "charge")
            peer.answer(charge, {"status": "completed", "result": {"ok": 3}})
            assert (await peer.recv())["result"] == {"status": "completed", "output": {"patched": False, "again": False, "charge": {"ok": 3}}}
            await stop(worker, task, peer)

    run(main())


def test_deprecate_patch_records_live_consumes_a_marker_and_leaves_other_entries(sock_path):
    worker = _patched_worker(sock_path, [])

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.deprecated", {}))
            marker = await peer.recv()
            assert (marker["params"]["seq"], marker["params"]["kind"], marker["params"]["name"]) == (1, "patch", "add-discount")
            peer.answer(marker, {"status": "completed", "result": True})
            charge = await peer.recv()
            assert charge["params"]["seq"] == 2
            peer.answer(charge, {"status": "completed", "result": "c1"})
            assert (await peer.recv())["result"] == {"status": "completed", "output": "c1"}
            peer.send(run_request("k2", "wf.deprecated", {}, journal=[
                {"seq": 1, "kind": "patch", "name": "add-discount", "status": "completed", "result": True},
                {"seq": 2, "kind": "activity", "name": "charge", "status": "completed", "result": "c2"}]))
            assert (await peer.recv())["result"] == {"status": "completed", "output": "c2"}
            peer.send(run_request("k3", "wf.deprecated", {}, journal=[
                {"seq": 1, "kind": "activity", "name": "charge", "status": "completed", "result": "c3"}]))
            assert (await peer.recv())["result"] == {"status": "completed", "output": "c3"}
            # A failed marker step raises in the workflow like any step failure.
            peer.send(run_request("k4", "wf.deprecated", {}))
            marker = await peer.recv()
            peer.answer(marker, {"status": "failed", "failure": {"type": "Nope", "message": "no", "retryable": False}})
            assert (await peer.recv())["result"]["failure"]["type"] == "Nope"
            await stop(worker, task, peer)

    run(main())


def test_patched_rejects_an_empty_or_non_string_id(sock_path):
    seen = []
    worker = _patched_worker(sock_path, seen)

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            task, peer = await serving(worker, orchestrator)
            peer.send(run_request("k1", "wf.bad", {}))
            assert (await peer.recv())["result"] == {"status": "completed", "output": 3}
            await stop(worker, task, peer)

    run(main())
    assert seen == ["a patch id must be a non-empty string"] * 3


def test_build_id_option_and_environment_in_the_registration(monkeypatch):
    monkeypatch.delenv("KEEL_BUILD_ID", raising=False)
    plain = keel.Worker("w").registration()
    assert "buildId" not in plain and "compatibleBuildIds" not in plain
    assert "compatibleBuildIds" not in keel.Worker("w", compatible_build_ids=["b-1"]).registration()
    registration = keel.Worker("w", build_id="b-2", compatible_build_ids=["b-1"]).registration()
    assert registration["buildId"] == "b-2" and registration["compatibleBuildIds"] == ["b-1"]
    only = keel.Worker("w", build_id="b-2").registration()
    assert only["buildId"] == "b-2" and "compatibleBuildIds" not in only
    monkeypatch.setenv("KEEL_BUILD_ID", "build-7")
    from_env = keel.Worker("w").registration()
    assert from_env["buildId"] == "build-7" and "compatibleBuildIds" not in from_env
    assert keel.Worker("w", build_id="b-9").registration()["buildId"] == "b-9"  # code wins
    monkeypatch.setenv("KEEL_BUILD_ID", "")
    assert "buildId" not in keel.Worker("w").registration()
    with pytest.raises(ValueError):
        keel.Worker("w", compatible_build_ids="b-1")
    with pytest.raises(ValueError):
        keel.Worker("w", compatible_build_ids=[""])
