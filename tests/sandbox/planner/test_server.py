"""The Planner (Microsoft Graph) sandbox over real HTTP: tokens, plans, paging, throttling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests

from connector.sandbox.planner import PlannerSandbox, seed_planner_plans
from connector.sandbox.planner.seed import add_many_tasks
from tests.conftest import FakeClock


@pytest.fixture
def planner(clock: FakeClock) -> Iterator[PlannerSandbox]:
    sandbox = PlannerSandbox(clock=clock, page_size=10)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def token(sandbox: PlannerSandbox, **override: str) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "scope": "https://graph.microsoft.com/.default",
        **override,
    }
    tenant = override.pop("tenant", sandbox.tenant)
    return requests.post(f"{sandbox.url}/{tenant}/oauth2/v2.0/token", data=form, timeout=5)


def graph(sandbox: PlannerSandbox, path_or_url: str, access: str) -> requests.Response:
    url = path_or_url if path_or_url.startswith("http") else sandbox.url + path_or_url
    return requests.get(url, headers={"Authorization": f"Bearer {access}"}, timeout=5)


def test_client_credentials_give_a_bearer_token_for_an_hour(planner: PlannerSandbox) -> None:
    answer = token(planner)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3599)


def test_entra_refusals_name_the_wrong_part(planner: PlannerSandbox) -> None:
    secret = token(planner, client_secret="wrong")
    assert secret.status_code == 401
    assert secret.json()["error"] == "invalid_client"
    assert "AADSTS7000215" in secret.json()["error_description"]
    assert token(planner, client_id="nobody").json()["error"] == "unauthorized_client"
    tenant = requests.post(f"{planner.url}/other-tenant/oauth2/v2.0/token", data={}, timeout=5)
    assert tenant.json()["error"] == "invalid_request"


def test_an_expired_token_is_refused_with_graphs_error_shape(
    planner: PlannerSandbox, clock: FakeClock
) -> None:
    plan = planner.add_plan("P", ("To do",))
    access = token(planner).json()["access_token"]
    clock.advance(seconds=3600)
    answer = graph(planner, f"/v1.0/planner/plans/{plan}", access)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_tasks_page_by_next_link_until_there_is_none(planner: PlannerSandbox) -> None:
    plan = planner.add_plan("P", ("To do",))
    add_many_tasks(planner, plan, 25)
    access = token(planner).json()["access_token"]
    url: str | None = f"/v1.0/planner/plans/{plan}/tasks"
    pages = []
    while url:
        body = graph(planner, url, access).json()
        pages.append(len(body["value"]))
        url = body.get("@odata.nextLink")
    assert pages == [10, 10, 5]


def test_tasks_carry_completion_and_due_fields(planner: PlannerSandbox) -> None:
    now = planner.clock()
    plan = seed_planner_plans(planner, now)["Service desk rollout"]
    access = token(planner).json()["access_token"]
    tasks = graph(planner, f"/v1.0/planner/plans/{plan}/tasks", access).json()["value"]
    pilot = next(t for t in tasks if t["title"] == "Pilot go-live")
    buckets = graph(planner, f"/v1.0/planner/plans/{plan}/buckets", access).json()["value"]
    assert pilot["percentComplete"] == 100
    assert pilot["dueDateTime"] == (now - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert pilot["completedDateTime"] == (now - timedelta(days=14)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    assert {b["id"]: b["name"] for b in buckets}[pilot["bucketId"]] == "Milestones"


def test_an_unknown_plan_is_404(planner: PlannerSandbox) -> None:
    access = token(planner).json()["access_token"]
    assert graph(planner, "/v1.0/planner/plans/nope", access).status_code == 404


def test_throttling_answers_429_with_retry_after(planner: PlannerSandbox, clock: FakeClock) -> None:
    plan = planner.add_plan("P", ("To do",))
    access = token(planner).json()["access_token"]
    planner.throttle_next(1, retry_after_seconds=7)
    refused = graph(planner, f"/v1.0/planner/plans/{plan}", access)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "7"
    assert refused.json()["error"]["code"] == "TooManyRequests"
    assert graph(planner, f"/v1.0/planner/plans/{plan}", access).status_code == 200


def test_the_window_refuses_past_its_limit_and_says_when_to_come_back(clock: FakeClock) -> None:
    sandbox = PlannerSandbox(clock=clock, requests_per_window=3, window=timedelta(seconds=10))
    plan = sandbox.add_plan("P", ("To do",))
    with sandbox:
        access = token(sandbox).json()["access_token"]
        assert graph(sandbox, f"/v1.0/planner/plans/{plan}", access).status_code == 200
        clock.advance(seconds=4)
        graph(sandbox, f"/v1.0/planner/plans/{plan}", access)
        graph(sandbox, f"/v1.0/planner/plans/{plan}", access)
        refused = graph(sandbox, f"/v1.0/planner/plans/{plan}", access)
    # The first call was 4 s ago in a 10 s window: a slot frees up in 6 s.
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "6")
