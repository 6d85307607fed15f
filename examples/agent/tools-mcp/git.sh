#!/bin/sh
# The MCP server behind the agent's `docs_history` tool: mcp-server-git (from PyPI, not ours) on
# the team's documents as a Git repository, bridged by Keel (keel.json "mcp": activities
# mcp.git.*). Installs the server into the private venv of the MCP tests when it is missing
# (clients/mcp-tests/setup_venv.sh: $KEEL_MCP_VENV, else ~/.cache/keel/mcp-venv), makes the
# repository next to the side-effect log (.state/docs-repo) and replaces this shell with the
# server, confined to that repository and started in it, so the tools' `repo_path` is ".".
# Over stdio, stdout is the wire: everything else goes to stderr.
set -e
here=$(cd "$(dirname "$0")" && pwd)
: "${KEEL_EXAMPLE_LOG:=$here/../.state/side-effects.jsonl}"
repo="$(dirname "$KEEL_EXAMPLE_LOG")/docs-repo"
venv=$("$here/../../../clients/mcp-tests/setup_venv.sh")
"$here/docs_repo.sh" "$repo" >&2
cd "$repo"
exec "$venv/bin/mcp-server-git" --repository .
