"""The delivery-source contract: what every tool's client and the pull must do, run against
each tool's sandbox over real HTTP (the ``world`` fixture, tests/delivery/conftest.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from jobs.delivery.check import check_sources
from jobs.delivery.pull import pull_source, skip_kind
from jobs.store import Store
from mappings.domain import ChangeStatus, Engagement, Ticket, TicketPriority
from tests.conftest import FakeClock
from tests.delivery.conftest import (
    WITH_HISTORY,
    WITH_THROTTLE,
    WITH_TIME_LOGS,
    DeliveryWorld,
    keeps_time_logs,
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def seed_acme(world: DeliveryWorld) -> dict[str, str]:
    """ACME: two releases, a resolved P1 ticket, an open P3 ticket, a change request."""
    world.add_project("ACME")
    world.add_release("ACME", "2.0", date(2026, 10, 1), released=True)
    world.add_release("ACME", "2.1", date(2026, 11, 14))
    p1_name = next(k for k, v in world.priorities.items() if v == "P1")
    p3_name = next(k for k, v in world.priorities.items() if v == "P3")
    first = world.add_item("ACME", priority=p1_name, created=at(20, 9), type=world.ticket_type)
    world.move(first, world.statuses["working"], at(20, 10))
    world.move(first, world.statuses["resolved"], at(20, 12))
    second = world.add_item("ACME", priority=p3_name, created=at(21, 9), type=world.ticket_type)
    change = world.add_item("ACME", priority=p3_name, created=at(21, 15), type=world.change_type)
    return {"first": first, "second": second, "change": change}


def test_a_first_pull_loads_releases_tickets_and_changes(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    keys = seed_acme(world)
    report = pull_source(world.source({"ACME": "D1"}), store, clock=clock)

    assert report.error is None and report.problems == []
    tickets = {t.external_id: t for t in store.tickets()["D1"]}
    assert sorted(tickets) == sorted([keys["first"], keys["second"]])
    first = tickets[keys["first"]]
    assert first.priority is TicketPriority.P1
    assert (first.opened_at, first.resolved_at) == (at(20, 9), at(20, 12))
    # From the status history; a tool without one cannot say when the first response was.
    assert first.first_response_at == (at(20, 10) if world.keeps_history else None)
    second = tickets[keys["second"]]
    assert (second.priority, second.first_response_at, second.resolved_at) == (
        TicketPriority.P3,
        None,
        None,
    )
    (change,) = store.change_requests()["D1"]
    assert (change.external_id, change.status, change.raised_on) == (
        keys["change"],
        ChangeStatus.PENDING,
        date(2026, 11, 21),
    )
    milestones = {m.name: m for m in store.milestones()["D1"]}
    assert milestones["2.1"].planned_date == date(2026, 11, 14)
    assert milestones["2.1"].delivered_date is None
    assert milestones["2.0"].delivered_date == date(2026, 10, 1)


def test_the_second_pull_reads_what_changed_and_the_cursor_advances(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    keys = seed_acme(world)
    source = world.source({"ACME": "D1"})
    pull_source(source, store, clock=clock)
    clock.advance(hours=1)
    world.move(keys["second"], world.statuses["resolved"], clock())

    report = pull_source(source, store, clock=clock)

    if world.reads_changes_only:
        # The changed ticket, and at most the one item whose change is the cursor itself (read
        # again: the tools' time filters are by the minute or the second).
        assert 1 <= report.items_read <= 2
    else:
        assert report.items_read == 3  # every item again: both tickets and the change
    assert report.changed["tickets"] == 1
    tickets = {t.external_id: t for t in store.tickets()["D1"]}
    assert tickets[keys["second"]].resolved_at == clock()


def test_a_deleted_item_leaves_the_store(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    keys = seed_acme(world)
    source = world.source({"ACME": "D1"})
    pull_source(source, store, clock=clock)
    world.delete(keys["second"])

    report = pull_source(source, store, clock=clock)

    assert report.deleted == 1
    assert [t.external_id for t in store.tickets()["D1"]] == [keys["first"]]


def test_an_item_whose_priority_is_not_in_the_map_is_skipped_and_the_rest_load(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    keys = seed_acme(world)
    odd = world.add_item(
        "ACME", priority=world.unmapped_priority, created=at(22, 9), type=world.ticket_type
    )

    report = pull_source(world.source({"ACME": "D1"}), store, clock=clock)

    assert report.skipped == 1
    assert sorted(t.external_id for t in store.tickets()["D1"]) == sorted(
        [keys["first"], keys["second"]]
    )
    (skip,) = store.skips()
    assert (skip.kind, skip.record_id, skip.field) == (
        skip_kind(world.name),
        odd,
        "tickets.priority",
    )
    assert f"priority {world.unmapped_priority!r} is not in the priority map" in skip.reason


def test_a_linked_project_the_tool_lacks_is_one_line_and_the_others_load(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    seed_acme(world)

    report = pull_source(world.source({"ACME": "D1", "NOPE": "D2"}), store, clock=clock)

    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"delivery source {world.name}: link.projects.NOPE: ")
    assert "\n" not in report.problems[0]
    assert len(store.tickets()["D1"]) == 2


def test_wrong_credentials_are_one_line_naming_the_source_and_nothing_is_stored(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    seed_acme(world)
    source = world.source({"ACME": "D1"})
    wrong = type(source)(source.name, world.client_with_wrong_credentials(), source.mapping)

    report = pull_source(wrong, store, clock=clock)

    assert report.error is not None and "\n" not in report.error
    assert report.error.startswith(f"delivery source {world.name}: {world.client.tool} refused")
    assert store.tickets() == {}


def test_waiting_on_the_client_comes_from_the_status_history(
    world_with_history: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    world = world_with_history
    world.add_project("ACME")
    p2 = next(k for k, v in world.priorities.items() if v == "P2")
    key = world.add_item("ACME", priority=p2, created=at(16, 9), type=world.ticket_type)
    world.move(key, world.statuses["working"], at(16, 10))
    world.move(key, world.statuses["waiting"], at(16, 11))
    world.move(key, world.statuses["working"], at(18, 11))
    world.move(key, world.statuses["resolved"], at(18, 15))

    pull_source(world.source({"ACME": "D1"}), store, clock=clock)

    (ticket,) = store.tickets()["D1"]
    assert ticket.waiting_on_client == ((at(16, 11), at(18, 11)),)
    assert ticket.resolved_at == at(18, 15)


def test_a_fact_imported_by_file_then_pulled_under_the_same_id_is_one_fact(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    keys = seed_acme(world)
    by_file = Ticket(
        external_id=keys["first"],
        engagement_id="D1",
        priority=TicketPriority.P4,
        opened_at=at(20, 9),
    )
    store.save_facts("tickets", [by_file], "file", clock())

    pull_source(world.source({"ACME": "D1"}), store, clock=clock)

    same = [t for t in store.tickets()["D1"] if t.external_id == keys["first"]]
    assert len(same) == 1
    assert same[0].priority is TicketPriority.P1  # the tool's value now
    assert store.fact_ids("tickets", "file") == set()


def test_sources_check_lists_every_problem_at_once_and_writes_nothing(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    seed_acme(world)
    source = world.source(
        {"ACME": "D1", "NOPE": "D2"},
        tickets={
            "waiting_statuses": ["Waiting for the client (no such status)"],
            "priority": {**world.priorities, "Blocker (no such priority)": "P1"},
            "types": [world.ticket_type, "Incident (no such type)"],
        },
    )
    writes_before = world.writes()

    problems = check_sources([source], {})

    # A tool that lists no words has only the unknown project checked.
    assert len(problems) == (4 if world.lists_words else 1), problems
    assert all(p.startswith(f"delivery source {world.name}: ") for p in problems)
    joined = "\n".join(problems)
    keys = ("link.projects.NOPE", "tickets.waiting_statuses", "tickets.priority", "tickets.types")
    for key in keys if world.lists_words else keys[:1]:
        assert key in joined
    assert world.writes() == writes_before == 0
    assert store.tickets() == {} and store.skips() == []


def test_costs_are_hours_times_the_rate(
    world_with_time_logs: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    world = world_with_time_logs
    keys = seed_acme(world)
    world.extra["state"].log_work(keys["first"], at(20, 9), 5400)  # 1.5 h

    pull_source(world.source({"ACME": "D1"}), store, clock=clock)

    (cost,) = store.cost_entries()["D1"]
    assert cost.amount == Decimal("120.00")  # 1.5 h x 80
    assert cost.spent_on == date(2026, 11, 20)


def test_a_project_named_in_the_deal_field_is_linked_to_that_deal(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    keys = seed_acme(world)
    deal = Engagement(
        crm_id="D7",
        name="Acme support",
        account_id="A1",
        stage="Closed Won",
        delivery_projects=f"OTHER, {world.name}:ACME",
    )
    store.save_engagements([deal], clock())

    report = pull_source(world.source({}), store, clock=clock)

    assert report.problems == []
    assert sorted(t.external_id for t in store.tickets()["D7"]) == sorted(
        [keys["first"], keys["second"]]
    )


def test_a_fact_pulled_then_imported_by_file_under_the_same_id_is_one_fact(
    world: DeliveryWorld, store: Store, clock: FakeClock
) -> None:
    keys = seed_acme(world)
    pull_source(world.source({"ACME": "D1"}), store, clock=clock)
    by_file = Ticket(
        external_id=keys["second"],
        engagement_id="D1",
        priority=TicketPriority.P4,
        opened_at=at(21, 9),
    )

    store.save_facts("tickets", [by_file], "file", clock())

    same = [t for t in store.tickets()["D1"] if t.external_id == keys["second"]]
    assert len(same) == 1 and same[0].priority is TicketPriority.P4
    assert store.fact_ids("tickets", "file") == set()


def test_the_capability_lists_match_the_worlds(world: DeliveryWorld) -> None:
    """The tests of what only some tools can do run over the listed ones: the lists must say
    what each world can do, or a tool would silently be left out of a test it could pass."""
    assert (world.name in WITH_HISTORY) == world.keeps_history
    assert (world.name in WITH_TIME_LOGS) == keeps_time_logs(world)
    assert (world.name in WITH_THROTTLE) == (world.throttle is not None)
