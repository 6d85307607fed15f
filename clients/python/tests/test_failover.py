"""Several endpoints (docs/clients.md "Several endpoints"): two independent `keel serve`
processes A and B, a worker and a client given both; A is killed with kill -9."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest
from conftest import run
from test_live import WORKER, Live, pytestmark  # noqa: F401 -- the skip-if-no-binary mark

import keel


@pytest.fixture
def pair():
    nodes = [Live(tempfile.mkdtemp(prefix="keel-", dir="/tmp")) for _ in range(2)]
    for node in nodes:
        node.start_keel()
    yield nodes
    for node in nodes:
        node.close()
        shutil.rmtree(node.dir, ignore_errors=True)


def _start_worker(a: Live, b: Live) -> None:
    """The live worker with KEEL_SOCKET=A,B; its log goes to A's directory, and A owns the process."""
    out = open(os.path.join(a.dir, "worker.log"), "ab")
    env = dict(os.environ, KEEL_SOCKET=f"{a.socket},{b.socket}", LIVE_LOG=a.log)
    env.pop("KEEL_TRANSPORT", None)
    a.worker = subprocess.Popen([sys.executable, WORKER], stdout=out, stderr=out, env=env)


def _whoami(node: Live) -> int:
    result = node.call(lambda c: c.call_activity("whoami", {}, wait_timeout=30), timeout=40)
    assert result.status == "completed", (result, node.tail("keel.log"))
    return result.output["pid"]


def test_a_worker_serves_the_first_endpoint_then_fails_over_and_registers_on_the_next(pair):
    a, b = pair
    _start_worker(a, b)
    a.wait_for_worker()
    assert not any(w.get("name") == "live-worker" for w in b.call(lambda c: c.workers()))
    assert _whoami(a) == a.worker.pid
    a.kill(a.keel)
    b.wait_for_worker()  # it registered on B without being restarted
    assert _whoami(b) == a.worker.pid, a.tail("worker.log")
    assert a.worker.poll() is None


def test_a_worker_keeps_retrying_while_every_endpoint_is_down_and_serves_when_one_is_back(pair):
    a, b = pair
    _start_worker(a, b)
    a.wait_for_worker()
    a.kill(a.keel)
    b.kill(b.keel)
    b.start_keel()
    b.wait_for_worker()
    assert _whoami(b) == a.worker.pid
    assert a.worker.poll() is None, a.tail("worker.log")


def test_a_client_fails_over_to_the_next_endpoint_for_its_next_call(pair):
    a, b = pair

    async def main():
        async with await keel.Client.connect(socket=[a.socket, b.socket]) as client:
            await client.ping()
            a.kill(a.keel)
            return await client.workers()  # sent after A died: reaches B

    assert isinstance(run(main(), 40), list)


def test_a_client_with_every_endpoint_down_fails_naming_each_one(pair):
    a, b = pair
    a.kill(a.keel)
    b.kill(b.keel)

    async def main():
        await keel.Client.connect(socket=[a.socket, b.socket])

    with pytest.raises(OSError) as failure:
        run(main(), 20)
    assert a.socket in str(failure.value) and b.socket in str(failure.value), failure.value
