"""Workflows for the stuck-state end-to-end tests (issue 13).

`stuck.busy` takes one step, then, when $KEEL_E2E_HANG is 1, stays in its own code without
reaching another step (it writes "hanging" to $KEEL_E2E_MARK first); otherwise it returns.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python", "src"))
import keel  # noqa: E402

HANG = os.environ.get("KEEL_E2E_HANG") == "1"
MARK = os.environ.get("KEEL_E2E_MARK", "/tmp/keel-e2e-mark")
worker = keel.Worker("e2e-stuck", drain_timeout=float(os.environ.get("KEEL_E2E_DRAIN", "30")))


@worker.workflow("stuck.busy")
async def busy(ctx, input):
    await ctx.now()
    if HANG:
        with open(MARK, "a") as f:
            f.write("hanging\n")
        while True:  # busy in workflow code: no step pending, nothing for Keel to wake
            await asyncio.sleep(0.2)
    return {"done": True, "pid": os.getpid()}


worker.run_sync()
