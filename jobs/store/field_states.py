"""What the plugin wrote into each CRM field, and what the CRM held at the last sync.

Table ``field_state``: one row per (module, record, target field). The sync records what the
CRM holds (only what changed: re-reading 10,000 unchanged deals writes nothing), the push
records what it wrote, and planning reads both, a chunk of records at a time.

Values are JSON. They are read as their JSON text and decoded once per distinct text (the
same few picklist labels and numbers recur on every record), and a CRM value is compared with
the stored one by its JSON text, as SQLAlchemy serialises it (``json.dumps``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.bulk import id_slices, upsert_many
from jobs.store.store import FieldState

_KEYS = ("module", "record_id", "field")
_CRM_COLUMNS = ("module", "record_id", "field", "crm_value", "crm_seen_at")
_WRITTEN_COLUMNS = (*_KEYS, "written_value", "written_at", "crm_value", "crm_seen_at")


def states_of(
    conn: sa.Connection, module: str, record_ids: Collection[str]
) -> dict[str, dict[str, FieldState]]:
    """record id -> field -> its state, for the given records of ``module``."""
    table = t.field_state
    found: dict[str, dict[str, FieldState]] = {}
    decode = _Decoder()
    for part in id_slices(list(record_ids)):
        query = sa.select(
            table.c.record_id,
            table.c.field,
            sa.cast(table.c.written_value, sa.Text),
            sa.cast(table.c.crm_value, sa.Text),
            table.c.crm_seen_at.is_not(None),
        ).where(table.c.module == module, table.c.record_id.in_(part))
        for record_id, name, written, crm, seen in conn.execute(query):
            found.setdefault(record_id, {})[name] = FieldState(
                decode(written), decode(crm), bool(seen)
            )
    return found


def save_crm_values(
    conn: sa.Connection,
    module: str,
    values: Mapping[str, Mapping[str, Any]],
    seen_at: datetime,
) -> set[str]:
    """Record what the CRM holds now (record id -> field -> value); return the ids of the
    records where it differs from what was recorded (a person edited, or a write landed).

    A field that is empty and never had a state stays without one: for every write policy
    that is the same as a state holding nothing, and a first sync of 100,000 deals whose plugin
    fields are still empty then writes no row here.
    """
    table = t.field_state
    #: (record id, field) -> the JSON text of the CRM value recorded, None if never seen.
    stored: dict[tuple[str, str], str | None] = {}
    for part in id_slices(list(values)):
        query = sa.select(
            table.c.record_id,
            table.c.field,
            sa.cast(table.c.crm_value, sa.Text),
            table.c.crm_seen_at.is_not(None),
        ).where(table.c.module == module, table.c.record_id.in_(part))
        for record_id, name, text, seen in conn.execute(query):
            stored[(record_id, name)] = text if seen else None
    rows = []
    changed: set[str] = set()
    for record_id, fields in values.items():
        for name, value in fields.items():
            key = (record_id, name)
            if key not in stored:
                if value is None:
                    continue
            elif stored[key] is not None and stored[key] == json.dumps(value):
                continue
            rows.append((module, record_id, name, value, seen_at))
            changed.add(record_id)
    upsert_many(conn, table, _CRM_COLUMNS, rows, keys=_KEYS)
    return changed


def save_written(
    conn: sa.Connection,
    module: str,
    items: Iterable[tuple[str, Mapping[str, Any]]],
    written_at: datetime,
) -> None:
    """Remember what was written (record id, field -> value each): the CRM now holds it."""
    rows = [
        (module, record_id, name, value, written_at, value, written_at)
        for record_id, values in items
        for name, value in values.items()
    ]
    upsert_many(conn, t.field_state, _WRITTEN_COLUMNS, rows, keys=_KEYS)


class _Decoder:
    """json.loads with a memory of the texts it decoded (immutable results only)."""

    def __init__(self) -> None:
        self._seen: dict[str, Any] = {}

    def __call__(self, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return self._seen[text]
        except KeyError:
            value = json.loads(text)
            if value is None or isinstance(value, str | int | float | bool):
                self._seen[text] = value
            return value
