"""Keel Python client: workers that serve activities and workflows, and a client that drives them.

Quick start::

    import keel

    worker = keel.Worker("hello-worker")

    @worker.activity("greet.hello")
    async def hello(input):
        return {"greeting": f"Hello, {input['name']}"}

    worker.run_sync()
"""

from ._activity import ActivityContext, ActivityDefinition, RetryPolicy, activity_context
from ._client import ActivityResult, Client, SignalResult, StreamEvent, WorkflowResult
from ._connection import Connection
from ._errors import ActivityError, Cancelled, ConnectionClosedError, ConnectionLostError, ContinueAsNew, KeelError, TimedOut
from ._framing import DEFAULT_MAX_FRAME_BYTES, FrameTooLargeError, InvalidFrameError
from ._schema import schema_from_type
from ._transport import TLS
from ._version import __version__
from ._worker import Worker
from ._workflow import Update, WorkflowContext, WorkflowDefinition

__all__ = [
    "ActivityContext",
    "ActivityDefinition",
    "ActivityError",
    "ActivityResult",
    "Cancelled",
    "Client",
    "Connection",
    "ConnectionClosedError",
    "ConnectionLostError",
    "ContinueAsNew",
    "DEFAULT_MAX_FRAME_BYTES",
    "FrameTooLargeError",
    "InvalidFrameError",
    "KeelError",
    "RetryPolicy",
    "SignalResult",
    "StreamEvent",
    "TLS",
    "TimedOut",
    "Update",
    "Worker",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowResult",
    "__version__",
    "activity_context",
    "schema_from_type",
]
