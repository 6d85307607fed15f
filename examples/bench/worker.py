"""The Python worker `keel bench` measures: bench.echo returns its input; bench.flow runs
``activities`` sequential bench.echo steps."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "src"))
import keel  # noqa: E402

worker = keel.Worker("bench-python", max_concurrent=256, max_concurrent_workflows=4000)


@worker.activity("bench.echo")
async def echo(input):
    return input


async def flow(ctx, input):
    out = input.get("payload")
    for _ in range(input.get("activities", 1)):
        out = await ctx.activity("bench.echo", out)
    return out


worker.workflow("bench.flow")(flow)


worker.run_sync()
