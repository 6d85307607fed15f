"""Workflows and activities for the CLI output tests (Tests/EndToEndTests/CLIOutputTests.swift).
Each activity start and end is appended to $KEEL_E2E_LOG (JSON Lines) when it is set."""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python", "src"))
import keel  # noqa: E402

LOG = os.environ.get("KEEL_E2E_LOG")
worker = keel.Worker("cli-py", max_concurrent=8)


def record(event, **extra):
    if LOG:
        with open(LOG, "a") as f:
            f.write(json.dumps({"event": event, "t": time.time(), **extra}) + "\n")


@worker.activity("cli.echo")
async def echo(input):
    return input


@worker.activity("cli.flaky")
async def flaky(input):
    raise keel.ActivityError("the service said no", type="Flaky", retryable=True)


@worker.activity("cli.slow")
async def slow(input):
    record("start", n=input)
    await asyncio.sleep(1)
    record("done", n=input)
    return input


@worker.workflow("cli.child")
async def child(ctx, input):
    return {"child": input}


@worker.workflow("cli.parent")
async def parent(ctx, input):
    await ctx.child("cli.child", input)
    await ctx.sleep(3600)
    return "woke"


@worker.workflow("cli.retrying")
async def retrying(ctx, input):
    # The first attempt fails at once; the next one waits an hour, so `describe` shows both.
    return await ctx.activity("cli.flaky", input, retry_policy={"initialIntervalMs": 3_600_000, "maximumAttempts": 5})


@worker.workflow("cli.quick")
async def quick(ctx, input):
    await ctx.activity("cli.echo", input)
    await ctx.sleep(5)  # long enough for `history --follow` to see it scheduled, even on a loaded machine
    return await ctx.activity("cli.echo", "done")


worker.run_sync()
