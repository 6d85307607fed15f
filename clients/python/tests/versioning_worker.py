"""The worker of the deployment test (tests/test_versioning_live.py): ``versioning_worker.py 1``
is the code before the change, ``versioning_worker.py 2`` the code after it. Both serve
``orders.process`` (v2 guards the new ``fraud_check`` step with ``ctx.patched("fraud-check")``)
and the control ``orders.control`` (v2 makes the same change WITHOUT patched(), which old
executions cannot replay). Connects over $KEEL_SOCKET; each activity call appends
{activity, workflowId, attempt} to $VERSIONING_LOG (JSON lines) so the test can count them.
Build ids: version N declares build ``orders-N``; version 2 also declares that it continues
``orders-1``'s executions (its patched() code replays them) unless $VERSIONING_COMPATIBLE is 0."""
import os, sys  # noqa: E401 -- run from a checkout without `pip install`
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import json  # noqa: E402

import keel  # noqa: E402

VERSION = int(sys.argv[1]) if len(sys.argv) > 1 else 1
COMPATIBLE = ["orders-1"] if VERSION == 2 and os.environ.get("VERSIONING_COMPATIBLE") != "0" else []
worker = keel.Worker(f"versioning-v{VERSION}", max_concurrent=64, build_id=f"orders-{VERSION}", compatible_build_ids=COMPATIBLE)


def _record(activity, ctx):
    with open(os.environ["VERSIONING_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps({"activity": activity, "workflowId": ctx.workflow_id, "attempt": ctx.attempt, "version": VERSION}) + "\n")


@worker.activity("charge")
async def charge(input, ctx):
    _record("charge", ctx)
    return {"charged": input["order"]}


@worker.activity("fraud_check")
async def fraud_check(input, ctx):
    _record("fraud_check", ctx)
    return {"ok": True}


if VERSION == 1:

    @worker.workflow("orders.process")
    async def process(ctx, input):
        charged = await ctx.activity("charge", input)
        shipped = await ctx.signal("ship")
        return {"version": 1, "charged": charged, "shipped": shipped}

    @worker.workflow("orders.control")
    async def control(ctx, input):
        charged = await ctx.activity("charge", input)
        shipped = await ctx.signal("ship")
        return {"version": 1, "charged": charged, "shipped": shipped}

else:

    @worker.workflow("orders.process")
    async def process(ctx, input):
        charged = await ctx.activity("charge", input)
        fraud_checked = False
        if await ctx.patched("fraud-check"):
            await ctx.activity("fraud_check", input)
            fraud_checked = True
        shipped = await ctx.signal("ship")
        return {"version": 2, "charged": charged, "shipped": shipped, "fraudChecked": fraud_checked}

    @worker.workflow("orders.control")
    async def control(ctx, input):
        # The same change without patched(): an execution recorded by v1 has the signal wait
        # where this code now calls fraud_check, so its replay is non-deterministic.
        charged = await ctx.activity("charge", input)
        await ctx.activity("fraud_check", input)
        shipped = await ctx.signal("ship")
        return {"version": 2, "charged": charged, "shipped": shipped, "fraudChecked": True}


if __name__ == "__main__":
    worker.run_sync()
