"""A minimal MCP server of the initialize era (2025-06-18), standard library only, for the bridge's
fallback from `server/discover`: like many servers published before 2026-07-28 it answers an
unknown method with -32601 (or, with --exit-on-unknown, exits, as some do).
"""
import json
import sys

EXIT_ON_UNKNOWN = "--exit-on-unknown" in sys.argv
TEXT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
TOOLS = [{"name": "echo", "description": "Echoes its text.", "annotations": {"readOnlyHint": True}, "inputSchema": TEXT},
         {"name": "fail", "description": "Fails with its text (isError: true).", "inputSchema": TEXT}]


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
        params = message["params"]
        text = params["arguments"]["text"]
        if params["name"] == "fail":
            send({"jsonrpc": "2.0", "id": id_, "result": {"content": [{"type": "text", "text": f"boom: {text}"}], "isError": True}})
        elif params["name"] == "echo":
            send({"jsonrpc": "2.0", "id": id_, "result": {"content": [{"type": "text", "text": text}]}})
        else:
            send({"jsonrpc": "2.0", "id": id_, "error": {"code": -32602, "message": f"Unknown tool: {params['name']}"}})
    elif EXIT_ON_UNKNOWN:
        sys.exit(1)
    else:
        send({"jsonrpc": "2.0", "id": id_, "error": {"code": -32601, "message": f"Method not found: {method}"}})
