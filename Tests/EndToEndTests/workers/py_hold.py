"""Workflows that wait for a signal, for the batch-operation tests (docs/cli.md, "Batch operations")."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python", "src"))
import keel  # noqa: E402

worker = keel.Worker("e2e-hold")


@worker.workflow("order.hold")
async def order_hold(ctx, input):
    return {"go": await ctx.signal("go")}


@worker.workflow("invoice.hold")
async def invoice_hold(ctx, input):
    return {"go": await ctx.signal("go")}


worker.run_sync()
