"""The worker the browser tests run under `keel serve --worker` (stdio).

ui.approval runs ui.flaky (fails its first attempt, so a step shows a retry), then ui.slow, which finishes only once the file named in its input exists (so a test
can watch the running step finish live), then waits for the signal approve. ui.idle waits for a
signal that never comes (a test cancels it). ui.charge declares an input contract (so the Contracts
page has a schema to show and a refused call to list)."""

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "src"))

import keel  # noqa: E402

worker = keel.Worker("ui-worker")


@worker.activity("ui.slow")
async def slow(input):
    for _ in range(2400):  # at most 120 s
        if os.path.exists(input["gate"]):
            return {"done": True}
        await asyncio.sleep(0.05)
    raise keel.ActivityError("the gate file never appeared", type="GateTimeout", retryable=False)


@worker.activity("ui.flaky")
async def flaky(input, ctx):
    if ctx.attempt < 2:
        raise keel.ActivityError("upstream answered HTTP 503", type="Unavailable", retryable=True)
    return {"attempt": ctx.attempt}


@worker.activity(
    "ui.charge",
    input={"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer", "minimum": 1}}},
    description="Charges a card.",
)
async def charge(input):
    return {"charged": input["amount"]}


@worker.workflow("ui.approval")
async def approval(ctx, input):
    await ctx.activity("ui.flaky", {}, retry_policy=keel.RetryPolicy(initial_interval=0.2, maximum_attempts=3))
    slow_result = await ctx.activity("ui.slow", {"gate": input["gate"]})
    approved = await ctx.signal("approve")
    return {"slow": slow_result, "approved": approved}


@worker.workflow("ui.idle")
async def idle(ctx, input):
    return await ctx.signal("never")


worker.run_sync()
