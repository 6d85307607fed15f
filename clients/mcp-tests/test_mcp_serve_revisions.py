"""`keel mcp serve` in both protocol eras, raw over stdio (docs/mcp.md, "Protocol revisions"):
2026-07-28 (`server/discover`, `_meta` on every request, `resultType`) and 2025-11-25
(`initialize`); and the official SDK client in each mode.
"""
import os

import pytest

from harness import KEEL_BIN
from stdio_peer import StdioPeer
from test_mcp_serve import MCPClient, keel  # noqa: F401 (the fixture)

pytestmark = pytest.mark.skipif(not os.access(KEEL_BIN, os.X_OK), reason=f"no keel binary at {KEEL_BIN}")

MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
}


def test_the_2026_07_28_revision_discovers_lists_and_calls_without_initialize(keel):
    peer = StdioPeer(keel.socket)
    discover = peer.request("server/discover", {"_meta": MODERN})["result"]
    assert discover["resultType"] == "complete"
    assert discover["supportedVersions"][0] == "2026-07-28" and "2025-11-25" in discover["supportedVersions"]
    assert discover["serverInfo"]["name"] == "keel" and "tools" in discover["capabilities"]
    listed = peer.request("tools/list", {"_meta": MODERN})["result"]
    assert listed["resultType"] == "complete"
    assert "mcptest.add" in {t["name"] for t in listed["tools"]}
    called = peer.request("tools/call", {"name": "mcptest.add", "arguments": {"a": 1, "b": 2}, "_meta": MODERN})["result"]
    assert called["resultType"] == "complete"
    assert called["isError"] is False and called["structuredContent"] == {"sum": 3}
    peer.close()


def test_a_revision_keel_does_not_speak_is_refused_with_32022_naming_the_supported_ones(keel):
    peer = StdioPeer(keel.socket)
    error = peer.request("tools/list", {"_meta": dict(MODERN, **{"io.modelcontextprotocol/protocolVersion": "2099-01-01"})})["error"]
    assert error["code"] == -32022
    assert error["data"]["requested"] == "2099-01-01"
    assert "2026-07-28" in error["data"]["supported"] and "2025-11-25" in error["data"]["supported"]
    peer.close()


def test_the_2025_11_25_revision_initializes_lists_and_calls(keel):
    peer = StdioPeer(keel.socket)
    init = peer.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                       "clientInfo": {"name": "raw-test", "version": "1"}})["result"]
    assert init["protocolVersion"] == "2025-11-25"
    peer.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    listed = peer.request("tools/list")["result"]
    assert "resultType" not in listed  # an initialize-era answer has no 2026 fields
    assert "mcptest.add" in {t["name"] for t in listed["tools"]}
    called = peer.request("tools/call", {"name": "mcptest.add", "arguments": {"a": 20, "b": 22}})["result"]
    assert called["isError"] is False and called["structuredContent"] == {"sum": 42}
    assert "resultType" not in called
    peer.close()


@pytest.mark.parametrize("mode,version", [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
def test_the_sdk_client_speaks_either_revision(env_dir, keel, mode, version):
    client = MCPClient(env_dir, keel, [{"list": True}, {"call": "mcptest.add", "arguments": {"a": 2, "b": 3}}], mode=mode)
    assert client.line()["protocolVersion"] == version
    assert "mcptest.add" in {t["name"] for t in client.line()["tools"]}
    result = client.line()
    assert result["isError"] is False and result["structuredContent"] == {"sum": 5}
    client.finish()
