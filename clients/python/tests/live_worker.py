"""The worker the live tests run against a real `keel serve` (tests/test_live.py). Connects over
$KEEL_SOCKET; each `record` attempt appends {key, attempt, tag} to $LIVE_LOG, so a test can tell
which activity attempts really ran."""
import os, sys  # noqa: E401 -- run from a checkout without `pip install`
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import asyncio  # noqa: E402
import json  # noqa: E402

import keel  # noqa: E402

# $LIVE_MAX_CONCURRENT: 1 makes the order of `record` lines the order Keel dispatched them in.
worker = keel.Worker("live-worker", max_concurrent=int(os.environ.get("LIVE_MAX_CONCURRENT", "64")))


@worker.activity("echo")
async def echo(input):
    return input


@worker.activity("whoami")
async def whoami(input):
    """Which worker process served the call (tests/test_failover.py)."""
    return {"pid": os.getpid()}


@worker.activity("record")
async def record(input, ctx):
    with open(os.environ["LIVE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"key": ctx.idempotency_key, "attempt": ctx.attempt, "tag": input["tag"]}) + "\n")
    await asyncio.sleep(input.get("ms", 0) / 1000)
    return {"tag": input["tag"]}


@worker.workflow("live.order")
async def order(ctx, input):
    a, b = await asyncio.gather(ctx.activity("record", {"tag": "a"}), ctx.activity("record", {"tag": "b"}))
    await ctx.sleep(0.2)
    approval = await ctx.signal("approve", timeout=30)
    slow = await ctx.activity("record", {"tag": "slow", "ms": input.get("slowMs", 0)})
    return {"a": a, "b": b, "approval": approval, "slow": slow, "id": await ctx.uuid()}


@worker.workflow("live.approve_twice")
async def approve_twice(ctx, input):
    """Two waits for the same signal: tests/test_live.py checks which signals were delivered."""
    return [await ctx.signal("approve", timeout=30), await ctx.signal("approve", timeout=30)]


@worker.workflow("live.cancellable")
async def cancellable(ctx, input):
    try:
        await ctx.signal("never")
    except keel.Cancelled:
        await ctx.activity("record", {"tag": "compensate"})
        raise


@worker.workflow("live.loop")
async def loop(ctx, input):
    if input["i"] < 2:
        await ctx.activity("echo", input)
        ctx.continue_as_new({"i": input["i"] + 1})
    return {"done": input["i"], "child": await ctx.child("live.child", {"x": input["i"]})}


@worker.workflow("live.child")
async def child(ctx, input):
    return {"doubled": (await ctx.activity("echo", input))["x"] * 2}


@worker.workflow("live.batch")
async def batch(ctx, input):
    """Starts a live.child (default id PARENT/1) with its own search attributes and memo
    (tests/test_live.py child search attributes)."""
    return await ctx.child("live.child", {"x": input["x"]}, search_attributes={"customer": "acme"},
                           memo={"source": "batch"})


@worker.workflow("live.chain")
async def chain(ctx, input):
    first = await ctx.activity("echo", {"n": input["n"]})
    second = await ctx.activity("echo", {"n": first["n"] + 1})
    return {"n": second["n"]}


@worker.activity("count_up")
async def count_up(input, ctx):
    """Publishes {"i": 1..n} to the workflow's stream, each awaited (tests/test_live.py streams)."""
    for i in range(1, input["n"] + 1):
        await ctx.publish({"i": i}, name="count")
    return {"n": input["n"]}


@worker.workflow("live.stream")
async def stream(ctx, input):
    await ctx.publish({"phase": "start"}, name="phase")
    await ctx.activity("count_up", {"n": input["n"]})
    approval = await ctx.signal("go", timeout=30)
    await ctx.publish({"phase": "end", "approval": approval}, name="phase")
    return {"ok": True}


@worker.workflow("live.ship")
async def ship(ctx, input):
    """Marks the execution shipped in its search attributes (tests/test_live.py search)."""
    return await ctx.upsert_search_attributes({"stage": "shipped"})


@worker.workflow("live.progress")
async def progress(ctx, input):
    """Query value "stage": "packed", then {"shipped": payload} after the first "go" signal
    (tests/test_live.py signal-with-start and queries)."""
    await ctx.set_query_value("stage", "packed")
    payload = await ctx.signal("go")
    await ctx.set_query_value("stage", {"shipped": payload})
    return payload



@worker.workflow("live.approvals")
async def approvals(ctx, input):
    """Answers input["count"] updates "approve": {"approved": amount} up to 100, rejected over it
    (tests/test_live.py updates); returns the amounts it received, in order."""
    amounts = []
    for _ in range(input["count"]):
        update = await ctx.wait_for_update("approve", timeout_ms=30000)
        amount = update.input["amount"]
        amounts.append(amount)
        if amount > 100:
            await ctx.reject(update, f"amount {amount} is over 100", details={"limit": 100})
        else:
            await ctx.respond(update, {"approved": amount})
    return amounts


if __name__ == "__main__":
    worker.run_sync()
