"""JSON-RPC 2.0 connection: calls and notifications out, requests and notifications in."""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import json
import logging
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Union

from ._errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MESSAGE_TOO_LARGE,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ConnectionClosedError,
    KeelError,
)
from ._framing import DEFAULT_MAX_FRAME_BYTES, FrameReader, FrameTooLargeError, FrameWriter, InvalidFrameError

logger = logging.getLogger("keel")

Id = Union[str, int, float, None]
RequestHandler = Callable[[Dict[str, Any]], Awaitable[Any]]
NotificationHandler = Callable[[Dict[str, Any]], Any]

_NOT_AN_ID = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


def _error(id: Id, code: int, message: str, data: Any = None) -> Dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "error": KeelError(code, message, data).to_wire()}


class Connection:
    """One JSON-RPC 2.0 peer over a line-framed byte stream.

    Register handlers with `on_request`/`on_notification` before `start`. Incoming requests each
    run in their own task, so a slow handler never blocks the reader; writes from all tasks are
    coalesced by the `FrameWriter`. When the stream ends, pending calls fail with
    `ConnectionClosedError` and running request handlers are cancelled.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self._in = FrameReader(reader, max_frame_bytes)
        self._out = FrameWriter(writer)
        self._ids = itertools.count(1)
        self._pending: Dict[Any, "asyncio.Future[Any]"] = {}
        self._request_handlers: Dict[str, RequestHandler] = {}
        self._notification_handlers: Dict[str, NotificationHandler] = {}
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._reader_task: Optional["asyncio.Task[None]"] = None
        self._closed_event = asyncio.Event()
        self._closed = False
        self._close_callbacks: List[Callable[[], None]] = []

    @property
    def closed(self) -> bool:
        """True once the stream ended or `close` was called."""
        return self._closed

    @property
    def writer(self) -> FrameWriter:
        """The frame writer (e.g. to set ``max_frame_bytes`` to the peer's limit)."""
        return self._out

    def on_request(self, method: str, handler: RequestHandler) -> None:
        """Serves ``method``: ``await handler(params)`` gives the result; a raised `KeelError` becomes
        the error response, any other exception -32603 (logged with an incident id)."""
        self._request_handlers[method] = handler

    def on_notification(self, method: str, handler: NotificationHandler) -> None:
        """Handles notification ``method``; ``handler(params)`` may be sync or async."""
        self._notification_handlers[method] = handler

    def on_close(self, callback: Callable[[], None]) -> None:
        """Calls ``callback()`` once when the connection closes, before running request handlers
        are cancelled."""
        self._close_callbacks.append(callback)

    def start(self) -> None:
        """Starts the reader task. Call once."""
        if self._reader_task is not None:
            raise RuntimeError("Connection.start() called twice")
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())

    async def call(self, method: str, params: Optional[Dict[str, Any]] = None, timeout: Optional[float] = None) -> Any:
        """Sends a request and returns its result.

        Raises:
            KeelError: the peer answered with an error.
            ConnectionClosedError: the connection closed before the answer.
            asyncio.TimeoutError: no answer within ``timeout`` seconds.
        """
        if self._closed:
            raise ConnectionClosedError("connection is closed")
        id = next(self._ids)
        future: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
        self._pending[id] = future
        try:
            await self._out.send({"jsonrpc": "2.0", "id": id, "method": method, "params": params or {}})
            if timeout is None:
                return await future
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(id, None)

    def request(self, method: str, params: Optional[Dict[str, Any]] = None) -> "asyncio.Future[Any]":
        """Queues a request now (no await, no drain: writes of one loop iteration go out in one
        write) and returns the future of its result. Cancelling the future forgets the request;
        a late answer is then ignored.

        Raises:
            ConnectionClosedError: the connection is closed.
            TypeError, ValueError, FrameTooLargeError: ``params`` cannot be sent; nothing queued.
        """
        if self._closed:
            raise ConnectionClosedError("connection is closed")
        id = next(self._ids)
        self._out.write({"jsonrpc": "2.0", "id": id, "method": method, "params": params or {}})
        future: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
        self._pending[id] = future
        future.add_done_callback(functools.partial(self._forget, id))
        return future

    def _forget(self, id: Any, future: "asyncio.Future[Any]") -> None:
        if self._pending.get(id) is future:
            del self._pending[id]

    def notify(self, method: str, params: Optional[Dict[str, Any]] = None) -> None:
        """Queues a notification (no answer). Dropped silently if the connection is closed."""
        if not self._closed:
            self._out.write({"jsonrpc": "2.0", "method": method, "params": params or {}})

    async def close(self) -> None:
        """Flushes queued writes (bounded wait), closes the stream, and stops the reader."""
        await self._out.close()
        if self._reader_task is not None and not self._reader_task.done():
            self._reader_task.cancel()
            # asyncio.wait, not `await task` + `except CancelledError`: that would also swallow a
            # cancellation of the task calling close().
            await asyncio.wait([self._reader_task])
        self._mark_closed("connection closed locally")

    async def wait_closed(self) -> None:
        """Returns once the connection is closed (by the peer or by `close`)."""
        await self._closed_event.wait()

    # Reading

    async def _read_loop(self) -> None:
        reason = "connection closed by peer"
        try:
            while True:
                try:
                    line = await self._in.read()
                except FrameTooLargeError as error:
                    self._out.write(_error(None, MESSAGE_TOO_LARGE, str(error)))
                    continue
                except InvalidFrameError as error:
                    self._out.write(_error(None, PARSE_ERROR, str(error)))
                    continue
                if line is None:
                    break
                self._handle_line(line)
        except (ConnectionError, OSError) as error:
            reason = f"connection lost: {error}"
        finally:
            self._mark_closed(reason)

    def _handle_line(self, line: str) -> None:
        try:
            message = json.loads(line, parse_constant=_reject_constant)
        except ValueError as error:
            # "A line that is not JSON gets -32700 parseError with id: null; the connection stays open."
            self._out.write(_error(None, PARSE_ERROR, f"Parse error: {error}"))
            return
        if isinstance(message, list):
            self._handle_batch(message)
            return
        answer = self._handle_message(message)
        if isinstance(answer, dict):
            self._write_answer(answer)
        elif answer is not None:
            self._spawn(self._answer_later(answer))

    def _handle_batch(self, batch: List[Any]) -> None:
        if not batch:
            self._out.write(_error(None, INVALID_REQUEST, "Invalid Request: empty batch"))
            return
        answers = [self._handle_message(message) for message in batch]
        if any(answer is not None for answer in answers):
            self._spawn(self._answer_batch(answers))

    def _handle_message(self, message: Any) -> Union[None, Dict[str, Any], "Awaitable[Dict[str, Any]]"]:
        """Returns None (nothing to answer), an answer, or an awaitable answer."""
        if not isinstance(message, dict):
            return _error(None, INVALID_REQUEST, "Invalid Request: a message must be a JSON object")
        id = message.get("id", _NOT_AN_ID)
        answer_id = id if id is not _NOT_AN_ID and _valid_id(id) else None
        if message.get("jsonrpc") != "2.0":
            return _error(answer_id, INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
        method = message.get("method", _NOT_AN_ID)
        if method is _NOT_AN_ID:
            if ("result" in message or "error" in message) and id is not _NOT_AN_ID:
                self._handle_response(id, message)
                return None
            return _error(answer_id, INVALID_REQUEST, "Invalid Request: neither a request nor a response")
        if not isinstance(method, str) or (id is not _NOT_AN_ID and not _valid_id(id)):
            return _error(answer_id, INVALID_REQUEST, "Invalid Request: bad method or id")
        params = message.get("params", {})
        if id is _NOT_AN_ID:
            self._handle_notification(method, params)
            return None
        if not isinstance(params, dict):
            # Protocol: "Params are always one object".
            return _error(id, INVALID_PARAMS, "Invalid params: params must be an object")
        handler = self._request_handlers.get(method)
        if handler is None:
            return _error(id, METHOD_NOT_FOUND, f"Method not found: {method}")
        return self._run_handler(id, handler, params)

    def _handle_response(self, id: Any, message: Dict[str, Any]) -> None:
        future = self._pending.get(id) if _valid_id(id) and id is not None else None
        if future is None:
            logger.debug("ignoring a response to unknown id %r", id)
            return
        if future.done():
            return
        if "error" in message:
            future.set_exception(KeelError.from_wire(message["error"]))
        else:
            future.set_result(message.get("result"))

    def _handle_notification(self, method: str, params: Any) -> None:
        handler = self._notification_handlers.get(method)
        if handler is None:
            logger.debug("ignoring unknown notification %s", method)
            return
        try:
            result = handler(params if isinstance(params, dict) else {})
            if inspect.isawaitable(result):
                self._spawn(result)
        except Exception:
            logger.exception("notification handler for %s failed", method)

    async def _run_handler(self, id: Id, handler: RequestHandler, params: Dict[str, Any]) -> Dict[str, Any]:
        try:
            return {"jsonrpc": "2.0", "id": id, "result": await handler(params)}
        except KeelError as error:
            return {"jsonrpc": "2.0", "id": id, "error": error.to_wire()}
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception("request handler failed (incident %s)", incident)
            return _error(id, INTERNAL_ERROR, "Internal error", {"incident": incident})

    async def _answer_later(self, answer: "Awaitable[Dict[str, Any]]") -> None:
        self._write_answer(await answer)

    async def _answer_batch(self, answers: List[Any]) -> None:
        results = await asyncio.gather(*(self._resolve(answer) for answer in answers))
        self._write_answer([result for result in results if result is not None])

    @staticmethod
    async def _resolve(answer: Any) -> Any:
        return await answer if inspect.isawaitable(answer) else answer

    def _write_answer(self, answer: Union[Dict[str, Any], List[Dict[str, Any]]]) -> None:
        if self._closed:
            return
        try:
            self._out.write(answer)
        except (TypeError, ValueError, FrameTooLargeError) as error:
            logger.error("cannot encode an answer: %s", error)
            answers = answer if isinstance(answer, list) else [answer]
            replaced = [_error(a.get("id"), INTERNAL_ERROR, f"Internal error: result not sendable: {error}") for a in answers]
            self._out.write(replaced if isinstance(answer, list) else replaced[0])

    # Lifecycle

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _mark_closed(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        error = ConnectionClosedError(reason)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        for callback in self._close_callbacks:
            try:
                callback()
            except Exception:
                logger.exception("on_close callback failed")
        for task in list(self._tasks):
            task.cancel()
        self._closed_event.set()
