"""The store on SQLite and on the local PostgreSQL: same code, same answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from jobs.store import Store
from jobs.store.field_states import save_crm_values, save_written, states_of
from mappings.domain import (
    Driver,
    Engagement,
    EngagementHealth,
    EngagementStatus,
    RiskLevel,
    SlaStatus,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def engagement(crm_id: str, **changes: object) -> Engagement:
    values: dict[str, object] = {
        "crm_id": crm_id,
        "name": "数据标注外包二期",
        "account_id": "A1",
        "stage": "Closed Won",
        "status": EngagementStatus.ACTIVE,
        "contract_value": Decimal("120000.50"),
        "currency": "CNY",
        "start_date": date(2026, 1, 1),
        "end_date": date(2026, 12, 31),
    }
    values.update(changes)
    return Engagement.model_validate(values)


def test_migrations_create_every_table_and_are_idempotent(store: Store) -> None:
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"engagements", "engagement_health", "record_state", "runs", "job_locks"} <= names
    assert "alembic_version" in names
    Store.open(str(store.engine.url.render_as_string(hide_password=False))).close()


def test_engagements_round_trip_and_upsert(store: Store) -> None:
    store.save_engagements([engagement("D1"), engagement("D2")], NOW)
    store.save_engagements([engagement("D1", stage="Closed Lost", status="closed_lost")], NOW)
    by_id = {e.crm_id: e for e in store.engagements()}
    assert set(by_id) == {"D1", "D2"}
    assert by_id["D1"].status is EngagementStatus.CLOSED_LOST
    assert by_id["D2"].contract_value == Decimal("120000.50")
    assert by_id["D2"].name == "数据标注外包二期"


def test_deleted_engagements_disappear_from_the_working_set(store: Store) -> None:
    store.save_engagements([engagement("D1"), engagement("D2")], NOW)
    assert store.mark_deleted("engagements", ["D2", "missing"], NOW) == 1
    assert [e.crm_id for e in store.engagements()] == ["D1"]


def test_a_slice_of_engagement_ids_is_that_part_of_the_live_ids_in_order(store: Store) -> None:
    # A worker's scoring chunk k reads ids k*500 .. k*500+499 only (jobs/workers/steps.py).
    store.save_engagements([engagement(f"D{i:02d}") for i in (5, 1, 9, 3, 7, 2)], NOW)
    store.mark_deleted("engagements", ["D03"], NOW)
    assert store.engagement_ids() == ["D01", "D02", "D05", "D07", "D09"]
    assert store.engagement_ids(1, 2) == ["D02", "D05"]
    assert store.engagement_ids(4, 2) == ["D09"]
    assert store.engagement_ids(5, 2) == []


def test_cursor_keeps_timezone(store: Store) -> None:
    assert store.cursor("engagements") is None
    shanghai = datetime(2026, 11, 23, 17, 0, tzinfo=UTC) + timedelta(0)
    store.set_cursor("engagements", shanghai, NOW)
    assert store.cursor("engagements") == shanghai
    assert store.cursor("engagements").tzinfo is not None  # type: ignore[union-attr]


def test_health_and_history(store: Store) -> None:
    health = EngagementHealth(
        engagement_id="D1",
        risk_score=62,
        risk_level=RiskLevel.HIGH,
        drivers=(
            Driver(code="x", points=35, en="Contract ends in 12 days", zh="合同将在 12 天后到期"),
        ),
        sla_status=SlaStatus.NOT_MEASURED,
        updated_at=NOW,
    )
    store.save_health([health])
    later = health.model_copy(update={"risk_score": 20, "updated_at": NOW + timedelta(days=1)})
    store.save_health([later])
    assert store.health()["D1"] == later
    assert store.health_history("D1") == [(NOW, 62), (NOW + timedelta(days=1), 20)]


def test_field_state_keeps_written_and_crm_values_apart(store: Store) -> None:
    with store.engine.begin() as conn:
        save_written(conn, "Deals", [("D1", {"Score": 62, "Level": "High"})], NOW)
        save_crm_values(conn, "Deals", {"D1": {"Score": 70}}, NOW)
        states = states_of(conn, "Deals", ["D1"])["D1"]
    assert states["Score"].written_value == 62
    assert states["Score"].crm_value == 70
    assert states["Level"].crm_value == "High"


def test_job_lock_is_exclusive_until_released_or_expired(store: Store) -> None:
    later = NOW + timedelta(hours=1)
    assert store.try_lock("run", "host:1", NOW, later)
    assert not store.try_lock("run", "host:2", NOW, later)
    store.unlock("run", "host:1")
    assert store.try_lock("run", "host:2", NOW, later)
    # A lock whose holder crashed expires.
    assert store.try_lock("run", "host:3", later + timedelta(seconds=1), later + timedelta(hours=1))


def test_skips_are_cleared_when_the_record_reads_fine(store: Store) -> None:
    store.record_skip("engagements", "D9", "Amount = 'abc': not a number", "Amount", None, NOW)
    assert [s.record_id for s in store.skips()] == ["D9"]
    store.clear_skips("engagements", ["D9"])
    assert store.skips() == []


def test_frozen_measures_survive_the_move_to_one_row_per_engagement(store_url: str) -> None:
    """Migration 0009 carries measures stored one row per ticket (before) into the per
    engagement sets scoring reads now, and back on downgrade."""
    from alembic import command

    from jobs.store.store import migration_config

    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            cfg = migration_config(conn)
            command.upgrade(cfg, "0008")
            conn.execute(
                sa.text(
                    "insert into sla_measures (engagement_id, ticket_id, metric, goal_minutes,"
                    " used_minutes, met, policy_version) values"
                    " ('D1', 'T1', 'resolution', 480, 300.5, :yes, 1),"
                    " ('D1', 'T1', 'first_response', 60, 75.0, :no, 1),"
                    " ('D2', 'T9', 'resolution', 240, 10.0, :yes, 2)"
                ),
                {"yes": True, "no": False},
            )
            command.upgrade(cfg, "head")
        store = Store(engine)
        frozen = store.frozen_measures()
        assert sorted(map(tuple, frozen["D1"])) == [
            ("T1", "first_response", 60, 75.0, False, 1),
            ("T1", "resolution", 480, 300.5, True, 1),
        ]
        assert frozen["D2"] == [["T9", "resolution", 240, 10.0, True, 2]]
        assert set(store.frozen_measures(["D2"])) == {"D2"}
        with engine.begin() as conn:
            command.downgrade(migration_config(conn), "0008")
            back = conn.execute(
                sa.text("select engagement_id, ticket_id, metric, met from sla_measures")
            ).all()
        assert sorted(back) == [
            ("D1", "T1", "first_response", False),
            ("D1", "T1", "resolution", True),
            ("D2", "T9", "resolution", True),
        ]
    finally:
        engine.dispose()


def test_saving_measures_replaces_an_engagements_set(store: Store) -> None:
    store.save_measures({"D1": [["T1", "resolution", 480, 300.0, True, 1]], "D2": []})
    store.save_measures({"D1": [["T2", "resolution", 480, 500.0, False, 1]]})
    assert store.frozen_measures() == {"D1": [["T2", "resolution", 480, 500.0, False, 1]]}
    store.save_measures({"D1": []})
    assert store.frozen_measures() == {}


def test_sqlite_stores_times_in_sqlalchemys_text_format() -> None:
    """Stored times are compared as text in SQL (e.g. "resolved at or after the window's start"),
    so the store's fast writer must produce exactly what SQLAlchemy's own SQLite type writes."""
    from sqlalchemy.dialects import sqlite

    from jobs.store.schema import UtcDateTime

    dialect = sqlite.dialect()
    ours = UtcDateTime().bind_processor(dialect)
    theirs = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    shanghai = timezone(timedelta(hours=8))
    for moment in (
        datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 17, 5, 9, 123456, tzinfo=shanghai),  # 09:05:09.123456 UTC
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    ):
        utc = moment.astimezone(UTC).replace(tzinfo=None)
        assert ours(moment) == theirs(utc)
    assert ours(datetime(2026, 11, 23, 17, tzinfo=shanghai)) == "2026-11-23 09:00:00.000000"
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 11, 23, 9))
