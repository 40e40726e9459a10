"""Trello, Planner and Worktile beyond the contract: their facts in the SLA, their throttling,
their bad input, each against its sandbox over real HTTP, with the default mappings shipped
in mappings/. Expected values are worked out by hand in the comments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connector.delivery.pacing import CallPacer, PacedSession
from connector.delivery.planner import PlannerClient
from connector.delivery.trello import TrelloClient
from connector.delivery.worktile import WorktileClient
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from connector.sandbox.delivery_http import SlidingWindow
from connector.sandbox.planner import PlannerSandbox
from connector.sandbox.planner.seed import add_many_tasks
from connector.sandbox.trello import TrelloSandbox
from connector.sandbox.trello.seed import DEMO_LABELS, DEMO_LISTS
from connector.sandbox.worktile import WorktileSandbox
from jobs.delivery.check import check_sources
from jobs.delivery.pull import ConfiguredSource, pull_source
from jobs.health.sla.engine import evaluate
from jobs.health.sla.policy import CalendarSettings, SlaGoals, SlaPolicy
from jobs.store import Store
from mappings.delivery import DeliveryMapping, load_delivery_mapping
from mappings.domain import TicketPriority
from tests.conftest import FakeClock

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
#: Monday 16 November 2026.
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")


def mapping(tool: str, links: dict[str, str], **changes: object) -> DeliveryMapping:
    shipped = load_delivery_mapping(MAPPINGS / f"{tool}-delivery.toml")
    data = shipped.model_dump(mode="json")
    data["link"]["projects"] = links
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    return DeliveryMapping.model_validate(data)


def policy(goal_minutes: int = 600) -> SlaPolicy:
    """Working days Monday to Friday, 09:00-17:00 UTC: 480 business minutes a day."""
    return SlaPolicy(
        tier="gold",
        calendar=CalendarSettings(timezone="UTC", hours=("09:00-17:00",)),
        goals=SlaGoals(
            first_response_minutes={TicketPriority.P2: 60},
            resolution_minutes={TicketPriority.P2: goal_minutes},
            status_report_every_days=None,
        ),
    )


def recording_policy(clock: FakeClock) -> RetryPolicy:
    """The one retry policy; its sleeps are recorded and move the test's clock."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds=seconds)

    retry = RetryPolicy(sleep=sleep, random=lambda: 1.0)
    retry.waits = waits  # type: ignore[attr-defined]
    return retry


# --- Trello ---------------------------------------------------------------------------------
@pytest.fixture
def trello(clock: FakeClock) -> Iterator[TrelloSandbox]:
    sandbox = TrelloSandbox(clock=clock)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def trello_client(
    sandbox: TrelloSandbox, clock: FakeClock, *, token: str | None = None, key: str | None = None
) -> tuple[TrelloClient, CallPacer, RetryPolicy]:
    pacer = CallPacer(
        100, timedelta(seconds=10), clock=clock, sleep=lambda s: clock.advance(seconds=s)
    )
    retry = recording_policy(clock)
    transport = HttpTransport(session=PacedSession(pacer), policy=retry)
    client = TrelloClient(
        key or sandbox.key,
        token or sandbox.token,
        transport,
        base_url=sandbox.url,
        milestone_labels=("Milestone",),
        clock=clock,
    )
    return client, pacer, retry


def studio_board(sandbox: TrelloSandbox, short_link: str = "STUDIO01") -> str:
    return sandbox.add_board(
        "Brand refresh",
        DEMO_LISTS,
        DEMO_LABELS,
        priorities=PRIORITIES,
        short_link=short_link,
    )


def test_a_card_waiting_for_the_client_three_business_days_pauses_its_sla_clock(
    trello: TrelloSandbox, clock: FakeClock, store: Store
) -> None:
    board = studio_board(trello)
    card = trello.add_card(
        board,
        "Backlog",
        "Logo wrong on dark mode",
        labels=("Request",),
        priority="High",
        at=MONDAY.replace(hour=9),
    )
    trello.move_card(card, "Doing", at=MONDAY.replace(hour=10))
    trello.move_card(card, "Waiting for client", at=MONDAY.replace(hour=11))
    thursday = MONDAY + timedelta(days=3)
    trello.move_card(card, "Doing", at=thursday.replace(hour=11))
    trello.move_card(card, "Done", at=thursday.replace(hour=12))
    client, _, _ = trello_client(trello, clock)

    report = pull_source(
        ConfiguredSource("studio", client, mapping("trello", {"STUDIO01": "D1"})),
        store,
        clock=clock,
    )

    assert report.error is None and report.problems == []
    (ticket,) = store.tickets()["D1"]
    assert ticket.priority is TicketPriority.P2  # "High" in the board's Priority dropdown
    assert ticket.waiting_on_client == ((MONDAY.replace(hour=11), thursday.replace(hour=11)),)
    result = evaluate(policy(), [ticket], [], [], now=thursday.replace(hour=16))
    resolution = next(m for m in result.measures if m.metric == "resolution")
    # Monday 09-11 (120) and Thursday 11-12 (60): the three business days in "Waiting for
    # client" (Mon 11-17, Tue, Wed, Thu 09-11: 3 x 480 = 1,440 minutes) are paused. Without
    # the pause the clock would read 1,620 minutes, past the 600-minute goal.
    assert resolution.used_minutes == 180
    assert resolution.met is True


def test_a_milestone_card_is_a_milestone_delivered_the_day_its_due_date_was_completed(
    trello: TrelloSandbox, clock: FakeClock, store: Store
) -> None:
    board = studio_board(trello)
    concept = trello.add_card(
        board,
        "Doing",
        "Concept boards",
        due=MONDAY - timedelta(days=4),
        labels=("Milestone",),
        at=MONDAY - timedelta(days=30),
    )
    trello.update_card(concept, at=MONDAY + timedelta(days=1, hours=15), dueComplete=True)
    client, _, _ = trello_client(trello, clock)

    pull_source(
        ConfiguredSource("studio", client, mapping("trello", {"STUDIO01": "D1"})),
        store,
        clock=clock,
    )

    (milestone,) = store.milestones()["D1"]
    # Due Thursday 12 November, completed Tuesday 17 November: five days late.
    assert (milestone.name, milestone.planned_date, milestone.delivered_date) == (
        "Concept boards",
        date(2026, 11, 12),
        date(2026, 11, 17),
    )
    assert store.tickets() == {}  # a milestone card is not a ticket


def test_trellos_429_is_waited_out_for_a_whole_window_on_the_injected_clock(
    trello: TrelloSandbox, clock: FakeClock
) -> None:
    studio_board(trello)
    # Another app spends the same token: the sandbox lets only 3 calls per 10 s through.
    trello.token_window = SlidingWindow(3, timedelta(seconds=10), trello.clock)
    client, pacer, retry = trello_client(trello, clock)
    project = client.project("STUDIO01")
    started = clock()

    words = client.vocabulary(project)  # lists, labels, custom fields: the 4th call is refused

    assert words.statuses == frozenset(DEMO_LISTS)
    assert trello.refused_429 == 1
    # The retry waited for the window (Trello sends no Retry-After): 0.5 s of the policy's
    # backoff, then the pacer kept the call until 10 s after the refusal (9.5 s more).
    assert retry.waits == [0.5]  # type: ignore[attr-defined]
    assert pacer.waited_seconds == 9.5
    assert clock() - started == timedelta(seconds=10)
    assert trello.api_calls() == 5  # 4 calls, one of them sent twice


def test_a_pull_of_150_moved_cards_never_passes_100_calls_in_10_seconds(
    trello: TrelloSandbox, clock: FakeClock, store: Store
) -> None:
    board = studio_board(trello)
    cards = [
        trello.add_card(
            board, "Backlog", f"Request {n}", labels=("Request",), priority="Medium", at=MONDAY
        )
        for n in range(150)
    ]
    client, pacer, _ = trello_client(trello, clock)
    source = ConfiguredSource("studio", client, mapping("trello", {"STUDIO01": "D1"}))
    pull_source(source, store, clock=clock)
    # check 1, board 1, vocabulary 3 (lists, labels, custom fields), releases 4 (lists,
    # labels, completions, cards), items 5 (lists, labels, custom fields, actions, cards).
    assert trello.api_calls() == 14
    for card in cards:
        trello.move_card(card, "Doing", at=clock())
    clock.advance(minutes=5)
    before = trello.api_calls()

    report = pull_source(source, store, clock=clock)

    # 14 as above, + one history call per moved card (150), + the deletion scan (lists,
    # labels, cards: 3).
    assert trello.api_calls() - before == 14 + 150 + 3
    assert report.changed["tickets"] == 150
    assert trello.token_window.peak == 100  # the pacer filled the window, never past it
    assert trello.refused_429 == 0
    assert pacer.waited_seconds > 0


# --- Planner --------------------------------------------------------------------------------
@pytest.fixture
def planner(clock: FakeClock) -> Iterator[PlannerSandbox]:
    sandbox = PlannerSandbox(clock=clock)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def planner_client(
    sandbox: PlannerSandbox,
    clock: FakeClock,
    *,
    secret: str | None = None,
    tenant: str | None = None,
) -> tuple[PlannerClient, RetryPolicy]:
    retry = recording_policy(clock)
    client = PlannerClient(
        tenant or sandbox.tenant,
        sandbox.client_id,
        secret or sandbox.client_secret,
        HttpTransport(policy=retry),
        graph_url=sandbox.url,
        login_url=sandbox.url,
        milestone_buckets=("Milestones",),
        clock=clock,
    )
    return client, retry


BUCKETS = ("Milestones", "To do", "In progress", "Waiting for client", "Done")


def test_a_task_complete_after_its_due_date_is_a_late_milestone(
    planner: PlannerSandbox, clock: FakeClock, store: Store
) -> None:
    plan = planner.add_plan("Service desk rollout", BUCKETS, plan_id="PLAN-A")
    planner.add_task(
        plan,
        "Milestones",
        "Pilot go-live",
        due=datetime(2026, 11, 10, 12, tzinfo=UTC),
        percent=100,
        completed=datetime(2026, 11, 13, 16, tzinfo=UTC),
    )
    planner.add_task(
        plan, "Milestones", "Full rollout", due=datetime(2026, 12, 20, 12, tzinfo=UTC), percent=40
    )
    client, _ = planner_client(planner, clock)

    pull_source(
        ConfiguredSource("pmo", client, mapping("planner", {"PLAN-A": "D1"})), store, clock=clock
    )

    milestones = {m.name: m for m in store.milestones()["D1"]}
    pilot = milestones["Pilot go-live"]
    assert (pilot.planned_date, pilot.delivered_date, pilot.percent_complete) == (
        date(2026, 11, 10),
        date(2026, 11, 13),
        100.0,
    )
    assert milestones["Full rollout"].delivered_date is None
    assert milestones["Full rollout"].percent_complete == 40.0
    result = evaluate(policy(), [], list(milestones.values()), [], now=clock())
    # One milestone fell due in the window (10 Nov), delivered three days after: 0 of 1 on
    # time, under the 90 % goal.
    assert "0 of 1 due milestone delivered on time; the goal is 90%" in result.texts()


def test_graphs_429_retry_after_is_obeyed_on_the_injected_clock(
    planner: PlannerSandbox, clock: FakeClock
) -> None:
    planner.add_plan("P", BUCKETS, plan_id="PLAN-A")
    client, retry = planner_client(planner, clock)
    client.check()
    planner.throttle_next(1, retry_after_seconds=7)
    started = clock()

    project = client.project("PLAN-A")

    assert project.name == "P"
    assert retry.waits == [7.0]  # type: ignore[attr-defined]
    assert clock() - started == timedelta(seconds=7)
    assert planner.graph_calls() == 2


def test_plan_tasks_are_read_page_by_next_link(planner: PlannerSandbox, clock: FakeClock) -> None:
    plan = planner.add_plan("P", BUCKETS, plan_id="PLAN-A")
    add_many_tasks(planner, plan, 250)  # Graph pages of 100 here: 100, 100, 50
    client, _ = planner_client(planner, clock)
    project = client.project("PLAN-A")
    calls = planner.graph_calls()

    pages = list(client.work_item_pages(project, None))

    assert [len(p.items) for p in pages] == [100, 100, 50]
    assert planner.graph_calls() - calls == 2 + 3  # buckets, details; three task pages
    assert client.work_item_keys(project) == {i.key for p in pages for i in p.items}
    assert planner.graph_calls() - calls == 5  # the keys came from that reading


# --- bad input, one line each naming the source and the key ---------------------------------
def test_trello_bad_input_is_one_line_each(trello: TrelloSandbox, clock: FakeClock) -> None:
    studio_board(trello)
    bad_key, _, _ = trello_client(trello, clock, key="not-the-key")
    bad_token, _, _ = trello_client(trello, clock, token="not-the-token")
    good, _, _ = trello_client(trello, clock)
    links = {"STUDIO01": "D1", "NOBOARD1": "D2"}

    (key_line,) = check_sources([ConfiguredSource("studio", bad_key, mapping("trello", links))], {})
    (token_line,) = check_sources(
        [ConfiguredSource("studio", bad_token, mapping("trello", links))], {}
    )
    problems = check_sources(
        [
            ConfiguredSource(
                "studio",
                good,
                mapping("trello", links, tickets__waiting_statuses=["Waiting on client"]),
            )
        ],
        {},
    )

    assert key_line == (
        "delivery source studio: credentials: trello refused them: Trello refused the API key "
        "(invalid key): check app_key HTTP 401"
    )
    assert token_line.startswith("delivery source studio: credentials: trello refused them: ")
    assert "invalid token" in token_line
    assert problems == [
        (
            "delivery source studio: link.projects.NOBOARD1: project NOBOARD1 (linked to D2) does "
            "not exist in trello or the credentials cannot see it"
        ),
        (
            "delivery source studio: tickets.waiting_statuses: list 'Waiting on client' does not "
            "exist in trello"
        ),
    ]


def test_planner_bad_input_is_one_line_each(planner: PlannerSandbox, clock: FakeClock) -> None:
    planner.add_plan("P", BUCKETS, labels=("Change request", "Incident"), plan_id="PLAN-A")
    wrong_secret, _ = planner_client(planner, clock, secret="not-the-secret")
    good, _ = planner_client(planner, clock)
    links = {"PLAN-A": "D1", "NO-PLAN": "D2"}

    (secret_line,) = check_sources(
        [ConfiguredSource("pmo", wrong_secret, mapping("planner", links))], {}
    )
    problems = check_sources(
        [
            ConfiguredSource(
                "pmo", good, mapping("planner", links, milestones__item_statuses=["Milestone"])
            )
        ],
        {},
    )

    assert secret_line.startswith("delivery source pmo: credentials: planner refused them: ")
    assert "AADSTS7000215" in secret_line and "\n" not in secret_line
    assert problems == [
        (
            "delivery source pmo: link.projects.NO-PLAN: project NO-PLAN (linked to D2) does not "
            "exist in planner or the credentials cannot see it"
        ),
        (
            "delivery source pmo: milestones.item_statuses: bucket 'Milestone' does not exist in "
            "planner"
        ),
    ]


def test_worktile_bad_input_is_one_line_each(clock: FakeClock) -> None:
    with WorktileSandbox(clock=clock) as sandbox:
        sandbox.add_project("客服外包", "KF")

        def client(secret: str) -> WorktileClient:
            return WorktileClient(
                sandbox.url, sandbox.client_id, secret, HttpTransport(), clock=clock
            )

        links = {"KF": "D1", "NOPE": "D2"}
        (secret_line,) = check_sources(
            [ConfiguredSource("cn", client("wrong"), mapping("worktile", links))], {}
        )
        problems = check_sources(
            [ConfiguredSource("cn", client(sandbox.client_secret), mapping("worktile", links))], {}
        )

    assert secret_line.startswith("delivery source cn: credentials: worktile refused them: ")
    assert "client_id sandbox-worktile-app" in secret_line
    assert problems == [
        (
            "delivery source cn: link.projects.NOPE: project NOPE (linked to D2) does not exist in "
            "worktile or the credentials cannot see it"
        )
    ]


def test_an_expired_graph_token_is_fetched_again_once(
    planner: PlannerSandbox, clock: FakeClock
) -> None:
    planner.add_plan("P", BUCKETS, plan_id="PLAN-A")
    client, _ = planner_client(planner, clock)
    client.project("PLAN-A")
    planner.expire_tokens()  # revoked before its hour was up: Graph answers 401

    assert client.project("PLAN-A").name == "P"
    assert planner.tokens_issued == 2
    assert planner.graph_calls() == 3  # the first read, the refused one, its retry


def test_a_refused_trello_token_is_in_no_error_and_no_log(
    trello: TrelloSandbox, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    studio_board(trello)
    wrong, _, _ = trello_client(trello, clock, token="a-wrong-token-0123456789")
    caplog.set_level("DEBUG")

    (line,) = check_sources(
        [ConfiguredSource("studio", wrong, mapping("trello", {"STUDIO01": "D1"}))], {}
    )

    assert "a-wrong-token-0123456789" not in line
    assert "a-wrong-token-0123456789" not in caplog.text
