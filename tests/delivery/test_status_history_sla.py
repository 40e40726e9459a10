"""Status history -> SLA: time an issue spends waiting on the customer (Jira's status history,
read by the pull) is paused in its resolution SLA. Expected minutes worked out by hand.

Calendar: Asia/Shanghai, 09:00-12:00 and 13:00-18:00 on weekdays (480 business minutes a day).
March 2026: Mon 2, Tue 3, Wed 4, Thu 5, Fri 6, Mon 9. P3 goals: first response 240, resolution
1,440 business minutes (three days).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from connector.delivery.jira import JiraAuth, JiraClient
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from connector.sandbox.jira import JiraState, SandboxJira
from jobs.delivery.pull import ConfiguredSource, pull_source
from jobs.health.sla import SlaPolicy, evaluate
from jobs.store import Store
from mappings.delivery import DeliveryMapping
from tests.conftest import FakeClock

SH = ZoneInfo("Asia/Shanghai")
POLICY = SlaPolicy.model_validate(
    {
        "tier": "Gold",
        "calendar": {"timezone": "Asia/Shanghai", "hours": ["09:00-12:00", "13:00-18:00"]},
        "goals": {
            "first_response_minutes": {"P3": 240},
            "resolution_minutes": {"P3": 1440},
            "status_report_every_days": None,
        },
    }
)
MAPPING = DeliveryMapping.model_validate(
    {
        "tool": "jira",
        "link": {"projects": {"ACME": "D1"}},
        "tickets": {
            "priority": {"Medium": "P3"},
            "first_response_statuses": ["In Progress"],
            "waiting_statuses": ["Waiting for customer"],
            "resolved_statuses": ["Resolved"],
        },
    }
)


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


#: (case, opened, [(status, at)...], resolution minutes used, met)
CASES = [
    (
        # Mon 09:00-Thu 11:00 is 480 + 480 + 480 + 120 = 1,560 minutes; waiting Mon 10:00 to
        # Wed 10:00 is 120 + 300 + 480 + 60 = 960 of them (two business days): 600 used.
        "two business days waiting on the customer, paused",
        sh(2, 9),
        [
            ("In Progress", sh(2, 9, 30)),
            ("Waiting for customer", sh(2, 10)),
            ("In Progress", sh(4, 10)),
            ("Resolved", sh(5, 11)),
        ],
        600,
        True,
    ),
    (
        # The same two days in a status of ours ("In Review"): nothing paused, 1,560 > 1,440.
        "the same two days in review, not paused",
        sh(2, 9),
        [
            ("In Progress", sh(2, 9, 30)),
            ("In Review", sh(2, 10)),
            ("In Progress", sh(4, 10)),
            ("Resolved", sh(5, 11)),
        ],
        1560,
        False,
    ),
    (
        # Fri 09:00-Mon 12:00 is 480 + 180 = 660; waiting Fri 17:00-Mon 10:00 is 60 + 60 = 120
        # business minutes (the weekend was never counted): 540 used.
        "waiting over a weekend pauses only its business minutes",
        sh(6, 9),
        [
            ("In Progress", sh(6, 9, 10)),
            ("Waiting for customer", sh(6, 17)),
            ("In Progress", sh(9, 10)),
            ("Resolved", sh(9, 12)),
        ],
        540,
        True,
    ),
    (
        # Two waits: Mon 10:00-11:00 is 60; Tue 14:00-Wed 14:00 is Tue 14-18 (240) + Wed 09-12
        # (180) + Wed 13-14 (60) = 480. Mon 09:00-Wed 18:00 is 1,440; minus 540: 900 used.
        "two separate waits both pause",
        sh(2, 9),
        [
            ("In Progress", sh(2, 9, 5)),
            ("Waiting for customer", sh(2, 10)),
            ("In Progress", sh(2, 11)),
            ("Waiting for customer", sh(3, 14)),
            ("In Progress", sh(4, 14)),
            ("Resolved", sh(4, 18)),
        ],
        900,
        True,
    ),
]


@pytest.fixture
def jira(clock: FakeClock) -> Iterator[tuple[JiraState, str]]:
    state = JiraState(clock=clock)
    state.add_account("pm@example.com", "t", time_zone="Asia/Shanghai")
    sandbox = SandboxJira(state)
    try:
        yield state, sandbox.start()
    finally:
        sandbox.stop()


@pytest.mark.parametrize(
    ("case", "opened", "moves", "used", "met"), CASES, ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_waiting_on_the_customer_is_paused_in_the_resolution_sla(
    jira: tuple[JiraState, str],
    store: Store,
    clock: FakeClock,
    case: str,
    opened: datetime,
    moves: list[tuple[str, datetime]],
    used: int,
    met: bool,
) -> None:
    state, url = jira
    state.add_project("ACME", "Acme")
    issue = state.add_issue("ACME", priority="Medium", created=opened)
    for status, at in moves:
        state.move(issue.key, status, at)
    client = JiraClient(
        url,
        JiraAuth(email="pm@example.com", api_token="t"),
        HttpTransport(policy=RetryPolicy(sleep=lambda s: None)),
    )
    pull_source(ConfiguredSource("jira", client, MAPPING), store, clock=clock)
    (ticket,) = store.tickets()["D1"]

    result = evaluate(POLICY, [ticket], [], [], now=sh(10, 12))

    resolution = next(m for m in result.measures if m.metric == "resolution")
    assert (resolution.used_minutes, resolution.met) == (used, met)
