"""`Client`'s schedule methods (``schedule/*``): start a workflow on a cron or an interval.

A mixin so that `_client.py` stays under 500 lines (STYLE 13); `Client` is the only user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

from ._schema import to_json

# Bound on one schedule call: each is a single quick round trip (like CONNECT_TIMEOUT_S in _client.py).
SCHEDULE_CALL_TIMEOUT_S = 10.0


class ScheduleMethods:
    """``schedule/create``, ``describe``, ``list``, ``pause``, ``unpause``, ``trigger``, ``delete``.

    Results are the wire objects (lowerCamelCase keys), as for `Client.describe`. An unknown
    ``schedule_id`` raises `KeelError` 1020 scheduleNotFound; a bad spec (a bad cron, an unknown
    time zone, both or neither of ``cron`` and ``intervalMs``...) raises -32602.
    """

    if TYPE_CHECKING:

        async def _call(self, method: str, params: Dict[str, Any], timeout: Optional[float]) -> Any: ...  # Client's

    async def _schedule_call(self, method: str, params: Dict[str, Any]) -> Dict[str, Any]:
        return dict(await self._call(method, params, timeout=SCHEDULE_CALL_TIMEOUT_S) or {})

    async def create_schedule(
        self,
        schedule_id: str,
        *,
        spec: Dict[str, Any],
        action: Dict[str, Any],
        overlap: Optional[str] = None,
        catchup_window_ms: Optional[int] = None,
        paused: Optional[bool] = None,
        note: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Creates schedule ``schedule_id`` (``schedule/create``), which starts ``action``'s workflow
        at each time ``spec`` gives, with workflow id ``<schedule_id>-<slot time, UTC ISO 8601 to
        the second>`` (each slot starts at most once).

        ``spec`` is ``{"cron": "0 9 * * MON-FRI", "timeZone"?: "Europe/Paris"}`` or
        ``{"intervalMs": 3600000, "offsetMs"?: 0}`` (a whole number of seconds, >= 1000), either
        with ``"jitterMs"?``. ``action`` is ``{"workflow": "reports.daily", "input"?: {...},
        "priority"?, "fairnessKey"?, "executionTimeoutMs"?, "runTimeoutMs"?}`` (dataclasses in it
        are converted as for `Client.start_workflow`). ``overlap`` is "skip" (Keel's default),
        "bufferOne", "allowAll" or "cancelOther"; ``catchup_window_ms`` (default one year,
        minimum 10000) bounds how far back missed slots still start. Each optional parameter is
        sent only when given. Returns the `describe_schedule` object.

        Raises:
            KeelError: 1021 scheduleAlreadyExists (the id is in use), -32602 a bad spec or action.
        """
        params: Dict[str, Any] = {"scheduleId": schedule_id, "spec": to_json(spec), "action": to_json(action)}
        if overlap is not None:
            params["overlap"] = overlap
        if catchup_window_ms is not None:
            params["catchupWindowMs"] = catchup_window_ms
        if paused is not None:
            params["paused"] = paused
        if note is not None:
            params["note"] = note
        return await self._schedule_call("schedule/create", params)

    async def describe_schedule(self, schedule_id: str) -> Dict[str, Any]:
        """``schedule/describe``: ``{scheduleId, spec, action, overlap, catchupWindowMs, paused,
        note?, createdAtMs, updatedAtMs, nextActionTimesMs (up to 5), recentActions: [{slotMs,
        workflowId, startedAtMs}] (newest last, up to 10), runningWorkflowId?, bufferedSlotMs?,
        started, skipped}``.

        Raises:
            KeelError: 1020 scheduleNotFound.
        """
        return await self._schedule_call("schedule/describe", {"scheduleId": schedule_id})

    async def list_schedules(self, limit: Optional[int] = None, cursor: Optional[str] = None) -> Dict[str, Any]:
        """One page of schedules by id (``schedule/list``; ``limit`` 1..1000, Keel's default 100):
        ``{schedules: [{scheduleId, workflow, spec, paused, nextActionTimeMs?}], nextCursor?}``.
        Pass ``nextCursor`` back as ``cursor`` for the next page."""
        params: Dict[str, Any] = {}
        if limit is not None:
            params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        return await self._schedule_call("schedule/list", params)

    async def pause_schedule(self, schedule_id: str, note: Optional[str] = None) -> Dict[str, Any]:
        """Pauses a schedule (``schedule/pause``): no slot starts until `unpause_schedule`.
        Returns the `describe_schedule` object.

        Raises:
            KeelError: 1020 scheduleNotFound.
        """
        return await self._schedule_call("schedule/pause", _with_note({"scheduleId": schedule_id}, note))

    async def unpause_schedule(self, schedule_id: str, note: Optional[str] = None) -> Dict[str, Any]:
        """Unpauses a schedule (``schedule/unpause``); the slots missed while paused do not start.
        Returns the `describe_schedule` object.

        Raises:
            KeelError: 1020 scheduleNotFound.
        """
        return await self._schedule_call("schedule/unpause", _with_note({"scheduleId": schedule_id}, note))

    async def trigger_schedule(self, schedule_id: str, overlap: Optional[str] = None) -> Dict[str, Any]:
        """Starts the schedule's action now (``schedule/trigger``), even when paused, under its
        overlap policy or ``overlap`` when given. Returns ``{scheduleId, workflowId, started}``
        (``started`` False when the policy skipped it).

        Raises:
            KeelError: 1020 scheduleNotFound.
        """
        params: Dict[str, Any] = {"scheduleId": schedule_id}
        if overlap is not None:
            params["overlap"] = overlap
        return await self._schedule_call("schedule/trigger", params)

    async def delete_schedule(self, schedule_id: str) -> Dict[str, Any]:
        """Deletes a schedule (``schedule/delete``); workflows it started keep running. Returns
        ``{scheduleId, deleted: true}``.

        Raises:
            KeelError: 1020 scheduleNotFound.
        """
        return await self._schedule_call("schedule/delete", {"scheduleId": schedule_id})


def _with_note(params: Dict[str, Any], note: Optional[str]) -> Dict[str, Any]:
    if note is not None:
        params["note"] = note
    return params
