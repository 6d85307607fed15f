"""Test helpers: a scripted peer that plays the orchestrator's side over a real Unix socket."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from typing import Any, Awaitable, Callable, Dict, List, Optional, TypeVar

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

T = TypeVar("T")
# Every async test runs under this bound.
TEST_TIMEOUT_S = 20.0
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def run(coro: Awaitable[T], timeout: float = TEST_TIMEOUT_S) -> T:
    """Runs a coroutine in a fresh event loop, bounded by ``timeout``."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


class Peer:
    """One accepted connection, seen from the orchestrator's side: raw JSON lines in and out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def recv(self, timeout: float = 5.0) -> Any:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise EOFError("worker closed the connection")
        return json.loads(line)

    def send(self, message: Any) -> None:
        self.writer.write((message if isinstance(message, str) else json.dumps(message)).encode() + b"\n")

    def answer(self, request: Dict[str, Any], result: Any) -> None:
        self.send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    async def handshake(self, worker_id: str = "w-1") -> Dict[str, Any]:
        """Answers initialize and worker/register; returns the register params."""
        init = await self.recv()
        assert init["method"] == "initialize", init
        self.answer(init, {"protocolVersion": "1", "serverInfo": {"name": "keel", "version": "0"}, "capabilities": {"batches": True, "maxMessageBytes": 16777216}})
        register = await self.recv()
        assert register["method"] == "worker/register", register
        self.answer(register, {"workerId": worker_id})
        return register["params"]

    def execute(self, id: Any, name: str, input: Any, task_id: str = "t-1", attempt: int = 1, **extra: Any) -> None:
        params = {"taskId": task_id, "name": name, "input": input, "attempt": attempt, "idempotencyKey": task_id,
                  "deadlineMs": None, "heartbeatTimeoutMs": None, "heartbeatDetails": None, "workflowId": None}
        params.update(extra)
        self.send({"jsonrpc": "2.0", "id": id, "method": "activity/execute", "params": params})

    def close(self) -> None:
        self.writer.close()


class Orchestrator:
    """A Unix socket server; each accepted connection is queued as a `Peer`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.peers: "asyncio.Queue[Peer]" = asyncio.Queue()
        self.server: Optional[asyncio.AbstractServer] = None

    async def __aenter__(self) -> "Orchestrator":
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self.peers.put(Peer(reader, writer))

        self.server = await asyncio.start_unix_server(accept, self.path, limit=64 * 1024 * 1024)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.server is not None
        self.server.close()

    async def accept(self, timeout: float = 5.0) -> Peer:
        return await asyncio.wait_for(self.peers.get(), timeout)


@pytest.fixture
def sock_path():
    # Unix socket paths must stay under ~100 bytes (STYLE 8), so not under pytest's long tmp_path.
    directory = tempfile.mkdtemp(prefix="keel-", dir="/tmp")
    yield os.path.join(directory, "k.sock")
    shutil.rmtree(directory, ignore_errors=True)
