"""The Python client under test for clients/conformance/: the fixed activities and wf.* workflows
every language's conformance worker registers (see clients/conformance/README.md). Talks stdio."""
import os, sys  # noqa: E401 -- run from a checkout without `pip install`
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import asyncio  # noqa: E402

import keel  # noqa: E402

# Bound on waits inside the test activities, so a broken client never hangs the runner for long.
WAIT_BOUND_S = 30.0

worker = keel.Worker("conformance-worker", max_concurrent=4)


class CrashError(Exception):
    """A plain exception: the client must report it as retryable with type "CrashError"."""


@worker.activity("echo", input={"type": "object"}, output={"type": "object"}, description="Returns its input.")
async def echo(input):
    print("a stray print from echo: must reach stderr, never the wire")
    return input


@worker.activity("upper_sync")
def upper_sync(input):
    return {"text": input["text"].upper()}


@worker.activity("fail")
async def fail(input):
    raise keel.ActivityError("fail was called", type="BadInput", retryable=False, details={"input": input})


@worker.activity(
    "retry",
    retry_policy=keel.RetryPolicy(maximum_attempts=3, non_retryable_error_types=["BadInput"]),
    start_to_close=5,
)
async def retry(input):
    raise keel.ActivityError("429 from the API", type="RateLimited", retry_after=2, details={"status": 429})


@worker.activity("crash")
async def crash(input):
    raise CrashError("boom")


@worker.activity("hb")
async def hb(input, ctx):
    await ctx.heartbeat({"page": 1})
    await ctx.heartbeat({"page": 2})
    return {"taskId": ctx.task_id, "attempt": ctx.attempt, "idempotencyKey": ctx.idempotency_key, "previous": ctx.heartbeat_details}


@worker.activity("slow")
async def slow(input, ctx):
    await ctx.heartbeat({"started": True})
    await asyncio.sleep(WAIT_BOUND_S)
    return {"cancelled": False}


_barrier = {"waiting": 0, "event": None}


@worker.activity("barrier")
async def barrier(input):
    if _barrier["event"] is None:
        _barrier["event"] = asyncio.Event()
    event = _barrier["event"]
    _barrier["waiting"] += 1
    if _barrier["waiting"] >= input["count"]:
        event.set()
    await asyncio.wait_for(event.wait(), WAIT_BOUND_S)
    return {"released": True}


@worker.activity("sleep")
async def sleep(input):
    await asyncio.sleep(input["ms"] / 1000)
    return {"slept": input["ms"]}


@worker.activity("progress")
async def progress(input, ctx):
    for i in range(1, input["steps"] + 1):
        await ctx.publish({"step": i}, name="progress")
    return {"published": input["steps"]}


# The fixed conformance workflows (the same in every language).


@worker.workflow("wf.sequence")
async def sequence(ctx, input):
    r1 = await ctx.activity("echo", {"n": input["n"]})
    r2 = await ctx.activity("echo", {"n": r1["n"] + 1})
    return {"n": r2["n"]}


@worker.workflow("wf.parallel")
async def parallel(ctx, input):
    a, b = await asyncio.gather(ctx.activity("echo", {"i": 1}), ctx.activity("echo", {"i": 2}))
    return {"a": a, "b": b}


@worker.workflow("wf.sleepSignal")
async def sleep_signal(ctx, input):
    await ctx.sleep(1)
    return {"signal": await ctx.signal("go")}


@worker.workflow("wf.sideEffects")
async def side_effects(ctx, input):
    t = await ctx.now()
    r = await ctx.random()
    u = await ctx.uuid()
    return {"t": round(t.timestamp() * 1000), "r": r, "u": u}


@worker.workflow("wf.child")
async def child(ctx, input):
    return {"child": await ctx.child("wf.sequence", {"n": input["n"]})}


@worker.workflow("wf.cancellable")
async def cancellable(ctx, input):
    try:
        return await ctx.activity("echo", {"step": "work"})
    except keel.Cancelled:
        await ctx.activity("echo", {"step": "compensate"})
        raise


@worker.workflow("wf.loop")
async def loop(ctx, input):
    if input["i"] < 3:
        await ctx.activity("echo", {"i": input["i"]})
        ctx.continue_as_new({"i": input["i"] + 1})
    return {"done": input["i"]}


@worker.workflow("wf.patched")
async def patched(ctx, input):
    p = await ctx.patched("add-discount")
    if p:
        await ctx.activity("echo", {"step": "discount"})
    charge = await ctx.activity("echo", {"step": "charge"})
    again = await ctx.patched("add-discount")
    return {"patched": p, "again": again, "charge": charge}


@worker.workflow("wf.deprecatedPatch")
async def deprecated_patch(ctx, input):
    await ctx.deprecate_patch("add-discount")
    charge = await ctx.activity("echo", {"step": "charge"})
    return {"charge": charge}


@worker.workflow("wf.publish")
async def publish(ctx, input):
    await ctx.publish({"pct": 50}, name="progress")
    await ctx.publish("done")
    return {"published": 2}


@worker.workflow("wf.priority")
async def priority(ctx, input):
    r1 = await ctx.activity("echo", input, priority=7, fairness_key="tenant-a")
    r2 = await ctx.activity("echo", input)  # no options: inherits the execution's
    return {"first": r1, "second": r2}


@worker.workflow("wf.upsert")
async def upsert(ctx, input):
    attributes = await ctx.upsert_search_attributes({"customer": "acme", "amount": 42, "vip": True})
    await ctx.upsert_search_attributes({"vip": None})  # None removes the key: sent as null
    memo = await ctx.upsert_memo({"note": "hi"})
    return {"attributes": attributes, "memo": memo}


@worker.workflow("wf.query")
async def query(ctx, input):
    await ctx.set_query_value("progress", {"pct": 50})
    await ctx.set_query_value("progress", {"pct": 100})
    return "done"



@worker.workflow("wf.update")
async def update(ctx, input):
    u = await ctx.wait_for_update("approve")
    amount = u.input["amount"]
    if amount > 100:
        await ctx.reject(u, f"amount {amount} is over 100")
        return {"approved": False}
    await ctx.respond(u, {"approved": amount})
    return {"approved": True}


if __name__ == "__main__":
    worker.run_sync()
