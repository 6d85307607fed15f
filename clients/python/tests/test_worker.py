"""Worker behaviours against a scripted orchestrator on a real Unix socket."""

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import REPO, Orchestrator, Peer, run

import keel


@dataclasses.dataclass
class Order:
    id: str
    quantity: int = 1


@dataclasses.dataclass
class Receipt:
    order_id: str
    total: float


def test_contracts_explicit_schemas_and_annotations_feed_the_registration(tmp_path):
    (tmp_path / "greet.json").write_text(json.dumps({
        "name": "greet.hello", "version": "1", "description": "Greets.",
        "input": {"type": "object", "required": ["name"]}, "output": {"type": "object"},
        "retryPolicy": {"maximumAttempts": 5}, "timeouts": {"startToCloseMs": 1000},
    }))
    (tmp_path / "README.md").write_text("not a contract")
    worker = keel.Worker("w", max_concurrent=3).load_contracts(tmp_path)

    @worker.activity("greet.hello")
    async def hello(input):
        return input

    @worker.activity("billing.charge", retry_policy=keel.RetryPolicy(initial_interval=0.5, backoff_coefficient=2, non_retryable_error_types=["Declined"]), start_to_close=30, heartbeat_timeout=5)
    def charge(order: Order) -> Receipt:
        """Charges an order."""
        return Receipt(order.id, 9.5 * order.quantity)

    registration = worker.registration()
    assert registration["maxConcurrent"] == 3 and registration["workflows"] == []
    greet, billing = registration["activities"]
    assert greet == {"name": "greet.hello", "description": "Greets.", "input": {"type": "object", "required": ["name"]},
                     "output": {"type": "object"}, "retryPolicy": {"maximumAttempts": 5}, "timeouts": {"startToCloseMs": 1000}}
    assert billing["description"] == "Charges an order."
    assert billing["input"]["required"] == ["id"] and billing["output"]["required"] == ["order_id", "total"]
    assert billing["retryPolicy"] == {"initialIntervalMs": 500, "backoffCoefficient": 2.0, "nonRetryableErrorTypes": ["Declined"]}
    assert billing["timeouts"] == {"startToCloseMs": 30000, "heartbeatTimeoutMs": 5000}
    with pytest.raises(ValueError):
        worker.activity("bad name!")
    (tmp_path / "bad.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match="lacks version, input, output"):
        keel.Worker("w").load_contracts(tmp_path)


def test_execute_converts_dataclasses_and_reports_failures(sock_path):
    worker = keel.Worker("w", socket=sock_path, max_concurrent=4)

    @worker.activity("charge")
    def charge(order: Order) -> Receipt:
        return Receipt(order.id, 2.5 * order.quantity)

    @worker.activity("unsendable")
    async def unsendable(input):
        return {"x": {1, 2}.__iter__()}

    @worker.activity("typed_fail")
    async def typed_fail(input):
        raise keel.ActivityError("nope", type="Declined", retryable=False, retry_after=1.5, details=[1])

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            running = asyncio.ensure_future(worker.run())
            peer = await orchestrator.accept()
            await peer.handshake()
            peer.execute(1, "charge", {"id": "o-1", "quantity": 4, "future": True})
            assert (await peer.recv())["result"] == {"output": {"order_id": "o-1", "total": 10.0}}
            peer.execute(2, "charge", {"quantity": 4})
            assert (await peer.recv())["result"]["failure"]["type"] == "InvalidInput"
            peer.execute(3, "unsendable", {})
            assert (await peer.recv())["result"]["failure"]["type"] == "OutputNotSerializable"
            peer.execute(4, "typed_fail", {})
            assert (await peer.recv())["result"] == {"failure": {"type": "Declined", "message": "nope", "retryable": False, "retryAfterMs": 1500, "details": [1]}}
            worker.stop()
            await running

    run(main())


def test_a_dropped_connection_cancels_running_work_then_the_worker_reconnects_and_registers_again(sock_path):
    worker = keel.Worker("w", socket=sock_path)
    seen = {}

    @worker.activity("slow")
    async def slow(input, ctx):
        seen["ctx"] = ctx
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen["cancelled"] = ctx.cancelled
            raise

    @worker.activity("echo")
    async def echo(input):
        return input

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            running = asyncio.ensure_future(worker.run())
            first = await orchestrator.accept()
            registration = await first.handshake("w-1")
            first.execute("k1", "slow", {})
            await asyncio.sleep(0.1)
            first.close()
            second = await orchestrator.accept()
            assert await second.handshake("w-2") == registration
            second.execute("k2", "echo", {"again": True})
            assert await second.recv() == {"jsonrpc": "2.0", "id": "k2", "result": {"output": {"again": True}}}
            assert worker.worker_id == "w-2"
            assert seen["cancelled"] is True  # cancelled when the first connection dropped
            worker.stop()
            await running

    run(main())


def test_the_worker_keeps_retrying_until_keel_is_listening(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    async def main():
        running = asyncio.ensure_future(worker.run())
        await asyncio.sleep(0.5)  # a few failed attempts with backoff
        async with Orchestrator(sock_path) as orchestrator:
            peer = await orchestrator.accept()
            await peer.handshake()
            worker.stop()
            await running

    run(main())


def test_unauthorized_is_fatal(sock_path):
    worker = keel.Worker("w", tcp=None, socket=sock_path)

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            running = asyncio.ensure_future(worker.run())
            peer = await orchestrator.accept()
            init = await peer.recv()
            peer.send({"jsonrpc": "2.0", "id": init["id"], "error": {"code": -32004, "message": "unauthorized"}})
            with pytest.raises(keel.KeelError) as raised:
                await running
            assert raised.value.code == -32004

    run(main())


def test_a_sync_activity_heartbeats_and_sees_cancellation(sock_path):
    worker = keel.Worker("w", socket=sock_path)
    observed = {}

    @worker.activity("sync_hb")
    def sync_hb(input, ctx):
        observed["thread"] = threading.current_thread().name
        observed["same_ctx"] = keel.activity_context() is ctx
        ctx.heartbeat_sync({"n": 1})
        try:
            ctx.heartbeat_sync({"n": 2})
        except asyncio.CancelledError:
            observed["cancelled"] = ctx.cancelled
            raise
        return {"finished": True}

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            running = asyncio.ensure_future(worker.run())
            peer = await orchestrator.accept()
            await peer.handshake()
            peer.execute("k1", "sync_hb", {}, task_id="t-5", attempt=3)
            beat = await peer.recv()
            assert beat["method"] == "activity/heartbeat" and beat["params"] == {"taskId": "t-5", "attempt": 3, "details": {"n": 1}}
            peer.answer(beat, {"cancelled": False})
            beat = await peer.recv()
            peer.answer(beat, {"cancelled": True})
            answer = await peer.recv()
            assert answer["id"] == "k1" and answer["result"]["failure"]["type"] == "Cancelled"
            worker.stop()
            await running
        for _ in range(100):  # the execute is answered at once; the thread finishes on its own
            if "cancelled" in observed:
                break
            await asyncio.sleep(0.02)
        assert observed == {"thread": observed["thread"], "same_ctx": True, "cancelled": True}
        assert observed["thread"].startswith("keel-activity")

    run(main())


def _spawn_hello(env_extra):
    env = dict(os.environ, **env_extra)
    env.pop("KEEL_TRANSPORT", None) if "KEEL_TRANSPORT" not in env_extra else None
    return subprocess.Popen([sys.executable, "examples/hello/worker.py"], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_the_hello_example_over_stdio():
    process = _spawn_hello({"KEEL_TRANSPORT": "stdio"})
    try:
        def recv():
            return json.loads(process.stdout.readline())

        def send(message):
            process.stdin.write(json.dumps(message).encode() + b"\n")
            process.stdin.flush()

        init = recv()
        send({"jsonrpc": "2.0", "id": init["id"], "result": {"protocolVersion": "1", "capabilities": {}}})
        register = recv()
        assert register["params"]["activities"][0]["name"] == "greet.hello"
        send({"jsonrpc": "2.0", "id": register["id"], "result": {"workerId": "w-1"}})
        send({"jsonrpc": "2.0", "id": "k1", "method": "activity/execute", "params": {"taskId": "t", "name": "greet.hello", "input": {"name": "Ada"}, "attempt": 1}})
        assert recv() == {"jsonrpc": "2.0", "id": "k1", "result": {"output": {"greeting": "Hello, Ada"}}}
        process.stdin.close()
        assert process.wait(10) == 0
    finally:
        process.kill()
        process.wait()


def test_the_hello_example_over_a_socket(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "examples/hello/worker.py", cwd=REPO, env=dict(os.environ, KEEL_SOCKET=sock_path),
                stderr=asyncio.subprocess.DEVNULL)
            try:
                peer = await orchestrator.accept()
                assert (await peer.handshake())["name"] == "hello-worker"
                peer.execute(7, "greet.hello", {"name": "Grace"})
                assert (await peer.recv())["result"] == {"output": {"greeting": "Hello, Grace"}}
                process.terminate()
                assert await asyncio.wait_for(process.wait(), 10) == 0
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()

    run(main())


def test_a_shutdown_notification_drains_running_work_then_run_returns(sock_path):
    worker = keel.Worker("w", socket=sock_path)

    @worker.activity("nap")
    async def nap(input):
        await asyncio.sleep(0.2)
        return {"rested": True}

    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            running = asyncio.ensure_future(worker.run())
            peer = await orchestrator.accept()
            await peer.handshake()
            peer.execute("k1", "nap", {})
            await asyncio.sleep(0.05)
            peer.send({"jsonrpc": "2.0", "method": "shutdown", "params": {}})
            peer.execute("k2", "nap", {}, task_id="t-2")
            refused = await peer.recv()
            assert refused["id"] == "k2" and refused["error"]["code"] == -32003
            assert await peer.recv() == {"jsonrpc": "2.0", "id": "k1", "result": {"output": {"rested": True}}}
            await asyncio.wait_for(running, 5)  # returns without reconnecting

    run(main())
