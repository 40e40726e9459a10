"""Which failures of a call say "certainly not applied" (ConnectorError.not_applied): the
connection never made, or a status sent before processing. Writes failing that way may be sent
again (survey follow-ups do); any other failure may have happened."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import responses

from connector.errors import RateLimitedError, UnavailableError, certainly_not_applied
from connector.http import HttpTransport
from connector.retry import RetryPolicy

URL = "http://crm.invalid/crm/v8/Tasks"


def transport() -> HttpTransport:
    return HttpTransport(policy=RetryPolicy(sleep=lambda _s: None), timeout_seconds=5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hangs_up() -> Iterator[int]:
    """A server that takes the connection (and so perhaps the request), then closes it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield int(listener.getsockname()[1])
    listener.close()


def test_a_refused_connection_is_certainly_not_applied() -> None:
    url = f"http://127.0.0.1:{closed_port()}/crm/v8/Tasks"
    with pytest.raises(UnavailableError) as caught:
        transport().request("POST", url, idempotent=False, json={})
    assert certainly_not_applied(caught.value)


def test_a_connection_closed_after_the_request_was_sent_may_have_been_applied(
    hangs_up: int,
) -> None:
    url = f"http://127.0.0.1:{hangs_up}/crm/v8/Tasks"
    with pytest.raises(UnavailableError) as caught:
        transport().request("POST", url, idempotent=False, json={})
    assert not certainly_not_applied(caught.value)


@pytest.mark.parametrize(
    ("status", "not_applied"), [(503, True), (429, True), (500, False), (502, False), (504, False)]
)
@responses.activate
def test_statuses_sent_before_processing_are_certainly_not_applied(
    status: int, not_applied: bool
) -> None:
    responses.add(responses.POST, URL, status=status, body="busy")
    with pytest.raises((UnavailableError, RateLimitedError)) as caught:
        transport().request("POST", URL, idempotent=False, json={})
    assert certainly_not_applied(caught.value) is not_applied
