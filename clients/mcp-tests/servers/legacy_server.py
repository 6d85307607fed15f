"""A minimal MCP server of the initialize era (2025-06-18), standard library only, for the bridge's
fallback from `server/discover`: like many servers published before 2026-07-28 it answers an
unknown method with -32601 (or, with --exit-on-unknown, exits, as some do).
"""
import json
import sys

EXIT_ON_UNKNOWN = "--exit-on-unknown" in sys.argv
TOOLS = [{"name": "echo", "description": "Echoes its text.", "annotations": {"readOnlyHint": True},
          "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}]


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    message = json.loads(line)
    method, id_ = message.get("method"), message.get("id")
    if id_ is None:
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": id_, "result": {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                                      "serverInfo": {"name": "legacy", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": id_, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        text = message["params"]["arguments"]["text"]
        send({"jsonrpc": "2.0", "id": id_, "result": {"content": [{"type": "text", "text": text}]}})
    elif EXIT_ON_UNKNOWN:
        sys.exit(1)
    else:
        send({"jsonrpc": "2.0", "id": id_, "error": {"code": -32601, "message": f"Method not found: {method}"}})
