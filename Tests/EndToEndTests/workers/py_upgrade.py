"""An activity and a workflow for the upgrade test (Tests/EndToEndTests/SharedPathRestartTests.swift).
Each activity start is appended to $KEEL_E2E_LOG (JSON Lines)."""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python", "src"))
import keel  # noqa: E402

LOG = os.environ["KEEL_E2E_LOG"]
worker = keel.Worker("upgrade-py", max_concurrent=4)


@worker.activity("up.slow")
async def slow(input, ctx):
    with open(LOG, "a") as f:
        f.write(json.dumps({"event": "start", "attempt": ctx.attempt}) + "\n")
    # The first attempt outlives the orchestrator it started under; a later one ends at once.
    await asyncio.sleep(input["sleep"] if ctx.attempt == 1 else 0)
    return {"attempt": ctx.attempt}


@worker.workflow("up.nap")
async def nap(ctx, input):
    await ctx.sleep(input["seconds"])
    return "rested"


worker.run_sync()
