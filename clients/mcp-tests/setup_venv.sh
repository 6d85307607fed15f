#!/usr/bin/env bash
# Makes the private virtual environment the MCP tests run real MCP servers and the official MCP
# Python SDK from (PyPI: mcp-server-time, mcp-server-git, mcp-server-fetch, mcp). Reused when it already has them.
# Prints its directory. Location: $KEEL_MCP_VENV, else ~/.cache/keel/mcp-venv.
set -euo pipefail
venv="${KEEL_MCP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/keel/mcp-venv}"
packages=(mcp-server-time mcp-server-git mcp-server-fetch mcp)
if [ -x "$venv/bin/mcp-server-time" ] && [ -x "$venv/bin/mcp-server-git" ] && [ -x "$venv/bin/mcp-server-fetch" ] && "$venv/bin/python" -c 'import mcp' 2>/dev/null; then
  echo "$venv"; exit 0
fi
mkdir -p "$(dirname "$venv")"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${packages[@]}" >&2
echo "$venv"
