"""A Python worker for the MCP tests: activities an MCP client calls through `keel mcp serve`.

Each execution appends `{"event", "key", "attempt"}` to $KEEL_MCP_TEST_LOG, so a test can count them.
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "src"))
import keel  # noqa: E402

LOG = os.environ["KEEL_MCP_TEST_LOG"]
worker = keel.Worker("mcp-test-py")


def record(event, ctx):
    with open(LOG, "a") as f:
        f.write(json.dumps({"event": event, "key": ctx.idempotency_key, "attempt": ctx.attempt}) + "\n")


@worker.activity(
    "mcptest.add",
    input={"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]},
    output={"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]},
    description="Adds two integers.",
)
async def add(input, ctx):
    record("done", ctx)
    return {"sum": input["a"] + input["b"]}


@worker.activity("mcptest.slow", input={"type": "object", "properties": {"seconds": {"type": "number"}}})
async def slow(input, ctx):
    record("start", ctx)
    await asyncio.sleep(input.get("seconds", 3))
    record("done", ctx)
    return {"slept": input.get("seconds", 3)}


@worker.activity("mcptest.steps", input={"type": "object", "properties": {"steps": {"type": "integer"}}})
async def steps(input, ctx):
    """Heartbeats `step I of N` before each step (2 s each), so an MCP client hears the steps as progress."""
    record("start", ctx)
    n = input.get("steps", 3)
    for i in range(1, n + 1):
        await ctx.heartbeat(f"step {i} of {n}")
        await asyncio.sleep(2)
    record("done", ctx)
    return {"steps": n}


@worker.workflow("mcptest.approval", description="Adds, waits for the signal approve, adds again.")
async def approval(ctx, input):
    """Two activities around a signal wait, so `keel_follow_workflow` has steps to report."""
    first = await ctx.activity("mcptest.add", {"a": input["a"], "b": 1})
    approved = await ctx.signal("approve", timeout=300)
    second = await ctx.activity("mcptest.add", {"a": first["sum"], "b": approved["extra"]})
    return {"total": second["sum"], "approvedBy": approved["by"]}


worker.run_sync()
