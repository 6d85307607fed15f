"""Runs clients/conformance/ against the Python conformance worker, and checks the runner itself."""

import os
import subprocess
import sys

from conftest import REPO

RUNNER = os.path.join(REPO, "clients", "conformance", "run.py")
sys.path.insert(0, os.path.dirname(RUNNER))

import run as conformance  # noqa: E402


def _run(*args):
    return subprocess.run([sys.executable, RUNNER, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_python_worker_passes_the_conformance_suite():
    result = _run("--cmd", f"{sys.executable} clients/python/tests/conformance_worker.py")
    last = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:]
    assert last.endswith(" passed, 0 failed"), last
    assert int(last.split()[0]) >= 22


def test_the_runner_fails_a_worker_that_never_answers():
    result = _run("--cmd", f"{sys.executable} -c 'import time; time.sleep(5)'", "--timeout", "0.3", "-k", "15-ping", "--no-baseline")
    assert result.returncode == 1
    assert result.stdout.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_matching_rules():
    bound = conformance.match({"id": "$x", "a": "*", "b": [1, 2.0]}, {"id": 7, "a": {"z": 1}, "b": [1, 2]}, {})
    assert bound == {"x": 7}
    for pattern, actual in [
        ({"a": 1}, {"a": 1, "extra": 2}),  # extra keys need "*": "*"
        ({"a": 1}, {"a": True}),  # booleans are not numbers
        ({"id": "$x"}, {"id": "7"}),  # a bound variable must match again
        (["@any-order", 1, 2], [2, 2]),
    ]:
        try:
            conformance.match(pattern, actual, {"x": 7})
        except conformance.Mismatch:
            continue
        raise AssertionError(f"{pattern} matched {actual}")
    assert conformance.match({"a": 1, "*": "*"}, {"a": 1, "extra": 2}, {}) == {}
    assert conformance.match(["@any-order", {"i": "$a"}, 2], [2, {"i": 1}], {}) == {"a": 1}
    assert conformance.substitute('{"id":"$x"}', {"x": "k1"}) == '{"id":"k1"}'


def test_the_bash_worker_passes_its_transcript():
    if subprocess.run(["sh", "-c", "command -v jq"], capture_output=True).returncode != 0:
        import pytest

        pytest.skip("jq is not installed")
    transcript = os.path.join(REPO, "examples", "bash-worker", "transcript.txt")
    result = _run("--cmd", "bash examples/bash-worker/worker.sh", "--cases", transcript)
    assert result.returncode == 0, result.stdout[-4000:]
    assert result.stdout.strip().splitlines()[-1] == "1 passed, 0 failed"


def test_sigterm_drains_even_when_the_parent_spawned_us_with_it_blocked():
    # A parent that blocks SIGTERM and spawns without resetting the mask (Foundation's Process
    # does) hands the block down; unless the worker unblocks it, SIGTERM never arrives and a
    # graceful stop (and whoever waits for it, like `keel bench`) hangs.
    launcher = ("import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT}); "
                "os.execv(sys.executable, [sys.executable, 'clients/python/tests/conformance_worker.py'])")
    result = _run("--cmd", f"{sys.executable} -c \"{launcher}\"", "-k", "21-sigterm", "--no-baseline", "--timeout", "3")
    assert result.returncode == 0, result.stdout[-2000:]
