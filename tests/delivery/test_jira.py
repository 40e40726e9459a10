"""Jira Cloud specifics: call counts at scale, the incremental read, 429 with Retry-After,
OAuth bearers; against the Jira sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.delivery.jira import JiraAuth, JiraClient
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from connector.sandbox.jira import JiraState, SandboxJira
from jobs.delivery.pull import ConfiguredSource, pull_source
from jobs.store import Store
from mappings.delivery import DeliveryMapping
from tests.conftest import FakeClock

EMAIL, TOKEN = "pm@example.com", "jira-token-1"
MAPPING = DeliveryMapping.model_validate(
    {
        "tool": "jira",
        "tickets": {
            "priority": {"Highest": "P1", "High": "P2", "Medium": "P3", "Low": "P4"},
            "first_response_statuses": ["In Progress"],
            "waiting_statuses": ["Waiting for customer"],
            "resolved_statuses": ["Resolved", "Done"],
        },
    }
)


@pytest.fixture
def jira(clock: FakeClock) -> Iterator[tuple[JiraState, str]]:
    state = JiraState(clock=clock)
    state.add_account(EMAIL, TOKEN, time_zone="Europe/Berlin", oauth_token="oauth-bearer-1")
    sandbox = SandboxJira(state)
    try:
        yield state, sandbox.start()
    finally:
        sandbox.stop()


def client_for(url: str, clock: FakeClock, policy: RetryPolicy | None = None) -> JiraClient:
    transport = HttpTransport(policy=policy or RetryPolicy(sleep=lambda s: None))
    return JiraClient(url, JiraAuth(email=EMAIL, api_token=TOKEN), transport, clock=clock)


def source(client: JiraClient, links: dict[str, str]) -> ConfiguredSource:
    mapping = MAPPING.model_copy(
        update={"link": MAPPING.link.model_copy(update={"projects": links})}
    )
    return ConfiguredSource("jira", client, mapping)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_20000_issues_over_10_projects_take_the_pages_they_need_then_only_what_changed(
    jira: tuple[JiraState, str], store: Store, clock: FakeClock
) -> None:
    state, url = jira
    start = datetime(2026, 1, 1, tzinfo=UTC)
    projects = [f"P{n}" for n in range(10)]
    for project in projects:
        state.add_project(project, project)
        for i in range(2000):
            # One issue a minute: each project's last one is alone in its minute.
            at = start + timedelta(minutes=i)
            state.add_issue(
                project, priority=("Highest", "High", "Medium", "Low")[i % 4], created=at
            )
    links = {p: f"D{p}" for p in projects}
    pull = source(client_for(url, clock), links)

    first = pull_source(pull, store, clock=clock)

    # myself, 10 x project, status + issuetype + priority/search once, 10 x versions, and
    # 2,000 / 100 = 20 search pages per project (no key listing: nothing was stored before).
    assert first.error is None and first.problems == []
    assert sum(state.calls.values()) == 1 + 10 + 3 + 10 + 10 * 20
    assert state.search_calls() == 200
    assert first.items_read == 20_000
    assert sum(len(v) for v in store.tickets().values()) == 20_000

    clock.advance(hours=1)
    for key in ("P0-5", "P0-6", "P3-100", "P7-1999", "P9-1"):
        state.move(key, "In Progress")
    state.delete("P5-10")
    state.calls.clear()

    # The next run is a new process: a new client (nothing cached but the store's cursors).
    second = pull_source(source(client_for(url, clock), links), store, clock=clock)

    # myself, status + issuetype + priority/search; per project: project, versions, one search page (only changed issues and the one whose
    # update is the cursor's minute: JQL reads by the minute), one page of keys (5,000 a page).
    assert sum(state.calls.values()) == 1 + 3 + 10 * (1 + 1 + 1 + 1)
    assert second.items_read == 5 + 10
    assert second.changed["tickets"] == 5
    assert second.deleted == 1
    tickets = {t.external_id: t for ts in store.tickets().values() for t in ts}
    assert len(tickets) == 19_999 and "P5-10" not in tickets
    assert tickets["P3-100"].first_response_at == clock()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_429_with_retry_after_3_waits_3_seconds_then_goes_on(
    jira: tuple[JiraState, str], store: Store, clock: FakeClock
) -> None:
    state, url = jira
    state.add_project("ACME", "Acme")
    state.add_issue("ACME", created=datetime(2026, 11, 20, tzinfo=UTC))
    waits: list[float] = []
    client = client_for(url, clock, RetryPolicy(sleep=waits.append, random=lambda: 0.0))
    state.throttle_next(1, retry_after=3)

    report = pull_source(source(client, {"ACME": "D1"}), store, clock=clock)

    assert waits == [3.0]
    assert report.error is None
    assert [t.external_id for t in store.tickets()["D1"]] == ["ACME-1"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_429s_past_the_retries_stop_the_source_for_the_next_run(
    jira: tuple[JiraState, str], store: Store, clock: FakeClock
) -> None:
    state, url = jira
    state.add_project("ACME", "Acme")
    client = client_for(url, clock, RetryPolicy(sleep=lambda s: None))
    state.throttle_next(3, retry_after=1)

    report = pull_source(source(client, {"ACME": "D1"}), store, clock=clock)

    assert report.error is not None
    assert report.error.startswith("delivery source jira: ")
    assert report.error.endswith("(the next run resumes)")


def test_an_oauth_bearer_is_accepted_and_a_wrong_one_refused(
    jira: tuple[JiraState, str], clock: FakeClock
) -> None:
    _, url = jira
    transport = HttpTransport(policy=RetryPolicy(sleep=lambda s: None))
    JiraClient(url, JiraAuth(access_token="oauth-bearer-1"), transport).check()
    from connector.errors import AuthenticationError

    with pytest.raises(AuthenticationError, match="Jira refused the credentials"):
        JiraClient(url, JiraAuth(access_token="stale"), transport).check()


def test_the_incremental_jql_is_in_the_users_time_zone_to_the_minute(
    jira: tuple[JiraState, str], clock: FakeClock
) -> None:
    state, url = jira
    state.add_project("ACME", "Acme")
    # 09:30:40 UTC is 10:30 in Berlin (CET, UTC+1 in November).
    state.add_issue("ACME", created=datetime(2026, 11, 20, 9, 30, 40, tzinfo=UTC))
    state.add_issue("ACME", created=datetime(2026, 11, 20, 9, 29, 59, tzinfo=UTC))
    client = client_for(url, clock)
    client.check()
    project = client.project("ACME")

    pages = list(client.work_item_pages(project, "2026-11-20T09:30:40+00:00"))

    assert [i.key for p in pages for i in p.items] == ["ACME-1"]
    assert pages[-1].cursor == "2026-11-20T09:30:40+00:00"
