"""Errors: JSON-RPC error objects (`KeelError`), local transport failures, activity failures."""

from __future__ import annotations

import datetime
from typing import Any, Dict, Optional, Union

# JSON-RPC 2.0 spec codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Protocol and transport state (docs/protocol.md).
NOT_INITIALIZED = -32000
UNSUPPORTED_PROTOCOL_VERSION = -32001
MESSAGE_TOO_LARGE = -32002
# Not yet in docs/protocol.md: STYLE §4 lists "shutting down" in the -32000 range and -32003 is the
# only unused code between the documented ones. Used to refuse new work while draining.
SHUTTING_DOWN = -32003
UNAUTHORIZED = -32004
# Domain errors.
NON_DETERMINISM = 1003
SCHEDULE_NOT_FOUND = 1020  # no schedule with that scheduleId
SCHEDULE_ALREADY_EXISTS = 1021  # schedule/create with a scheduleId in use
QUERY_NOT_FOUND = 1030  # workflow/query for a name the workflow never set; data {workflowId, name, known}
UPDATE_UNANSWERED = 1031  # workflow/update: the workflow ended without answering it; data {workflowId, updateId, status}
CONTRACT_CONFLICT = 2005
ATTEMPT_SUPERSEDED = 2006
INPUT_CONTRACT_VIOLATION = 3001
IDEMPOTENCY_CONFLICT = 4002


class KeelError(Exception):
    """A JSON-RPC error object received from (or sent to) the peer.

    Attributes:
        code: the stable integer code (see docs/errors.md).
        message: one sentence saying what went wrong.
        data: the wire ``error.data``, shaped per code, or None.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data

    def to_wire(self) -> Dict[str, Any]:
        """Returns the JSON-RPC error object ``{code, message, data?}``."""
        error: Dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    @classmethod
    def from_wire(cls, error: Any) -> "KeelError":
        """Builds a KeelError from a wire error object, tolerating malformed ones."""
        if not isinstance(error, dict):
            return cls(INTERNAL_ERROR, f"malformed error object: {error!r}")
        code = error.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            code = INTERNAL_ERROR
        return cls(code, str(error.get("message", "")), error.get("data"))


class ConnectionClosedError(ConnectionError):
    """The connection to Keel closed; local only, never sent on the wire."""


class ConnectionLostError(ConnectionClosedError):
    """The connection to Keel dropped while this call was in flight and the call is not safe to
    repeat (no idempotency key, not a read): it may or may not have taken effect in Keel.

    Local only, never sent on the wire. Repeat it with an idempotency key (or a workflow id), or
    check Keel's state first (docs/clients.md "Reconnecting").

    Attributes:
        method: the JSON-RPC method of the call whose outcome is unknown.
    """

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f"connection to Keel lost during {method}; outcome unknown ({reason})")
        self.method = method


class ActivityError(Exception):
    """Raise from an activity to report a failure with a chosen type, retryability and details.

    A failure is data, not a JSON-RPC error: the worker answers ``activity/execute`` with
    ``{"failure": {type, message, retryable, retryAfterMs?, details}}``.

    Args:
        message: human-readable description.
        type: failure type matched against ``nonRetryableErrorTypes``; defaults to the class name.
        retryable: False ends the task as failed.
        retry_after: minimum delay before the next attempt (seconds or a timedelta).
        details: any JSON value, stored with the failure.
    """

    def __init__(
        self,
        message: str,
        *,
        type: Optional[str] = None,
        retryable: bool = True,
        retry_after: Union[float, datetime.timedelta, None] = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type or self.__class__.__name__
        self.retryable = retryable
        if isinstance(retry_after, datetime.timedelta):
            retry_after = retry_after.total_seconds()
        self.retry_after = retry_after
        self.details = details

    def to_failure(self) -> Dict[str, Any]:
        """Returns the wire failure object."""
        failure: Dict[str, Any] = {"type": self.type, "message": self.message, "retryable": self.retryable}
        if self.retry_after is not None:
            failure["retryAfterMs"] = int(round(self.retry_after * 1000))
        failure["details"] = self.details
        return failure

    @classmethod
    def from_failure(cls, failure: Any) -> "ActivityError":
        """Builds the exception a workflow sees for a wire failure ``{type, message, retryable,
        retryAfterMs?, details}``: `Cancelled` for type "Cancelled", `TimedOut` for "TimedOut",
        else an `ActivityError` keeping the type, so re-raising it reports the same failure."""
        f = failure if isinstance(failure, dict) else {}
        type_ = f.get("type") if isinstance(f.get("type"), str) else "Failure"
        message = f.get("message") if isinstance(f.get("message"), str) else ""
        retry_after_ms = f.get("retryAfterMs")
        retry_after = retry_after_ms / 1000 if isinstance(retry_after_ms, (int, float)) and not isinstance(retry_after_ms, bool) else None
        if type_ == "Cancelled":
            return Cancelled(message or "cancelled", details=f.get("details"))
        if type_ == "TimedOut":
            return TimedOut(message or "timed out", details=f.get("details"))
        return ActivityError(message, type=type_, retryable=f.get("retryable") is not False, retry_after=retry_after, details=f.get("details"))


class Cancelled(ActivityError):
    """Raised into a workflow at the step where it waits after a cancel request ("the workflow
    sees Cancelled at its current step and may run compensations"). Catch it to compensate, then
    re-raise: the run then ends as cancelled. Not an `asyncio.CancelledError`."""

    def __init__(self, message: str = "cancelled", *, details: Any = None) -> None:
        super().__init__(message, type="Cancelled", retryable=False, details=details)


class TimedOut(ActivityError):
    """Raised into a workflow when a step timed out, e.g. a signal wait past its timeout."""

    def __init__(self, message: str = "timed out", *, details: Any = None) -> None:
        super().__init__(message, type="TimedOut", retryable=False, details=details)


class ContinueAsNew(BaseException):
    """Raised by `WorkflowContext.continue_as_new`: ends the run and starts the execution over
    with ``input`` and an empty journal. A BaseException, so ``except Exception`` does not stop it."""

    def __init__(self, input: Any) -> None:
        super().__init__("continue as new")
        self.input = input
