import asyncio
import json

import pytest
from conftest import run

from keel._framing import FrameReader, FrameTooLargeError, FrameWriter, InvalidFrameError, LineDecoder, encode_frame

MESSAGES = [
    {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}},
    {"jsonrpc": "2.0", "id": "k7", "result": {"output": {"text": "h\u00e9llo\nw\u00f6rld \u2603 \U0001F600 \u2028"}}},
    {"jsonrpc": "2.0", "method": "activity/cancel", "params": {"taskId": "t", "attempt": 1, "reason": "\r\n\t"}},
]
STREAM = b"".join(encode_frame(m) for m in MESSAGES)


def decode_all(chunks, limit=1024):
    decoder = LineDecoder(limit)
    out = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out + decoder.finish()


def test_a_stream_split_at_every_byte_decodes_to_the_same_frames():
    for cut in range(len(STREAM) + 1):
        frames = decode_all([STREAM[:cut], STREAM[cut:]])
        assert [json.loads(f) for f in frames] == MESSAGES, cut
    frames = decode_all([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert [json.loads(f) for f in frames] == MESSAGES


def test_many_frames_in_one_buffer_and_crlf_and_blank_lines():
    data = STREAM * 200 + b"\r\n\n" + b'{"a":1}\r\n'
    frames = decode_all([data], limit=4096)
    assert len(frames) == 601
    assert frames[-1] == b'{"a":1}'


def test_a_frame_at_the_limit_passes_and_one_byte_more_is_reported_once_then_skipped():
    limit = 64
    exact = b"x" * limit
    over = b"y" * (limit + 1)
    for chunk_size in (1, 7, 64, 1000):
        data = exact + b"\r\n" + over + b"\n" + b"z" * 5000 + b"\n" + b"ok\n"
        chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
        frames = decode_all(chunks, limit)
        assert frames[0] == exact, chunk_size
        assert isinstance(frames[1], FrameTooLargeError) and isinstance(frames[2], FrameTooLargeError)
        assert frames[3:] == [b"ok"]


def test_an_unterminated_last_line_is_returned_at_end_of_stream():
    assert decode_all([b'{"a":1}\n{"b":2}']) == [b'{"a":1}', b'{"b":2}']


def test_encode_frame_never_writes_raw_newlines_and_stays_utf8():
    tricky = {"s": "a\nb\rc\u2028\u2029\x00", "lone": "\ud800", "emoji": "\U0001F600"}
    data = encode_frame(tricky)
    assert data.endswith(b"\n") and data.count(b"\n") == 1 and b"\r" not in data
    assert json.loads(data.decode("utf-8")) == tricky
    assert "\U0001F600".encode() in encode_frame({"e": "\U0001F600"})  # not \\u-escaped
    with pytest.raises(ValueError):
        encode_frame({"x": float("nan")})
    with pytest.raises(TypeError):
        encode_frame({"x": object()})


async def _reader_for(data: bytes, limit: int) -> FrameReader:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    return FrameReader(stream, limit)


def test_frame_reader_reports_oversize_and_invalid_utf8_and_keeps_reading():
    async def main():
        reader = await _reader_for(b'{"a":1}\n' + b"x" * 100 + b"\n" + b'{"s":"\xff"}\n' + b'{"b":2}\n', 50)
        assert await reader.read() == '{"a":1}'
        with pytest.raises(FrameTooLargeError):
            await reader.read()
        with pytest.raises(InvalidFrameError):
            await reader.read()
        assert await reader.read() == '{"b":2}'
        assert await reader.read() is None
        assert await reader.read() is None

    run(main())


def test_frame_writer_coalesces_writes_of_one_loop_iteration():
    async def main():
        r_sock, w_sock = __import__("socket").socketpair()
        reader, unused_writer = await asyncio.open_connection(sock=r_sock)  # keep: GC would close it
        unused_reader, writer = await asyncio.open_connection(sock=w_sock)
        calls = []
        original = writer.write
        writer.write = lambda data: (calls.append(len(data)), original(data))  # a recording spy
        out = FrameWriter(writer, max_frame_bytes=100)
        for i in range(500):
            out.write({"i": i})
        with pytest.raises(FrameTooLargeError):
            out.write({"big": "x" * 200})
        await out.drain()
        assert len(calls) == 1
        lines = [json.loads(await reader.readline()) for _ in range(500)]
        assert lines == [{"i": i} for i in range(500)]
        await out.close()
        unused_writer.close()

    run(main())
