"""Microsoft's Graph SDK for Python (msgraph-sdk) drives the Planner sandbox over real HTTP.

The SDK's request adapter takes a base URL (``GraphRequestAdapter.base_url``), so it is pointed
at the sandbox with nothing patched. Its token comes from an access-token provider that does
the client-credentials call against the sandbox's Entra ID endpoint: azure-identity's
``ClientSecretCredential`` insists on an https authority, which a local HTTP sandbox is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient

from connector.sandbox.planner import PlannerSandbox, seed_planner_plans
from connector.sandbox.planner.seed import add_many_tasks
from tests.conftest import FakeClock

#: The SDK's generated code warns about its own deprecated classes on every request.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
]


class SandboxTokens(AccessTokenProvider):
    def __init__(self, sandbox: PlannerSandbox, secret: str) -> None:
        self.sandbox = sandbox
        self.secret = secret

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.post(
                f"{self.sandbox.url}/{self.sandbox.tenant}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.sandbox.client_id,
                    "client_secret": self.secret,
                    "scope": "https://graph.microsoft.com/.default",
                },
            )
        return str(answer.json().get("access_token", ""))

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator(["127.0.0.1"])


@pytest.fixture
def planner(clock: FakeClock) -> Iterator[PlannerSandbox]:
    sandbox = PlannerSandbox(clock=clock, page_size=3)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def sdk(sandbox: PlannerSandbox, http: httpx.AsyncClient) -> GraphServiceClient:
    auth = BaseBearerTokenAuthenticationProvider(SandboxTokens(sandbox, sandbox.client_secret))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = sandbox.url + "/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def test_the_sdk_reads_a_plan_its_buckets_and_every_page_of_tasks(planner: PlannerSandbox) -> None:
    plan_id = seed_planner_plans(planner, planner.clock())["Service desk rollout"]
    add_many_tasks(planner, plan_id, 4)  # 9 tasks (5 seeded): pages of 3, 3, 3

    async def read() -> tuple[str, list[str], list[tuple[str, int]], int]:
        async with httpx.AsyncClient(timeout=5) as http:
            plan = sdk(planner, http).planner.plans.by_planner_plan_id(plan_id)
            title = (await plan.get()).title  # type: ignore[union-attr]
            buckets = [b.name for b in (await plan.buckets.get()).value]  # type: ignore[union-attr]
            page = await plan.tasks.get()
            tasks, pages = [], 0
            while page is not None:
                pages += 1
                tasks += [(t.title, t.percent_complete) for t in page.value]  # type: ignore[union-attr]
                link = page.odata_next_link
                page = await plan.tasks.with_url(link).get() if link else None
        return title, buckets, tasks, pages  # type: ignore[return-value]

    title, buckets, tasks, pages = asyncio.run(read())
    assert title == "Service desk rollout"
    assert buckets == ["Milestones", "To do", "In progress", "Waiting for client", "Done"]
    assert pages == 3
    assert tasks[0] == ("Pilot go-live", 100)
    assert len(tasks) == 9


def test_the_sdk_reads_dates_as_aware_datetimes(planner: PlannerSandbox) -> None:
    now = planner.clock()
    plan_id = seed_planner_plans(planner, now)["Service desk rollout"]

    async def pilot() -> Any:
        async with httpx.AsyncClient(timeout=5) as http:
            page = await sdk(planner, http).planner.plans.by_planner_plan_id(plan_id).tasks.get()
        return next(t for t in page.value if t.title == "Pilot go-live")  # type: ignore[union-attr]

    task = asyncio.run(pilot())
    assert (task.completed_date_time - task.due_date_time).days == 6


def test_the_sdk_raises_graphs_errors(planner: PlannerSandbox) -> None:
    async def missing() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            await sdk(planner, http).planner.plans.by_planner_plan_id("nope").get()

    with pytest.raises(APIError) as raised:
        asyncio.run(missing())
    assert raised.value.response_status_code == 404
