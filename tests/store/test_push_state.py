"""What the push keeps in the store to plan only what changed, on SQLite and PostgreSQL:
field states written in bulk, CRM values recorded only when they change, and the basis."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from jobs.push.due import copied_health_columns
from jobs.store import Store
from jobs.store import schema as t
from jobs.store.bulk import upsert_many
from jobs.store.field_states import save_crm_values, save_written, states_of

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def stored_text(store: Store) -> list[tuple[str, str]]:
    table = t.record_state
    query = sa.select(table.c.record_id, sa.cast(table.c.fields, sa.Text())).order_by(
        table.c.record_id
    )
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def test_rows_written_in_bulk_are_what_sqlalchemy_writes(store: Store) -> None:
    values = [7, 4.5, "High", None, {"a": [1]}, True]
    with store.engine.begin() as conn:
        upsert_many(
            conn,
            t.record_state,
            ("module", "record_id", "fields", "updated_at"),
            [("Deals", f"B{i}", v, NOW) for i, v in enumerate(values)],
            keys=("module", "record_id"),
        )
        conn.execute(
            t.record_state.insert(),
            [
                {"module": "Deals", "record_id": f"S{i}", "fields": v, "updated_at": NOW}
                for i, v in enumerate(values)
            ],
        )
    rows = stored_text(store)
    bulk = [text for rid, text in rows if rid.startswith("B")]
    plain = [text for rid, text in rows if rid.startswith("S")]
    assert bulk == plain  # None is JSON null in both, as SQLAlchemy's JSON type stores it
    assert [json.loads(text) for text in bulk] == values
    with store.engine.connect() as conn:
        at = conn.execute(
            sa.select(t.record_state.c.updated_at).where(t.record_state.c.record_id == "B0")
        ).scalar_one()
    assert at == NOW


def test_a_write_merges_its_fields_into_those_stored(store: Store) -> None:
    later = NOW + timedelta(minutes=15)
    with store.engine.begin() as conn:
        save_written(conn, "Deals", [("D1", {"Score": 62, "Level": "High", "Note": None})], NOW)
        save_crm_values(conn, "Deals", {"D1": {"Level": "Medium"}}, later)
        save_written(conn, "Deals", [("D1", {"Score": 70, "Drivers": {"a": [1]}})], later)
    with store.engine.connect() as conn:
        held = states_of(conn, "Deals", ["D1"])["D1"]
    assert {name: (s.written_value, s.crm_value, s.crm_seen) for name, s in held.items()} == {
        "Score": (70, 70, True),
        "Level": ("High", "Medium", True),
        "Note": (None, None, True),
        "Drivers": ({"a": [1]}, {"a": [1]}, True),
    }


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
        retyped = save_crm_values(conn, "Deals", {"D1": {"Level": "High", "Score": 0}}, later)
        same = save_crm_values(conn, "Deals", {"D1": {"Score": 0}}, later)
        as_float = save_crm_values(conn, "Deals", {"D1": {"Score": 0.0}}, later)
    assert (again, edited, cleared) == (set(), {"D1"}, {"D1"})
    # 0 and 0.0 are one number but not one stored value: the CRM changed what it holds.
    assert (retyped, same, as_float) == ({"D1"}, set(), {"D1"})
    with store.engine.connect() as conn:
        held = states_of(conn, "Deals", ["D1"])["D1"]
    assert (held["Score"].crm_value, held["Level"].crm_value) == (0.0, "High")
    assert held["Score"].crm_seen


def test_the_push_basis_copies_every_health_value_column() -> None:
    """An output computed from a new health column would otherwise never be planned again."""
    basis = {c.name for c in t.push_basis.columns}
    assert set(copied_health_columns()) <= basis
    assert {"account_id", "status", "name"} <= basis


def test_field_states_survive_the_move_to_one_row_per_record(store_url: str) -> None:
    """Migration 0012 carries field states stored one row per field (before) into one row per
    record, and back on downgrade."""
    from alembic import command

    from jobs.store.store import migration_config

    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            cfg = migration_config(conn)
            command.upgrade(cfg, "0011")
            conn.execute(
                sa.text(
                    "insert into field_state (module, record_id, field, written_value, "
                    "written_at, crm_value, crm_seen_at) values "
                    "('Deals', 'D1', 'Score', '62', :at, '70', :at), "
                    "('Deals', 'D1', 'Level', '\"High\"', :at, null, null), "
                    "('Accounts', 'A1', 'Worst', null, null, '\"x\"', :at)"
                ),
                {"at": NOW},
            )
            command.upgrade(cfg, "head")
        with engine.connect() as conn:
            deal = states_of(conn, "Deals", ["D1"])["D1"]
            account = states_of(conn, "Accounts", ["A1"])["A1"]
        assert {n: (s.written_value, s.crm_value, s.crm_seen) for n, s in deal.items()} == {
            "Score": (62, 70, True),
            "Level": ("High", None, False),
        }
        assert (account["Worst"].written_value, account["Worst"].crm_value) == (None, "x")
        with engine.begin() as conn:
            command.downgrade(migration_config(conn), "0011")
            back = conn.execute(
                sa.text(
                    "select module, record_id, field, cast(written_value as text), "
                    "cast(crm_value as text), crm_seen_at is not null from field_state"
                )
            ).all()
        assert sorted(back) == [
            ("Accounts", "A1", "Worst", "null", '"x"', True),
            ("Deals", "D1", "Level", '"High"', "null", False),
            ("Deals", "D1", "Score", "62", "70", True),
        ]
    finally:
        engine.dispose()
