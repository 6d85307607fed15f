"""An MCP client on the official Python SDK (`mcp`, run from the test venv) against `keel mcp serve`.

    python mcp_client.py KEEL_BIN SOCKET SESSION_KEY COMMAND.json [MODE]

SOCKET may instead be the URL of a streamable-HTTP endpoint (`http://127.0.0.1:PORT/mcp`): the
SDK's HTTP client then talks to `keel serve --http` (KEEL_BIN and SESSION_KEY are unused).
MODE is the SDK's connect mode: `auto` (the default: `server/discover`, falling back to
`initialize`) or `legacy` (`initialize` only).

COMMAND.json is a list of steps (each may wait with "waitFor": FILE until the test creates FILE), each {"list": true} or {"call": NAME, "arguments": {...},
"meta": {...}?, "cancelWhen": FILE?, "progress": true?, "progressTo": FILE?}
(progressTo: each progress message is also appended to FILE as heard); one JSON line per step goes to stdout
as it ends (a tool list, or a call's `structuredContent`, `isError`, text and `_meta`, plus the
progress messages heard; or {"cancelled": true}), so a test can act between steps.
"""
import asyncio
import json
import os
import sys

from mcp import Client, StdioServerParameters


async def main(keel_bin, socket, session_key, steps, mode):
    if socket.startswith("http://"):
        params = socket
    else:
        params = StdioServerParameters(command=keel_bin, args=["mcp", "serve", "--socket", socket, "--session-key", session_key])
    async with Client(params, mode=mode) as client:
        print(json.dumps({"protocolVersion": client.protocol_version}), flush=True)
        for step in steps:
            while "waitFor" in step and not os.path.exists(step["waitFor"]):  # until the test creates that file
                await asyncio.sleep(0.05)
            if step.get("list"):
                tools = await client.list_tools()
                out = {"tools": [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in tools.tools]}
            else:
                heard = []

                async def on_progress(progress, total, message):
                    heard.append(message)
                    if "progressTo" in step:  # so the test can act on a message while the call runs
                        with open(step["progressTo"], "a") as f:
                            f.write(message + "\n")

                call = asyncio.ensure_future(client.call_tool(
                    step["call"], step.get("arguments", {}), meta=step.get("meta"),
                    progress_callback=on_progress if step.get("progress") else None))
                if "cancelWhen" in step:  # cancel once the test creates that file
                    while not os.path.exists(step["cancelWhen"]):
                        await asyncio.sleep(0.05)
                    call.cancel()  # the SDK sends notifications/cancelled for the abandoned request
                    try:
                        await call
                    except asyncio.CancelledError:
                        pass
                    out = {"cancelled": True}
                else:
                    out = (await call).model_dump(by_alias=True, mode="json", exclude_none=True)
                    out["progressHeard"] = heard
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    with open(sys.argv[4]) as f:
        steps = json.load(f)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], steps, sys.argv[5] if len(sys.argv) > 5 else "auto"))
