"""The reconnect backoff and the repeat rule of docs/clients.md "Reconnecting", without a Keel."""

import pytest

from keel._reconnect import Backoff, safe_to_repeat


@pytest.mark.parametrize("initial,maximum", [(0.1, 2.0), (0.05, 1.0)])
def test_backoff_is_full_jitter_capped_and_resets(initial, maximum):
    backoff = Backoff(initial, maximum)
    waits = [backoff.next() for _ in range(40)]
    assert all(0 <= w <= maximum for w in waits)
    assert waits[0] <= initial and max(waits[:3]) <= initial * 4
    backoff.reset()
    assert backoff.next() <= initial


def test_only_reads_and_keyed_calls_are_repeated():
    assert safe_to_repeat("workflow/result", {"workflowId": "w"})
    assert safe_to_repeat("activity/call", {"name": "a", "idempotencyKey": "k"})
    assert not safe_to_repeat("activity/call", {"name": "a"})
    assert safe_to_repeat("workflow/start", {"name": "w", "workflowId": "w-1"})
    assert not safe_to_repeat("workflow/start", {"name": "w", "workflowId": "w-1", "conflictPolicy": "fail"})
    assert not safe_to_repeat("workflow/signal", {"workflowId": "w", "name": "s"})
    assert not safe_to_repeat("workflow/cancel", {"workflowId": "w"})


def test_a_signal_with_a_request_id_is_repeated_and_one_without_is_outcome_unknown():
    assert safe_to_repeat("workflow/signal", {"workflowId": "w", "name": "s", "payload": 1, "requestId": "r-1"})
    assert not safe_to_repeat("workflow/signal", {"workflowId": "w", "name": "s", "payload": 1})
    assert not safe_to_repeat("workflow/signal", {"workflowId": "w", "name": "s", "requestId": None})


def test_queries_are_reads_and_a_signal_with_start_is_repeated_only_with_an_id_and_a_request_id():
    assert safe_to_repeat("workflow/query", {"workflowId": "w", "name": "stage"})
    signal = {"name": "go", "payload": 1, "requestId": "r-1"}
    assert safe_to_repeat("workflow/start", {"name": "w", "workflowId": "w-1", "signal": signal})
    assert not safe_to_repeat("workflow/start", {"name": "w", "signal": signal})  # Keel would generate another id
    assert not safe_to_repeat("workflow/start", {"name": "w", "workflowId": "w-1", "signal": {"name": "go"}})
    assert not safe_to_repeat("workflow/start", {"name": "w", "workflowId": "w-1", "signal": {"name": "go", "requestId": None}})


def test_an_update_with_an_update_id_is_repeated_and_one_without_is_outcome_unknown():
    assert safe_to_repeat("workflow/update", {"workflowId": "w", "name": "approve", "input": 1, "updateId": "u-1"})
    assert not safe_to_repeat("workflow/update", {"workflowId": "w", "name": "approve", "input": 1})
    assert not safe_to_repeat("workflow/update", {"workflowId": "w", "name": "approve", "updateId": None})
