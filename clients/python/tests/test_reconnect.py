"""Reconnecting (docs/clients.md "Reconnecting"): a real `keel serve` killed with kill -9 and
restarted on the same socket and database, with a live client and the live worker connected."""

import asyncio
import time

from conftest import run
from test_live import Live, live, pytestmark  # noqa: F401 -- the fixture and the skip-if-no-binary mark

import keel

# Generous: CI runs on 2 busy cores; the backoff cap itself is 2 s.
BACK_WITHIN_S = 15.0


def _restart_later(live: Live, delay: float) -> "asyncio.Future[None]":
    """Starts `keel serve` again after ``delay`` seconds, off the event loop."""

    def restart() -> None:
        time.sleep(delay)
        live.start_keel()

    return asyncio.get_running_loop().run_in_executor(None, restart)


def test_a_client_makes_its_next_call_after_keel_restarts_even_while_keel_is_down(live):
    async def main():
        async with await keel.Client.connect(socket=live.socket) as client:
            await client.ping()
            live.kill(live.keel)
            restarted = _restart_later(live, 1.0)
            # Sent while Keel is down: it waits for Keel (backoff), then runs on the new connection.
            workers = await client.workers()
            await restarted
            await client.ping()
            return workers

    assert isinstance(run(main(), 40), list)


def test_a_connected_worker_serves_again_soon_after_keel_comes_back(live):
    live.kill(live.keel)
    time.sleep(4.0)  # the worker keeps failing to reconnect: its backoff grows to the cap
    live.start_keel()
    back = time.monotonic()
    live.wait_for_worker()
    took = time.monotonic() - back
    assert took < BACK_WITHIN_S, took
    result = live.call(lambda c: c.call_activity("echo", {"after": "restart"}, wait_timeout=20), timeout=30)
    assert (result.status, result.output) == ("completed", {"after": "restart"}), result


def _in_flight(live: Live, call):
    """Starts ``call(client)``, waits until the worker runs it, kills Keel, restarts it, and
    returns what the call ended with (its result or its exception)."""

    async def main():
        async with await keel.Client.connect(socket=live.socket) as client:
            task = asyncio.ensure_future(call(client))
            deadline = time.monotonic() + 15
            while not any(w.get("inFlight", 0) > 0 for w in await client.workers()):
                assert time.monotonic() < deadline and not task.done(), live.tail("keel.log")
                await asyncio.sleep(0.05)
            live.kill(live.keel)
            restarted = _restart_later(live, 0.5)
            try:
                return await asyncio.wait_for(task, 30)
            except Exception as error:  # noqa: BLE001 -- the outcome is what the test checks
                return error
            finally:
                await restarted

    return run(main(), 50)


def test_a_call_in_flight_without_an_idempotency_key_fails_with_outcome_unknown(live):
    outcome = _in_flight(live, lambda c: c.call_activity("record", {"tag": "nokey", "ms": 3000}))
    assert isinstance(outcome, keel.ConnectionLostError), repr(outcome)
    assert outcome.method == "activity/call" and isinstance(outcome, keel.ConnectionClosedError)


def test_a_call_in_flight_with_an_idempotency_key_is_sent_again_and_completes(live):
    outcome = _in_flight(live, lambda c: c.call_activity("record", {"tag": "keyed", "ms": 1500}, idempotency_key="k-1"))
    assert isinstance(outcome, keel.ActivityResult) and outcome.status == "completed", repr(outcome)
    assert outcome.output == {"tag": "keyed"}
    assert {r["key"] for r in live.records() if r["tag"] == "keyed"} == {"k-1"}


def test_a_follow_in_flight_resumes_from_its_last_offset_after_keel_restarts(live):
    async def main():
        async with await keel.Client.connect(socket=live.socket) as client:
            await client.start_workflow("live.stream", {"n": 3}, workflow_id="stream-r")
            collected = []

            async def follow():
                async for event in client.follow("stream-r"):
                    collected.append(event)

            following = asyncio.ensure_future(follow())
            deadline = time.monotonic() + 15
            while len(collected) < 4:  # start, count 1..3; then the long poll waits at the signal
                assert time.monotonic() < deadline and not following.done(), collected
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            live.kill(live.keel)
            await _restart_later(live, 0.5)
            await client.signal("stream-r", "go", "after-restart")
            await asyncio.wait_for(following, 30)
            return collected

    collected = run(main(), 60)
    assert [e.offset for e in collected] == [1, 2, 3, 4, 5], collected
    assert collected[-1].event == {"phase": "end", "approval": "after-restart"}
