"""`Client`: calls activities, starts and drives workflows, and inspects Keel over a socket."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Sequence, Union

from ._activity import RetryPolicy, Seconds, _ms, build_priority
from ._connection import Connection
from ._errors import UNAUTHORIZED, UNSUPPORTED_PROTOCOL_VERSION, ConnectionClosedError, ConnectionLostError, KeelError
from ._framing import DEFAULT_MAX_FRAME_BYTES
from ._schedules import ScheduleMethods
from ._schema import to_json
from ._reconnect import RECONNECT_INITIAL_S, RECONNECT_MAX_S, Backoff, EndpointRing, safe_to_repeat
from ._transport import TLS, Addresses, Endpoint, open_stream, resolve_endpoints
from ._version import __version__

logger = logging.getLogger("keel")

# How long one call keeps reconnecting to an unreachable Keel before it fails.
RECONNECT_TIMEOUT_S = 30.0
# Bound on the initialize round trip.
CONNECT_TIMEOUT_S = 10.0
# Slack added to a server-side wait before the local call gives up.
WAIT_SLACK_S = 5.0
# workflow/follow's server-side wait per long poll.
FOLLOW_WAIT_S = 30.0
# workflow/result's server-side wait when none is given ("waitTimeoutMs? (default 60000)").
DEFAULT_RESULT_WAIT_S = 60.0
# workflow/update's server-side wait for the answer when none is given ("waitTimeoutMs ... default 60,000").
DEFAULT_UPDATE_WAIT_MS = 60_000


async def _open(endpoint: Endpoint, max_frame_bytes: int) -> Connection:
    """Opens a connection and runs ``initialize`` on it; closes it again on any failure."""
    reader, writer = await open_stream(endpoint)
    connection = Connection(reader, writer, max_frame_bytes=max_frame_bytes)
    connection.start()
    params: Dict[str, Any] = {"protocolVersion": "1", "clientInfo": {"name": "keel-python", "version": __version__}}
    if endpoint.token is not None:
        params["token"] = endpoint.token
    try:
        result = await connection.call("initialize", params, timeout=CONNECT_TIMEOUT_S)
        if not isinstance(result, dict) or result.get("protocolVersion") != "1":
            raise KeelError(UNSUPPORTED_PROTOCOL_VERSION, f"Keel answered initialize with {result!r}")
    except BaseException:
        await connection.close()
        raise
    return connection


def _start_params(
    name: str,
    input: Any,
    workflow_id: Optional[str] = None,
    *,
    conflict_policy: Optional[str] = None,
    priority: Optional[int] = None,
    fairness_key: Optional[str] = None,
    search_attributes: Optional[Mapping[str, Any]] = None,
    memo: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """``workflow/start`` params: each option sent only when given."""
    params: Dict[str, Any] = {"name": name, "input": to_json(input)}
    if workflow_id is not None:
        params["workflowId"] = workflow_id
    if conflict_policy is not None:
        params["conflictPolicy"] = conflict_policy
    params.update(build_priority(priority, fairness_key))
    if search_attributes is not None:
        params["searchAttributes"] = to_json(dict(search_attributes))
    if memo is not None:
        params["memo"] = to_json(dict(memo))
    return params


@dataclasses.dataclass
class ActivityResult:
    """The answer of ``activity/call`` and ``activity/result``.

    ``status`` is one of scheduled, running, completed, failed, timedOut, cancelled; ``failure``
    is ``{type, message, retryable, details}`` for failed/timedOut.
    """

    task_id: str
    status: str
    attempts: int = 0
    output: Any = None
    failure: Optional[Dict[str, Any]] = None
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, result: Dict[str, Any]) -> "ActivityResult":
        return cls(
            task_id=result.get("taskId", ""),
            status=result.get("status", ""),
            attempts=result.get("attempts", 0),
            output=result.get("output"),
            failure=result.get("failure"),
            raw=result,
        )


@dataclasses.dataclass
class WorkflowResult:
    """The answer of ``workflow/start`` and ``workflow/result``.

    ``status`` is one of pending, running, suspended, completed, failed, cancelled, parked,
    terminated, timedOut; ``output`` is set when completed, ``failure`` (``{type, message, ...}``)
    when it ended otherwise; ``started`` is False when ``workflow/start`` found an existing execution.
    """

    workflow_id: str
    status: str
    output: Any = None
    failure: Optional[Dict[str, Any]] = None
    started: Optional[bool] = None
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """True once the execution ended (completed, failed, cancelled, terminated or timedOut)."""
        return self.status in ("completed", "failed", "cancelled", "terminated", "timedOut")

    @classmethod
    def from_wire(cls, result: Dict[str, Any]) -> "WorkflowResult":
        return cls(
            workflow_id=result.get("workflowId", ""),
            status=result.get("status", ""),
            output=result.get("output"),
            failure=result.get("failure"),
            started=result.get("started"),
            raw=result,
        )


@dataclasses.dataclass
class SignalResult:
    """The answer of ``workflow/signal``.

    ``duplicate`` is True when Keel had already taken a signal with the same request id for this
    workflow and delivered nothing this time; ``consumed`` (first delivery only) says a waiting
    step took the signal at once.
    """

    delivered: bool
    duplicate: bool = False
    consumed: Optional[bool] = None
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, result: Dict[str, Any]) -> "SignalResult":
        return cls(
            delivered=bool(result.get("delivered", False)),
            duplicate=bool(result.get("duplicate", False)),
            consumed=result.get("consumed"),
            raw=result,
        )


@dataclasses.dataclass
class StreamEvent:
    """One event of an execution's stream (``workflow/follow``).

    ``offset`` numbers the stream's events 1, 2, 3...; ``source`` is "workflow" (with ``seq``, the
    publish step) or "activity" (with ``task_id`` and ``attempt``); ``at_ms`` is when Keel stored it.
    """

    offset: int
    name: str
    event: Any
    source: str
    at_ms: Optional[int] = None
    seq: Optional[int] = None
    task_id: Optional[str] = None
    attempt: Optional[int] = None
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, event: Dict[str, Any]) -> "StreamEvent":
        return cls(
            offset=event.get("offset", 0),
            name=event.get("name", ""),
            event=event.get("event"),
            source=event.get("source", ""),
            at_ms=event.get("atMs"),
            seq=event.get("seq"),
            task_id=event.get("taskId"),
            attempt=event.get("attempt"),
            raw=event,
        )


class Client(ScheduleMethods):
    """A connection to Keel for calling activities, driving workflows and schedules, and inspecting workers.

    Use ``async with await Client.connect(...) as client:`` or call `close`. When Keel restarts,
    the next call reconnects (full-jitter backoff for up to ``reconnect_timeout``); a call in flight
    at the drop is sent again when that is safe, else it raises `ConnectionLostError`
    (docs/clients.md "Reconnecting"). With several endpoints, a reconnect tries them in order from
    the one after the endpoint that failed (docs/clients.md "Several endpoints").
    """

    def __init__(
        self,
        connection: Connection,
        *,
        endpoint: Optional[Endpoint] = None,
        endpoints: Optional[Sequence[Endpoint]] = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        reconnect_initial: float = RECONNECT_INITIAL_S,
        reconnect_max: float = RECONNECT_MAX_S,
        reconnect_timeout: float = RECONNECT_TIMEOUT_S,
    ) -> None:
        """Wraps an initialized ``connection`` (to the first of ``endpoints``, or to ``endpoint``);
        without either it never reconnects."""
        self._connection = connection
        listed = list(endpoints) if endpoints else [endpoint] if endpoint is not None else []
        self._endpoints: Optional[EndpointRing[Endpoint]] = EndpointRing(listed) if listed else None
        self._max_frame_bytes = max_frame_bytes
        self._backoff = Backoff(reconnect_initial, reconnect_max)
        self._reconnect_timeout = reconnect_timeout
        self._reconnecting: Optional[asyncio.Lock] = None  # made in the loop (3.9 binds locks at creation)
        self._closed = False

    @classmethod
    async def connect(
        cls,
        *,
        socket: Addresses = None,
        tcp: Addresses = None,
        token: Optional[str] = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        reconnect_initial: float = RECONNECT_INITIAL_S,
        reconnect_max: float = RECONNECT_MAX_S,
        reconnect_timeout: float = RECONNECT_TIMEOUT_S,
        tls: Union[bool, TLS, None] = None,
    ) -> "Client":
        """Connects (``socket=``/``KEEL_SOCKET``, or ``tcp=`` + ``token=``) and initializes.

        ``reconnect_*`` (seconds) shape later reconnects: the backoff's first bound and cap, and
        how long one call keeps trying before it gives up. ``tls=True`` or ``tls=TLS(ca_file=...)``
        speaks TLS over ``tcp=`` (docs/security.md "TLS"). ``socket=``/``tcp=`` (and
        ``KEEL_SOCKET``/``KEEL_TCP``, comma-separated) may list several endpoints: the first
        reachable one in order is used.

        Raises:
            OSError: no endpoint is reachable (the message names each one and why).
            KeelError: Keel refused the connection.
        """
        endpoints = resolve_endpoints(socket, tcp, token, allow_stdio=False, tls=tls)
        failures: List[str] = []
        for index, endpoint in enumerate(endpoints):
            try:
                connection = await _open(endpoint, max_frame_bytes)
            except KeelError as error:
                if error.code in (UNAUTHORIZED, UNSUPPORTED_PROTOCOL_VERSION) or len(endpoints) == 1:
                    raise
                failures.append(f"{endpoint}: {error}")
                continue
            except (OSError, asyncio.TimeoutError) as error:
                if len(endpoints) == 1:
                    raise
                failures.append(f"{endpoint}: {error or type(error).__name__}")
                continue
            break
        else:
            raise ConnectionRefusedError(f"no Keel endpoint is reachable: {'; '.join(failures)}")
        return cls(
            connection,
            endpoints=endpoints[index:] + endpoints[:index],
            max_frame_bytes=max_frame_bytes,
            reconnect_initial=reconnect_initial,
            reconnect_max=reconnect_max,
            reconnect_timeout=reconnect_timeout,
        )

    async def _call(self, method: str, params: Dict[str, Any], timeout: Optional[float]) -> Any:
        """One call, reconnecting first if the connection dropped; repeats it after a drop only
        when `safe_to_repeat` says so.

        Raises:
            ConnectionLostError: dropped in flight and not safe to repeat.
            OSError, ConnectionClosedError: Keel stayed unreachable for ``reconnect_timeout``.
        """
        while True:
            connection = await self._connected()
            try:
                return await connection.call(method, params, timeout=timeout)
            except ConnectionClosedError as error:
                if self._closed or self._endpoints is None:
                    raise
                if not safe_to_repeat(method, params):
                    raise ConnectionLostError(method, str(error)) from error
                logger.info("connection to Keel lost during %s; sending it again", method)

    async def _connected(self) -> Connection:
        endpoints = self._endpoints
        if not self._connection.closed or self._closed or endpoints is None:
            return self._connection  # a closed one raises ConnectionClosedError on call
        if self._reconnecting is None:
            self._reconnecting = asyncio.Lock()
        async with self._reconnecting:
            if not self._connection.closed:
                return self._connection  # another call reconnected meanwhile
            deadline = asyncio.get_running_loop().time() + self._reconnect_timeout
            endpoints.failed()  # the connected endpoint dropped: start with the next one
            while True:
                try:
                    self._connection = await _open(endpoints.current, self._max_frame_bytes)
                    self._backoff.reset()
                    endpoints.succeeded()
                    return self._connection
                except KeelError as error:
                    if error.code in (UNAUTHORIZED, UNSUPPORTED_PROTOCOL_VERSION):
                        raise
                    failure: BaseException = error
                except (OSError, asyncio.TimeoutError) as error:
                    failure = error
                if not endpoints.failed():
                    continue  # try the next endpoint at once; wait only after a whole round
                pause = self._backoff.next()
                if asyncio.get_running_loop().time() + pause > deadline:
                    raise failure
                logger.info("Keel not reachable (%s); reconnecting in %.2fs", failure, pause)
                await asyncio.sleep(pause)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the connection; later calls raise `ConnectionClosedError`."""
        self._closed = True
        await self._connection.close()

    async def call_activity(
        self,
        name: str,
        input: Any = None,
        *,
        idempotency_key: Optional[str] = None,
        wait: bool = True,
        wait_timeout: Optional[Seconds] = None,
        retry_policy: Union[RetryPolicy, Dict[str, Any], None] = None,
        start_to_close: Optional[Seconds] = None,
        schedule_to_start: Optional[Seconds] = None,
        schedule_to_close: Optional[Seconds] = None,
        priority: Optional[int] = None,
        fairness_key: Optional[str] = None,
    ) -> ActivityResult:
        """Runs one durable activity call (``activity/call``).

        With ``wait`` it returns the final result, or the current status after ``wait_timeout``;
        without, at once with status ``scheduled``.

        ``priority`` (-1000..1000, Keel's default 0; higher runs first) and ``fairness_key`` (1 to
        256 characters) order the task among the ready tasks of the same activity: highest priority
        first, then round-robin over fairness keys, then first in first out. Each is sent only
        when given.

        Raises:
            KeelError: e.g. 3001 inputContractViolation, 4002 idempotencyConflict.
        """
        params: Dict[str, Any] = {"name": name, "input": input, "wait": wait}
        if idempotency_key is not None:
            params["idempotencyKey"] = idempotency_key
        if wait_timeout is not None:
            params["waitTimeoutMs"] = _ms(wait_timeout)
        if retry_policy is not None:
            params["retryPolicy"] = retry_policy.to_wire() if isinstance(retry_policy, RetryPolicy) else retry_policy
        timeouts = {
            key: _ms(value)
            for key, value in (
                ("startToCloseMs", start_to_close),
                ("scheduleToStartMs", schedule_to_start),
                ("scheduleToCloseMs", schedule_to_close),
            )
            if value is not None
        }
        if timeouts:
            params["timeouts"] = timeouts
        params.update(build_priority(priority, fairness_key))
        result = await self._call("activity/call", params, timeout=self._local_timeout(wait, wait_timeout))
        return ActivityResult.from_wire(result)

    async def activity_result(
        self, task_id: Optional[str] = None, *, idempotency_key: Optional[str] = None, wait_timeout: Optional[Seconds] = None
    ) -> ActivityResult:
        """Fetches a task's result (``activity/result``), waiting up to ``wait_timeout`` for it to end."""
        if (task_id is None) == (idempotency_key is None):
            raise ValueError("give exactly one of task_id and idempotency_key")
        params: Dict[str, Any] = {"taskId": task_id} if task_id is not None else {"idempotencyKey": idempotency_key}
        if wait_timeout is not None:
            params["waitTimeoutMs"] = _ms(wait_timeout)
        result = await self._call("activity/result", params, timeout=self._local_timeout(True, wait_timeout))
        return ActivityResult.from_wire(result)

    async def cancel_activity(self, task_id: str) -> str:
        """Cancels a task (``activity/cancel``); returns the new status."""
        result = await self._call("activity/cancel", {"taskId": task_id}, timeout=CONNECT_TIMEOUT_S)
        return str((result or {}).get("status", ""))

    # Workflows

    async def start_workflow(
        self,
        name: str,
        input: Any = None,
        workflow_id: Optional[str] = None,
        *,
        conflict_policy: Optional[str] = None,
        priority: Optional[int] = None,
        fairness_key: Optional[str] = None,
        search_attributes: Optional[Mapping[str, Any]] = None,
        memo: Optional[Mapping[str, Any]] = None,
    ) -> WorkflowResult:
        """Starts workflow ``name`` (``workflow/start``). Idempotent: an existing ``workflow_id``
        returns that execution with ``started`` False (``conflict_policy="fail"`` refuses instead).

        ``priority`` (-1000..1000, default 0) and ``fairness_key`` are kept by the execution: every
        activity step of it (and of its children) inherits them unless the step sets its own
        (`WorkflowContext.activity`). Each is sent only when given; ``describe`` shows them.

        ``search_attributes`` (at most 32 keys ``[A-Za-z_][A-Za-z0-9_]{0,63}``, not a built-in
        field name; values strings of at most 1,024 bytes, finite numbers or booleans) are indexed
        for `list_workflows` queries; ``memo`` (any JSON, at most 32 KiB encoded) is not indexed.
        ``describe`` shows both; the workflow changes them with
        `WorkflowContext.upsert_search_attributes` and `WorkflowContext.upsert_memo`. Each is sent
        (as ``searchAttributes`` / ``memo``) only when given.

        Raises:
            KeelError: e.g. 3001 inputContractViolation, a conflict under policy "fail", -32602
                for a priority out of range or an empty or too long fairness key, or search
                attributes or a memo Keel refuses (Keel, not the client, checks them).
        """
        params = _start_params(name, input, workflow_id, conflict_policy=conflict_policy, priority=priority,
                               fairness_key=fairness_key, search_attributes=search_attributes, memo=memo)
        return WorkflowResult.from_wire(await self._call("workflow/start", params, timeout=CONNECT_TIMEOUT_S) or {})

    async def signal_with_start(
        self,
        name: str,
        input: Any,
        signal_name: str,
        payload: Any = None,
        *,
        request_id: Optional[str] = None,
        **start_options: Any,
    ) -> Dict[str, Any]:
        """Sends signal ``signal_name`` with ``payload`` to the execution ``workflow_id=`` names,
        starting workflow ``name`` with ``input`` first when no execution has that id
        (``workflow/start`` with ``signal``). Keel starts it and buffers the signal in one
        transaction, so the workflow's first `WorkflowContext.signal` wait for that name receives
        it; an open execution with the id just gets the signal (``started`` False).

        ``start_options`` are `start_workflow`'s: ``workflow_id=`` (give one: it is how a later call
        finds the same execution; without it Keel generates one), ``conflict_policy=``,
        ``priority=``, ``fairness_key=``, ``search_attributes=``, ``memo=``, each sent only when
        given. ``request_id`` deduplicates the signal like `signal`'s (1 to 512 bytes; default a
        fresh UUID v4), so a call in flight when the connection drops is sent again after the
        reconnect and delivers once (when it has a ``workflow_id``).

        Returns the wire result: the start result (``workflowId``, ``status``, ``started``, ...)
        plus ``"signal": {"delivered": True, "duplicate": bool}``.

        Raises:
            KeelError: 1001 when the execution with that id has ended ("has ended"), or what
                `start_workflow` raises.
            TypeError: an option `start_workflow` does not take.
        """
        params = _start_params(name, input, **start_options)
        params["signal"] = {
            "name": signal_name,
            "payload": to_json(payload),
            "requestId": str(uuid.uuid4()) if request_id is None else request_id,
        }
        return dict(await self._call("workflow/start", params, timeout=CONNECT_TIMEOUT_S) or {})

    async def query_workflow(self, workflow_id: str, name: str) -> Any:
        """The latest value the workflow set for query ``name`` with
        `WorkflowContext.set_query_value` (``workflow/query``). Keel answers from what it stored,
        so this works with no worker connected and after the execution ended. A read: sent again
        after a reconnect. The full wire answer is ``{workflowId, name, value, seq, atMs, status}``;
        this returns ``value``.

        Raises:
            KeelError: 1030 queryNotFound when the workflow never set ``name`` (``data`` is
                ``{workflowId, name, known: [the names it did set]}``); 1001 no such workflow.
        """
        params = {"workflowId": workflow_id, "name": name}
        result = await self._call("workflow/query", params, timeout=CONNECT_TIMEOUT_S)
        return (result or {}).get("value")

    async def update_workflow(
        self,
        workflow_id: str,
        name: str,
        input: Any = None,
        update_id: Optional[str] = None,
        wait_timeout_ms: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Sends update ``name`` with ``input`` to the workflow (``workflow/update``) and waits up
        to ``wait_timeout_ms`` (default 60,000, Keel's) for its answer: the workflow receives it
        with `WorkflowContext.wait_for_update` and answers with `WorkflowContext.respond` or
        `WorkflowContext.reject` (docs/protocol.md, "Updates").

        Returns the wire result ``{workflowId, updateId, name, status, result?, failure?}``:
        ``status`` "completed" with ``result``, "rejected" with ``failure`` (``{type, message,
        details?}``), or "pending" when the wait ended first (the update stays delivered; call
        again with the same ``update_id`` to wait for the same update).

        Every call carries an update id (``update_id``, 1 to 512 bytes; default a fresh UUID v4):
        the same id is the same update, delivered once, and a later call with it gets the same
        outcome. So an update in flight when the connection drops is sent again after the
        reconnect. Pass your own id to make a retry from elsewhere (e.g. after a process restart)
        find the same update.

        Raises:
            KeelError: 1031 updateUnanswered when the workflow ended without answering (``data``
                is ``{workflowId, updateId, status}``); 1001 no such workflow, or it ended before
                the update was accepted; 3001 inputContractViolation (nothing recorded); -32602
                invalid params.
        """
        params: Dict[str, Any] = {
            "workflowId": workflow_id,
            "name": name,
            "input": to_json(input),
            "updateId": str(uuid.uuid4()) if update_id is None else update_id,
        }
        if wait_timeout_ms is not None:
            params["waitTimeoutMs"] = wait_timeout_ms
        local = (DEFAULT_UPDATE_WAIT_MS if wait_timeout_ms is None else wait_timeout_ms) / 1000 + WAIT_SLACK_S
        return dict(await self._call("workflow/update", params, timeout=local) or {})

    async def workflow_result(self, workflow_id: str, timeout: Optional[Seconds] = None) -> WorkflowResult:
        """Waits up to ``timeout`` (default 60 s, Keel's) for the execution to end
        (``workflow/result``); past it, returns the current status (check ``done``)."""
        params: Dict[str, Any] = {"workflowId": workflow_id}
        if timeout is not None:
            params["waitTimeoutMs"] = _ms(timeout)
        local = (_ms(timeout) / 1000 if timeout is not None else DEFAULT_RESULT_WAIT_S) + WAIT_SLACK_S  # type: ignore[operator]
        return WorkflowResult.from_wire(await self._call("workflow/result", params, timeout=local) or {})

    async def signal(
        self, workflow_id: str, name: str, payload: Any = None, *, request_id: Optional[str] = None
    ) -> SignalResult:
        """Sends signal ``name`` with ``payload`` (``workflow/signal``): recorded durably, in
        order, and buffered until the workflow waits for it.

        Every call carries a request id (``request_id``, 1 to 512 bytes; default a fresh UUID
        v4): Keel delivers a signal with a given id to a workflow once, and answers a later one
        with the same id ``duplicate=True``, delivering nothing. So a signal in flight when the
        connection drops is sent again after the reconnect. Pass your own id to make a retry
        from elsewhere (e.g. after a process restart) deduplicate too.
        """
        params = {
            "workflowId": workflow_id,
            "name": name,
            "payload": to_json(payload),
            "requestId": str(uuid.uuid4()) if request_id is None else request_id,
        }
        return SignalResult.from_wire(await self._call("workflow/signal", params, timeout=CONNECT_TIMEOUT_S) or {})

    async def cancel_workflow(self, workflow_id: str, reason: Optional[str] = None) -> str:
        """Asks to cancel an execution (``workflow/cancel``): the workflow sees `keel.Cancelled`
        at its current step and may compensate. Returns the status Keel reports."""
        params: Dict[str, Any] = {"workflowId": workflow_id}
        if reason is not None:
            params["reason"] = reason
        result = await self._call("workflow/cancel", params, timeout=CONNECT_TIMEOUT_S)
        return str((result or {}).get("status", ""))

    async def reset_workflow(self, workflow_id: str, to_step: int, reason: Optional[str] = None) -> Dict[str, Any]:
        """Runs an execution again from step ``to_step`` (``workflow/reset``): its next generation
        keeps journal steps 1..``to_step`` (they replay, their activities do not run again) and runs
        the rest on today's workers. Works on ended and open executions. Returns
        ``{workflowId, status, generation, previousGeneration, toStep, keptSteps, previousStatus}``.

        Raises:
            KeelError: 1001 no such workflow, 1010 past the journal, 1011 a kept step has no
                outcome yet, 1012 a child step would start twice.
        """
        params: Dict[str, Any] = {"workflowId": workflow_id, "toStep": to_step}
        if reason is not None:
            params["reason"] = reason
        return dict(await self._call("workflow/reset", params, timeout=CONNECT_TIMEOUT_S) or {})

    async def batch_workflows(
        self, operation: str, query: str, *, dry_run: bool, signal: Optional[str] = None, payload: Any = None,
        reason: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Cancels, signals or terminates every workflow ``query`` matches (``workflow/batch``,
        e.g. ``"status=open AND name=orders.*"``), following the pages. Returns the totals
        ``{matched, applied, skipped, failedCount, failed: [{workflowId, error}]}``; a dry run
        changes nothing and adds ``sample`` (the first ids).

        Raises:
            KeelError: 1013 a bad query (``data.position``).
        """
        params: Dict[str, Any] = {"operation": operation, "query": query, "dryRun": dry_run}
        if signal is not None:
            params["signal"] = {"name": signal, "payload": to_json(payload)}
        if reason is not None:
            params["reason"] = reason
        total: Dict[str, Any] = {"matched": 0, "applied": 0, "skipped": 0, "failedCount": 0, "failed": [], "sample": []}
        while True:
            page = await self._call("workflow/batch", params, timeout=CONNECT_TIMEOUT_S) or {}
            for key in ("matched", "applied", "skipped", "failedCount"):
                total[key] += int(page.get(key, 0))
            total["failed"] += page.get("failed", [])
            total["sample"] += page.get("sample", [])[: max(0, 10 - len(total["sample"]))]
            if "nextCursor" not in page:
                return total
            params["cursor"] = page["nextCursor"]

    async def follow(
        self, workflow_id: str, after_offset: int = 0, *, limit: Optional[int] = None, wait_timeout: Seconds = FOLLOW_WAIT_S
    ) -> AsyncIterator[StreamEvent]:
        """Yields the events of ``workflow_id``'s stream after ``after_offset``, each once and in
        offset order, as they are published (``workflow/follow`` long polls of ``wait_timeout``,
        each from the last ``nextOffset``); ends after the execution ended and its last events
        were yielded. ``async for event in client.follow(id): ...``; break out to stop early.

        A poll in flight when the connection drops is sent again after the reconnect from the
        same offset, so nothing is lost or repeated.

        Raises:
            KeelError: e.g. 1001 no such workflow.
            ConnectionLostError, OSError: Keel stayed unreachable.
        """
        offset = after_offset
        wait_ms = _ms(wait_timeout) or 0
        while True:
            params: Dict[str, Any] = {"workflowId": workflow_id, "afterOffset": offset, "waitTimeoutMs": wait_ms}
            if limit is not None:
                params["limit"] = limit
            page = await self._call("workflow/follow", params, timeout=wait_ms / 1000 + WAIT_SLACK_S) or {}
            for wire in page.get("events") or []:
                event = StreamEvent.from_wire(wire)
                if event.offset <= offset:
                    continue  # never twice, whatever a page repeats
                offset = event.offset
                yield event
            if page.get("done") is True:
                return
            next_offset = page.get("nextOffset")
            if isinstance(next_offset, int) and not isinstance(next_offset, bool) and next_offset > offset:
                offset = next_offset

    async def describe(self, workflow_id: str) -> Dict[str, Any]:
        """``workflow/describe``: ``{workflowId, name, status, runId, input, output?, failure?,
        currentStep?, pendingSteps, createdAtMs, updatedAtMs, parentId?, priority, fairnessKey?,
        searchAttributes?, memo?}`` as the wire object (``searchAttributes`` and ``memo`` when set)."""
        return dict(await self._call("workflow/describe", {"workflowId": workflow_id}, timeout=CONNECT_TIMEOUT_S) or {})

    async def history(self, workflow_id: str) -> List[Dict[str, Any]]:
        """The journal (``workflow/history``): entries ``{seq, kind, name, input, status,
        result?, failure?, attempts, ...}`` in seq order."""
        result = await self._call("workflow/history", {"workflowId": workflow_id}, timeout=CONNECT_TIMEOUT_S)
        return list((result or {}).get("entries", []))

    async def list_workflows(self, query: Optional[str] = None, **filters: Any) -> Dict[str, Any]:
        """``workflow/list``: one page ``{workflows: [...], nextCursor?}``; each summary carries
        ``searchAttributes`` when set.

        ``query`` (sent only when given) selects by search attributes and built-in fields, e.g.
        ``'customer = "acme" AND amount >= 100 AND (status = "running" OR status = "suspended")'``
        or ``'startedAt > "2026-12-01" AND NOT vip = true AND region IN ("eu", "us") AND sku
        STARTS_WITH "A-"'``. Built-ins: workflowId, name, status, startedAt (= createdAt),
        updatedAt; operators ``= != < <= > >= IN STARTS_WITH``, ``AND OR NOT``, parentheses
        (docs/protocol.md, "Search attributes and memo"). ``filters`` are the other wire params,
        passed as they are (``status``, ``name``, ``limit``, ``cursor``, ``order``...).

        Raises:
            KeelError: 1013 invalidQuery (the message names the token and its position;
                ``data`` is ``{query, position, term}``).
        """
        params: Dict[str, Any] = dict(filters)
        if query is not None:
            params["query"] = query
        return dict(await self._call("workflow/list", params, timeout=CONNECT_TIMEOUT_S) or {})

    async def resume_workflow(self, workflow_id: str) -> Dict[str, Any]:
        """Re-runs a parked execution (``workflow/resume``), e.g. after fixing non-determinism."""
        return dict(await self._call("workflow/resume", {"workflowId": workflow_id}, timeout=CONNECT_TIMEOUT_S) or {})

    # Inspection

    async def workers(self) -> List[Dict[str, Any]]:
        """Lists connected workers (``worker/list``), as the wire objects."""
        result = await self._call("worker/list", {}, timeout=CONNECT_TIMEOUT_S)
        return list((result or {}).get("workers", []))

    async def ping(self) -> None:
        """Round trip to Keel."""
        await self._call("ping", {}, timeout=CONNECT_TIMEOUT_S)

    @staticmethod
    def _local_timeout(wait: bool, wait_timeout: Optional[Seconds]) -> Optional[float]:
        if not wait:
            return CONNECT_TIMEOUT_S
        if wait_timeout is None:
            return None  # the server waits as long as the task runs
        return _ms(wait_timeout) / 1000 + WAIT_SLACK_S  # type: ignore[operator]
