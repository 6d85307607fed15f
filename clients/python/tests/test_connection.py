"""Connection against a real socketpair; the test plays the orchestrator's side with raw lines."""

import asyncio
import json
import socket

import pytest
from conftest import Peer, run

from keel import ConnectionClosedError, KeelError
from keel._connection import Connection


async def connected(max_frame_bytes=16 * 1024 * 1024):
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    peer_reader, peer_writer = await asyncio.open_connection(sock=theirs, limit=64 * 1024 * 1024)
    connection = Connection(reader, writer, max_frame_bytes=max_frame_bytes)
    return connection, Peer(peer_reader, peer_writer)


def test_calls_are_matched_by_id_even_when_answered_out_of_order():
    async def main():
        conn, peer = await connected()
        conn.start()
        calls = [asyncio.ensure_future(conn.call("echo", {"n": n})) for n in range(5)]
        requests = [await peer.recv() for _ in range(5)]
        assert all(r["jsonrpc"] == "2.0" and r["method"] == "echo" for r in requests)
        assert len({r["id"] for r in requests}) == 5
        for request in reversed(requests):
            peer.answer(request, {"n": request["params"]["n"]})
        assert [await c for c in calls] == [{"n": n} for n in range(5)]
        await conn.close()

    run(main())


def test_an_error_answer_raises_keel_error_with_code_and_data():
    async def main():
        conn, peer = await connected()
        conn.start()
        call = asyncio.ensure_future(conn.call("worker/register", {}))
        request = await peer.recv()
        peer.send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": 2005, "message": "conflict", "data": {"activity": "a"}}})
        with pytest.raises(KeelError) as raised:
            await call
        assert (raised.value.code, raised.value.data) == (2005, {"activity": "a"})
        await conn.close()

    run(main())


def test_a_call_times_out_and_a_late_answer_is_ignored():
    async def main():
        conn, peer = await connected()
        conn.start()
        with pytest.raises(asyncio.TimeoutError):
            await conn.call("slow", {}, timeout=0.05)
        request = await peer.recv()
        peer.answer(request, "late")
        peer.send({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}})
        await peer.recv()  # the ping's -32601: the late answer produced nothing
        await conn.close()

    run(main())


def test_incoming_requests_notifications_and_malformed_lines():
    async def main():
        conn, peer = await connected()
        seen = []

        async def add(params):
            return params["a"] + params["b"]

        async def broken(params):
            raise RuntimeError("secret detail")

        conn.on_request("add", add)
        conn.on_request("broken", broken)
        conn.on_notification("note", seen.append)
        conn.start()
        peer.send({"jsonrpc": "2.0", "id": "x", "method": "add", "params": {"a": 1, "b": 2}})
        assert await peer.recv() == {"jsonrpc": "2.0", "id": "x", "result": 3}
        peer.send({"jsonrpc": "2.0", "method": "note", "params": {"k": 1}})
        peer.send('{"jsonrpc":"2.0","id":2,"method":')
        assert (await peer.recv())["error"]["code"] == -32700
        assert seen == [{"k": 1}]
        peer.send({"jsonrpc": "2.0", "id": 3, "method": "nope", "params": {}})
        assert await peer.recv() == {"jsonrpc": "2.0", "id": 3, "error": {"code": -32601, "message": "Method not found: nope"}}
        peer.send({"jsonrpc": "2.0", "id": 4, "method": "add", "params": [1, 2]})
        assert (await peer.recv())["error"]["code"] == -32602
        peer.send({"jsonrpc": "2.0", "id": 5, "method": "broken", "params": {}})
        error = (await peer.recv())["error"]
        assert error["code"] == -32603 and "secret" not in json.dumps(error) and "incident" in error["data"]
        peer.send('[{"jsonrpc":"2.0","id":6,"method":"add","params":{"a":2,"b":2}},{"jsonrpc":"2.0","method":"note","params":{}},5]')
        batch = await peer.recv()
        assert batch[0] == {"jsonrpc": "2.0", "id": 6, "result": 4}
        assert batch[1]["error"]["code"] == -32600 and batch[1]["id"] is None
        await conn.close()

    run(main())


def test_an_oversize_line_gets_32002_and_the_connection_stays_up():
    async def main():
        conn, peer = await connected(max_frame_bytes=100)
        conn.on_request("ping", lambda params: asyncio.sleep(0, {}))
        conn.start()
        peer.send({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 200}})
        answer = await peer.recv()
        assert (answer["id"], answer["error"]["code"]) == (None, -32002)
        assert "100-byte frame limit" in answer["error"]["message"]
        peer.send({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {}})
        assert await peer.recv() == {"jsonrpc": "2.0", "id": 2, "result": {}}
        await conn.close()

    run(main())


def test_peer_closing_fails_pending_calls_and_cancels_running_handlers():
    async def main():
        conn, peer = await connected()
        started, cancelled = asyncio.Event(), asyncio.Event()

        async def forever(params):
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        conn.on_request("forever", forever)
        conn.start()
        call = asyncio.ensure_future(conn.call("x", {}))
        await peer.recv()
        peer.send({"jsonrpc": "2.0", "id": 1, "method": "forever", "params": {}})
        await started.wait()
        peer.close()
        with pytest.raises(ConnectionClosedError):
            await call
        await asyncio.wait_for(cancelled.wait(), 2)
        await conn.wait_closed()
        assert conn.closed
        with pytest.raises(ConnectionClosedError):
            await conn.call("y", {})
        await conn.close()

    run(main())


def test_a_thousand_requests_in_one_write_get_a_thousand_answers():
    async def main():
        conn, peer = await connected()

        async def echo(params):
            return params

        conn.on_request("echo", echo)
        conn.start()
        peer.send("\n".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "echo", "params": {"i": i}}) for i in range(1000)))
        answers = [await peer.recv() for _ in range(1000)]
        assert sorted(a["id"] for a in answers) == list(range(1000))
        assert all(a["result"] == {"i": a["id"]} for a in answers)
        await conn.close()

    run(main())
