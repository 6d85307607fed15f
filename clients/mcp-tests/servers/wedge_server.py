"""An MCP server (the official Python SDK's MCPServer) whose tools can wedge, for the bridge's
kill-and-restart test.

`hang_once(marker)` writes its process id to the marker file and hangs the first time (a blocking
sleep on the event loop: it ignores `notifications/cancelled`, `ping` and stdin EOF, as some real
servers do), then answers `{"pid": …}` once the marker exists. `hang_destructive` always hangs and
is annotated destructive, so Keel does not retry it. With `--grow-file PATH`, `grow` creates PATH,
adds the tool `extra` and sends `notifications/tools/list_changed`; a server started when PATH
exists lists `extra` from the start (the tool list lives in a file, so it survives a restart).
"""
import os
import sys
import time

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("wedge")
GROW_FILE = sys.argv[sys.argv.index("--grow-file") + 1] if "--grow-file" in sys.argv else None


def extra() -> str:
    """A tool that appears once `grow` ran."""
    return "extra"


if GROW_FILE and os.path.exists(GROW_FILE):
    server.add_tool(extra, name="extra", annotations=ToolAnnotations(read_only_hint=True))


@server.tool(annotations=ToolAnnotations(idempotent_hint=True))
async def grow(ctx: Context) -> str:
    """Adds the tool `extra` and tells the client the tool list changed."""
    open(GROW_FILE, "w").close()
    server.add_tool(extra, name="extra", annotations=ToolAnnotations(read_only_hint=True))
    await ctx.session.send_tool_list_changed()
    return "grown"


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
