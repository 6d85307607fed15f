"""Activity definitions (what a worker registers) and the per-attempt context."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import datetime
import inspect
import json
import logging
import os
import typing
from typing import Any, Callable, Dict, List, Optional, Union

from ._errors import ATTEMPT_SUPERSEDED, ConnectionClosedError, KeelError
from ._schema import schema_from_type, to_json

logger = logging.getLogger("keel")

Schema = Union[Dict[str, Any], bool]
Seconds = Union[float, int, datetime.timedelta]
# Bound on one heartbeat round trip; a heartbeat that times out is logged and the activity goes on.
HEARTBEAT_CALL_TIMEOUT_S = 10.0

_current: "contextvars.ContextVar[ActivityContext]" = contextvars.ContextVar("keel_activity_context")


def _ms(value: Optional[Seconds]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    return int(round(value * 1000))


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How Keel retries a failed attempt. Unset fields take Keel's defaults (only set ones are sent).

    ``maximum_attempts=0`` means unlimited.
    """

    initial_interval: Optional[Seconds] = None
    backoff_coefficient: Optional[float] = None
    maximum_interval: Optional[Seconds] = None
    maximum_attempts: Optional[int] = None
    non_retryable_error_types: Optional[List[str]] = None

    def to_wire(self) -> Dict[str, Any]:
        wire: Dict[str, Any] = {}
        if self.initial_interval is not None:
            wire["initialIntervalMs"] = _ms(self.initial_interval)
        if self.backoff_coefficient is not None:
            wire["backoffCoefficient"] = float(self.backoff_coefficient)
        if self.maximum_interval is not None:
            wire["maximumIntervalMs"] = _ms(self.maximum_interval)
        if self.maximum_attempts is not None:
            wire["maximumAttempts"] = self.maximum_attempts
        if self.non_retryable_error_types is not None:
            wire["nonRetryableErrorTypes"] = list(self.non_retryable_error_types)
        return wire


class ActivityContext:
    """What an activity knows about its attempt. Also available as `keel.activity_context()`.

    Attributes:
        task_id, name, attempt (1-based), idempotency_key, deadline_ms (epoch ms or None),
        heartbeat_timeout_ms, heartbeat_details (the last details the previous attempt sent),
        workflow_id, input (the raw JSON input).
    """

    def __init__(self, params: Dict[str, Any], connection: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.task_id: str = params.get("taskId", "")
        self.name: str = params.get("name", "")
        self.attempt: int = params.get("attempt", 1)
        self.idempotency_key: Optional[str] = params.get("idempotencyKey")
        self.deadline_ms: Optional[int] = params.get("deadlineMs")
        self.heartbeat_timeout_ms: Optional[int] = params.get("heartbeatTimeoutMs")
        self.heartbeat_details: Any = params.get("heartbeatDetails")
        self.workflow_id: Optional[str] = params.get("workflowId")
        self.input: Any = params.get("input")
        self.cancel_reason: Optional[str] = None
        self._connection = connection
        self._loop = loop
        self._cancelled = False
        self._task: Optional["asyncio.Task[Any]"] = None

    @property
    def cancelled(self) -> bool:
        """True once Keel cancelled this attempt (``activity/cancel``, a heartbeat answer, or a lost
        connection). Sync activities should poll it; async ones also get `asyncio.CancelledError`."""
        return self._cancelled

    async def heartbeat(self, details: Any = None) -> None:
        """Sends ``activity/heartbeat``: resets the heartbeat timeout and stores ``details`` for the
        next attempt.

        Raises:
            asyncio.CancelledError: the attempt was cancelled or superseded, or the connection is
                gone; stop work (clean up and re-raise, or return).
        """
        if self._cancelled:
            raise asyncio.CancelledError()
        params = {"taskId": self.task_id, "attempt": self.attempt, "details": details}
        try:
            result = await self._connection.call("activity/heartbeat", params, timeout=HEARTBEAT_CALL_TIMEOUT_S)
        except KeelError as error:
            if error.code != ATTEMPT_SUPERSEDED:
                logger.warning("heartbeat for %s failed: %s", self.task_id, error)
                return
            self._cancel(f"attempt superseded: {error.message}")
            raise asyncio.CancelledError() from None
        except ConnectionClosedError:
            self._cancel("connection to Keel lost")
            raise asyncio.CancelledError() from None
        except asyncio.TimeoutError:
            logger.warning("heartbeat for %s got no answer within %ss", self.task_id, HEARTBEAT_CALL_TIMEOUT_S)
            return
        if isinstance(result, dict) and result.get("cancelled") is True:
            self._cancel("cancelled (heartbeat answer)")
            raise asyncio.CancelledError()

    async def publish(self, event: Any, name: str = "event") -> None:
        """Publishes ``event`` (any JSON value) to the stream of the workflow that runs this
        activity (``activity/publish``) and waits until Keel stored it, so events keep their order.

        Raises:
            KeelError: Keel refused the event, e.g. 2006 attemptSuperseded (this attempt ended),
                or -32602 for an activity called directly with ``activity/call`` (no stream).
            ConnectionClosedError: the connection to Keel is gone.
        """
        params = {"taskId": self.task_id, "attempt": self.attempt, "name": name, "event": to_json(event)}
        await self._connection.call("activity/publish", params)

    def publish_sync(self, event: Any, name: str = "event") -> None:
        """`publish` for sync activities (they run in a thread). Blocks until Keel answers.

        Raises:
            KeelError, ConnectionClosedError: as `publish`.
        """
        asyncio.run_coroutine_threadsafe(self.publish(event, name), self._loop).result()

    def heartbeat_sync(self, details: Any = None) -> None:
        """`heartbeat` for sync activities (they run in a thread). Blocks until answered.

        Raises:
            asyncio.CancelledError: as `heartbeat`.
        """
        future = asyncio.run_coroutine_threadsafe(self.heartbeat(details), self._loop)
        try:
            future.result(HEARTBEAT_CALL_TIMEOUT_S + 5)
        except concurrent.futures.CancelledError:
            # The coroutine raised asyncio.CancelledError; the thread sees concurrent's own class.
            raise asyncio.CancelledError() from None

    def _cancel(self, reason: str) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        self.cancel_reason = reason
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()


def activity_context() -> ActivityContext:
    """Returns the context of the activity running in this task or thread.

    Raises:
        LookupError: not called from inside an activity.
    """
    return _current.get()


@dataclasses.dataclass
class ActivityDefinition:
    """One registered activity: its function, contract and options."""

    name: str
    fn: Callable[..., Any]
    input: Optional[Schema] = None
    output: Optional[Schema] = None
    description: Optional[str] = None
    retry_policy: Optional[Dict[str, Any]] = None
    timeouts: Optional[Dict[str, Any]] = None
    input_type: Any = None
    is_async: bool = True
    wants_context: bool = False
    takes_input: bool = True

    def to_wire(self) -> Dict[str, Any]:
        """The entry for ``worker/register`` ``activities`` (unset fields omitted)."""
        wire: Dict[str, Any] = {"name": self.name}
        if self.description:
            wire["description"] = self.description
        if self.input is not None:
            wire["input"] = self.input
        if self.output is not None:
            wire["output"] = self.output
        if self.retry_policy:
            wire["retryPolicy"] = self.retry_policy
        if self.timeouts:
            wire["timeouts"] = self.timeouts
        return wire


def build_timeouts(
    start_to_close: Optional[Seconds],
    schedule_to_start: Optional[Seconds],
    schedule_to_close: Optional[Seconds],
    heartbeat: Optional[Seconds],
) -> Optional[Dict[str, Any]]:
    """Wire ``timeouts`` with only the given ones, or None."""
    pairs = [
        ("startToCloseMs", start_to_close),
        ("scheduleToStartMs", schedule_to_start),
        ("scheduleToCloseMs", schedule_to_close),
        ("heartbeatTimeoutMs", heartbeat),
    ]
    timeouts = {key: _ms(value) for key, value in pairs if value is not None}
    return timeouts or None


def build_priority(priority: Optional[int], fairness_key: Optional[str]) -> Dict[str, Any]:
    """Wire ``priority`` and ``fairnessKey`` with only the given ones (docs/protocol.md,
    "Priorities and fairness"): a caller that set neither sends neither, so Keel's default (or the
    execution's values, for a workflow step) applies. Keel checks the ranges (-32602)."""
    wire: Dict[str, Any] = {}
    if priority is not None:
        wire["priority"] = priority
    if fairness_key is not None:
        wire["fairnessKey"] = fairness_key
    return wire


def schema_of(value: Any) -> Optional[Schema]:
    """An explicit ``input=``/``output=``: a schema (dict/bool) as is, a type converted."""
    if value is None or isinstance(value, (dict, bool)):
        return value
    return schema_from_type(value)


def inspect_function(fn: Callable[..., Any]) -> Dict[str, Any]:
    """Finds how to call ``fn`` and what its annotations say: is_async, wants_context, input/output types."""
    signature = inspect.signature(fn)
    positional = [
        p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) > 2:
        raise TypeError(f"activity {fn.__name__} must take (input) or (input, ctx)")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = {}
    input_type = hints.get(positional[0].name) if positional else None
    output_type = hints.get("return")
    return {
        "is_async": inspect.iscoroutinefunction(fn),
        "wants_context": len(positional) == 2,
        "takes_input": len(positional) >= 1,
        "input_type": input_type,
        "output_type": output_type,
    }


def derive_schema(tp: Any) -> Optional[Schema]:
    """A schema from an annotation, or None when the annotation says nothing useful."""
    if tp is None or tp is Any or tp is type(None):
        return None
    try:
        return schema_from_type(tp)
    except TypeError:
        return None


def load_contract_files(directory: Union[str, "os.PathLike[str]"]) -> Dict[str, Dict[str, Any]]:
    """Reads every ``*.json`` contract in ``directory``: ``{name, version, input, output,
    description?, retryPolicy?, timeouts?}``.

    Raises:
        ValueError: a file is not a contract, or two files name the same activity.
    """
    contracts: Dict[str, Dict[str, Any]] = {}
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".json"):
            continue
        path = os.path.join(directory, entry)
        with open(path, encoding="utf-8") as file:
            contract = json.load(file)
        if not isinstance(contract, dict) or not isinstance(contract.get("name"), str):
            raise ValueError(f"{path}: a contract is an object with a string \"name\"")
        missing = [key for key in ("version", "input", "output") if key not in contract]
        if missing:
            raise ValueError(f"{path}: contract {contract['name']!r} lacks {', '.join(missing)}")
        if contract["name"] in contracts:
            raise ValueError(f"{path}: a second contract for {contract['name']!r}")
        contracts[contract["name"]] = contract
    return contracts
