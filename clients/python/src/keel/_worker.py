"""`Worker`: registers activities and workflows with Keel and serves ``activity/execute`` and
``workflow/run``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import json
import logging
import os
import re
import signal
import sys
from typing import Any, Callable, Dict, Optional, Sequence, Set, Tuple, TypeVar, Union

from ._activity import (
    ActivityContext,
    ActivityDefinition,
    RetryPolicy,
    Seconds,
    _current,
    build_timeouts,
    derive_schema,
    inspect_function,
    load_contract_files,
    schema_of,
)
from ._reconnect import RECONNECT_INITIAL_S, RECONNECT_MAX_S, Backoff, EndpointRing
from ._connection import Connection
from ._errors import (
    ATTEMPT_SUPERSEDED,
    CONTRACT_CONFLICT,
    INVALID_PARAMS,
    SHUTTING_DOWN,
    UNAUTHORIZED,
    UNSUPPORTED_PROTOCOL_VERSION,
    ActivityError,
    KeelError,
)
from ._framing import DEFAULT_MAX_FRAME_BYTES, FrameTooLargeError, encode_frame
from ._schema import from_json, to_json
from ._transport import TLS, Addresses, Endpoint, open_stream, resolve_endpoints
from ._version import __version__
from ._workflow import WorkflowDefinition, WorkflowRun

logger = logging.getLogger("keel")
F = TypeVar("F", bound=Callable[..., Any])

PROTOCOL_VERSION = "1"
# "`name` matches ^[A-Za-z_][A-Za-z0-9_.\-]*$" (docs/protocol.md, worker/register).
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
# Bound on the initialize and worker/register round trips.
HANDSHAKE_TIMEOUT_S = 10.0
# Errors after which reconnecting cannot help.
_FATAL_CODES = {UNAUTHORIZED, UNSUPPORTED_PROTOCOL_VERSION, CONTRACT_CONFLICT}


class Worker:
    """Serves activities and workflows to Keel.

    Args:
        name: worker name shown by ``worker/list`` (default: the script name).
        max_concurrent: ``activity/execute`` requests run at once (sent as ``maxConcurrent``).
        max_concurrent_workflows: ``workflow/run`` requests run at once (``maxConcurrentWorkflows``).
        socket, tcp, token: the transport (see `resolve_endpoints`); stdio when KEEL_TRANSPORT=stdio.
            ``socket``/``tcp`` take one address or a list tried in order: when the connected node
            dies the worker moves to the next one and registers again (docs/clients.md
            "Several endpoints").
        tls: TLS over ``tcp``: True (system trust store) or ``TLS(ca_file=..., cert_file=..., key_file=...)``.
        reconnect: reconnect with exponential backoff when a socket/TCP connection drops.
        reconnect_initial, reconnect_max: the backoff's first bound and cap in seconds (full
            jitter; docs/clients.md "Reconnecting").
        drain_timeout: seconds a graceful stop waits for running activities before cancelling them.
        build_id: this worker's build (sent as ``buildId``; default: ``KEEL_BUILD_ID``, empty =
            none). An execution is pinned to the build of the worker that first runs it and then
            runs only on workers of that build or listing it in ``compatible_build_ids``
            (docs/versioning.md).
        compatible_build_ids: older builds whose executions this worker can also run (sent as
            ``compatibleBuildIds`` when a build id is set and the list is non-empty).

    While disconnected, running activities are cancelled and results that still arrive are
    dropped: Keel has already re-dispatched those attempts ("A worker that disconnects is removed
    at once; its in-flight activities are retried elsewhere").
    """

    def __init__(
        self,
        name: Optional[str] = None,
        *,
        max_concurrent: int = 16,
        max_concurrent_workflows: int = 1000,
        socket: Addresses = None,
        tcp: Addresses = None,
        token: Optional[str] = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        reconnect: bool = True,
        drain_timeout: float = 30.0,
        reconnect_initial: float = RECONNECT_INITIAL_S,
        reconnect_max: float = RECONNECT_MAX_S,
        tls: Union[bool, TLS, None] = None,
        build_id: Optional[str] = None,
        compatible_build_ids: Optional[Sequence[str]] = None,
    ) -> None:
        if not 1 <= max_concurrent <= 10000:
            raise ValueError("max_concurrent must be between 1 and 10000")
        if build_id is None:
            build_id = os.environ.get("KEEL_BUILD_ID", "")
        if not isinstance(build_id, str):
            raise ValueError("build_id must be a string")
        compatible = list(compatible_build_ids or [])
        if isinstance(compatible_build_ids, str) or not all(isinstance(b, str) and b for b in compatible):
            raise ValueError("compatible_build_ids must be a list of non-empty strings")
        self.build_id: Optional[str] = build_id or None  # "" = none
        self.compatible_build_ids = compatible
        self.name = name or os.path.splitext(os.path.basename(sys.argv[0] or "python-worker"))[0] or "python-worker"
        self.max_concurrent = max_concurrent
        self.max_concurrent_workflows = max_concurrent_workflows
        self.worker_id: Optional[str] = None
        self._socket, self._tcp, self._token, self._tls = socket, tcp, token, tls
        self._max_frame_bytes = max_frame_bytes
        self._reconnect = reconnect
        self._backoff = Backoff(reconnect_initial, reconnect_max)
        self._drain_timeout = drain_timeout
        self._activities: Dict[str, ActivityDefinition] = {}
        self._contracts: Dict[str, Dict[str, Any]] = {}
        self._workflows: Dict[str, WorkflowDefinition] = {}
        self._runs: Set[WorkflowRun] = set()
        self._workflow_slots: Optional[asyncio.Semaphore] = None
        self._running: Dict[Tuple[str, int], ActivityContext] = {}
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._draining = False
        self._stop: Optional[asyncio.Event] = None
        self._idle: Optional[asyncio.Event] = None
        self._slots: Optional[asyncio.Semaphore] = None
        self._connection: Optional[Connection] = None
        self._endpoints: Optional[EndpointRing[Endpoint]] = None
        self._signals = 0

    # Declaring activities

    def load_contracts(self, directory: Union[str, "os.PathLike[str]"]) -> "Worker":
        """Loads contract files (``*.json``: ``{name, version, input, output, description?,
        retryPolicy?, timeouts?}``); `activity` then takes the contract of the same name."""
        self._contracts.update(load_contract_files(directory))
        return self

    def activity(
        self,
        name: str,
        *,
        input: Any = None,
        output: Any = None,
        description: Optional[str] = None,
        retry_policy: Union[RetryPolicy, Dict[str, Any], None] = None,
        start_to_close: Optional[Seconds] = None,
        schedule_to_start: Optional[Seconds] = None,
        schedule_to_close: Optional[Seconds] = None,
        heartbeat_timeout: Optional[Seconds] = None,
    ) -> Callable[[F], F]:
        """Decorator registering ``fn(input)`` or ``fn(input, ctx)``, async or sync (sync ones run
        in a thread pool of ``max_concurrent`` threads).

        The contract comes from, in order: ``input=``/``output=`` (a JSON Schema dict, or a
        dataclass/TypedDict/typing type), a loaded contract file, the function's annotations.
        A dataclass input annotation gets a dataclass instance; dataclass outputs are converted.
        Raise `ActivityError` for a chosen failure; any other exception is a retryable failure
        whose type is the exception's class name.
        """
        if not _NAME.match(name):
            raise ValueError(f"activity name {name!r} must match {_NAME.pattern}")

        def register(fn: F) -> F:
            if name in self._activities:
                raise ValueError(f"activity {name!r} is already registered")
            info = inspect_function(fn)
            contract = self._contracts.get(name, {})
            policy = retry_policy.to_wire() if isinstance(retry_policy, RetryPolicy) else retry_policy
            doc = (fn.__doc__ or "").strip().split("\n")[0] or None
            input_type = input if input is not None and not isinstance(input, (dict, bool)) else info["input_type"]
            self._activities[name] = ActivityDefinition(
                name=name,
                fn=fn,
                input=_first(schema_of(input), contract.get("input"), derive_schema(info["input_type"])),
                output=_first(schema_of(output), contract.get("output"), derive_schema(info["output_type"])),
                description=description or contract.get("description") or doc,
                retry_policy=policy or contract.get("retryPolicy"),
                timeouts=build_timeouts(start_to_close, schedule_to_start, schedule_to_close, heartbeat_timeout)
                or contract.get("timeouts"),
                input_type=input_type,
                is_async=info["is_async"],
                wants_context=info["wants_context"],
                takes_input=info["takes_input"],
            )
            return fn

        return register

    def workflow(self, name: str, *, input: Any = None, output: Any = None, description: Optional[str] = None) -> Callable[[F], F]:
        """Decorator registering workflow ``async def fn(ctx, input)`` (or ``fn(ctx)``) with a
        `WorkflowContext` ``ctx``.

        The function is re-run from the start on every ``workflow/run``: steps already in the
        journal return at once (replay), so it must be deterministic between ``ctx`` calls.
        Contract and input conversion work as for `activity` (``input=``/``output=``, a contract
        file, the annotation of ``input``). Return the output; raise to fail (`ActivityError`
        for a chosen type; re-raise `Cancelled` to end as cancelled); `ctx.continue_as_new`.
        """
        if not _NAME.match(name):
            raise ValueError(f"workflow name {name!r} must match {_NAME.pattern}")

        def register(fn: F) -> F:
            if name in self._workflows:
                raise ValueError(f"workflow {name!r} is already registered")
            self._workflows[name] = WorkflowDefinition.build(name, fn, input, output, description, self._contracts.get(name, {}))
            return fn

        return register

    @property
    def workflows(self) -> Dict[str, WorkflowDefinition]:
        """The registered workflows by name."""
        return dict(self._workflows)

    @property
    def activities(self) -> Dict[str, ActivityDefinition]:
        """The registered activities by name."""
        return dict(self._activities)

    def registration(self) -> Dict[str, Any]:
        """The ``worker/register`` params this worker sends."""
        params: Dict[str, Any] = {
            "name": self.name,
            "language": "python",
            "maxConcurrent": self.max_concurrent,
            "activities": [definition.to_wire() for definition in self._activities.values()],
            "workflows": [definition.to_wire() for definition in self._workflows.values()],
        }
        if self._workflows:
            params["maxConcurrentWorkflows"] = self.max_concurrent_workflows
        if self.build_id:
            params["buildId"] = self.build_id
            if self.compatible_build_ids:
                params["compatibleBuildIds"] = list(self.compatible_build_ids)
        return params

    # Running

    def run_sync(self) -> None:
        """Runs `run` in a new event loop (logging to stderr at INFO if logging is unconfigured)."""
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        try:
            asyncio.run(self.run())
        except KeyboardInterrupt:
            pass

    async def run(self) -> None:
        """Connects, initializes, registers and serves until stopped (`stop`, SIGTERM/SIGINT, a
        ``shutdown`` request, or, over stdio, the end of stdin). Reconnects socket/TCP connections
        with full-jitter exponential backoff (reset after each successful initialize),
        initializing and registering again each time. With several endpoints a failure moves to
        the next one at once; the backoff is waited once every endpoint has failed in a row.

        Raises:
            KeelError: Keel refused us for good (unauthorized, protocol version, contract conflict).
            ValueError: no transport configured.
        """
        endpoints = EndpointRing(resolve_endpoints(self._socket, self._tcp, self._token, tls=self._tls))
        self._endpoints = endpoints
        loop = asyncio.get_running_loop()
        self._stop, self._idle = asyncio.Event(), asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._workflow_slots = asyncio.Semaphore(self.max_concurrent_workflows)
        self._draining = False
        installed = self._install_signals(loop)
        self._backoff.reset()
        try:
            while not self._stop.is_set():
                endpoint = endpoints.current
                try:
                    await self._session(endpoint)
                except KeelError as error:
                    if error.code in _FATAL_CODES:
                        raise
                    logger.warning("Keel refused the connection: %s", error)
                except (OSError, asyncio.TimeoutError) as error:
                    logger.warning("connection to Keel at %s failed: %s", endpoint, error or type(error).__name__)
                if endpoint.stdio or not self._reconnect or self._stop.is_set():
                    break
                if not endpoints.failed():
                    logger.info("failing over from Keel at %s to %s", endpoint, endpoints.current)
                    continue
                pause = self._backoff.next()
                logger.info("reconnecting to Keel in %.2fs", pause)
                try:
                    await asyncio.wait_for(self._stop.wait(), pause)
                except asyncio.TimeoutError:
                    pass
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None

    def stop(self) -> None:
        """Starts a graceful stop: refuse new work, let running activities finish (up to
        ``drain_timeout``), send their results, disconnect. Call from the event loop thread."""
        self._draining = True
        if self._stop is not None:
            self._stop.set()

    async def _session(self, endpoint: Endpoint) -> None:
        reader, writer = await open_stream(endpoint)
        connection = Connection(reader, writer, max_frame_bytes=self._max_frame_bytes)
        connection.on_request("activity/execute", functools.partial(self._execute, connection))
        connection.on_notification("activity/cancel", self._on_cancel)
        connection.on_notification("workflow/cancel", self._on_workflow_cancel)
        connection.on_request("workflow/run", functools.partial(self._run_workflow, connection))
        connection.on_request("ping", _pong)
        connection.on_request("shutdown", self._on_shutdown)
        # docs/protocol.md does not say whether Keel's shutdown to a worker is a request or a
        # notification; the orchestrator sends a notification. Serve both.
        connection.on_notification("shutdown", self._on_shutdown)
        connection.on_close(functools.partial(self._on_connection_lost, connection))
        connection.start()
        self._connection = connection
        try:
            params: Dict[str, Any] = {
                "protocolVersion": PROTOCOL_VERSION,
                "clientInfo": {"name": "keel-python", "version": __version__},
            }
            if endpoint.token is not None:
                params["token"] = endpoint.token
            result = await connection.call("initialize", params, timeout=HANDSHAKE_TIMEOUT_S)
            _check_initialize(result, connection)
            self._backoff.reset()  # Keel is back: a drop from here on starts the backoff over
            if self._endpoints is not None:
                self._endpoints.succeeded()
            registered = await connection.call("worker/register", self.registration(), timeout=HANDSHAKE_TIMEOUT_S)
            self.worker_id = (registered or {}).get("workerId")
            logger.info("registered with Keel at %s as %s (%d activities, %d workflows)", endpoint, self.worker_id, len(self._activities), len(self._workflows))
            assert self._stop is not None
            waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(connection.wait_closed())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
            if connection.closed:
                log = logger.info if endpoint.stdio else logger.warning
                log("connection to Keel at %s closed", endpoint)
            else:
                await self._drain()
        finally:
            self._connection = None
            await connection.close()

    async def _drain(self) -> None:
        self._draining = True
        assert self._idle is not None
        try:
            await asyncio.wait_for(self._idle.wait(), self._drain_timeout)
        except asyncio.TimeoutError:
            logger.warning("drain timed out after %ss; cancelling %d activities and %d workflow runs", self._drain_timeout, len(self._running), len(self._runs))
            for ctx in list(self._running.values()):
                ctx._cancel("worker shutting down")
            for run in list(self._runs):
                # An error, not "suspended": the run did not reach a durable wait, so Keel must
                # run it again elsewhere (a "suspended" answer with no pending step would leave
                # the execution waiting for nothing; issue 13).
                run.end({"error": KeelError(SHUTTING_DOWN, "worker shutting down: drain timed out before this run finished; run it elsewhere")})

    async def _on_shutdown(self, params: Dict[str, Any]) -> Dict[str, Any]:
        # Drain first, so every result is sent before the answer; then stop. call_soon: the
        # answer is queued in this same step, before the session wakes up and closes.
        self._draining = True
        await self._drain()
        if self._stop is not None:
            asyncio.get_running_loop().call_soon(self._stop.set)
        return {}

    def _on_connection_lost(self, connection: Connection) -> None:
        # Keel has already re-dispatched these attempts; whatever they return is dropped.
        for ctx in list(self._running.values()):
            if ctx._connection is connection:
                ctx._cancelled = True
                ctx.cancel_reason = "connection to Keel lost"

    def _on_cancel(self, params: Dict[str, Any]) -> None:
        task_id, attempt = params.get("taskId"), params.get("attempt")
        for (running_id, running_attempt), ctx in list(self._running.items()):
            if running_id == task_id and (attempt is None or attempt == running_attempt):
                ctx._cancel(str(params.get("reason") or "cancelled"))

    def _on_workflow_cancel(self, params: Dict[str, Any]) -> None:
        # Keel ended the execution (terminated, timed out): stop the run; Keel ignores its answer.
        for run in list(self._runs):
            if run.params.get("workflowId") == params.get("workflowId") and run.params.get("runId") == params.get("runId"):
                reason = str(params.get("reason") or "the workflow ended")
                run.end({"error": KeelError(ATTEMPT_SUPERSEDED, f"workflow {params.get('workflowId')} ended: {reason}")})

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list:
        installed = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
                installed.append(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or not supported here
        if installed:
            # A parent that blocks these signals and spawns us without resetting the mask
            # (Foundation's Process does, e.g. in `keel bench`) hands the block down: SIGTERM
            # would never arrive and a graceful stop, and whoever waits for it, would hang.
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, installed)
            except (AttributeError, OSError, ValueError):
                pass  # no pthread_sigmask on this platform
        return installed

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals == 1:
            logger.info("%s: draining (send again to cancel running activities)", signal.Signals(signum).name)
            self.stop()
        else:
            for ctx in list(self._running.values()):
                ctx._cancel("worker killed")

    # Executing

    async def _execute(self, connection: Connection, params: Dict[str, Any]) -> Dict[str, Any]:
        if self._draining:
            raise KeelError(SHUTTING_DOWN, "worker is shutting down; dispatch the attempt elsewhere")
        definition = self._activities.get(params.get("name", ""))
        if definition is None:
            message = f"this worker does not serve activity {params.get('name')!r}"
            return {"failure": {"type": "ActivityNotRegistered", "message": message, "retryable": True, "details": None}}
        ctx = ActivityContext(params, connection, asyncio.get_running_loop())
        ctx._task = asyncio.current_task()
        key = (ctx.task_id, ctx.attempt)
        self._running[key] = ctx
        assert self._idle is not None and self._slots is not None
        self._idle.clear()
        try:
            async with self._slots:
                output = to_json(await self._invoke(definition, ctx))
            return {"output": output} if _sendable(output, connection) is None else {"failure": _sendable(output, connection)}
        except ActivityError as error:
            return {"failure": error.to_failure()}
        except asyncio.CancelledError:
            if ctx.cancelled and not connection.closed:
                # "The handler should stop; its answer to activity/execute is then ignored."
                return {"failure": {"type": "Cancelled", "message": ctx.cancel_reason or "cancelled", "retryable": False, "details": None}}
            raise
        except Exception as error:
            logger.exception("activity %s (task %s, attempt %s) failed", ctx.name, ctx.task_id, ctx.attempt)
            return {"failure": {"type": type(error).__name__, "message": str(error), "retryable": True, "details": None}}
        finally:
            if self._running.get(key) is ctx:
                del self._running[key]
            self._check_idle()

    def _check_idle(self) -> None:
        if not self._running and not self._runs and self._idle is not None:
            self._idle.set()

    async def _run_workflow(self, connection: Connection, params: Dict[str, Any]) -> Dict[str, Any]:
        if self._draining:
            raise KeelError(SHUTTING_DOWN, "worker is shutting down; dispatch the run elsewhere")
        definition = self._workflows.get(params.get("name", ""))
        if definition is None:
            raise KeelError(INVALID_PARAMS, f"this worker does not serve workflow {params.get('name')!r}")
        assert self._idle is not None and self._workflow_slots is not None
        run = WorkflowRun(params, connection, definition)
        self._runs.add(run)
        self._idle.clear()
        try:
            async with self._workflow_slots:
                return await run.execute()
        finally:
            self._runs.discard(run)
            self._check_idle()

    async def _invoke(self, definition: ActivityDefinition, ctx: ActivityContext) -> Any:
        try:
            value = from_json(definition.input_type, ctx.input) if definition.input_type is not None else ctx.input
        except (TypeError, ValueError) as error:
            raise ActivityError(f"input does not fit {definition.input_type!r}: {error}", type="InvalidInput", retryable=False) from None
        args = ([value] if definition.takes_input else []) + ([ctx] if definition.wants_context else [])
        token = _current.set(ctx)
        try:
            if definition.is_async:
                return await definition.fn(*args)
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="keel-activity")
            call = functools.partial(contextvars.copy_context().run, definition.fn, *args)
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        finally:
            _current.reset(token)


def _first(*options: Any) -> Any:
    return next((option for option in options if option is not None), None)


async def _pong(params: Dict[str, Any]) -> Dict[str, Any]:
    return {}


def _check_initialize(result: Any, connection: Connection) -> None:
    if not isinstance(result, dict) or result.get("protocolVersion") != PROTOCOL_VERSION:
        raise KeelError(UNSUPPORTED_PROTOCOL_VERSION, f"Keel answered initialize with {result!r}; this client speaks version 1")
    limit = (result.get("capabilities") or {}).get("maxMessageBytes")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        connection.writer.max_frame_bytes = limit


def _sendable(output: Any, connection: Connection) -> Optional[Dict[str, Any]]:
    """None if ``output`` can be sent, else the failure to send instead (not retryable: the same
    code would produce the same output)."""
    try:
        size = len(encode_frame(output)) - 1
    except (TypeError, ValueError) as error:
        return {"type": "OutputNotSerializable", "message": f"activity output is not JSON: {error}", "retryable": False, "details": None}
    limit = connection.writer.max_frame_bytes
    if limit is not None and size > limit - 1024:  # room for the envelope
        error = FrameTooLargeError(limit, size)
        return {"type": "OutputTooLarge", "message": str(error), "retryable": False, "details": {"bytes": size, "limit": limit}}
    return None
