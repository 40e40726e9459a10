"""The Worktile client against its sandbox in each reading of what Worktile leaves
unconfirmed (token field, list field, due-date shape, errors in a 200 or with a status)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from connector.delivery.worktile import WorktileClient
from connector.errors import AuthenticationError
from connector.http import HttpTransport
from connector.sandbox.worktile import WorktileSandbox, seed_worktile_projects
from tests.conftest import FakeClock
from tests.delivery.conftest import no_sleep

READINGS = [
    pytest.param(
        {
            "token_field": "tenant_access_token",
            "list_field": "items",
            "due_shape": "nested",
            "errors_in_200": True,
        },
        id="tenant_access_token-items-nested-200",
    ),
    pytest.param(
        {
            "token_field": "access_token",
            "list_field": "value",
            "due_shape": "flat",
            "errors_in_200": False,
        },
        id="access_token-value-flat-401",
    ),
]


def client_of(
    sandbox: WorktileSandbox, clock: FakeClock, secret: str | None = None
) -> WorktileClient:
    return WorktileClient(
        sandbox.url,
        sandbox.client_id,
        secret or sandbox.client_secret,
        HttpTransport(policy=no_sleep()),
        milestone_types=("里程碑",),
        clock=clock,
    )


@pytest.mark.parametrize("reading", READINGS)
def test_each_reading_gives_the_same_milestones_and_items(reading: dict, clock: FakeClock) -> None:
    with WorktileSandbox(clock=clock, **reading) as sandbox:
        seed_worktile_projects(sandbox, clock())
        client = client_of(sandbox, clock)
        project = client.project("KF")
        releases = {r.name: r for r in client.releases(project)}
        items = [i for page in client.work_item_pages(project, None) for i in page.items]

    # Seeded: "一期验收" due 9 days before the clock's 23 November, still in progress.
    assert releases["一期验收"].due == date(2026, 11, 14)
    assert releases["一期验收"].released is False
    assert releases["二期上线"].due == date(2026, 12, 13)
    assert sorted((i.key, i.status, i.priority) for i in items) == [
        ("KF-3", "已完成", "较高"),
        ("KF-4", "待确认", "普通"),
    ]


@pytest.mark.parametrize("reading", READINGS)
def test_a_wrong_secret_is_refused_in_either_reading(reading: dict, clock: FakeClock) -> None:
    with WorktileSandbox(clock=clock, **reading) as sandbox, pytest.raises(AuthenticationError):
        client_of(sandbox, clock, secret="wrong").check()


def test_an_expired_token_is_fetched_again_once(clock: FakeClock) -> None:
    with WorktileSandbox(clock=clock) as sandbox:
        seed_worktile_projects(sandbox, clock())
        client = client_of(sandbox, clock)
        client.project("KF")
        sandbox.expire_tokens()  # revoked early: Worktile answers 1103
        client.project("KF")
        issued = sandbox.tokens_issued
    assert issued == 2


def test_tasks_page_by_index_and_the_cursor_hands_on_only_what_changed(clock: FakeClock) -> None:
    with WorktileSandbox(clock=clock) as sandbox:
        project_id = sandbox.add_project("P", "P")
        start = clock() - timedelta(days=1)
        tasks = [
            sandbox.add_task(project_id, f"工单 {n}", at=start + timedelta(minutes=n))
            for n in range(250)
        ]
        client = client_of(sandbox, clock)
        project = client.project("P")
        first = list(client.work_item_pages(project, None))
        calls = sandbox.api_calls()
        clock.advance(hours=1)
        sandbox.update_task(tasks[7], state="进行中", at=clock())
        second = list(client.work_item_pages(project, first[-1].cursor))
        second_calls = sandbox.api_calls() - calls

    assert [len(p.items) for p in first] == [100, 100, 50]
    assert [p.cursor for p in first][:2] == [None, None]
    # The API has no "changed since": the three pages are read again, one task handed on.
    assert second_calls == 3
    # The moved task, and the newest of the first reading: updated in the cursor's own second,
    # it is handed on again (a change in that second after the reading would be lost else).
    assert [i.key for p in second for i in p.items] == ["P-8", "P-250"]
    assert int(second[-1].cursor or 0) == int(clock().timestamp())
