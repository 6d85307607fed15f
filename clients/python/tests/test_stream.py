"""Streams against a scripted orchestrator on a real Unix socket: publish from workflow code and
from activities (including a refused publish), and Client.follow paging to the end."""

import asyncio

import pytest
from conftest import Orchestrator, run

import keel
from keel._reconnect import safe_to_repeat


def run_request(id, name, input, journal=()):
    return {"jsonrpc": "2.0", "id": id, "method": "workflow/run", "params": {
        "workflowId": "wf-1", "runId": 1, "name": name, "input": input, "journal": list(journal), "cancelRequested": False}}


def test_workflow_publish_is_a_step_in_program_order_and_is_not_sent_again_on_replay(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.workflow("pub")
    async def pub(ctx, input):
        first = await ctx.publish({"pct": 50}, name="progress")
        await ctx.publish("done")
        return {"first": first}

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            running = asyncio.ensure_future(worker.run())
            peer = await orchestrator.accept()
            await peer.handshake()
            peer.send(run_request("r1", "pub", {}))
            step = await peer.recv()
            assert step["method"] == "workflow/step"
            assert {k: step["params"][k] for k in ("seq", "kind", "name", "input")} == {
                "seq": 1, "kind": "publish", "name": "progress", "input": {"event": {"pct": 50}}}
            peer.answer(step, {"status": "completed", "result": None})
            step = await peer.recv()
            assert {k: step["params"][k] for k in ("seq", "kind", "name", "input")} == {
                "seq": 2, "kind": "publish", "name": "event", "input": {"event": "done"}}
            peer.answer(step, {"status": "completed", "result": None})
            assert (await peer.recv())["result"] == {"status": "completed", "output": {"first": None}}

            journal = [{"seq": 1, "kind": "publish", "name": "progress", "status": "completed", "result": None},
                       {"seq": 2, "kind": "publish", "name": "event", "status": "completed", "result": None}]
            peer.send(run_request("r2", "pub", {}, journal))
            answer = await peer.recv()  # the run's answer, with no step sent before it
            assert answer["id"] == "r2" and answer["result"]["status"] == "completed"
            worker.stop()
            peer.close()
            await asyncio.wait_for(running, 5)

    run(main())


def test_activity_publish_sends_activity_publish_awaits_it_and_raises_a_refusal(sock_path):
    worker = keel.Worker("w", socket=sock_path)
    seen = {}

    @worker.activity("tokens")
    async def tokens(input, ctx):
        for word in input["words"]:
            await ctx.publish({"token": word}, name="token")
        return {"n": len(input["words"])}

    @worker.activity("refused")
    async def refused(input, ctx):
        try:
            await ctx.publish(1)
        except keel.KeelError as error:
            seen["code"] = error.code
            raise
        return {}

    @worker.activity("sync_tokens")
    def sync_tokens(input, ctx):
        ctx.publish_sync("a", name="token")
        return {"ok": True}

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            running = asyncio.ensure_future(worker.run())
            peer = await orchestrator.accept()
            await peer.handshake()
            peer.execute(1, "tokens", {"words": ["Hello", "world"]}, task_id="t-1", attempt=2, workflowId="wf-1")
            for word in ("Hello", "world"):
                publish = await peer.recv()
                assert publish["method"] == "activity/publish"
                assert publish["params"] == {"taskId": "t-1", "attempt": 2, "name": "token", "event": {"token": word}}
                with pytest.raises(asyncio.TimeoutError):  # the next one waits for this answer
                    await peer.recv(timeout=0.1)
                peer.answer(publish, {})
            assert (await peer.recv())["result"] == {"output": {"n": 2}}

            peer.execute(2, "refused", {}, task_id="t-2")
            publish = await peer.recv()
            assert publish["params"]["name"] == "event"
            peer.send({"jsonrpc": "2.0", "id": publish["id"], "error": {"code": -32602, "message": "no stream: called directly"}})
            result = (await peer.recv())["result"]
            assert "failure" in result and seen["code"] == -32602

            peer.execute(3, "sync_tokens", {}, task_id="t-3")
            publish = await peer.recv()
            assert publish["params"] == {"taskId": "t-3", "attempt": 1, "name": "token", "event": "a"}
            peer.answer(publish, {})
            assert (await peer.recv())["result"] == {"output": {"ok": True}}
            worker.stop()
            await running

    run(main())


def test_follow_pages_through_next_offset_and_stops_at_done(sock_path):
    def event(offset, source="workflow"):
        wire = {"offset": offset, "name": "progress", "event": {"i": offset}, "atMs": 1000 + offset, "source": source}
        wire.update({"seq": offset} if source == "workflow" else {"taskId": "t-1", "attempt": 1})
        return wire

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            connecting = asyncio.ensure_future(keel.Client.connect(socket=sock_path))
            peer = await orchestrator.accept()
            init = await peer.recv()
            peer.answer(init, {"protocolVersion": "1", "capabilities": {}})
            async with await connecting as client:
                collected = []

                async def follow():
                    async for e in client.follow("wf-1", 2, limit=2):
                        collected.append(e)

                following = asyncio.ensure_future(follow())
                poll = await peer.recv()
                assert poll["method"] == "workflow/follow"
                assert poll["params"] == {"workflowId": "wf-1", "afterOffset": 2, "waitTimeoutMs": 30000, "limit": 2}
                peer.answer(poll, {"workflowId": "wf-1", "events": [event(3), event(4, "activity")], "nextOffset": 4, "status": "running", "done": False})
                poll = await peer.recv()
                assert poll["params"]["afterOffset"] == 4
                peer.answer(poll, {"workflowId": "wf-1", "events": [], "nextOffset": 4, "status": "running", "done": False})
                poll = await peer.recv()
                assert poll["params"]["afterOffset"] == 4
                peer.answer(poll, {"workflowId": "wf-1", "events": [event(5)], "nextOffset": 5, "status": "completed", "done": True})
                await asyncio.wait_for(following, 5)
                assert [e.offset for e in collected] == [3, 4, 5]
                assert [e.source for e in collected] == ["workflow", "activity", "workflow"]
                assert (collected[1].task_id, collected[1].attempt, collected[0].seq, collected[0].at_ms) == ("t-1", 1, 3, 1003)
                assert collected[2].event == {"i": 5} and collected[2].name == "progress"

                failing = asyncio.ensure_future(follow())
                poll = await peer.recv()
                peer.send({"jsonrpc": "2.0", "id": poll["id"], "error": {"code": 1001, "message": "no such workflow"}})
                with pytest.raises(keel.KeelError) as raised:
                    await failing
                assert raised.value.code == 1001

    run(main())


def test_follow_is_a_read_resent_after_a_reconnect():
    assert safe_to_repeat("workflow/follow", {"workflowId": "w", "afterOffset": 3})
