"""Line framing: one UTF-8 JSON message per ``\\n``-terminated line, with a maximum frame size.

docs/protocol.md, Framing: "One message per line: UTF-8 JSON without raw newlines, terminated by
`\\n` (`\\r\\n` is accepted). A line longer than the frame limit (default 16 MiB) is discarded up to
its newline and answered with error `-32002 messageTooLarge`, `id: null`. The connection stays open."
"""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any, Deque, List, Optional, Union

DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
# Bytes asked of the stream per read; large enough that small frames arrive many per read.
READ_CHUNK_BYTES = 256 * 1024
# Outgoing bytes buffered (ours + the transport's) before a sender awaits drain(): bounds memory
# when the peer reads slower than we write, without a drain per message.
WRITE_HIGH_WATER_BYTES = 1024 * 1024


class FrameTooLargeError(Exception):
    """A frame exceeded the size limit. Reading: the line was discarded, the stream is still usable."""

    def __init__(self, limit: int, size: Optional[int] = None) -> None:
        what = f"{size}-byte" if size is not None else "a"
        super().__init__(f"{what} message exceeds the {limit}-byte frame limit")
        self.limit = limit
        self.size = size


class InvalidFrameError(Exception):
    """A frame was not valid UTF-8. The frame was dropped; the stream is still usable."""


class LineDecoder:
    """Splits a byte stream into frames. Pure: no I/O, so tests can feed it any split.

    ``feed`` returns complete frames (bytes, without the line terminator) and, for each line over
    the limit, one `FrameTooLargeError` in its place. Empty lines are skipped.
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self._partial = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> List[Union[bytes, FrameTooLargeError]]:
        """Consumes ``data`` and returns the frames it completed, in order."""
        out: List[Union[bytes, FrameTooLargeError]] = []
        start = 0
        limit = self.max_frame_bytes
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                if not self._discarding:
                    self._partial += data[start:]
                    # +1: the line may still end in "\r\n", whose "\r" does not count.
                    if len(self._partial) > limit + 1:
                        out.append(FrameTooLargeError(limit))
                        self._partial = bytearray()
                        self._discarding = True
                return out
            if self._discarding:
                # The oversize line was reported when it crossed the limit; its tail ends here.
                self._discarding = False
            else:
                if self._partial:
                    self._partial += data[start:newline]
                    line = bytes(self._partial)
                    self._partial = bytearray()
                else:
                    line = data[start:newline]
                if line.endswith(b"\r"):
                    line = line[:-1]
                if len(line) > limit:
                    out.append(FrameTooLargeError(limit, len(line)))
                elif line:
                    out.append(line)
            start = newline + 1

    def finish(self) -> List[Union[bytes, FrameTooLargeError]]:
        """Call at end of stream: returns a final unterminated line, if any (leniently accepted)."""
        line = bytes(self._partial)
        self._partial = bytearray()
        discarding, self._discarding = self._discarding, False
        if discarding or not line.strip():
            return []
        if line.endswith(b"\r"):
            line = line[:-1]
        return [line]


class FrameReader:
    """Reads frames from an `asyncio.StreamReader`.

    Not safe for concurrent ``read`` calls: one reader task owns it.
    """

    def __init__(self, stream: asyncio.StreamReader, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._stream = stream
        self._decoder = LineDecoder(max_frame_bytes)
        self._ready: Deque[Union[bytes, FrameTooLargeError]] = collections.deque()
        self._eof = False

    async def read(self) -> Optional[str]:
        """Returns the next frame as text, or None at end of stream.

        Raises:
            FrameTooLargeError: a line over the limit was discarded; call ``read`` again.
            InvalidFrameError: a line was not UTF-8; call ``read`` again.
        """
        while not self._ready:
            if self._eof:
                return None
            chunk = await self._stream.read(READ_CHUNK_BYTES)
            if chunk:
                self._ready.extend(self._decoder.feed(chunk))
            else:
                self._eof = True
                self._ready.extend(self._decoder.finish())
        item = self._ready.popleft()
        if isinstance(item, FrameTooLargeError):
            raise item
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidFrameError(f"message is not valid UTF-8: {error}") from None


def encode_frame(message: Any) -> bytes:
    """Encodes one message as a compact JSON line.

    ``json.dumps`` escapes control characters inside strings, so the only raw newline is the
    terminator. NaN and Infinity are refused (not JSON). Lone surrogates fall back to ``\\u`` escapes.

    Raises:
        TypeError, ValueError: ``message`` is not JSON-serializable.
    """
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")
    return data + b"\n"


class FrameWriter:
    """Writes frames to an `asyncio.StreamWriter`, coalescing all writes of one loop iteration.

    ``write`` encodes at once (so encoding errors reach the caller) and queues the bytes; one
    callback per loop iteration hands everything queued to the transport in a single write.
    ``send`` adds backpressure: it awaits drain only when more than WRITE_HIGH_WATER_BYTES wait.
    """

    def __init__(self, stream: asyncio.StreamWriter, max_frame_bytes: Optional[int] = None) -> None:
        self._stream = stream
        self.max_frame_bytes = max_frame_bytes
        self._queue: List[bytes] = []
        self._queued_bytes = 0
        self._flush_scheduled = False
        self._closed = False

    def write(self, message: Any) -> None:
        """Queues one message. Never blocks.

        Raises:
            TypeError, ValueError: not JSON-serializable.
            FrameTooLargeError: larger than ``max_frame_bytes`` (the peer's limit), nothing queued.
        """
        data = encode_frame(message)
        if self.max_frame_bytes is not None and len(data) - 1 > self.max_frame_bytes:
            raise FrameTooLargeError(self.max_frame_bytes, len(data) - 1)
        if self._closed:
            return
        self._queue.append(data)
        self._queued_bytes += len(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    async def send(self, message: Any) -> None:
        """Queues one message, then awaits drain if too much is buffered."""
        self.write(message)
        if self._queued_bytes + self._transport_buffered() > WRITE_HIGH_WATER_BYTES:
            await self.drain()

    def flush(self) -> None:
        """Hands queued bytes to the transport now."""
        self._flush_scheduled = False
        if not self._queue:
            return
        data = b"".join(self._queue)
        self._queue.clear()
        self._queued_bytes = 0
        if self._closed or self._stream.is_closing():
            return
        self._stream.write(data)

    async def drain(self) -> None:
        """Flushes and waits until the transport buffer is below its high-water mark."""
        self.flush()
        if not self._closed and not self._stream.is_closing():
            await self._stream.drain()

    async def close(self, timeout: float = 1.0) -> None:
        """Flushes, waits up to ``timeout`` seconds for the bytes to leave, and closes the stream."""
        try:
            await asyncio.wait_for(self.drain(), timeout)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        self._closed = True
        self._stream.close()
        try:
            await asyncio.wait_for(self._stream.wait_closed(), timeout)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass

    def _transport_buffered(self) -> int:
        transport = getattr(self._stream, "transport", None)
        try:
            return int(transport.get_write_buffer_size()) if transport is not None else 0
        except NotImplementedError:
            return 0
