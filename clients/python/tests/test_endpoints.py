"""Several endpoints: how they are read and the order they are tried in (docs/clients.md
"Several endpoints"). Real processes: tests/test_failover.py."""

import pytest

from keel._reconnect import EndpointRing
from keel._transport import resolve_endpoints


def test_keel_socket_takes_a_comma_separated_list_in_order(monkeypatch):
    monkeypatch.delenv("KEEL_TRANSPORT", raising=False)
    monkeypatch.setenv("KEEL_SOCKET", "/tmp/a.sock, /tmp/b.sock")
    assert [e.socket for e in resolve_endpoints()] == ["/tmp/a.sock", "/tmp/b.sock"]


def test_keel_tcp_takes_a_comma_separated_list_with_the_token_on_each(monkeypatch):
    monkeypatch.delenv("KEEL_TRANSPORT", raising=False)
    monkeypatch.delenv("KEEL_SOCKET", raising=False)
    monkeypatch.setenv("KEEL_TCP", "h1:7000,h2:7001")
    monkeypatch.setenv("KEEL_TOKEN", "t")
    assert [(e.tcp, e.token) for e in resolve_endpoints()] == [("h1:7000", "t"), ("h2:7001", "t")]


def test_an_empty_entry_in_the_list_is_refused(monkeypatch):
    monkeypatch.delenv("KEEL_TRANSPORT", raising=False)
    monkeypatch.setenv("KEEL_SOCKET", "/tmp/a.sock,,/tmp/b.sock")
    with pytest.raises(ValueError, match="empty entry"):
        resolve_endpoints()


def test_a_string_argument_is_one_endpoint_so_a_path_may_contain_a_comma():
    assert [e.socket for e in resolve_endpoints(socket="/tmp/a,b.sock", allow_stdio=False)] == ["/tmp/a,b.sock"]
    assert [e.socket for e in resolve_endpoints(socket=["/a", "/b"], allow_stdio=False)] == ["/a", "/b"]


def test_the_ring_moves_on_at_once_and_asks_for_a_pause_only_after_a_whole_round():
    ring = EndpointRing(["a", "b", "c"])
    assert ring.current == "a"
    assert ring.failed() is False and ring.current == "b"
    assert ring.failed() is False and ring.current == "c"
    assert ring.failed() is True and ring.current == "a"
    ring.failed()
    ring.succeeded()  # connected to b: a drop there moves to c, and the round starts over
    assert ring.failed() is False and ring.current == "c"


def test_one_endpoint_pauses_after_every_failure_as_before():
    ring = EndpointRing(["only"])
    assert ring.failed() is True and ring.failed() is True and ring.current == "only"
