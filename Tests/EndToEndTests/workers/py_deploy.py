"""Two deploys of one workflow, for the reset test: `py_deploy.py VERSION LOG`.

Step 1 (deploy.charge) appends a line to LOG each time it runs; step 2 (deploy.ship) has a bug
in version 1. The workflow code is the same in both versions.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python", "src"))
import keel  # noqa: E402

VERSION = int(sys.argv[1])
LOG = sys.argv[2]
worker = keel.Worker("e2e-deploy-v%d" % VERSION)


def record(event):
    with open(LOG, "a") as f:
        f.write(json.dumps({"event": event, "version": VERSION}) + "\n")


@worker.activity("deploy.charge")
async def charge(input, ctx):
    record("charge")
    return {"charged": input["amount"]}


@worker.activity("deploy.ship")
async def ship(input, ctx):
    record("ship")
    if VERSION == 1:
        raise keel.ActivityError("nil address in v1", type="BugInV1", retryable=False)
    return {"shipped": True}


@worker.workflow("deploy.flow")
async def flow(ctx, input):
    charged = await ctx.activity("deploy.charge", input)
    shipped = await ctx.activity("deploy.ship", charged)
    return {"charge": charged, "ship": shipped}


worker.run_sync()
