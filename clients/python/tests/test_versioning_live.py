"""Live deployment test: 100 executions are mid-way (charged, waiting for signal `ship`) on a v1
worker when it is killed -9 and replaced by v2, whose code adds a `fraud_check` step guarded by
``ctx.patched("fraud-check")`` (tests/versioning_worker.py). The old executions must finish down
the old path (no fraud check, charge not repeated, none parked) while new ones take the new path;
a control workflow with the same change WITHOUT patched() must park its old executions as
non-deterministic, which shows the test would catch a missing patch.

Real `keel serve` from KEEL_BIN on a temp dir, real worker processes; skipped when the binary is
missing (as tests/test_live.py).
"""

import asyncio
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from conftest import REPO, run

import keel

KEEL_BIN = os.environ.get("KEEL_BIN") or os.path.join(REPO, ".build", "debug", "keel")
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "versioning_worker.py")
START_TIMEOUT_S = 15.0
OLD, NEW, CONTROL = 100, 20, 5

pytestmark = pytest.mark.skipif(
    not os.access(KEEL_BIN, os.X_OK),
    reason=f"no keel binary at {KEEL_BIN}: build it with `swift build --product keel` or set KEEL_BIN",
)


class Deployment:
    """A `keel serve` on a temp dir and one versioning worker process at a time."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.socket = os.path.join(directory, "k.sock")
        self.log = os.path.join(directory, "side-effects.jsonl")
        self.keel = None
        self.workers = []

    def start_keel(self) -> None:
        out = open(os.path.join(self.dir, "keel.log"), "ab")
        self.keel = subprocess.Popen([KEEL_BIN, "serve", "--db", os.path.join(self.dir, "keel.db"), "--socket", self.socket,
                                      "--sync", "normal"], stdout=out, stderr=out)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._accepting():
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

    def start_worker(self, version: int, compatible: bool = True) -> "subprocess.Popen":
        out = open(os.path.join(self.dir, f"worker-v{version}.log"), "ab")
        env = dict(os.environ, KEEL_SOCKET=self.socket, VERSIONING_LOG=self.log, VERSIONING_COMPATIBLE="1" if compatible else "0")
        for name in ("KEEL_TRANSPORT", "KEEL_BUILD_ID"):
            env.pop(name, None)
        process = subprocess.Popen([sys.executable, WORKER, str(version)], stdout=out, stderr=out, env=env)
        self.workers.append(process)
        name = f"versioning-v{version}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(w.get("name") == name for w in self.call(lambda c: c.workers())):
            assert process.poll() is None and time.monotonic() < deadline, self.tail(f"worker-v{version}.log")
            time.sleep(0.1)
        return process

    def call(self, fn, timeout: float = 60.0):
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
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            return f"(no {name})"
        with open(path, "rb") as file:
            return file.read()[-3000:].decode("utf-8", "replace")

    def close(self) -> None:
        for process in self.workers + [self.keel]:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


@pytest.fixture
def deployment():
    directory = tempfile.mkdtemp(prefix="keel-", dir="/tmp")  # short: Unix socket paths stay < ~100 bytes
    env = Deployment(directory)
    env.start_keel()
    yield env
    env.close()
    if os.environ.get("KEEL_TEST_KEEP_TMPDIR") == "1":
        print(f"kept {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)


def _waiting_for_ship(described) -> bool:
    step = described.get("currentStep") or {}
    return described.get("status") == "running" and (step.get("kind"), step.get("name"), step.get("status")) == ("signal", "ship", "scheduled")


async def _wait_all(client, ids, predicate, what, timeout):
    """Polls workflow/describe for ``ids`` until ``predicate`` holds for every one."""
    deadline = time.monotonic() + timeout
    left = list(ids)
    while left:
        described = await asyncio.gather(*(client.describe(i) for i in left))
        left = [d["workflowId"] for d in described if not predicate(d)]
        if left and time.monotonic() > deadline:
            raise AssertionError(f"{len(left)} executions not {what} after {timeout} s, e.g. {described[[d['workflowId'] for d in described].index(left[0])]}")
        if left:
            await asyncio.sleep(0.2)


def test_a_patched_deploy_carries_100_mid_way_executions_over_and_an_unpatched_one_parks(deployment):
    began = time.monotonic()
    old_ids = [f"old-{i}" for i in range(OLD)]
    new_ids = [f"new-{i}" for i in range(NEW)]
    control_ids = [f"control-{i}" for i in range(CONTROL)]
    figures = {}

    # v1: start the old executions; each charges, then waits durably for `ship`.
    v1 = deployment.start_worker(1)

    async def start_old(client):
        await asyncio.gather(*(client.start_workflow("orders.process", {"order": i}, workflow_id=i) for i in old_ids),
                             *(client.start_workflow("orders.control", {"order": i}, workflow_id=i) for i in control_ids))
        await _wait_all(client, old_ids + control_ids, _waiting_for_ship, "waiting for ship", 30)
        listed = await client.list_workflows(name="orders.process", status="running", limit=1000)
        return len(listed["workflows"])

    figures["old running, waiting for ship (workflow/list)"] = deployment.call(start_old)
    assert figures["old running, waiting for ship (workflow/list)"] == OLD
    figures["v1 phase s"] = round(time.monotonic() - began, 2)

    # The deploy: kill -9 v1 mid-way, start v2.
    v1.send_signal(signal.SIGKILL)
    v1.wait(5)
    deployment.start_worker(2)
    deployed = time.monotonic()

    async def finish(client):
        await asyncio.gather(*(client.start_workflow("orders.process", {"order": i}, workflow_id=i) for i in new_ids))
        await _wait_all(client, new_ids, _waiting_for_ship, "waiting for ship", 30)
        signalled = await asyncio.gather(*(client.signal(i, "ship", {"carrier": "dhl"}) for i in old_ids + new_ids + control_ids))
        assert len(signalled) == OLD + NEW + CONTROL
        results = await asyncio.gather(*(client.workflow_result(i, timeout=30) for i in old_ids + new_ids))
        await _wait_all(client, control_ids, lambda d: d.get("status") == "parked", "parked", 30)
        control = await asyncio.gather(*(client.describe(i) for i in control_ids))
        return dict(zip(old_ids + new_ids, results)), control

    results, control = deployment.call(finish)
    figures["v2 phase s"] = round(time.monotonic() - deployed, 2)

    statuses = collections.Counter(r.status for r in results.values())
    figures["statuses of the 120"] = dict(statuses)
    assert statuses == {"completed": OLD + NEW}, {i: r for i, r in results.items() if r.status != "completed"}
    for i in old_ids:
        assert results[i].output == {"version": 2, "charged": {"charged": i}, "shipped": {"carrier": "dhl"}, "fraudChecked": False}, results[i]
    for i in new_ids:
        assert results[i].output == {"version": 2, "charged": {"charged": i}, "shipped": {"carrier": "dhl"}, "fraudChecked": True}, results[i]

    records = deployment.records()
    charges = collections.Counter(r["workflowId"] for r in records if r["activity"] == "charge")
    checks = collections.Counter(r["workflowId"] for r in records if r["activity"] == "fraud_check")
    figures["charge calls"] = sum(charges.values())
    figures["fraud_check calls (old / new / control)"] = [sum(checks[i] for i in ids) for ids in (old_ids, new_ids, control_ids)]
    assert {i: charges[i] for i in old_ids + new_ids + control_ids} == {i: 1 for i in old_ids + new_ids + control_ids}
    assert sum(charges.values()) == OLD + NEW + CONTROL
    assert figures["fraud_check calls (old / new / control)"] == [0, NEW, 0]
    assert [r["version"] for r in records if r["workflowId"] in old_ids] == [1] * OLD  # charged by v1, not again

    # Nothing of the patched workflow is parked; every control execution is, as non-deterministic.
    parked = deployment.call(lambda c: c.list_workflows(status="parked", limit=1000))["workflows"]
    assert sorted(w["workflowId"] for w in parked) == sorted(control_ids)
    for described in control:
        assert described["status"] == "parked", described
        assert (described.get("failure") or {}).get("type") == "NonDeterminism", described
        assert described["failure"]["details"]["code"] == {"kind": "activity", "name": "fraud_check"}, described
    figures["control parked"] = len(parked)
    figures["total s"] = round(time.monotonic() - began, 2)
    print("\nversioning figures: " + json.dumps(figures))

    # Build ids: the old executions stay pinned to the build that began them (v2 continues them
    # because it declares orders-1 compatible); the new ones are pinned to v2's.
    builds = deployment.call(lambda c: asyncio.gather(*(c.describe(i) for i in old_ids + new_ids + control_ids)))
    assert collections.Counter(d.get("buildId") for d in builds) == {"orders-1": OLD + CONTROL, "orders-2": NEW}


def test_an_incompatible_build_leaves_old_executions_to_their_own_build(deployment):
    """Build ids without patched(): v2 declares no compatibility with orders-1, so executions v1
    began wait for an orders-1 worker (and say so) instead of parking on v2; new executions run
    on v2; a v1 worker started again finishes the old ones down the old path."""
    old_ids = [f"old-{i}" for i in range(10)]
    v1 = deployment.start_worker(1)

    async def start_old(client):
        await asyncio.gather(*(client.start_workflow("orders.control", {"order": i}, workflow_id=i) for i in old_ids))
        await _wait_all(client, old_ids, _waiting_for_ship, "waiting for ship", 30)
        return [d.get("buildId") for d in await asyncio.gather(*(client.describe(i) for i in old_ids))]

    assert deployment.call(start_old) == ["orders-1"] * len(old_ids)
    v1.send_signal(signal.SIGKILL)
    v1.wait(5)
    deployment.start_worker(2, compatible=False)

    async def on_v2(client):
        await asyncio.gather(*(client.signal(i, "ship", {"carrier": "ups"}) for i in old_ids))
        waits = "a worker of build orders-1 for workflow orders.control"
        await _wait_all(client, old_ids, lambda d: d.get("waitingFor") == waits, "waiting for orders-1", 30)
        new = await client.start_workflow("orders.control", {"order": "new-1"}, workflow_id="new-1")
        await _wait_all(client, ["new-1"], _waiting_for_ship, "waiting for ship", 30)
        await client.signal("new-1", "ship", {"carrier": "ups"})
        result = await client.workflow_result("new-1", timeout=30)
        described = await asyncio.gather(*(client.describe(i) for i in old_ids + ["new-1"]))
        return new, result, described

    _, new_result, described = deployment.call(on_v2)
    assert new_result.output["version"] == 2
    assert [d.get("buildId") for d in described] == ["orders-1"] * len(old_ids) + ["orders-2"]
    assert not any(d["status"] in ("parked", "completed") for d in described[:-1]), described[:3]

    deployment.start_worker(1)

    async def back_on_v1(client):
        return await asyncio.gather(*(client.workflow_result(i, timeout=30) for i in old_ids))

    results = deployment.call(back_on_v1)
    assert [r.status for r in results] == ["completed"] * len(old_ids)
    assert all(r.output["version"] == 1 and "fraudChecked" not in r.output for r in results)
    checks = [r for r in deployment.records() if r["activity"] == "fraud_check"]
    assert [r["workflowId"] for r in checks] == ["new-1"]
