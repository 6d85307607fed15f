"""Client against a scripted orchestrator on a real Unix socket."""

import asyncio
import uuid

import pytest
from conftest import Orchestrator, run

import keel
from keel._errors import QUERY_NOT_FOUND, UPDATE_UNANSWERED


def test_call_activity_sends_the_documented_params_and_parses_the_result(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            connecting = asyncio.ensure_future(keel.Client.connect(socket=sock_path))
            peer = await orchestrator.accept()
            init = await peer.recv()
            assert init["params"]["protocolVersion"] == "1" and "token" not in init["params"]
            peer.answer(init, {"protocolVersion": "1", "capabilities": {}})
            client = await connecting
            async with client:
                calling = asyncio.ensure_future(client.call_activity(
                    "greet.hello", {"name": "Ada"}, idempotency_key="order-17", wait_timeout=60,
                    retry_policy=keel.RetryPolicy(maximum_attempts=3), start_to_close=30))
                request = await peer.recv()
                assert request["method"] == "activity/call"
                assert request["params"] == {"name": "greet.hello", "input": {"name": "Ada"}, "wait": True, "idempotencyKey": "order-17",
                                             "waitTimeoutMs": 60000, "retryPolicy": {"maximumAttempts": 3}, "timeouts": {"startToCloseMs": 30000}}
                peer.answer(request, {"taskId": "t-1", "status": "completed", "attempts": 1, "output": {"greeting": "Hello, Ada"}})
                result = await calling
                assert (result.task_id, result.status, result.output) == ("t-1", "completed", {"greeting": "Hello, Ada"})

                listing = asyncio.ensure_future(client.workers())
                request = await peer.recv()
                assert request["method"] == "worker/list"
                peer.answer(request, {"workers": [{"workerId": "w-3"}]})
                assert await listing == [{"workerId": "w-3"}]

                fetching = asyncio.ensure_future(client.activity_result(idempotency_key="order-17"))
                request = await peer.recv()
                assert request["params"] == {"idempotencyKey": "order-17"}
                peer.send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": 4002, "message": "conflict"}})
                with pytest.raises(keel.KeelError) as raised:
                    await fetching
                assert raised.value.code == 4002

                pinging = asyncio.ensure_future(client.ping())
                peer.answer(await peer.recv(), {})
                await pinging

    run(main())


def test_connect_sends_the_token_over_tcp_and_fails_cleanly_when_refused():
    async def main():
        seen = {}

        async def accept(reader, writer):
            import json

            seen["init"] = json.loads(await reader.readline())
            writer.write(json.dumps({"jsonrpc": "2.0", "id": seen["init"]["id"], "error": {"code": -32004, "message": "unauthorized"}}).encode() + b"\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(keel.KeelError) as raised:
            await keel.Client.connect(tcp=f"127.0.0.1:{port}", token="s3cret")
        assert raised.value.code == -32004 and seen["init"]["params"]["token"] == "s3cret"
        server.close()

    run(main())


async def _initialize(peer):
    init = await peer.recv()
    assert init["method"] == "initialize", init
    peer.answer(init, {"protocolVersion": "1", "capabilities": {}})


def test_signal_sends_a_fresh_uuid_request_id_or_the_callers_and_resends_it_after_a_drop(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            connecting = asyncio.ensure_future(keel.Client.connect(socket=sock_path, reconnect_initial=0.01, reconnect_max=0.05))
            peer = await orchestrator.accept()
            await _initialize(peer)
            async with await connecting as client:
                seen = []
                for _ in range(2):  # default ids: a fresh lowercase UUID v4 per call
                    signalling = asyncio.ensure_future(client.signal("order-1", "approve", {"ok": True}))
                    request = await peer.recv()
                    assert request["method"] == "workflow/signal"
                    params = dict(request["params"])
                    request_id = params.pop("requestId")
                    assert params == {"workflowId": "order-1", "name": "approve", "payload": {"ok": True}}
                    assert request_id == str(uuid.UUID(request_id)) and uuid.UUID(request_id).version == 4
                    seen.append(request_id)
                    peer.answer(request, {"delivered": True, "consumed": False, "duplicate": False})
                    result = await signalling
                    assert (result.delivered, result.duplicate, result.consumed) == (True, False, False)
                assert seen[0] != seen[1]

                # The caller's id, in flight when the connection drops: sent again with that id.
                signalling = asyncio.ensure_future(client.signal("order-1", "approve", None, request_id="approve-1"))
                request = await peer.recv()
                assert request["params"]["requestId"] == "approve-1"
                peer.close()
                again = await orchestrator.accept()
                await _initialize(again)
                resent = await again.recv()
                assert resent["method"] == "workflow/signal"
                assert resent["params"] == {"workflowId": "order-1", "name": "approve", "payload": None, "requestId": "approve-1"}
                again.answer(resent, {"delivered": True, "duplicate": True})
                result = await signalling
                assert (result.delivered, result.duplicate, result.consumed) == (True, True, None)
                assert isinstance(result, keel.SignalResult)

    run(main())


def test_priority_and_fairness_key_are_sent_only_when_given_on_calls_and_starts(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            connecting = asyncio.ensure_future(keel.Client.connect(socket=sock_path))
            peer = await orchestrator.accept()
            await _initialize(peer)
            async with await connecting as client:
                calling = asyncio.ensure_future(client.call_activity("report", {"n": 1}, wait=False, priority=9, fairness_key="acme"))
                request = await peer.recv()
                assert request["params"] == {"name": "report", "input": {"n": 1}, "wait": False, "priority": 9, "fairnessKey": "acme"}
                peer.answer(request, {"taskId": "t-1", "status": "scheduled"})
                assert (await calling).status == "scheduled"

                calling = asyncio.ensure_future(client.call_activity("report", {"n": 2}, wait=False, priority=0))
                request = await peer.recv()
                assert request["params"] == {"name": "report", "input": {"n": 2}, "wait": False, "priority": 0}  # 0 is a value, not "unset"
                peer.answer(request, {"taskId": "t-2", "status": "scheduled"})
                await calling

                calling = asyncio.ensure_future(client.call_activity("report", {"n": 3}))
                request = await peer.recv()
                assert "priority" not in request["params"] and "fairnessKey" not in request["params"]
                peer.answer(request, {"taskId": "t-3", "status": "completed", "output": {}})
                await calling

                starting = asyncio.ensure_future(client.start_workflow("orders.fulfil", {"id": "o-1"}, workflow_id="o-1",
                                                                       priority=-5, fairness_key="tenant-b"))
                request = await peer.recv()
                assert request["method"] == "workflow/start"
                assert request["params"] == {"name": "orders.fulfil", "input": {"id": "o-1"}, "workflowId": "o-1",
                                             "priority": -5, "fairnessKey": "tenant-b"}
                peer.answer(request, {"workflowId": "o-1", "status": "pending", "started": True})
                assert (await starting).started is True

                starting = asyncio.ensure_future(client.start_workflow("orders.fulfil", None, workflow_id="o-2", fairness_key="tenant-c"))
                request = await peer.recv()
                assert request["params"] == {"name": "orders.fulfil", "input": None, "workflowId": "o-2", "fairnessKey": "tenant-c"}
                peer.answer(request, {"workflowId": "o-2", "status": "pending", "started": True})
                await starting

                starting = asyncio.ensure_future(client.start_workflow("orders.fulfil", None, workflow_id="o-3"))
                request = await peer.recv()
                assert request["params"] == {"name": "orders.fulfil", "input": None, "workflowId": "o-3"}
                peer.answer(request, {"workflowId": "o-3", "status": "pending", "started": True})
                await starting

    run(main())


def test_search_attributes_and_memo_are_sent_only_when_given_and_list_workflows_passes_the_query(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            connecting = asyncio.ensure_future(keel.Client.connect(socket=sock_path))
            peer = await orchestrator.accept()
            await _initialize(peer)
            async with await connecting as client:
                attributes, memo = {"customer": "acme", "tier": 1}, {"owner": "ops"}
                starting = asyncio.ensure_future(client.start_workflow(
                    "orders.fulfil", None, workflow_id="o-1", search_attributes=attributes, memo=memo))
                request = await peer.recv()
                assert request["params"] == {"name": "orders.fulfil", "input": None, "workflowId": "o-1",
                                             "searchAttributes": attributes, "memo": memo}
                peer.answer(request, {"workflowId": "o-1", "status": "pending", "started": True})
                await starting

                starting = asyncio.ensure_future(client.start_workflow("orders.fulfil", None, workflow_id="o-2",
                                                                       search_attributes={}))
                request = await peer.recv()  # empty is a value, not "unset"; no memo given, none sent
                assert request["params"] == {"name": "orders.fulfil", "input": None, "workflowId": "o-2",
                                             "searchAttributes": {}}
                peer.answer(request, {"workflowId": "o-2", "status": "pending", "started": True})
                await starting

                query = 'customer = "acme" AND stage = "shipped"'
                listing = asyncio.ensure_future(client.list_workflows(query, limit=10))
                request = await peer.recv()
                assert (request["method"], request["params"]) == ("workflow/list", {"query": query, "limit": 10})
                summaries = {"workflows": [{"workflowId": "o-1", "searchAttributes": {"customer": "acme"}}]}
                peer.answer(request, summaries)
                assert await listing == summaries

                listing = asyncio.ensure_future(client.list_workflows(status="running"))
                request = await peer.recv()
                assert request["params"] == {"status": "running"}
                peer.answer(request, {"workflows": []})
                await listing

                listing = asyncio.ensure_future(client.list_workflows(query="customer = "))
                request = await peer.recv()
                data = {"query": "customer = ", "position": 11, "token": "end of query"}
                error = {"code": 1013, "message": "expected a value at 11", "data": data}
                peer.send({"jsonrpc": "2.0", "id": request["id"], "error": error})
                with pytest.raises(keel.KeelError) as bad:
                    await listing
                assert (bad.value.code, bad.value.data) == (1013, data)

    run(main())


def test_signal_with_start_sends_the_signal_with_a_fresh_request_id_and_resends_it_after_a_drop(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            connecting = asyncio.ensure_future(keel.Client.connect(socket=sock_path, reconnect_initial=0.01, reconnect_max=0.05))
            peer = await orchestrator.accept()
            await _initialize(peer)
            async with await connecting as client:
                seen = []
                for _ in range(2):  # default ids: a fresh lowercase UUID v4 per call
                    starting = asyncio.ensure_future(client.signal_with_start(
                        "orders.fulfil", {"id": "o-1"}, "approve", {"ok": True}, workflow_id="o-1", priority=3,
                        search_attributes={"customer": "acme"}))
                    request = await peer.recv()
                    assert request["method"] == "workflow/start"
                    params = dict(request["params"])
                    signal = dict(params.pop("signal"))
                    request_id = signal.pop("requestId")
                    assert params == {"name": "orders.fulfil", "input": {"id": "o-1"}, "workflowId": "o-1", "priority": 3,
                                      "searchAttributes": {"customer": "acme"}}
                    assert signal == {"name": "approve", "payload": {"ok": True}}
                    assert request_id == str(uuid.UUID(request_id)) and uuid.UUID(request_id).version == 4
                    seen.append(request_id)
                    answer = {"workflowId": "o-1", "status": "pending", "started": not seen[1:],
                              "signal": {"delivered": True, "duplicate": False}}
                    peer.answer(request, answer)
                    assert await starting == answer
                assert seen[0] != seen[1]

                # The caller's id, no payload, in flight when the connection drops: sent again as it was.
                starting = asyncio.ensure_future(client.signal_with_start("orders.fulfil", None, "approve", workflow_id="o-2",
                                                                          request_id="approve-o-2"))
                request = await peer.recv()
                expected = {"name": "orders.fulfil", "input": None, "workflowId": "o-2",
                            "signal": {"name": "approve", "payload": None, "requestId": "approve-o-2"}}
                assert request["params"] == expected
                peer.close()
                again = await orchestrator.accept()
                await _initialize(again)
                resent = await again.recv()
                assert (resent["method"], resent["params"]) == ("workflow/start", expected)
                answer = {"workflowId": "o-2", "status": "running", "started": False, "signal": {"delivered": True, "duplicate": True}}
                again.answer(resent, answer)
                assert await starting == answer

                # An ended execution: 1001, raised.
                starting = asyncio.ensure_future(client.signal_with_start("orders.fulfil", None, "approve", workflow_id="o-3"))
                request = await again.recv()
                again.send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": 1001, "message": "workflow o-3 has ended"}})
                with pytest.raises(keel.KeelError) as ended:
                    await starting
                assert ended.value.code == 1001

                with pytest.raises(TypeError):
                    await client.signal_with_start("orders.fulfil", None, "approve", workflow_id="o-4", no_such_option=1)

    run(main())


def test_query_workflow_returns_the_value_raises_1030_and_is_resent_after_a_drop(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            connecting = asyncio.ensure_future(keel.Client.connect(socket=sock_path, reconnect_initial=0.01, reconnect_max=0.05))
            peer = await orchestrator.accept()
            await _initialize(peer)
            async with await connecting as client:
                querying = asyncio.ensure_future(client.query_workflow("o-1", "stage"))
                request = await peer.recv()
                assert (request["method"], request["params"]) == ("workflow/query", {"workflowId": "o-1", "name": "stage"})
                peer.answer(request, {"workflowId": "o-1", "name": "stage", "value": {"shipped": {"n": 1}}, "seq": 3,
                                      "atMs": 1764972000000, "status": "completed"})
                assert await querying == {"shipped": {"n": 1}}

                querying = asyncio.ensure_future(client.query_workflow("o-1", "stge"))
                request = await peer.recv()
                data = {"workflowId": "o-1", "name": "stge", "known": ["stage"]}
                peer.send({"jsonrpc": "2.0", "id": request["id"],
                           "error": {"code": 1030, "message": "workflow o-1 has no query value named stge", "data": data}})
                with pytest.raises(keel.KeelError) as missing:
                    await querying
                assert (missing.value.code, missing.value.data) == (QUERY_NOT_FOUND, data) and QUERY_NOT_FOUND == 1030

                # A read: in flight at a drop, it is sent again after the reconnect.
                querying = asyncio.ensure_future(client.query_workflow("o-1", "stage"))
                await peer.recv()
                peer.close()
                again = await orchestrator.accept()
                await _initialize(again)
                resent = await again.recv()
                assert (resent["method"], resent["params"]) == ("workflow/query", {"workflowId": "o-1", "name": "stage"})
                again.answer(resent, {"workflowId": "o-1", "name": "stage", "value": "packed", "seq": 1, "atMs": 1, "status": "running"})
                assert await querying == "packed"

    run(main())


def test_update_workflow_sends_a_fresh_uuid_update_id_or_the_callers_returns_the_result_and_resends_it_after_a_drop(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            connecting = asyncio.ensure_future(keel.Client.connect(socket=sock_path, reconnect_initial=0.01, reconnect_max=0.05))
            peer = await orchestrator.accept()
            await _initialize(peer)
            async with await connecting as client:
                seen = []
                for _ in range(2):  # default ids: a fresh lowercase UUID v4 per call; no waitTimeoutMs unless given
                    updating = asyncio.ensure_future(client.update_workflow("o-1", "approve", {"amount": 5}))
                    request = await peer.recv()
                    assert request["method"] == "workflow/update"
                    params = dict(request["params"])
                    update_id = params.pop("updateId")
                    assert params == {"workflowId": "o-1", "name": "approve", "input": {"amount": 5}}
                    assert update_id == str(uuid.UUID(update_id)) and uuid.UUID(update_id).version == 4
                    seen.append(update_id)
                    answer = {"workflowId": "o-1", "updateId": update_id, "name": "approve", "status": "completed",
                              "result": {"approved": 5}}
                    peer.answer(request, answer)
                    assert await updating == answer
                assert seen[0] != seen[1]

                # A rejection is a result, not an error; waitTimeoutMs is sent when given.
                updating = asyncio.ensure_future(client.update_workflow("o-1", "approve", {"amount": 500}, update_id="u-2",
                                                                        wait_timeout_ms=1500))
                request = await peer.recv()
                assert request["params"] == {"workflowId": "o-1", "name": "approve", "input": {"amount": 500}, "updateId": "u-2",
                                             "waitTimeoutMs": 1500}
                failure = {"type": "Rejected", "message": "amount 500 is over 100"}
                peer.answer(request, {"workflowId": "o-1", "updateId": "u-2", "name": "approve", "status": "rejected", "failure": failure})
                rejected = await updating
                assert (rejected["status"], rejected["failure"], "result" in rejected) == ("rejected", failure, False)

                # The caller's id, no input, in flight when the connection drops: sent again as it was.
                updating = asyncio.ensure_future(client.update_workflow("o-1", "approve", update_id="u-3"))
                expected = {"workflowId": "o-1", "name": "approve", "input": None, "updateId": "u-3"}
                request = await peer.recv()
                assert request["params"] == expected
                peer.close()
                again = await orchestrator.accept()
                await _initialize(again)
                resent = await again.recv()
                assert (resent["method"], resent["params"]) == ("workflow/update", expected)
                again.answer(resent, {"workflowId": "o-1", "updateId": "u-3", "name": "approve", "status": "pending"})
                assert (await updating)["status"] == "pending"

                # The workflow ended without answering: 1031, raised with its data.
                updating = asyncio.ensure_future(client.update_workflow("o-1", "approve", update_id="u-4"))
                request = await again.recv()
                data = {"workflowId": "o-1", "updateId": "u-4", "status": "completed"}
                again.send({"jsonrpc": "2.0", "id": request["id"],
                            "error": {"code": 1031, "message": "workflow o-1 ended without answering update u-4", "data": data}})
                with pytest.raises(keel.KeelError) as unanswered:
                    await updating
                assert (unanswered.value.code, unanswered.value.data) == (UPDATE_UNANSWERED, data) and UPDATE_UNANSWERED == 1031

    run(main())
