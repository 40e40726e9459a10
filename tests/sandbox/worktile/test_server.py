"""The Worktile sandbox over real HTTP: tenant tokens, paging, both readings of its answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.sandbox.worktile import WorktileSandbox, seed_worktile_projects
from connector.sandbox.worktile.seed import add_many_tasks
from tests.conftest import FakeClock


@pytest.fixture
def worktile(clock: FakeClock) -> Iterator[WorktileSandbox]:
    sandbox = WorktileSandbox(clock=clock)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def token(sandbox: WorktileSandbox, secret: str | None = None) -> requests.Response:
    body = {"client_id": sandbox.client_id, "client_secret": secret or sandbox.client_secret}
    return requests.post(f"{sandbox.url}/open-api/tenant-access-token", json=body, timeout=5)


def get(sandbox: WorktileSandbox, path: str, access: str, **params: Any) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/open-api{path}",
        params=params,
        headers={"Authorization": f"Bearer {access}"},
        timeout=5,
    )


def test_the_tenant_token_comes_under_the_configured_name(clock: FakeClock) -> None:
    for name in ("tenant_access_token", "access_token"):
        with WorktileSandbox(clock=clock, token_field=name) as sandbox:
            body = token(sandbox).json()
        assert set(body) == {name, "expires_in"}


def test_a_wrong_secret_is_refused_in_a_200_or_with_its_status(clock: FakeClock) -> None:
    for in_200, status in ((True, 200), (False, 401)):
        with WorktileSandbox(clock=clock, errors_in_200=in_200) as sandbox:
            answer = token(sandbox, secret="wrong")
        assert answer.status_code == status
        assert answer.json()["ok"] is False


def test_the_token_works_as_a_bearer_header_or_a_query_parameter(worktile: WorktileSandbox) -> None:
    access = token(worktile).json()["tenant_access_token"]
    path = "/open-api/mission/get-projects-by-page"
    by_query = requests.get(f"{worktile.url}{path}", params={"access_token": access}, timeout=5)
    assert by_query.json()["total"] == 0
    assert get(worktile, "/mission/get-projects-by-page", access).json()["total"] == 0


def test_an_expired_token_answers_1103(worktile: WorktileSandbox, clock: FakeClock) -> None:
    access = token(worktile).json()["tenant_access_token"]
    clock.advance(seconds=7200)
    body = get(worktile, "/mission/get-projects-by-page", access).json()
    assert (body["ok"], body["error_code"]) == (False, 1103)


def test_tasks_page_by_index_with_has_more(worktile: WorktileSandbox) -> None:
    project = worktile.add_project("P", "P")
    add_many_tasks(worktile, project, 250, worktile.clock())
    access = token(worktile).json()["tenant_access_token"]
    pages = [
        get(
            worktile,
            "/mission/get-project-tasks-by-page",
            access,
            project_id=project,
            page_index=index,
            page_size=500,  # more than the sandbox's 100: capped
        ).json()
        for index in range(3)
    ]
    assert [len(p["items"]) for p in pages] == [100, 100, 50]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert pages[0]["total"] == 250


def test_due_dates_come_nested_or_flat(clock: FakeClock) -> None:
    for shape, read in (("nested", lambda t: t["due"]["date"]), ("flat", lambda t: t["due_at"])):
        with WorktileSandbox(clock=clock, due_shape=shape, list_field="value") as sandbox:
            project = seed_worktile_projects(sandbox, clock())["客服外包"]
            access = token(sandbox).json()["tenant_access_token"]
            tasks = get(
                sandbox, "/mission/get-project-tasks-by-page", access, project_id=project
            ).json()["value"]
        accepted = next(t for t in tasks if t["title"] == "一期验收")
        assert read(accepted) == int(clock().timestamp()) - 9 * 86400


def test_an_unknown_project_is_refused(worktile: WorktileSandbox) -> None:
    access = token(worktile).json()["tenant_access_token"]
    body = get(worktile, "/mission/get-project-tasks-by-page", access, project_id="nope").json()
    assert body["ok"] is False


def test_past_the_minutes_limit_a_429_says_when_to_come_back(clock: FakeClock) -> None:
    with WorktileSandbox(clock=clock, calls_per_minute=2) as sandbox:
        access = token(sandbox).json()["tenant_access_token"]
        get(sandbox, "/mission/get-projects-by-page", access)
        clock.advance(seconds=20)
        get(sandbox, "/mission/get-projects-by-page", access)
        refused = get(sandbox, "/mission/get-projects-by-page", access)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "40")
