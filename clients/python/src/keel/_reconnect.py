"""Reconnect backoff shared by `Client` and `Worker` (docs/clients.md "Reconnecting")."""

from __future__ import annotations

import random
from typing import Any, Dict, Generic, List, Sequence, TypeVar

T = TypeVar("T")

# First wait bound: a restarted `keel serve` binds its socket in well under a second.
RECONNECT_INITIAL_S = 0.1
# Cap on one wait: a worker is back at most ~2 s after Keel is (a 10 s cap kept it away for 5-10 s).
RECONNECT_MAX_S = 2.0


class Backoff:
    """Full-jitter exponential backoff: wait ``uniform(0, min(max, initial * 2**n))``.

    ``n`` counts failed attempts since the last `reset` (call it after a successful initialize).
    Not thread-safe; one per connection loop.
    """

    def __init__(self, initial: float = RECONNECT_INITIAL_S, maximum: float = RECONNECT_MAX_S) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("reconnect backoff needs 0 < initial <= max")
        self.initial, self.maximum = initial, maximum
        self._failures = 0

    def reset(self) -> None:
        """Starts over from ``initial``: the last attempt succeeded."""
        self._failures = 0

    def next(self) -> float:
        """Returns the next wait in seconds and counts one more failed attempt."""
        bound = min(self.maximum, self.initial * 2 ** min(self._failures, 30))
        self._failures += 1
        return random.uniform(0, bound)


class EndpointRing(Generic[T]):
    """Several endpoints tried in order (docs/clients.md "Several endpoints").

    `current` is where to connect next. After a failed attempt or a dropped connection, `failed`
    moves on to the next endpoint (wrapping around) and says whether every endpoint has now
    failed once since the last success or pause: only then does the caller wait its backoff. So
    with one endpoint every failure waits, as before; with several, a dead node is left at once
    for the next one. Not thread-safe; one per connection loop.
    """

    def __init__(self, endpoints: Sequence[T]) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.endpoints: List[T] = list(endpoints)
        self._index = 0
        self._failures = 0

    @property
    def current(self) -> T:
        return self.endpoints[self._index]

    def succeeded(self) -> None:
        """The current endpoint initialized: a later failure starts a new round from it."""
        self._failures = 0

    def failed(self) -> bool:
        """Moves to the next endpoint; True when a whole round failed (then wait the backoff)."""
        self._index = (self._index + 1) % len(self.endpoints)
        self._failures += 1
        if self._failures < len(self.endpoints):
            return False
        self._failures = 0
        return True


# Reads: repeating them changes nothing in Keel.
_READS = frozenset(
    {"ping", "activity/result", "workflow/result", "workflow/describe", "workflow/history", "workflow/list", "workflow/follow",
     "workflow/query", "worker/list", "schedule/describe", "schedule/list"}
)


def safe_to_repeat(method: str, params: Dict[str, Any]) -> bool:
    """True when a call whose connection dropped before its answer may be sent again: a read, an
    ``activity/call`` with an idempotency key, a ``workflow/start`` with a workflow id that does
    not ask to fail on conflict (and, with a ``signal``, whose signal carries a request id), or a
    ``workflow/signal`` with a request id (Keel delivers a repeated one once and answers
    ``duplicate: true``), or a ``workflow/update`` with an update id (the same id is the same
    update: a repeat delivers nothing new and waits for its answer) (docs/clients.md
    "Reconnecting", the in-flight table)."""
    if method in _READS:
        return True
    if method == "activity/call":
        return params.get("idempotencyKey") is not None
    if method == "workflow/start":
        signal = params.get("signal")
        if signal is not None and (not isinstance(signal, dict) or signal.get("requestId") is None):
            return False  # signal-with-start: without a request id a resend could deliver twice
        return params.get("workflowId") is not None and params.get("conflictPolicy") != "fail"
    if method == "workflow/signal":
        return params.get("requestId") is not None
    if method == "workflow/update":
        return params.get("updateId") is not None
    return False
