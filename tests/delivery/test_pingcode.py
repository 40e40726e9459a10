"""PingCode specifics: the 200-a-minute limit over a long pull, x-pc-retry-after, the 30-day
token kept between processes; against the PingCode sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from connector.delivery.pingcode import PingCodeClient, PingCodeCredentials
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from connector.sandbox.pingcode import PingCodeState, SandboxPingCode
from jobs.delivery.pull import ConfiguredSource, pull_source
from jobs.store import Store
from jobs.store.kept_tokens import StoreTokenCache
from mappings.delivery import DeliveryMapping
from tests.conftest import FakeClock

MAPPING = DeliveryMapping.model_validate(
    {
        "tool": "pingcode",
        "link": {"projects": {"BIG": "D1"}},
        "tickets": {
            "types": ["事务"],
            "priority": {"最高": "P1", "较高": "P2", "普通": "P3", "较低": "P4"},
            "resolved_statuses": ["已完成"],
        },
    }
)


@pytest.fixture
def pingcode(clock: FakeClock) -> Iterator[tuple[PingCodeState, str]]:
    state = PingCodeState(clock=clock)
    state.add_app("engage-app", "pc-secret-1")
    sandbox = SandboxPingCode(state)
    try:
        yield state, sandbox.start()
    finally:
        sandbox.stop()


def client_for(url: str, clock: FakeClock, waits: list[float], **options: object) -> PingCodeClient:
    def sleep(seconds: float) -> None:
        # Waiting moves the clock both the client and the sandbox read: no wall-clock sleep.
        waits.append(seconds)
        clock.advance(seconds=seconds)

    transport = HttpTransport(policy=RetryPolicy(sleep=sleep, random=lambda: 0.0))
    credentials = PingCodeCredentials("engage-app", SecretStr("pc-secret-1"))
    return PingCodeClient(url, credentials, transport, clock=clock, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_pull_of_30000_work_items_never_exceeds_200_calls_a_minute(
    pingcode: tuple[PingCodeState, str], store: Store, clock: FakeClock
) -> None:
    state, url = pingcode
    state.add_project("BIG", "大项目")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(30_000):
        state.add_item("BIG", created_at=start + timedelta(seconds=i))
    waits: list[float] = []
    # Each answer takes the sandbox's clock a quarter second, as a real API's latency would.
    client = client_for(url, clock, waits)
    original = state.count_call

    def slow_count(caller: str) -> int | None:
        clock.advance(seconds=0.25)
        return original(caller)

    state.count_call = slow_count  # type: ignore[method-assign]

    report = pull_source(ConfiguredSource("pc", client, MAPPING), store, clock=clock)

    assert report.error is None and report.problems == []
    assert len(store.tickets()["D1"]) == 30_000
    # check, project, types, 5 x states, priorities, versions, 300 pages of 100.
    assert sum(state.calls.values()) == 1 + 1 + 1 + 5 + 1 + 1 + 300
    assert state.refused_429 == 0
    assert 0 < state.busiest_minute <= 200
    assert waits, "310 calls at 4 a second needed the client to wait for its minute"


def test_x_pc_retry_after_is_obeyed(pingcode: tuple[PingCodeState, str], clock: FakeClock) -> None:
    state, url = pingcode
    waits: list[float] = []
    # No budget of its own: the sandbox's limit is what stops it.
    client = client_for(url, clock, waits, calls_per_minute=10_000)
    for _ in range(200):
        client.check()
    assert waits == []

    client.check()  # the 201st call of the minute: 429, x-pc-retry-after: 60

    assert state.refused_429 == 1
    assert waits == [60.0]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_30_day_token_is_kept_between_processes(
    pingcode: tuple[PingCodeState, str], store: Store, clock: FakeClock
) -> None:
    state, url = pingcode
    cache = StoreTokenCache(store)
    client_for(url, clock, [], cache=cache).check()
    clock.advance(days=28)
    client_for(url, clock, [], cache=cache).check()  # another process, four weeks later
    assert state.tokens_issued == 1

    clock.advance(days=1, hours=1)  # within a day of the 30: a new one
    client_for(url, clock, [], cache=cache).check()
    assert state.tokens_issued == 2
