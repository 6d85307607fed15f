"""The Python worker of the cross-language suite.

py.parallel  calls c.add (C) and node.shout (Node) in parallel: steps 1 and 2
py.parent    runs the Go workflow go.greet as a child (which calls the Ruby activity ruby.reverse)
py.survive   calls node.slow, whose worker the test kills with SIGKILL while it runs
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "src"))

import asyncio  # noqa: E402

import keel  # noqa: E402

worker = keel.Worker("crosslang-python")


@worker.workflow("py.parallel")
async def parallel(ctx, input):
    added, shouted = await asyncio.gather(
        ctx.activity("c.add", {"a": input["a"], "b": input["b"], "ms": input.get("ms", 0)}),
        ctx.activity("node.shout", {"text": input["text"]}),
    )
    return {"c": added, "node": shouted, "by": "python"}


@worker.workflow("py.parent")
async def parent(ctx, input):
    child = await ctx.child("go.greet", {"name": input["name"]}, workflow_id=f"{ctx.workflow_id}-child")
    return {"child": child, "by": "python"}


@worker.workflow("py.survive")
async def survive(ctx, input):
    # A lost worker is a retryable failure: retry quickly so the test stays short.
    slow = await ctx.activity("node.slow", {"ms": input["ms"], "tag": input["tag"]},
                              retry_policy=keel.RetryPolicy(initial_interval=0.2, maximum_attempts=5),
                              start_to_close=20)
    return {"slow": slow, "by": "python"}


worker.run_sync()
