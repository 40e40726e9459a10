"""Zoho access tokens kept in the store between processes (issue 16 item 1), and the token
endpoint's errors told apart (item 7).

Each "process" here is its own ``Store`` (its own engine and connections) and its own token
manager on the same database, against the sandbox over real HTTP; tests/e2e/test_token_reuse.py
runs real `engage` processes.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from pydantic import SecretStr

from connector.errors import ConnectionSetupError, TokenRefreshLimitedError, UnavailableError
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from connector.sandbox import SandboxCRM
from connector.zoho import ZohoClient, ZohoCredentials, ZohoTokenManager
from connector.zoho.auth import ACCOUNTS_URL_KEY
from jobs.store import Store
from jobs.store import schema as t
from jobs.store.kept_tokens import StoreTokenCache
from tests.conftest import FakeClock


def credentials(crm: SandboxCRM, *, accounts_url: str | None = None) -> ZohoCredentials:
    return ZohoCredentials(
        accounts_url or crm.url,
        crm.client_id,
        SecretStr(crm.client_secret),
        SecretStr(crm.refresh_token),
    )


class Process:
    """What one `engage` process has: its own store connection, transport and token manager."""

    def __init__(self, crm: SandboxCRM, store_url: str, clock: FakeClock, **kw: str) -> None:
        self.store = Store.open(store_url)
        self.transport = HttpTransport(policy=RetryPolicy(sleep=lambda _: None))
        self.tokens = ZohoTokenManager(
            credentials(crm, **kw), self.transport, clock=clock, cache=StoreTokenCache(self.store)
        )
        self.client = ZohoClient(self.tokens, self.transport)

    def close(self) -> None:
        self.store.close()


def test_later_processes_reuse_the_kept_token_until_it_expires(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str
) -> None:
    for _ in range(5):
        process = Process(sandbox, store_url, clock)
        assert process.client.get_fields("Deals")  # an API call with the token
        process.close()
        clock.advance(minutes=10)
    assert sandbox.count("token") == 1
    clock.advance(minutes=20)  # 60 minutes after it was issued: expired
    process = Process(sandbox, store_url, clock)
    process.client.get_fields("Deals")
    process.close()
    assert sandbox.count("token") == 2


def test_two_processes_refreshing_at_once_make_one_refresh(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str
) -> None:
    processes = [Process(sandbox, store_url, clock) for _ in range(4)]
    start = threading.Barrier(len(processes))
    tokens: list[str] = []

    def work(process: Process) -> None:
        start.wait()
        tokens.append(process.tokens.current()[0])

    threads = [threading.Thread(target=work, args=(p,)) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sandbox.count("token") == 1
    assert len(set(tokens)) == 1
    for process in processes:
        process.close()


def test_a_refused_kept_token_is_replaced_once_and_the_new_one_shared(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str
) -> None:
    first = Process(sandbox, store_url, clock)
    first.client.get_fields("Deals")
    sandbox.expire_tokens()  # Zoho revoked it before its hour was up (401 INVALID_TOKEN)
    second = Process(sandbox, store_url, clock)
    assert second.client.get_fields("Deals")
    assert sandbox.count("token") == 2
    # The first process is refused too; it takes the token the second one kept.
    assert first.client.get_fields("Deals")
    third = Process(sandbox, store_url, clock)
    third.client.get_fields("Deals")
    assert sandbox.count("token") == 2
    for process in (first, second, third):
        process.close()


def test_the_store_holds_no_usable_token(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str
) -> None:
    process = Process(sandbox, store_url, clock)
    process.client.get_fields("Deals")
    issued = list(sandbox._tokens)  # the sandbox's own record of what it issued
    assert len(issued) == 1
    with process.store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(t.zoho_tokens))]
    assert len(rows) == 1
    text = repr(rows)
    for secret in (*issued, sandbox.client_secret, sandbox.refresh_token):
        assert secret not in text
    assert rows[0]["api_domain"] == sandbox.url
    process.close()


def test_a_changed_secret_does_not_reuse_the_old_token(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str
) -> None:
    before = Process(sandbox, store_url, clock)
    before.tokens.current()
    before.close()
    # The admin rotates the client secret (Zoho's sandbox takes the new one): the kept token,
    # sealed under the old secret, cannot be opened and a new one is fetched.
    sandbox.client_secret = "rotated-secret"
    rotated = ZohoCredentials(
        sandbox.url,
        sandbox.client_id,
        SecretStr("rotated-secret"),
        SecretStr(sandbox.refresh_token),
    )
    store = Store.open(store_url)
    manager = ZohoTokenManager(
        rotated,
        HttpTransport(policy=RetryPolicy(sleep=lambda _: None)),
        clock=clock,
        cache=StoreTokenCache(store),
    )
    manager.current()
    assert sandbox.count("token") == 2
    store.close()


def test_the_connections_own_quota_is_not_asked_past_and_names_when(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str
) -> None:
    first_at = clock()
    for _ in range(10):
        process = Process(sandbox, store_url, clock)
        process.tokens.current()
        # The token is over before the next process (say it is revoked): 10 refreshes in 5 min.
        with process.store.engine.begin() as conn:
            conn.execute(t.zoho_tokens.update().values(expires_at=clock()))
        process.close()
        clock.advance(seconds=30)
    assert sandbox.tokens_issued == 10
    process = Process(sandbox, store_url, clock)
    with pytest.raises(TokenRefreshLimitedError) as caught:
        process.tokens.current()
    assert caught.value.retry_at == first_at + timedelta(minutes=10)
    assert (first_at + timedelta(minutes=10)).strftime("%H:%M:%S UTC") in str(caught.value)
    assert sandbox.count("token") == 10  # not asked: it would only refuse
    clock.advance(minutes=5, seconds=1)  # the first refresh has left the window
    assert process.tokens.current()
    assert sandbox.count("token") == 11
    process.close()


def test_a_quota_used_by_another_tool_is_refused_once_then_not_asked_again(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str
) -> None:
    for _ in range(10):  # another integration with the same refresh token
        requests.post(
            sandbox.url + "/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
                "refresh_token": sandbox.refresh_token,
            },
            timeout=10,
        ).raise_for_status()
    refused_at = clock()
    first = Process(sandbox, store_url, clock)
    with pytest.raises(TokenRefreshLimitedError) as caught:
        first.tokens.current()
    assert caught.value.crm_code == "Access Denied"
    assert caught.value.retry_at == refused_at + timedelta(minutes=10)
    second = Process(sandbox, store_url, clock)
    with pytest.raises(TokenRefreshLimitedError):
        second.tokens.current()
    assert sandbox.count("token") == 11  # the second process did not ask
    clock.advance(minutes=10)
    assert second.tokens.current()
    assert sandbox.count("token") == 12
    first.close()
    second.close()


def test_an_unreachable_accounts_server_is_configuration_until_it_has_worked(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str
) -> None:
    with socket_closed_port() as closed:
        never = Process(sandbox, sqlite_url, clock, accounts_url=closed)
        with pytest.raises(ConnectionSetupError) as caught:
            never.tokens.current()
        assert ACCOUNTS_URL_KEY in str(caught.value)
        assert closed in str(caught.value)
        never.close()
    worked = Process(sandbox, sqlite_url, clock)
    worked.tokens.current()
    worked.close()
    sandbox.stop()  # the accounts server goes down after the connection has worked
    clock.advance(hours=2)
    later = Process(sandbox, sqlite_url, clock)
    with pytest.raises(UnavailableError) as outage:
        later.tokens.current()
    assert "worked before" in str(outage.value)
    later.close()


class socket_closed_port:
    """A local URL where nothing listens (a port bound and closed again)."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize("worked", [False, True], ids=["never-worked", "has-worked"])
def test_a_404_from_the_accounts_server_depends_on_whether_the_connection_has_worked(
    clock: FakeClock, worked: bool
) -> None:
    import responses

    from connector.kept_tokens import KeptToken, MemoryTokenCache
    from connector.zoho.auth import token_key

    creds = ZohoCredentials(
        "https://accounts.example.test", "cid", SecretStr("secret-1"), SecretStr("refresh-1")
    )
    cache = MemoryTokenCache()
    if worked:
        with cache.exclusive(token_key(creds)) as slot:
            slot.write(KeptToken(worked_at=clock() - timedelta(days=3)))
    manager = ZohoTokenManager(
        creds, HttpTransport(policy=RetryPolicy(sleep=lambda _: None)), clock=clock, cache=cache
    )
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://accounts.example.test/oauth/v2/token", status=404)
        expected = UnavailableError if worked else ConnectionSetupError
        with pytest.raises(expected) as caught:
            manager.current()
    text = str(caught.value)
    assert "HTTP 404" in text
    assert (ACCOUNTS_URL_KEY in text) is not worked
    assert "secret-1" not in text and "refresh-1" not in text
