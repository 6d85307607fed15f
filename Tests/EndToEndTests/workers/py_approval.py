"""A workflow that waits for an "approve" signal, for the graceful-stop tests
(Tests/EndToEndTests/GracefulStopTests.swift): SIGTERM arrives while it waits."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python", "src"))
import keel  # noqa: E402

worker = keel.Worker("e2e-approval")


@worker.activity("approval.echo")
async def echo(input):
    return input


@worker.workflow("approval.wait")
async def wait(ctx, input):
    decision = await ctx.signal("approve")
    return await ctx.activity("approval.echo", {"input": input, "decision": decision})


worker.run_sync()
