"""The delivery-source contract: one fixture, parametrized over every delivery tool, each a
sandbox over real HTTP with its client and a mapping in that tool's words.

A ``DeliveryWorld`` is what a contract test needs of a tool: its client and mapping, and how a
person acts in the tool (add a project, a release, an item; move an item to a status; delete
it) through the sandbox's own helpers, plus the sandbox's counters (calls, writes). Adding a
tool to the contract is adding a world and its fixture to ``WORLDS`` below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from pydantic import SecretStr

from connector.delivery.base import DeliverySource
from connector.delivery.jira import JiraAuth, JiraClient
from connector.delivery.pingcode import PingCodeClient, PingCodeCredentials
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from connector.sandbox.jira import JiraState, SandboxJira
from connector.sandbox.pingcode import PingCodeState, SandboxPingCode
from jobs.delivery.pull import ConfiguredSource
from mappings.delivery import DeliveryMapping
from tests.conftest import FakeClock

#: The words of a tool a contract test uses, by meaning.
MEANINGS = ("open", "working", "waiting", "resolved")


@dataclass
class DeliveryWorld:
    """One tool for the contract tests (see the module docstring)."""

    name: str
    client: DeliverySource
    #: The tool's words: status by meaning (MEANINGS), priorities P1..P4 by the tool's name,
    #: a priority the tool has that the mapping leaves out, item types.
    statuses: dict[str, str]
    priorities: dict[str, str]
    unmapped_priority: str
    ticket_type: str
    change_type: str
    add_project: Callable[[str], str]
    add_release: Callable[..., str]
    add_item: Callable[..., str]
    move: Callable[[str, str, datetime], None]
    delete: Callable[[str], None]
    #: API calls the sandbox answered; calls that changed something there.
    calls: Callable[[], int]
    writes: Callable[[], int]
    #: A client of the same tool whose credentials the tool refuses.
    client_with_wrong_credentials: Callable[[], DeliverySource]
    #: Whether the tool's API gives status history (first response, waits on the client).
    keeps_history: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    #: A second pull reads only what changed (Planner's v1.0 has no delta: it reads all).
    reads_changes_only: bool = True
    #: The tool lists its statuses, priorities and types (Worktile does not: not checked).
    lists_words: bool = True
    #: How many items the client reads per page of the tool's paged listing (Trello: the
    #: board's actions): a project with one more needs a second page.
    page_size: int = 100
    #: The tool refuses the next call with its 429 (None: the sandbox has no such hook), and
    #: how many 429s the sandbox has sent.
    throttle: Callable[[], None] | None = None
    refusals: Callable[[], int] | None = None

    def mapping(self, links: dict[str, str], **overrides: Any) -> DeliveryMapping:
        data: dict[str, Any] = {
            "tool": self.client.tool,
            "link": {"deal_field": True, "projects": links},
            "tickets": {
                "types": [self.ticket_type],
                "priority": self.priorities,
                "first_response_statuses": [self.statuses["working"]],
                "waiting_statuses": [self.statuses["waiting"]],
                "resolved_statuses": [self.statuses["resolved"]],
            },
            "costs": {"hourly_rate": "80"},
            "change_requests": {"types": [self.change_type]},
        }
        for section, values in overrides.items():
            data[section] = {**data.get(section, {}), **values}
        return DeliveryMapping.model_validate(data)

    def source(self, links: dict[str, str], **overrides: Any) -> ConfiguredSource:
        return ConfiguredSource(self.name, self.client, self.mapping(links, **overrides))


@dataclass(frozen=True)
class ToolWords:
    """A tool's own words for what the contract tests say (`DeliveryWorld`'s fields)."""

    name: str
    #: Status by meaning, in the order of MEANINGS (open, working, waiting, resolved).
    statuses: tuple[str, str, str, str]
    priorities: dict[str, str]
    unmapped_priority: str
    ticket_type: str
    change_type: str


def served_world(
    sandbox: Any,
    words: ToolWords,
    client: Callable[[str], DeliverySource],
    credential: str,
    **parts: Any,
) -> Iterator[DeliveryWorld]:
    """The world of one tool whose ``sandbox`` is serving (stopped when the world is done):
    the client ``client(credential)``, one the tool refuses (another credential), the tool's
    ``words``, and the rest of the world's ``parts`` (how a person acts there, counters,
    capabilities; ``extra`` gets the sandbox)."""
    extra = {"sandbox": sandbox, **parts.pop("extra", {})}
    try:
        yield DeliveryWorld(
            name=words.name,
            client=client(credential),
            statuses=dict(zip(MEANINGS, words.statuses, strict=True)),
            priorities=words.priorities,
            unmapped_priority=words.unmapped_priority,
            ticket_type=words.ticket_type,
            change_type=words.change_type,
            client_with_wrong_credentials=lambda: client("not-the-credential"),
            extra=extra,
            **parts,
        )
    finally:
        sandbox.stop()


JIRA = ToolWords(
    name="jira",
    statuses=("To Do", "In Progress", "Waiting for customer", "Resolved"),
    priorities={"Highest": "P1", "High": "P2", "Medium": "P3", "Low": "P4"},
    unmapped_priority="Lowest",
    ticket_type="Service Request",
    change_type="Change Request",
)
PINGCODE = ToolWords(
    name="pingcode",
    statuses=("新建", "进行中", "等待客户", "已完成"),
    priorities={"最高": "P1", "较高": "P2", "普通": "P3", "较低": "P4"},
    unmapped_priority="最低",
    ticket_type="事务",
    change_type="变更",
)


def no_sleep() -> RetryPolicy:
    """The one retry policy with its sleeps recorded, never slept."""
    waits: list[float] = []
    policy = RetryPolicy(sleep=waits.append, random=lambda: 1.0)
    policy.waits = waits  # type: ignore[attr-defined]
    return policy


def state_parts(state: JiraState | PingCodeState) -> dict[str, Any]:
    """The parts of a world the Jira and PingCode sandboxes' states give alike."""
    return {
        "move": state.move,
        "delete": state.delete,
        "calls": lambda: sum(state.calls.values()),
        "writes": lambda: state.writes,
        "extra": {"state": state},
    }


def jira_world(clock: FakeClock) -> Iterator[DeliveryWorld]:
    state = JiraState(clock=clock)
    state.add_account("pm@example.com", "jira-token-1", time_zone="Asia/Shanghai")
    sandbox = SandboxJira(state)
    url = sandbox.start()

    def client(token: str) -> JiraClient:
        auth = JiraAuth(email="pm@example.com", api_token=token)
        return JiraClient(url, auth, HttpTransport(policy=no_sleep()), clock=clock)

    def add_project(key: str) -> str:
        state.add_project(key, f"Project {key}")
        return key

    def add_release(project: str, name: str, due: date | None, released: bool = False) -> str:
        return state.add_version(project, name, due, released=released).id

    def add_item(
        project: str,
        *,
        priority: str | None,
        created: datetime,
        type: str | None = None,
        status: str = "To Do",
    ) -> str:
        issue = state.add_issue(
            project,
            type=type or "Service Request",
            status=status,
            priority=priority,
            created=created,
        )
        return issue.key

    yield from served_world(
        sandbox,
        JIRA,
        client,
        "jira-token-1",
        add_project=add_project,
        add_release=add_release,
        add_item=add_item,
        **state_parts(state),
        throttle=lambda: state.throttle_next(1, retry_after=3),
    )


def pingcode_world(clock: FakeClock) -> Iterator[DeliveryWorld]:
    state = PingCodeState(clock=clock)
    state.add_app("engage-app", "pc-secret-1")
    sandbox = SandboxPingCode(state)
    url = sandbox.start()

    def client(secret: str) -> PingCodeClient:
        credentials = PingCodeCredentials("engage-app", SecretStr(secret))
        return PingCodeClient(url, credentials, HttpTransport(policy=no_sleep()), clock=clock)

    def add_project(key: str) -> str:
        state.add_project(key, f"项目 {key}")
        return key

    def add_release(project: str, name: str, due: date | None, released: bool = False) -> str:
        end = datetime.combine(due, time(18), tzinfo=UTC) if due else None
        stage = "published" if released else "pending"
        return state.add_version(project, name, end, stage=stage, progress=1.0 if released else 0.0)

    def add_item(
        project: str,
        *,
        priority: str | None,
        created: datetime,
        type: str | None = None,
        status: str = "新建",
    ) -> str:
        return state.add_item(
            project, type=type or "issue", state=status, priority=priority, created_at=created
        )

    yield from served_world(
        sandbox,
        PINGCODE,
        client,
        "pc-secret-1",
        add_project=add_project,
        add_release=add_release,
        add_item=add_item,
        **state_parts(state),
        keeps_history=False,
    )


#: Every delivery tool in the contract: name -> world factory (a generator over the clock).
WORLDS: dict[str, Callable[[FakeClock], Iterator[DeliveryWorld]]] = {
    "jira": jira_world,
    "pingcode": pingcode_world,
}


def _add_board_worlds() -> None:
    # Imported here: the worlds module builds on DeliveryWorld above.
    from tests.delivery.worlds_boards import planner_world, trello_world, worktile_world

    WORLDS.update(trello=trello_world, planner=planner_world, worktile=worktile_world)


_add_board_worlds()

#: What only some tools can do: the contract tests of it run over those tools only (a tool
#: without it is not skipped, it is not asked). `test_the_capability_lists_match_the_worlds`
#: holds these to the worlds' own flags.
#: Status history (first response, waits on the client):
WITH_HISTORY = {"jira", "trello"}
#: Time logs (costs):
WITH_TIME_LOGS = {"jira"}
#: A sandbox hook that answers the next call with the tool's 429:
WITH_THROTTLE = {"jira", "planner", "trello", "worktile"}


def keeps_time_logs(world: DeliveryWorld) -> bool:
    return "state" in world.extra and hasattr(world.extra["state"], "log_work")


@pytest.fixture(params=sorted(WORLDS))
def world(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[DeliveryWorld]:
    yield from WORLDS[request.param](clock)


@pytest.fixture(params=sorted(WITH_HISTORY))
def world_with_history(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[DeliveryWorld]:
    yield from WORLDS[request.param](clock)


@pytest.fixture(params=sorted(WITH_TIME_LOGS))
def world_with_time_logs(
    request: pytest.FixtureRequest, clock: FakeClock
) -> Iterator[DeliveryWorld]:
    yield from WORLDS[request.param](clock)


@pytest.fixture(params=sorted(WITH_THROTTLE))
def world_with_throttle(
    request: pytest.FixtureRequest, clock: FakeClock
) -> Iterator[DeliveryWorld]:
    yield from WORLDS[request.param](clock)
