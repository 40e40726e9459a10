"""Delivery facts in the store, on SQLite and on the local PostgreSQL: upsert by (source, id)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from jobs.store import Store
from jobs.store import schema as t
from mappings.domain import (
    ChangeRequest,
    ChangeStatus,
    CostEntry,
    Milestone,
    Ticket,
    TicketPriority,
    Touchpoint,
    TouchpointKind,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


def milestone(external_id: str, engagement_id: str = "D1", **changes: object) -> Milestone:
    values: dict[str, object] = {
        "external_id": external_id,
        "engagement_id": engagement_id,
        "name": "需求确认",
        "planned_date": date(2026, 3, 1),
        "planned_value": Decimal("25000.50"),
        "percent_complete": 40.0,
    }
    values.update(changes)
    return Milestone.model_validate(values)


def ticket(external_id: str, engagement_id: str = "D1", **changes: object) -> Ticket:
    opened = datetime(2026, 11, 2, 9, 30, tzinfo=SHANGHAI)
    values: dict[str, object] = {
        "external_id": external_id,
        "engagement_id": engagement_id,
        "priority": TicketPriority.P2,
        "opened_at": opened,
        "first_response_at": opened + timedelta(minutes=20),
        "resolved_at": opened + timedelta(hours=30),
        "waiting_on_client": ((opened + timedelta(hours=1), opened + timedelta(hours=5)),),
    }
    values.update(changes)
    return Ticket.model_validate(values)


def test_fact_tables_exist_with_engagement_index(store: Store) -> None:
    inspector = sa.inspect(store.engine)
    for name in ("milestones", "tickets", "cost_entries", "touchpoints", "change_requests"):
        assert inspector.get_pk_constraint(name)["constrained_columns"] == [
            "source",
            "external_id",
        ]
        indexed = {tuple(i["column_names"]) for i in inspector.get_indexes(name)}
        assert ("engagement_id",) in indexed


def test_milestones_upsert_and_group_by_engagement(store: Store) -> None:
    later = milestone("M2", planned_date=date(2026, 6, 1))
    saved = store.save_facts(
        "milestones",
        [
            later,
            milestone("M1"),
            milestone("M3", "D2", delivered_date=date(2026, 3, 2), rejected_count=1),
        ],
        "file",
        NOW,
    )
    assert saved == 3
    assert store.save_facts("milestones", [milestone("M1"), later], "file", NOW) == 0
    changed = milestone("M1", percent_complete=100.0, accepted_date=date(2026, 3, 5))
    assert store.save_facts("milestones", [changed, milestone("M3", "D2")], "file", NOW) == 2

    by_engagement = store.milestones()
    assert set(by_engagement) == {"D1", "D2"}
    assert [m.external_id for m in by_engagement["D1"]] == ["M1", "M2"]  # in date order
    assert by_engagement["D1"][0] == changed
    assert by_engagement["D1"][1].planned_value == Decimal("25000.50")
    assert by_engagement["D1"][0].name == "需求确认"
    assert by_engagement["D2"] == [milestone("M3", "D2")]


def test_the_same_id_from_two_sources_is_two_facts(store: Store) -> None:
    assert store.save_facts("milestones", [milestone("M1")], "file", NOW) == 1
    assert store.save_facts("milestones", [milestone("M1")], "jira", NOW) == 1
    assert len(store.milestones()["D1"]) == 2


def test_tickets_keep_instants_and_waiting_intervals(store: Store) -> None:
    original = ticket("T1")
    assert store.save_facts("tickets", [original, ticket("T2", resolved_at=None)], "file", NOW) == 2
    stored = {t.external_id: t for t in store.tickets()["D1"]}
    assert stored["T1"] == original  # the same instants, now in UTC
    assert stored["T1"].opened_at.utcoffset() == timedelta(0)
    assert stored["T1"].waiting_on_client[0][0].tzinfo is not None
    assert stored["T2"].resolved_at is None

    # The same instants written with another offset are the same values: nothing changes.
    in_utc = ticket(
        "T1",
        opened_at=original.opened_at.astimezone(UTC),
        waiting_on_client=tuple(
            (s.astimezone(UTC), e.astimezone(UTC)) for s, e in original.waiting_on_client
        ),
    )
    assert store.save_facts("tickets", [in_utc], "file", NOW) == 0
    assert store.save_facts("tickets", [ticket("T1", waiting_on_client=())], "file", NOW) == 1
    assert store.tickets()["D1"][0].waiting_on_client == ()


def test_costs_touchpoints_and_changes_round_trip(store: Store) -> None:
    cost = CostEntry(
        external_id="C1", engagement_id="D1", spent_on=date(2026, 2, 1), amount=Decimal("800.25")
    )
    touch = Touchpoint(
        external_id="P1",
        engagement_id="D1",
        kind=TouchpointKind.REVIEW,
        at=datetime(2026, 2, 3, 14, 0, tzinfo=SHANGHAI),
    )
    change = ChangeRequest(
        external_id="CR1",
        engagement_id="D2",
        raised_on=date(2026, 2, 4),
        value=Decimal(5000),
        status=ChangeStatus.APPROVED,
    )
    assert store.save_facts("costs", [cost], "file", NOW) == 1
    assert store.save_facts("touchpoints", [touch], "file", NOW) == 1
    assert store.save_facts("change_requests", [change], "file", NOW) == 1
    assert store.cost_entries() == {"D1": [cost]}
    assert store.touchpoints() == {"D1": [touch]}
    assert store.change_requests() == {"D2": [change]}
    for kind, fact in (("costs", cost), ("touchpoints", touch), ("change_requests", change)):
        assert store.save_facts(kind, [fact], "file", NOW + timedelta(days=1)) == 0


def test_imported_at_moves_only_when_values_change(store: Store) -> None:
    def imported_at() -> datetime:
        with store.engine.connect() as conn:
            query = sa.select(t.milestones.c.imported_at)
            return conn.execute(query).scalar_one()  # type: ignore[no-any-return]

    store.save_facts("milestones", [milestone("M1")], "file", NOW)
    store.save_facts("milestones", [milestone("M1")], "file", NOW + timedelta(days=1))
    assert imported_at() == NOW
    store.save_facts("milestones", [milestone("M1", name="x")], "file", NOW + timedelta(days=2))
    assert imported_at() == NOW + timedelta(days=2)


def test_many_facts_in_one_save_and_last_duplicate_wins(store: Store) -> None:
    many = [milestone(f"M{i:04d}", f"D{i % 7}") for i in range(2500)]
    assert store.save_facts("milestones", many, "file", NOW) == 2500
    assert store.save_facts("milestones", many, "file", NOW) == 0
    twice = [milestone("M0001", "D1", name="first"), milestone("M0001", "D1", name="second")]
    assert store.save_facts("milestones", twice, "file", NOW) == 1
    assert sum(len(v) for v in store.milestones().values()) == 2500


def test_save_facts_refuses_the_wrong_model(store: Store) -> None:
    with pytest.raises(TypeError, match="Ticket"):
        store.save_facts("tickets", [milestone("M1")], "file", NOW)
    with pytest.raises(ValueError, match="unknown kind"):
        store.save_facts("surveys", [], "file", NOW)


def test_an_engagements_fact_version_rises_exactly_when_its_facts_change(store: Store) -> None:
    """Scoring tells unchanged engagements by this version, without reading their facts."""
    store.save_facts("milestones", [milestone("M1"), milestone("M2", "D2")], "file", NOW)
    assert store.fact_versions() == {"D1": 1, "D2": 1}
    # The same values again (same instant, too): nothing changed, no version moves.
    store.save_facts("milestones", [milestone("M1")], "file", NOW)
    assert store.fact_versions() == {"D1": 1, "D2": 1}
    # A changed value at the very same instant still counts.
    store.save_facts("milestones", [milestone("M1", percent_complete=55)], "file", NOW)
    assert store.fact_versions() == {"D1": 2, "D2": 1}
    # Moved to D3: D1 lost a fact and D3 gained one.
    store.save_facts("milestones", [milestone("M1", "D3", percent_complete=55)], "file", NOW)
    assert store.fact_versions() == {"D1": 3, "D2": 1, "D3": 1}
    call = Touchpoint(
        external_id="Calls:C1@D2", engagement_id="D2", kind=TouchpointKind.CALL, at=NOW
    )
    store.save_facts("touchpoints", [call], "crm", NOW)
    assert store.delete_facts_of("touchpoints", "crm", ["Calls:C1"]) == 1
    assert store.fact_versions(["D2"]) == {"D2": 3}
    store.save_facts(
        "tickets", [ticket("T1", "D1"), ticket("T2", "D2", resolved_at=None)], "f", NOW
    )
    assert store.with_open_tickets(["D1", "D2"]) == {"D2"}


def test_scoring_reads_the_same_values_as_the_fact_models(store: Store) -> None:
    """Scoring reads facts as plain tuples (no validation): the same values, the same order."""
    milestones = [
        milestone("M2", planned_date=date(2026, 6, 1), percent_complete=100.0),
        milestone("M1", delivered_date=date(2026, 3, 2), rejected_count=2),
        milestone("M3", "D2"),
    ]
    costs = [
        CostEntry(
            external_id=f"C{i}",
            engagement_id="D1",
            spent_on=date(2026, 2, 10 - i),
            amount=Decimal(f"{i}00.25"),
        )
        for i in range(1, 4)
    ]
    touchpoints = [
        Touchpoint(
            external_id=f"P{i}",
            engagement_id="D1",
            kind=kind,
            at=datetime(2026, 2, 3 + i, 14, 0, tzinfo=SHANGHAI),
        )
        for i, kind in enumerate((TouchpointKind.STATUS_REPORT, TouchpointKind.CALL))
    ]
    changes = [
        ChangeRequest(
            external_id="CR1",
            engagement_id="D2",
            raised_on=date(2026, 2, 4),
            value=Decimal("5000.10"),
            status=ChangeStatus.REJECTED,
        )
    ]
    for kind, facts in (
        ("milestones", milestones),
        ("costs", costs),
        ("touchpoints", touchpoints),
        ("change_requests", changes),
    ):
        store.save_facts(kind, facts, "file", NOW)
    ids = ["D1", "D2", "D3"]

    def same(read: Mapping[str, Sequence[tuple[Any, ...]]], models: Mapping[str, Any]) -> None:
        names = next(iter(read.values()))[0]._fields  # type: ignore[attr-defined]
        assert {eid: [tuple(f) for f in facts] for eid, facts in read.items()} == {
            eid: [tuple(getattr(m, n) for n in names) for m in facts]
            for eid, facts in models.items()
        }

    same(store.scoring_milestones(ids), store.milestones(ids))
    same(store.scoring_costs(ids), store.cost_entries(ids))
    same(store.scoring_touchpoints(ids), store.touchpoints(ids))
    same(store.scoring_change_requests(ids), store.change_requests(ids))
    touch = store.scoring_touchpoints(ids)["D1"][0]
    assert touch.kind is TouchpointKind.STATUS_REPORT
    assert touch.at == touchpoints[0].at
    assert store.scoring_change_requests(ids)["D2"][0].status is ChangeStatus.REJECTED
    assert store.scoring_milestones(["D3"]) == {}


def test_first_tickets_opened_counts_tickets_scoring_does_not_read(store: Store) -> None:
    old = ticket(
        "T1",
        opened_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        first_response_at=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
        resolved_at=datetime(2026, 1, 6, 10, 0, tzinfo=UTC),
        waiting_on_client=(),
    )
    store.save_facts("tickets", [old, ticket("T2"), ticket("T3", "D2")], "file", NOW)
    since = NOW - timedelta(days=90)
    assert [x.external_id for x in store.tickets_since(["D1"], since)["D1"]] == ["T2"]
    assert store.first_tickets_opened(["D1", "D2", "D3"]) == {
        "D1": old.opened_at,
        "D2": ticket("T3").opened_at,
    }
