"""Activities for Keel's end-to-end tests: each execution appends a line to $KEEL_E2E_LOG."""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python", "src"))
import keel  # noqa: E402

LOG = os.environ.get("KEEL_E2E_LOG", "/tmp/keel-e2e.log")
SLEEP = float(os.environ.get("KEEL_E2E_SLEEP", "0.2"))
worker = keel.Worker("e2e-py", max_concurrent=32)


def record(event, ctx, **extra):
    line = {"event": event, "key": ctx.idempotency_key, "attempt": ctx.attempt, "pid": os.getpid(), **extra}
    with open(LOG, "a") as f:
        f.write(json.dumps(line) + "\n")
        f.flush()


@worker.activity("e2e.double")
async def double(input, ctx):
    record("start", ctx)
    await asyncio.sleep(input.get("sleep", SLEEP))
    record("done", ctx)
    return {"n": input["n"] * 2}


worker.run_sync()
