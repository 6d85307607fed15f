"""An MCP server (the official Python SDK's MCPServer) whose tools can wedge, for the bridge's
kill-and-restart test.

`hang_once(marker)` writes its process id to the marker file and hangs the first time (a blocking
sleep on the event loop: it ignores `notifications/cancelled`, `ping` and stdin EOF, as some real
servers do), then answers `{"pid": …}` once the marker exists. `hang_destructive` always hangs and
is annotated destructive, so Keel does not retry it.
"""
import os
import time

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("wedge")


@server.tool(annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True))
async def hang_once(marker: str) -> dict:
    """Hangs the first time for `marker`, then answers this process's id."""
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(3600)
    return {"pid": os.getpid()}


@server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=False))
async def hang_destructive(log: str) -> str:
    """Appends a line to `log`, then hangs."""
    with open(log, "a") as f:
        f.write(f"called {os.getpid()}\n")
    time.sleep(3600)
    return "never"


if __name__ == "__main__":
    server.run("stdio")
