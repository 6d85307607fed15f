"""Workflows: what a worker registers, the context a workflow function gets, and one ``workflow/run``.

docs/protocol.md, Workflows: "the client library re-runs the function, answers already-recorded
steps from the journal at once (replay), and sends each new step to Keel with `workflow/step`."
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import inspect
import logging
import typing
from typing import Any, Awaitable, Callable, Dict, Mapping, NoReturn, Optional, Set, Union

from ._activity import RetryPolicy, Schema, Seconds, _ms, build_priority, build_timeouts, derive_schema, schema_of
from ._errors import (
    ATTEMPT_SUPERSEDED,
    INTERNAL_ERROR,
    NON_DETERMINISM,
    ActivityError,
    ConnectionClosedError,
    ContinueAsNew,
    KeelError,
)
from ._framing import FrameTooLargeError, encode_frame
from ._schema import from_json, to_json

logger = logging.getLogger("keel")

Answer = Dict[str, Any]
_SUSPENDED: Answer = {"status": "suspended"}


@dataclasses.dataclass
class WorkflowDefinition:
    """One registered workflow: ``async fn(ctx, input)`` and its contract."""

    name: str
    fn: Callable[..., Awaitable[Any]]
    input: Optional[Schema] = None
    output: Optional[Schema] = None
    description: Optional[str] = None
    input_type: Any = None
    takes_input: bool = True

    @classmethod
    def build(cls, name: str, fn: Callable[..., Any], input: Any, output: Any, description: Optional[str], contract: Dict[str, Any]) -> "WorkflowDefinition":
        """A definition from the decorator's arguments: schemas from ``input=``/``output=``, else
        the contract file, else the annotations of ``fn(ctx, input)``.

        Raises:
            TypeError: ``fn`` is not ``async def fn(ctx, input)`` or ``fn(ctx)``.
        """
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"workflow {name!r} must be an async function: async def {fn.__name__}(ctx, input)")
        positional = [p for p in inspect.signature(fn).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if not 1 <= len(positional) <= 2:
            raise TypeError(f"workflow {fn.__name__} must take (ctx, input) or (ctx)")
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception:
            hints = {}
        annotated = hints.get(positional[1].name) if len(positional) == 2 else None
        return cls(
            name=name,
            fn=fn,
            input=_first(schema_of(input), contract.get("input"), derive_schema(annotated)),
            output=_first(schema_of(output), contract.get("output"), derive_schema(hints.get("return"))),
            description=description or contract.get("description") or (fn.__doc__ or "").strip().split("\n")[0] or None,
            input_type=input if input is not None and not isinstance(input, (dict, bool)) else annotated,
            takes_input=len(positional) == 2,
        )

    def to_wire(self) -> Dict[str, Any]:
        """The entry for ``worker/register`` ``workflows`` (unset fields omitted)."""
        wire: Dict[str, Any] = {"name": self.name}
        if self.description:
            wire["description"] = self.description
        if self.input is not None:
            wire["input"] = self.input
        if self.output is not None:
            wire["output"] = self.output
        return wire


@dataclasses.dataclass(frozen=True)
class Update:
    """An update this workflow received with `WorkflowContext.wait_for_update`: answer it with
    `WorkflowContext.respond` or `WorkflowContext.reject` (docs/protocol.md, "Updates").

    Attributes:
        id: the update's id (the client's ``updateId``); the answer step is named by it.
        name: the update's name (``approve`` for a wait on ``"approve"``).
        input: the client's ``input``, raw JSON.
    """

    id: str
    name: str
    input: Any = None


class WorkflowContext:
    """A workflow's handle on its execution; the first argument of ``async def wf(ctx, input)``.

    Every method that talks to Keel is a durable step and returns an awaitable at once: the step's
    ``seq`` is assigned when the method is *called*, in program order ("the library assigns seq
    when the step is started, in program order"). So start parallel steps from one coroutine and
    await them together (``asyncio.gather(ctx.activity(a), ctx.activity(b))``); do not start steps
    from tasks whose interleaving depends on timing. Workflow code must be deterministic between
    steps: use `now`, `random` and `uuid` instead of the clock, `random` and `uuid` modules.

    A failed step raises `ActivityError` with the failure's type (`Cancelled` after a cancel
    request, `TimedOut` for a signal or update wait past its timeout); catch it to compensate. When a step
    cannot complete soon, Keel answers ``suspend``: the coroutine is cancelled where it waits
    (``finally`` blocks run; steps started from them never complete) and re-run later.

    Attributes:
        workflow_id, run_id, name, input (raw JSON).
    """

    def __init__(self, run: "WorkflowRun") -> None:
        self._run = run
        params = run.params
        self.workflow_id: str = params.get("workflowId", "")
        self.run_id: Any = params.get("runId")
        self.name: str = params.get("name", "")
        self.input: Any = params.get("input")

    @property
    def cancel_requested(self) -> bool:
        """True when Keel had a cancel request for this execution when the run began; the step
        where the workflow waits then fails with `Cancelled`."""
        return self._run.params.get("cancelRequested") is True

    @property
    def is_replaying(self) -> bool:
        """True while the next step is already in the journal (use it to skip duplicate logs)."""
        return self._run.replaying

    def activity(
        self,
        name: str,
        input: Any = None,
        *,
        retry_policy: Union[RetryPolicy, Dict[str, Any], None] = None,
        start_to_close: Optional[Seconds] = None,
        schedule_to_start: Optional[Seconds] = None,
        schedule_to_close: Optional[Seconds] = None,
        heartbeat_timeout: Optional[Seconds] = None,
        priority: Optional[int] = None,
        fairness_key: Optional[str] = None,
    ) -> "asyncio.Future[Any]":
        """Runs activity ``name`` durably; await the result for its output.

        Options override the activity's registered defaults for this step. ``priority``
        (-1000..1000, higher runs first) and ``fairness_key`` override the execution's (from
        `Client.start_workflow`) for this step; a step that sets neither sends neither and
        inherits the execution's.

        Raises (when awaited):
            ActivityError: the activity failed for good. Cancelled: after a cancel request.
        """
        options: Dict[str, Any] = {}
        if retry_policy is not None:
            options["retryPolicy"] = retry_policy.to_wire() if isinstance(retry_policy, RetryPolicy) else retry_policy
        timeouts = build_timeouts(start_to_close, schedule_to_start, schedule_to_close, heartbeat_timeout)
        if timeouts:
            options["timeouts"] = timeouts
        options.update(build_priority(priority, fairness_key))
        return self._run.step("activity", name, to_json(input), options or None)

    def sleep(self, seconds: Seconds, *, label: str = "sleep") -> "asyncio.Future[None]":
        """Sleeps durably (kind "sleep"), for seconds or days: a long sleep suspends the run."""
        return self._run.step("sleep", label, {"durationMs": _ms(seconds)})

    def signal(self, name: str, timeout: Optional[Seconds] = None) -> "asyncio.Future[Any]":
        """Waits for signal ``name`` (sent with ``workflow/signal``) and returns its payload.
        Signals are buffered: one sent before the wait is delivered to it.

        Raises (when awaited):
            TimedOut: no signal within ``timeout`` (None waits forever).
        """
        return self._run.step("signal", name, {} if timeout is None else {"timeoutMs": _ms(timeout)})

    def child(
        self,
        name: str,
        input: Any = None,
        workflow_id: Optional[str] = None,
        *,
        search_attributes: Optional[Mapping[str, Any]] = None,
        memo: Optional[Mapping[str, Any]] = None,
    ) -> "asyncio.Future[Any]":
        """Runs child workflow ``name`` and returns its output (default id: ``PARENT/SEQ``).

        ``search_attributes`` and ``memo`` are the child's own, as `Client.start_workflow` gives
        them to an execution (same rules; Keel, not the client, checks them, and a refusal
        raises `KeelError` when awaited): the child is found by `Client.list_workflows` queries
        on its attributes and `Client.describe` of it shows both. Each is sent (as
        ``searchAttributes`` / ``memo`` in the step's input) only when given.

        Raises:
            TypeError: ``search_attributes`` or ``memo`` is given but not a mapping (at the
                call: no step, no seq used).
            ActivityError (when awaited): the child failed; Cancelled after a cancel request.
        """
        params: Dict[str, Any] = {"input": to_json(input)}
        if workflow_id is not None:
            params["workflowId"] = workflow_id
        for key, values in (("searchAttributes", search_attributes), ("memo", memo)):
            if values is None:
                continue
            if not isinstance(values, Mapping):
                raise TypeError(f"a child's {key} is a mapping of key to value, not {type(values).__name__}")
            params[key] = to_json(dict(values))
        return self._run.step("child", name, params)

    def now(self) -> "asyncio.Future[datetime.datetime]":
        """The current time (UTC, aware), recorded once, so a replay sees the same value."""
        return self._run.step("now", "now", {}, convert=_datetime)

    def random(self) -> "asyncio.Future[float]":
        """A number in [0, 1), recorded once."""
        return self._run.step("random", "random", {})

    def uuid(self) -> "asyncio.Future[str]":
        """A UUID string, recorded once."""
        return self._run.step("uuid", "uuid", {})

    def publish(self, event: Any, name: str = "event") -> "asyncio.Future[None]":
        """Publishes ``event`` (any JSON value) to this execution's stream as a durable step
        (kind "publish", labelled ``name``): recorded once, never sent again on replay; followers
        (`Client.follow`) see it in order with the events of this execution's activities.
        Await it like any step (steps are numbered in program order)."""
        return self._run.step("publish", name, {"event": to_json(event)}, convert=_none)

    def upsert_search_attributes(self, attributes: Mapping[str, Any]) -> "asyncio.Future[Dict[str, Any]]":
        """Sets this execution's search attributes (the keys `Client.list_workflows` queries by)
        as a durable step (kind "upsert", named "searchAttributes"): recorded once, never sent
        again on replay. The keys given replace those values; a value ``None`` removes its key
        (it is sent as JSON null); other keys stay. Await it for the merged attributes.

        Keel checks the attributes (docs/protocol.md, "Search attributes and memo"): at most 32
        keys matching ``[A-Za-z_][A-Za-z0-9_]{0,63}``, none a built-in field name (workflowId,
        name, status, createdAt, startedAt, updatedAt); values strings (at most 1,024 bytes;
        RFC 3339 ones are also indexed as times), finite numbers or booleans.

        Raises:
            TypeError: ``attributes`` is not a mapping.
        """
        return self._upsert("searchAttributes", attributes)

    def upsert_memo(self, memo: Mapping[str, Any]) -> "asyncio.Future[Dict[str, Any]]":
        """Sets keys of this execution's memo (any JSON, at most 32 KiB encoded; not indexed,
        shown by `Client.describe`) as a durable step (kind "upsert", named "memo"): recorded
        once, never sent again on replay. A value ``None`` removes its key; other keys stay.
        Await it for the merged memo.

        Raises:
            TypeError: ``memo`` is not a mapping.
        """
        return self._upsert("memo", memo)

    def set_query_value(self, name: str, value: Any) -> "asyncio.Future[None]":
        """Publishes ``value`` (any JSON value) as this execution's latest answer to query
        ``name``, as a durable step (kind "query", named ``name``, input ``{"value": value}``):
        recorded once, never sent again on replay. Any client reads the latest value with
        `Client.query_workflow`, even when no worker is connected (docs/protocol.md, "Queries and
        signal-with-start"). Await it like any step (steps are numbered in program order); it
        resolves to None.

        A later call with the same name replaces the value: ``await ctx.set_query_value("stage",
        "packed")`` ... ``await ctx.set_query_value("stage", {"shipped": payload})``.
        """
        return self._run.step("query", name, {"value": to_json(value)}, convert=_none)

    def wait_for_update(self, name: str, timeout_ms: Optional[int] = None) -> "asyncio.Future[Update]":
        """Waits for update ``name`` (sent with `Client.update_workflow`) and returns it as an
        `Update`; answer it with `respond` or `reject`. A durable step like a signal wait (kind
        "signal", named ``"update:" + name``, input ``{}`` or ``{"timeoutMs": timeout_ms}``):
        recorded once, answered from the journal on replay. An update sent before the wait is
        delivered to it.

        Raises (when awaited):
            TimedOut: no update within ``timeout_ms`` milliseconds (None waits forever).
        """
        return self._run.step("signal", f"update:{name}", {} if timeout_ms is None else {"timeoutMs": int(timeout_ms)},
                              convert=functools.partial(_update, name))

    def respond(self, update: Union[Update, str], result: Any = None) -> "asyncio.Future[None]":
        """Answers ``update`` (an `Update` or its id) with ``result`` (any JSON value): the
        client's `Client.update_workflow` gets ``status: "completed"`` with it. A durable step
        (kind "respond", named by the update's id, input ``{"result": result}``): recorded once,
        never sent again on replay; it resolves to None.

        Raises:
            TypeError: ``update`` is neither an `Update` nor a non-empty string.
        """
        return self._run.step("respond", _update_id(update), {"result": to_json(result)}, convert=_none)

    def reject(
        self, update: Union[Update, str], message: str, type: str = "Rejected", details: Any = None
    ) -> "asyncio.Future[None]":
        """Rejects ``update`` (an `Update` or its id): the client's `Client.update_workflow` gets
        ``status: "rejected"`` with ``failure: {type, message, details?}`` (``details`` sent only
        when not None). A durable step (kind "respond", named by the update's id, input
        ``{"failure": {...}}``): recorded once, never sent again on replay; it resolves to None.
        The workflow goes on: rejecting an update does not fail it.

        Raises:
            TypeError: ``update`` is neither an `Update` nor a non-empty string.
        """
        failure: Dict[str, Any] = {"type": type, "message": message}
        if details is not None:
            failure["details"] = to_json(details)
        return self._run.step("respond", _update_id(update), {"failure": failure}, convert=_none)

    def _upsert(self, name: str, values: Mapping[str, Any]) -> "asyncio.Future[Dict[str, Any]]":
        if not isinstance(values, Mapping):
            kind = type(values).__name__
            raise TypeError(f"an upsert of {name} takes a mapping of key to value (None removes a key), not {kind}")
        return self._run.step("upsert", name, to_json(dict(values)))

    def patched(self, id: str) -> "asyncio.Future[bool]":
        """True when this execution runs the code after patch ``id``, False when it was recorded
        by the code before it (docs/versioning.md). Wrap changed code in ``if await
        ctx.patched("id"):`` so executions started by older code replay down the old path.

        New code running live records a ``patch`` marker step (and gets True); replay answers
        True from a marker with this id and False, without using up the seq, from any other
        entry (the old path's next step takes it). Later calls with the same id in this run
        answer the same without a step.

        Raises:
            ValueError: ``id`` is not a non-empty string.
        """
        return self._run.patch(id)

    def deprecate_patch(self, id: str) -> "asyncio.Future[None]":
        """Marks patch ``id`` as deprecated once no execution can still take the old path: the
        code always takes the new path; live it still records the marker (so workers running
        the ``patched()`` code replay it correctly), in replay it consumes a marker with this id
        and leaves any other entry for the next step.

        Raises:
            ValueError: ``id`` is not a non-empty string.
        """
        answer = self._run.patch(id)
        done: "asyncio.Future[None]" = self._run._loop.create_future()

        def copy(source: "asyncio.Future[Any]") -> None:
            if done.done():
                return
            if source.cancelled():
                done.cancel()
            elif source.exception() is not None:
                _quiet(done, source.exception())  # type: ignore[arg-type]
            else:
                done.set_result(None)

        answer.add_done_callback(copy)
        return done

    def continue_as_new(self, input: Any) -> NoReturn:
        """Ends this run and starts the execution over with ``input`` and an empty journal
        (bounded history for long loops). Never returns: raises `ContinueAsNew`."""
        self._run.end({"status": "continueAsNew", "input": to_json(input)})
        raise ContinueAsNew(input)


def _first(*options: Any) -> Any:
    return next((option for option in options if option is not None), None)


def _none(_: Any) -> None:
    return None


def _update(name: str, result: Any) -> Update:
    """The `Update` from a ``update:NAME`` wait's result ``{"updateId", "input"}``."""
    received = result if isinstance(result, dict) else {}
    return Update(id=received.get("updateId", ""), name=name, input=received.get("input"))


def _update_id(update: Union[Update, str]) -> str:
    """The id that names an update's answer step."""
    id = update.id if isinstance(update, Update) else update
    if not isinstance(id, str) or not id:
        raise TypeError(f"an update is answered by its Update or its id (a non-empty string), not {update!r}")
    return id


def _datetime(ms: Any) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)


def _quiet(future: "asyncio.Future[Any]", error: BaseException) -> None:
    """Sets ``error`` without the 'exception was never retrieved' log for a step nobody awaits
    (a sibling of a failed step in a gather); awaiting it still raises."""
    future.set_exception(error)
    future.exception()


class WorkflowRun:
    """One ``workflow/run``: the journal, the seq counter, the live steps and the run's answer.

    The first outcome wins (the function's return, a ``suspend``, a non-determinism, a
    continue-as-new); then the function's task is cancelled and its live steps are forgotten.
    """

    def __init__(self, params: Dict[str, Any], connection: Any, definition: WorkflowDefinition) -> None:
        self.params = params
        self._connection = connection
        self._definition = definition
        self._loop = asyncio.get_running_loop()
        journal = params.get("journal")
        self._journal: Dict[int, Dict[str, Any]] = {
            entry["seq"]: entry
            for entry in (journal if isinstance(journal, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("seq"), int) and not isinstance(entry.get("seq"), bool)
        }
        self._seq = 0
        self._patches: Dict[str, "asyncio.Future[Any]"] = {}
        self._live: Set["asyncio.Future[Any]"] = set()
        self._answer: "asyncio.Future[Answer]" = self._loop.create_future()
        self._task: Optional["asyncio.Task[None]"] = None
        self.ended = False

    @property
    def replaying(self) -> bool:
        return (self._seq + 1) in self._journal

    async def execute(self) -> Answer:
        """Runs the function to its outcome and returns the ``workflow/run`` answer.

        Raises:
            KeelError: the run cannot be answered meaningfully (2006 attemptSuperseded).
            ConnectionClosedError: the connection closed while a step was in flight.
        """
        self._task = self._loop.create_task(self._main(WorkflowContext(self)))
        try:
            answer = await self._answer
        finally:
            self.end(_SUSPENDED)  # cancelled from outside (connection closed): stop the function
        error = answer.get("error")
        if isinstance(error, BaseException):
            raise error
        return answer

    def end(self, answer: Answer) -> None:
        """Decides the run's answer (the first call wins), cancels the function and its live steps."""
        if self.ended:
            return
        self.ended = True
        if not self._answer.done():
            self._answer.set_result(answer)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        for pending in list(self._live):
            pending.cancel()

    async def _main(self, ctx: WorkflowContext) -> None:
        definition = self._definition
        try:
            input = ctx.input
            if definition.input_type is not None:
                try:
                    input = from_json(definition.input_type, input)
                except (TypeError, ValueError) as error:
                    raise ActivityError(f"input does not fit {definition.input_type!r}: {error}", type="InvalidInput", retryable=False) from None
            output = await (definition.fn(ctx, input) if definition.takes_input else definition.fn(ctx))
        except ContinueAsNew as request:
            self.end({"status": "continueAsNew", "input": to_json(request.input)})
        except asyncio.CancelledError:
            # Ours (the run already ended) or the function's own doing: either way it is over.
            self.end({"status": "failed", "failure": {"type": "CancelledError", "message": "the workflow task was cancelled", "retryable": True, "details": None}})
        except Exception as error:
            if not self.ended and not isinstance(error, ActivityError):
                logger.exception("workflow %s (%s) raised", ctx.workflow_id, definition.name)
            self.end({"status": "failed", "failure": failure_of(error)})
        else:
            self.end(self._completed(output))

    def _completed(self, output: Any) -> Answer:
        try:
            output = to_json(output)
            size = len(encode_frame(output)) - 1
        except (TypeError, ValueError) as error:
            return {"status": "failed", "failure": {"type": "OutputNotSerializable", "message": f"workflow output is not JSON: {error}", "retryable": False, "details": None}}
        limit = self._connection.writer.max_frame_bytes
        if limit is not None and size > limit - 1024:  # room for the envelope
            message = str(FrameTooLargeError(limit, size))
            return {"status": "failed", "failure": {"type": "OutputTooLarge", "message": message, "retryable": False, "details": {"bytes": size, "limit": limit}}}
        return {"status": "completed", "output": output}

    def patch(self, id: str) -> "asyncio.Future[Any]":
        """``patched(id)``: memoized per run; a marker at the next seq is True (seq used up),
        any other entry there is False (seq left for the old path's step), no entry sends the
        marker step (answered True)."""
        if not isinstance(id, str) or not id:
            raise ValueError("a patch id must be a non-empty string")
        known = self._patches.get(id)
        if known is not None:
            return known
        recorded = self._journal.get(self._seq + 1)
        if recorded is None:
            answer = self.step("patch", id, {}, convert=lambda result: True)
        else:
            answer = self._loop.create_future()
            if recorded.get("kind") == "patch" and recorded.get("name") == id:
                self._seq += 1
                answer.set_result(True)
            else:
                answer.set_result(False)
        self._patches[id] = answer
        return answer

    def step(self, kind: str, name: str, input: Any, options: Optional[Dict[str, Any]] = None, convert: Optional[Callable[[Any], Any]] = None) -> "asyncio.Future[Any]":
        """Assigns the next seq and answers it from the journal, or sends it to Keel."""
        self._seq += 1
        seq = self._seq
        future: "asyncio.Future[Any]" = self._loop.create_future()
        if self.ended:
            future.cancel()  # the run is over: a step from a finally block must not start work
            return future
        recorded = self._journal.get(seq)
        if recorded is not None and (recorded.get("kind") != kind or recorded.get("name") != name):
            # "Client libraries check the journal themselves during replay and report a mismatch
            # as a failed run with failure.type = "NonDeterminism"."
            self.end({"status": "failed", "failure": non_determinism(seq, recorded, {"kind": kind, "name": name})})
            future.cancel()
            return future
        if recorded is not None and recorded.get("status") == "completed":
            result = recorded.get("result")
            future.set_result(convert(result) if convert is not None else result)
        elif recorded is not None and (recorded.get("status") == "failed" or recorded.get("failure") is not None):
            _quiet(future, ActivityError.from_failure(recorded.get("failure")))
        else:
            # Not recorded, or recorded but not finished: Keel "answers with the recorded outcome,
            # or waits for the running one".
            params: Dict[str, Any] = {"workflowId": self.params.get("workflowId"), "runId": self.params.get("runId"),
                                      "seq": seq, "kind": kind, "name": name, "input": input}
            if options:
                params["options"] = options
            try:
                pending = self._connection.request("workflow/step", params)
            except ConnectionClosedError as error:
                self.end({"error": error})
                future.cancel()
                return future
            self._live.add(pending)
            pending.add_done_callback(functools.partial(self._answered, seq, future, convert))
        return future

    def _answered(self, seq: int, future: "asyncio.Future[Any]", convert: Optional[Callable[[Any], Any]], pending: "asyncio.Future[Any]") -> None:
        self._live.discard(pending)
        if pending.cancelled() or self.ended or future.done():
            return
        error = pending.exception()
        if isinstance(error, KeelError) and error.code == NON_DETERMINISM:
            data = error.data if isinstance(error.data, dict) else {}
            failure = non_determinism(seq, data.get("journal") or {}, data.get("code") or {})
            failure["message"] = error.message or failure["message"]
            self.end({"status": "failed", "failure": failure})
        elif isinstance(error, ConnectionClosedError) or (isinstance(error, KeelError) and error.code == ATTEMPT_SUPERSEDED):
            self.end({"error": error})  # "the execution moved to another worker": nobody reads our answer
        elif error is not None:
            _quiet(future, error)  # e.g. 3001 inputContractViolation: the workflow may catch it
        else:
            result = pending.result()
            status = result.get("status") if isinstance(result, dict) else None
            if status == "completed":
                value = result.get("result")
                future.set_result(convert(value) if convert is not None else value)
            elif status == "failed":
                _quiet(future, ActivityError.from_failure(result.get("failure")))
            elif status in ("suspend", "suspended"):
                self.end(_SUSPENDED)
            else:
                self.end({"error": KeelError(INTERNAL_ERROR, f"workflow/step seq {seq} answered with status {status!r}")})


def non_determinism(seq: int, journal: Dict[str, Any], code: Dict[str, Any]) -> Dict[str, Any]:
    """The NonDeterminism failure: journal entry ``seq`` differs from what the code called."""
    message = (
        f"journal seq {seq} is {journal.get('kind')} {journal.get('name')!r} but the code called "
        f"{code.get('kind')} {code.get('name')!r}; deploy code that replays this journal, then workflow/resume"
    )
    return {
        "type": "NonDeterminism",
        "message": message,
        "retryable": False,
        "details": {"seq": seq, "journal": {"kind": journal.get("kind"), "name": journal.get("name")},
                    "code": {"kind": code.get("kind"), "name": code.get("name")}},
    }


def failure_of(error: BaseException) -> Dict[str, Any]:
    """The wire failure for an exception a workflow raised: `ActivityError` keeps its fields, a
    `KeelError` keeps its code in details, anything else is retryable with type = its class name."""
    if isinstance(error, ActivityError):
        return error.to_failure()
    if isinstance(error, KeelError):
        return {"type": "KeelError", "message": error.message, "retryable": True, "details": {"code": error.code, "data": error.data}}
    return {"type": type(error).__name__, "message": str(error), "retryable": True, "details": None}
