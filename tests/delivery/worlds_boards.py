"""Contract worlds for Trello, Worktile and Planner (tests/delivery/conftest.py `WORLDS`).

Each is its sandbox over real HTTP, its client (paced as in production, on the test's clock),
and the tool's own words for the contract's meanings. What a tool cannot give is said in the
world's capabilities (``keeps_history``, ``reads_changes_only``, ``lists_words``), and the
contract tests expect what a user would see then.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from connector.delivery.pacing import CallPacer, PacedSession
from connector.delivery.planner import PlannerClient
from connector.delivery.trello import LIMIT_WINDOW, TOKEN_LIMIT, TrelloClient
from connector.delivery.worktile import WorktileClient
from connector.http import HttpTransport
from connector.sandbox.planner import PlannerSandbox
from connector.sandbox.trello import TrelloSandbox
from connector.sandbox.worktile import WorktileSandbox
from tests.conftest import FakeClock
from tests.delivery.conftest import DeliveryWorld, ToolWords, no_sleep, served_world

TRELLO = ToolWords(
    name="trello",
    statuses=("Backlog", "Doing", "Waiting for client", "Done"),
    priorities={"Highest": "P1", "High": "P2", "Medium": "P3", "Low": "P4"},
    unmapped_priority="Lowest",
    ticket_type="Request",
    change_type="Change request",
)
PLANNER = ToolWords(
    name="planner",
    statuses=("To do", "In progress", "Waiting for client", "Done"),
    priorities={"urgent": "P1", "important": "P2", "medium": "P3"},
    unmapped_priority="low",
    ticket_type="Task",
    change_type="Change request",
)
WORKTILE = ToolWords(
    name="worktile",
    statuses=("未开始", "进行中", "待确认", "已完成"),
    priorities={"最高": "P1", "较高": "P2", "普通": "P3", "较低": "P4"},
    unmapped_priority="最低",
    ticket_type="任务",
    change_type="变更",
)
TRELLO_LISTS = ("Backlog", "Doing", "Waiting for client", "Review", "Done")
TRELLO_LABELS = ("Milestone", "Request", "Change request")
TRELLO_PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
PLANNER_BUCKETS = ("Milestones", "To do", "In progress", "Waiting for client", "Done")
PLANNER_LABELS = ("Change request", "Incident")
#: Planner's 0-10 priority the UI sets for each of its four words.
PLANNER_PRIORITY = {"urgent": 1, "important": 3, "medium": 5, "low": 9}


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def paced(clock: FakeClock, limit: int, window: timedelta) -> HttpTransport:
    """A transport whose session is paced on the test's clock (sleeping advances it)."""
    pacer = CallPacer(limit, window, clock=clock, sleep=lambda s: clock.advance(seconds=s))
    return HttpTransport(session=PacedSession(pacer), policy=no_sleep())


def trello_world(clock: FakeClock) -> Iterator[DeliveryWorld]:
    sandbox = TrelloSandbox(clock=clock)
    url = sandbox.start()
    boards: dict[str, str] = {}
    cards: dict[str, str] = {}  # short link -> card id

    def client(token: str) -> TrelloClient:
        return TrelloClient(
            sandbox.key,
            token,
            paced(clock, TOKEN_LIMIT, LIMIT_WINDOW),
            base_url=url,
            milestone_labels=("Milestone",),
            clock=clock,
        )

    def add_project(key: str) -> str:
        boards[key] = sandbox.add_board(
            f"Board {key}",
            TRELLO_LISTS,
            TRELLO_LABELS,
            priorities=TRELLO_PRIORITIES,
            short_link=key,
        )
        return key

    def add_release(project: str, name: str, due: date | None, released: bool = False) -> str:
        card = sandbox.add_card(
            boards[project],
            "Backlog",
            name,
            due=noon(due) if due else None,
            labels=("Milestone",),
            at=clock() - timedelta(days=90),
        )
        if released and due:
            sandbox.update_card(card, at=noon(due), dueComplete=True)
        return str(sandbox.cards[card]["shortLink"])

    def add_item(
        project: str,
        *,
        priority: str | None,
        created: datetime,
        type: str | None = None,
        status: str = "Backlog",
    ) -> str:
        card = sandbox.add_card(
            boards[project],
            status,
            "item",
            labels=(type or "Request",),
            priority=priority,
            at=created,
        )
        short = str(sandbox.cards[card]["shortLink"])
        cards[short] = card
        return short

    yield from served_world(
        sandbox,
        TRELLO,
        client,
        sandbox.token,
        add_project=add_project,
        add_release=add_release,
        add_item=add_item,
        move=lambda key, status, at: sandbox.move_card(cards[key], status, at=at),
        delete=lambda key: sandbox.delete_card(cards[key]),
        calls=lambda: len(sandbox.calls),
        writes=lambda: sandbox.writes,
        page_size=1000,  # actions per page
        throttle=lambda: sandbox.throttle_next(1),
        refusals=lambda: sandbox.refused_429,
    )


def planner_world(clock: FakeClock) -> Iterator[DeliveryWorld]:
    sandbox = PlannerSandbox(clock=clock, page_size=2)  # small pages: paging is exercised
    url = sandbox.start()
    tasks: dict[str, str] = {}

    def client(secret: str) -> PlannerClient:
        return PlannerClient(
            sandbox.tenant,
            sandbox.client_id,
            secret,
            HttpTransport(policy=no_sleep()),
            graph_url=url,
            login_url=url,
            milestone_buckets=("Milestones",),
            clock=clock,
        )

    def add_project(key: str) -> str:
        return sandbox.add_plan(f"Plan {key}", PLANNER_BUCKETS, labels=PLANNER_LABELS, plan_id=key)

    def add_release(project: str, name: str, due: date | None, released: bool = False) -> str:
        return sandbox.add_task(
            project,
            "Milestones",
            name,
            due=noon(due) if due else None,
            percent=100 if released else 0,
            completed=noon(due) if released and due else None,
        )

    def add_item(
        project: str,
        *,
        priority: str | None,
        created: datetime,
        type: str | None = None,
        status: str = "To do",
    ) -> str:
        labels = (type,) if type and type != "Task" else ()
        task = sandbox.add_task(
            project,
            status,
            "item",
            priority=PLANNER_PRIORITY.get(priority or "", 5),
            labels=labels,
            at=created,
        )
        tasks[task] = project
        return task

    def move(key: str, status: str, at: datetime) -> None:
        done = status == "Done"
        sandbox.update_task(
            key,
            bucketId=sandbox.bucket_id(tasks[key], status),
            percentComplete=100 if done else 50,
            completedDateTime=at if done else None,
        )

    yield from served_world(
        sandbox,
        PLANNER,
        client,
        sandbox.client_secret,
        add_project=add_project,
        add_release=add_release,
        add_item=add_item,
        move=move,
        delete=sandbox.delete_task,
        calls=lambda: len(sandbox.calls),
        writes=lambda: sandbox.writes,
        keeps_history=False,
        reads_changes_only=False,
        page_size=2,
        throttle=lambda: sandbox.throttle_next(1, retry_after_seconds=3),
        refusals=lambda: sandbox.refused_429,
    )


def worktile_world(clock: FakeClock) -> Iterator[DeliveryWorld]:
    sandbox = WorktileSandbox(clock=clock)
    url = sandbox.start()
    projects: dict[str, str] = {}
    tasks: dict[str, str] = {}  # identifier -> task id

    def client(secret: str) -> WorktileClient:
        return WorktileClient(
            url,
            sandbox.client_id,
            secret,
            paced(clock, 200, timedelta(minutes=1)),
            milestone_types=("里程碑",),
            clock=clock,
        )

    def add_project(key: str) -> str:
        projects[key] = sandbox.add_project(f"项目 {key}", key)
        return key

    def add_release(project: str, name: str, due: date | None, released: bool = False) -> str:
        task = sandbox.add_task(
            projects[project],
            name,
            kind="里程碑",
            state="已完成" if released else "进行中",
            due=noon(due) if due else None,
            at=noon(due) if released and due else clock() - timedelta(days=90),
        )
        return task

    def add_item(
        project: str,
        *,
        priority: str | None,
        created: datetime,
        type: str | None = None,
        status: str = "未开始",
    ) -> str:
        task = sandbox.add_task(
            projects[project],
            "item",
            kind=type or "任务",
            state=status,
            priority=priority or "",
            at=created,
        )
        key = str(sandbox.tasks[task]["identifier"])
        tasks[key] = task
        return key

    yield from served_world(
        sandbox,
        WORKTILE,
        client,
        sandbox.client_secret,
        add_project=add_project,
        add_release=add_release,
        add_item=add_item,
        move=lambda key, status, at: sandbox.update_task(tasks[key], at=at, state=status),
        delete=lambda key: sandbox.delete_task(tasks[key]),
        calls=lambda: len(sandbox.calls),
        writes=lambda: 0,  # the sandbox serves reads only: nothing can change there
        keeps_history=False,
        lists_words=False,
        throttle=lambda: sandbox.throttle_next(1, retry_after_seconds=3),
        refusals=lambda: sandbox.refused_429,
    )
