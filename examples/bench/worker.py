"""The Python worker `keel bench` measures: bench.echo returns its input; bench.flow runs
``activities`` sequential bench.echo steps; bench.wait does the same, then waits for a signal.

With ``KEEL_BENCH_ECHO_SOCKET`` set it is instead the peer of the bench's round-trip floor: it
connects to that Unix socket (the bench listens) and answers each ``bench/echo`` request with its
params through the client's own framing and connection layers, as a worker answers
``activity/execute``."""
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "src"))
import keel  # noqa: E402


async def echo_peer(path):
    reader, writer = await asyncio.open_unix_connection(path)
    connection = keel.Connection(reader, writer)

    async def echo(params):
        return params

    connection.on_request("bench/echo", echo)
    connection.start()
    await connection.wait_closed()


if os.environ.get("KEEL_BENCH_ECHO_SOCKET"):
    asyncio.run(echo_peer(os.environ["KEEL_BENCH_ECHO_SOCKET"]))
    sys.exit(0)

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


async def wait(ctx, input):
    """Runs ``activities`` bench.echo steps, then waits for signal "go" (examples/bench/open_rss.py):
    an execution that stays open, suspended, with a journal."""
    out = input.get("payload")
    for _ in range(input.get("activities", 1)):
        out = await ctx.activity("bench.echo", out)
    return {"echo": out, "signal": await ctx.signal("go")}


worker.workflow("bench.wait")(wait)


worker.run_sync()
