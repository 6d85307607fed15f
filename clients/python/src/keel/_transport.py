"""Opening the byte stream to Keel: Unix socket, TCP, or stdio when Keel spawned us."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
import sys
import threading
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

# "Over stdio, stdout is the wire: a worker must write logs to stderr." (docs/protocol.md)
ENV_TRANSPORT = "KEEL_TRANSPORT"
ENV_SOCKET = "KEEL_SOCKET"
ENV_TCP = "KEEL_TCP"
ENV_TOKEN = "KEEL_TOKEN"
ENV_TLS = "KEEL_TLS"
ENV_TLS_CA = "KEEL_TLS_CA"
ENV_TLS_CERT = "KEEL_TLS_CERT"
ENV_TLS_KEY = "KEEL_TLS_KEY"
ENV_TLS_SERVER_NAME = "KEEL_TLS_SERVER_NAME"


@dataclass(frozen=True)
class TLS:
    """TLS to a ``keel serve --tls-cert …`` TCP listener (docs/security.md "TLS").

    Args:
        ca_file: PEM CA certificates to trust for the server; None: the system trust store.
        cert_file, key_file: a client certificate and its key, for ``keel serve --tls-client-ca``.
        server_name: the name the server's certificate must carry (default: the host connected to;
            an IP address is matched against the certificate's IP entries).
    """

    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    server_name: Optional[str] = None

    def context(self) -> ssl.SSLContext:
        """The client context: certificate and host name checked, TLS 1.2 or later.

        Raises:
            ValueError: only one of cert_file and key_file. OSError/ssl.SSLError: a file cannot be loaded.
        """
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a TLS client certificate needs both cert_file and key_file")
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    @staticmethod
    def from_environment() -> "Optional[TLS]":
        """``KEEL_TLS_CA``/``KEEL_TLS_CERT``/``KEEL_TLS_KEY``/``KEEL_TLS_SERVER_NAME``; None unless
        ``KEEL_TLS=1`` or ``KEEL_TLS_CA`` is set."""
        env = os.environ
        if env.get(ENV_TLS) != "1" and not env.get(ENV_TLS_CA):
            return None
        return TLS(env.get(ENV_TLS_CA), env.get(ENV_TLS_CERT), env.get(ENV_TLS_KEY), env.get(ENV_TLS_SERVER_NAME))


@dataclass(frozen=True)
class Endpoint:
    """Where to connect: exactly one of ``stdio``, ``socket`` or ``tcp`` is set; ``tls`` only with ``tcp``."""

    stdio: bool = False
    socket: Optional[str] = None
    tcp: Optional[str] = None
    token: Optional[str] = None
    tls: Optional[TLS] = None

    @property
    def kind(self) -> str:
        return "stdio" if self.stdio else "unix" if self.socket else "tls" if self.tls else "tcp"

    def __str__(self) -> str:
        return "stdio" if self.stdio else f"unix:{self.socket}" if self.socket else f"{self.kind}:{self.tcp}"


# One address, or several tried in order (docs/clients.md "Several endpoints").
Addresses = Union[str, Sequence[str], None]


def resolve_endpoint(
    socket: Addresses = None,
    tcp: Addresses = None,
    token: Optional[str] = None,
    allow_stdio: bool = True,
    tls: Union[bool, TLS, None] = None,
) -> Endpoint:
    """The first of `resolve_endpoints`: where a single connection goes first.

    Raises:
        ValueError: no transport configured, or both socket and tcp given.
    """
    return resolve_endpoints(socket, tcp, token, allow_stdio, tls)[0]


def resolve_endpoints(
    socket: Addresses = None,
    tcp: Addresses = None,
    token: Optional[str] = None,
    allow_stdio: bool = True,
    tls: Union[bool, TLS, None] = None,
) -> List[Endpoint]:
    """Picks the transport and its endpoints, in the order to try them. ``KEEL_TRANSPORT=stdio``
    wins (set by ``keel serve --worker``, which owns our stdin/stdout), then the arguments, then
    ``KEEL_SOCKET``, then ``KEEL_TCP`` (+ ``KEEL_TOKEN``). TCP speaks TLS with ``tls=True`` (system
    trust store), ``tls=TLS(...)``, or ``KEEL_TLS=1`` / ``KEEL_TLS_CA`` in the environment.

    ``socket=``/``tcp=`` take one address (a string, used as is, so a socket path may contain a
    comma) or a list of them. ``KEEL_SOCKET``/``KEEL_TCP`` take a comma-separated list
    (``a.sock,b.sock``, ``h1:7000,h2:7000``); a path containing a comma cannot be given there.

    Raises:
        ValueError: no transport configured, both socket and tcp given, or an empty list.
    """
    if allow_stdio and os.environ.get(ENV_TRANSPORT, "").lower() == "stdio":
        return [Endpoint(stdio=True)]
    if socket and tcp:
        raise ValueError("give either socket= or tcp=, not both")
    token = token if token is not None else os.environ.get(ENV_TOKEN)
    settings = TLS() if tls is True else None if tls is False else tls or TLS.from_environment()
    if socket:
        return [Endpoint(socket=path) for path in _addresses(socket, "socket=")]
    if tcp:
        return [Endpoint(tcp=address, token=token, tls=settings) for address in _addresses(tcp, "tcp=")]
    if os.environ.get(ENV_SOCKET):
        return [Endpoint(socket=path) for path in split_addresses(os.environ[ENV_SOCKET], ENV_SOCKET)]
    if os.environ.get(ENV_TCP):
        return [Endpoint(tcp=a, token=token, tls=settings) for a in split_addresses(os.environ[ENV_TCP], ENV_TCP)]
    raise ValueError(
        "no Keel transport: pass socket= or tcp=, or set KEEL_SOCKET=PATH[,PATH...], "
        "KEEL_TCP=HOST:PORT[,HOST:PORT...], or run under `keel serve --worker` (KEEL_TRANSPORT=stdio)"
    )


def split_addresses(value: str, source: str) -> List[str]:
    """A comma-separated list of endpoints (spaces around entries ignored).

    Raises:
        ValueError: an empty entry (``a.sock,,b.sock``, a trailing comma).
    """
    entries = [entry.strip() for entry in value.split(",")]
    if not all(entries):
        raise ValueError(f"{source} has an empty entry in {value!r}: give endpoints separated by single commas")
    return entries


def _addresses(value: Union[str, Sequence[str]], source: str) -> List[str]:
    entries = [value] if isinstance(value, str) else list(value)
    if not entries or not all(isinstance(entry, str) and entry for entry in entries):
        raise ValueError(f"{source} needs a non-empty address or a list of non-empty addresses, got {value!r}")
    return entries


def _split_host_port(address: str) -> Tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"tcp address must be HOST:PORT, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


_stdio_claimed = False


class _WritePipeProtocol(asyncio.streams.FlowControlMixin):
    """Flow control for a write pipe, plus the close waiter `StreamWriter.wait_closed` needs
    (the base class raises NotImplementedError there)."""

    def __init__(self) -> None:
        super().__init__()
        self._closed: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        super().connection_lost(exc)
        if not self._closed.done():
            self._closed.set_result(None)

    def _get_close_waiter(self, stream: asyncio.StreamWriter) -> "asyncio.Future[None]":
        return self._closed


async def open_stream(endpoint: Endpoint) -> Tuple[asyncio.StreamReader, Any]:
    """Opens the stream. For stdio, the process's real stdout becomes the wire and fd 1 and
    ``sys.stdout`` are pointed at stderr, so stray prints (even from C extensions) cannot corrupt it.

    Raises:
        OSError: the socket could not be reached; `ssl.SSLError` (an OSError) for a failed TLS
            handshake, e.g. `ssl.SSLCertVerificationError` for a server certificate not trusted.
    """
    if endpoint.socket:
        return await asyncio.open_unix_connection(endpoint.socket)
    if endpoint.tcp:
        host, port = _split_host_port(endpoint.tcp)
        if endpoint.tls:
            return await asyncio.open_connection(
                host, port, ssl=endpoint.tls.context(), server_hostname=endpoint.tls.server_name or host
            )
        return await asyncio.open_connection(host, port)
    return await _open_stdio()


async def _open_stdio() -> Tuple[asyncio.StreamReader, Any]:
    global _stdio_claimed
    if _stdio_claimed:
        raise OSError("stdio transport can be opened only once per process")
    _stdio_claimed = True
    loop = asyncio.get_running_loop()
    sys.stdout.flush()
    wire_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    reader = asyncio.StreamReader()
    stdin_fd = os.dup(0)
    if _is_pipe_like(stdin_fd):
        stdin = os.fdopen(stdin_fd, "rb", buffering=0)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    else:  # a regular file (e.g. `< transcript`): event loops cannot poll it, so a thread reads it
        threading.Thread(target=_pump_file, args=(stdin_fd, reader, loop), daemon=True, name="keel-stdin").start()
    if not _is_pipe_like(wire_fd):
        return reader, _FileWriter(wire_fd)
    wire = os.fdopen(wire_fd, "wb", buffering=0)
    transport, protocol = await loop.connect_write_pipe(_WritePipeProtocol, wire)
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


def _is_pipe_like(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


def _pump_file(fd: int, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            loop.call_soon_threadsafe(reader.feed_data, chunk)
    except (OSError, RuntimeError):
        pass
    finally:
        try:
            loop.call_soon_threadsafe(reader.feed_eof)
        except RuntimeError:
            pass  # the loop is closed
        os.close(fd)


class _FileWriter:
    """The StreamWriter subset FrameWriter uses, over a regular file (blocking writes; files are fast)."""

    def __init__(self, fd: int) -> None:
        self._fd: Optional[int] = fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self._fd is not None:
            view = view[os.write(self._fd, view):]

    def is_closing(self) -> bool:
        return self._fd is None

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def wait_closed(self) -> None:
        return None
