"""Client schedule methods against a scripted orchestrator on a real Unix socket: the params each sends."""

import asyncio
import dataclasses

import pytest
from conftest import Orchestrator, run

import keel
from keel._errors import SCHEDULE_ALREADY_EXISTS, SCHEDULE_NOT_FOUND
from keel._reconnect import safe_to_repeat

DESCRIBED = {"scheduleId": "nightly", "spec": {"intervalMs": 60000}, "action": {"workflow": "reports.daily"},
             "overlap": "skip", "catchupWindowMs": 31536000000, "paused": False, "createdAtMs": 1, "updatedAtMs": 1,
             "nextActionTimesMs": [60000], "recentActions": [], "started": 0, "skipped": 0}


async def _connected(orchestrator, sock_path):
    connecting = asyncio.ensure_future(keel.Client.connect(socket=sock_path))
    peer = await orchestrator.accept()
    init = await peer.recv()
    assert init["method"] == "initialize", init
    peer.answer(init, {"protocolVersion": "1", "capabilities": {}})
    return peer, await connecting


async def _exchange(peer, call, method, params, answer):
    """Starts ``call``, checks the one request it sends, answers it and returns the call's result."""
    calling = asyncio.ensure_future(call)
    request = await peer.recv()
    assert (request["method"], request["params"]) == (method, params)
    peer.answer(request, answer)
    return await calling


@dataclasses.dataclass
class Report:
    day: str


def test_create_schedule_sends_spec_and_action_and_each_option_only_when_given(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            peer, client = await _connected(orchestrator, sock_path)
            async with client:
                result = await _exchange(
                    peer,
                    client.create_schedule("nightly", spec={"intervalMs": 60000}, action={"workflow": "reports.daily"}),
                    "schedule/create",
                    {"scheduleId": "nightly", "spec": {"intervalMs": 60000}, "action": {"workflow": "reports.daily"}},
                    DESCRIBED,
                )
                assert result == DESCRIBED

                spec = {"cron": "0 9 * * MON-FRI", "timeZone": "Europe/Paris", "jitterMs": 5000}
                action = {"workflow": "reports.daily", "input": Report("mon"), "priority": 5, "fairnessKey": "acme"}
                await _exchange(
                    peer,
                    client.create_schedule("weekdays", spec=spec, action=action, overlap="bufferOne",
                                           catchup_window_ms=60000, paused=False, note="from the test"),
                    "schedule/create",
                    {"scheduleId": "weekdays", "spec": spec,
                     "action": {"workflow": "reports.daily", "input": {"day": "mon"}, "priority": 5, "fairnessKey": "acme"},
                     "overlap": "bufferOne", "catchupWindowMs": 60000, "paused": False, "note": "from the test"},
                    DESCRIBED,
                )  # paused=False is a value, not "unset"; a dataclass input goes as its JSON object

    run(main())


def test_describe_list_pause_unpause_trigger_and_delete_send_the_documented_params(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            peer, client = await _connected(orchestrator, sock_path)
            async with client:
                ex = lambda call, method, params, answer=DESCRIBED: _exchange(peer, call, method, params, answer)  # noqa: E731
                assert await ex(client.describe_schedule("nightly"), "schedule/describe", {"scheduleId": "nightly"}) == DESCRIBED

                page = {"schedules": [{"scheduleId": "nightly", "workflow": "reports.daily", "spec": {"intervalMs": 60000},
                                       "paused": False, "nextActionTimeMs": 60000}], "nextCursor": "c-1"}
                assert await ex(client.list_schedules(), "schedule/list", {}, page) == page
                await ex(client.list_schedules(limit=10, cursor="c-1"), "schedule/list", {"limit": 10, "cursor": "c-1"}, {"schedules": []})

                await ex(client.pause_schedule("nightly"), "schedule/pause", {"scheduleId": "nightly"})
                await ex(client.pause_schedule("nightly", note="deploy"), "schedule/pause", {"scheduleId": "nightly", "note": "deploy"})
                await ex(client.unpause_schedule("nightly"), "schedule/unpause", {"scheduleId": "nightly"})
                await ex(client.unpause_schedule("nightly", note="done"), "schedule/unpause", {"scheduleId": "nightly", "note": "done"})

                triggered = {"scheduleId": "nightly", "workflowId": "nightly-2026-12-05T08:00:00Z", "started": True}
                assert await ex(client.trigger_schedule("nightly"), "schedule/trigger", {"scheduleId": "nightly"}, triggered) == triggered
                await ex(client.trigger_schedule("nightly", overlap="allowAll"), "schedule/trigger",
                         {"scheduleId": "nightly", "overlap": "allowAll"}, triggered)

                deleted = {"scheduleId": "nightly", "deleted": True}
                assert await ex(client.delete_schedule("nightly"), "schedule/delete", {"scheduleId": "nightly"}, deleted) == deleted

    run(main())


def test_schedule_not_found_and_already_exists_raise_keel_error_with_codes_1020_and_1021(sock_path):
    async def main():
        async with Orchestrator(sock_path) as orchestrator:
            peer, client = await _connected(orchestrator, sock_path)
            async with client:
                for call, code in ((client.describe_schedule("gone"), SCHEDULE_NOT_FOUND),
                                   (client.create_schedule("taken", spec={"intervalMs": 1000}, action={"workflow": "w"}),
                                    SCHEDULE_ALREADY_EXISTS)):
                    calling = asyncio.ensure_future(call)
                    request = await peer.recv()
                    peer.send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": code, "message": "no", "data": {"scheduleId": "x"}}})
                    with pytest.raises(keel.KeelError) as raised:
                        await calling
                    assert (raised.value.code, raised.value.data) == (code, {"scheduleId": "x"})
        assert (SCHEDULE_NOT_FOUND, SCHEDULE_ALREADY_EXISTS) == (1020, 1021)

    run(main())


def test_only_schedule_reads_are_sent_again_after_a_dropped_connection():
    assert safe_to_repeat("schedule/describe", {"scheduleId": "s"})
    assert safe_to_repeat("schedule/list", {})
    for method in ("schedule/create", "schedule/pause", "schedule/unpause", "schedule/trigger", "schedule/delete"):
        assert not safe_to_repeat(method, {"scheduleId": "s"}), method
