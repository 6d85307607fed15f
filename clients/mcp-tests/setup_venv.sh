#!/usr/bin/env bash
# Makes the private virtual environment the MCP tests run real MCP servers and the official MCP
# Python SDK from (PyPI: mcp-server-time, mcp-server-git, mcp-server-fetch, mcp). Reused when it already has them.
# Prints its directory. Location: $KEEL_MCP_VENV, else ~/.cache/keel/mcp-venv.
# Also run by .ci/setup and by examples/agent/tools-mcp/git.sh (the agent's MCP server), so two
# may run at once: an install holds a lock on $venv.lock, and the second then finds it made.
set -euo pipefail
venv="${KEEL_MCP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/keel/mcp-venv}"
packages=(mcp-server-time mcp-server-git mcp-server-fetch mcp)
ready() { [ -x "$venv/bin/mcp-server-time" ] && [ -x "$venv/bin/mcp-server-git" ] && [ -x "$venv/bin/mcp-server-fetch" ] && "$venv/bin/python" -c 'import mcp' 2>/dev/null; }
if ready; then
  echo "$venv"; exit 0
fi
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if ready; then
  echo "$venv"; exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${packages[@]}" >&2
echo "$venv"
