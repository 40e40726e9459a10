"""What the push keeps in the store to plan only what changed, on SQLite and PostgreSQL:
field states written in bulk, CRM values recorded only when they change, and the basis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from jobs.changes import copied_health_columns
from jobs.store import Store
from jobs.store import schema as t
from jobs.store.bulk import upsert_many
from jobs.store.field_states import save_crm_values, save_written, states_of

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def stored_text(store: Store) -> list[tuple[str, str | None, str | None]]:
    table = t.field_state
    query = sa.select(
        table.c.record_id,
        sa.cast(table.c.written_value, sa.Text()),
        sa.cast(table.c.crm_value, sa.Text()),
    ).order_by(table.c.record_id)
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def test_rows_written_in_bulk_are_what_sqlalchemy_writes(store: Store) -> None:
    values = [7, 4.5, "High", None, {"a": [1]}, True]
    with store.engine.begin() as conn:
        upsert_many(
            conn,
            t.field_state,
            ("module", "record_id", "field", "written_value", "written_at", "crm_value"),
            [("Deals", f"B{i}", "F", v, NOW, v) for i, v in enumerate(values)],
            keys=("module", "record_id", "field"),
        )
        conn.execute(
            t.field_state.insert(),
            [
                {
                    "module": "Deals",
                    "record_id": f"S{i}",
                    "field": "F",
                    "written_value": v,
                    "written_at": NOW,
                    "crm_value": v,
                }
                for i, v in enumerate(values)
            ],
        )
    rows = stored_text(store)
    bulk = [(w, c) for rid, w, c in rows if rid.startswith("B")]
    plain = [(w, c) for rid, w, c in rows if rid.startswith("S")]
    assert bulk == plain  # None is JSON null in both, as SQLAlchemy's JSON type stores it
    with store.engine.connect() as conn:
        states = states_of(conn, "Deals", [f"B{i}" for i in range(len(values))])
        written_at = conn.execute(
            sa.select(t.field_state.c.written_at).where(t.field_state.c.record_id == "B0")
        ).scalar_one()
    assert [states[f"B{i}"]["F"].written_value for i in range(len(values))] == values
    assert written_at == NOW


def test_an_upsert_updates_only_the_given_columns(store: Store) -> None:
    with store.engine.begin() as conn:
        save_written(conn, "Deals", [("D1", {"Score": 62})], NOW)
        upsert_many(
            conn,
            t.field_state,
            ("module", "record_id", "field", "crm_value"),
            [("Deals", "D1", "Score", 70)],
            keys=("module", "record_id", "field"),
        )
        state = states_of(conn, "Deals", ["D1"])["D1"]["Score"]
    assert (state.written_value, state.crm_value) == (62, 70)


def test_crm_values_are_recorded_only_when_they_change(store: Store) -> None:
    later = NOW + timedelta(minutes=15)
    with store.engine.begin() as conn:
        first = save_crm_values(
            conn, "Deals", {"D1": {"Score": 5, "Level": "Low"}, "D2": {"Score": None}}, NOW
        )
    # D2's empty field never had a state: it gets none (for every policy, the same thing).
    assert first == {"D1"}
    with store.engine.connect() as conn:
        assert set(states_of(conn, "Deals", ["D1", "D2"])) == {"D1"}

    with store.engine.begin() as conn:
        again = save_crm_values(
            conn, "Deals", {"D1": {"Score": 5, "Level": "Low"}, "D2": {"Score": None}}, later
        )
        edited = save_crm_values(conn, "Deals", {"D1": {"Score": 5, "Level": "High"}}, later)
        cleared = save_crm_values(conn, "Deals", {"D1": {"Score": None}}, later)
    assert (again, edited, cleared) == (set(), {"D1"}, {"D1"})
    with store.engine.connect() as conn:
        held = states_of(conn, "Deals", ["D1"])["D1"]
    assert (held["Score"].crm_value, held["Level"].crm_value) == (None, "High")
    assert held["Score"].crm_seen


def test_the_push_basis_copies_every_health_value_column() -> None:
    """An output computed from a new health column would otherwise never be planned again."""
    basis = {c.name for c in t.push_basis.columns}
    assert set(copied_health_columns()) <= basis
    assert {"account_id", "status", "name"} <= basis
