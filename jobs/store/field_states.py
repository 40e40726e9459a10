"""What the plugin wrote into each CRM field, and what the CRM held at the last sync.

Table ``record_state``: one row per (module, record), its target fields as one JSON object
``{field: [written, crm, crm_seen]}``. The sync records what the CRM holds (only what changed:
re-reading 10,000 unchanged deals writes nothing), the push records what it wrote, and planning
reads both, a chunk of records at a time. A write names only the fields it sets; the database
merges them into the stored object (SQLite's ``json_patch``, PostgreSQL's jsonb ``||``), so the
push writes without reading first.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.bulk import among, upsert_many
from jobs.store.store import FieldState

_KEYS = ("module", "record_id")
_COLUMNS = ("module", "record_id", "fields", "updated_at")


def states_of(
    conn: sa.Connection, module: str, record_ids: Collection[str]
) -> dict[str, dict[str, FieldState]]:
    """record id -> field -> its state, for the given records of ``module``."""
    return {
        record_id: {
            name: FieldState(written, crm, bool(seen))
            for name, (written, crm, seen) in fields.items()
        }
        for record_id, fields in stored_fields(conn, module, record_ids).items()
    }


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
    stored = stored_fields(conn, module, list(values))
    rows = []
    for record_id, fields in values.items():
        held = stored.get(record_id, {})
        patch = {}
        for name, value in fields.items():
            state = held.get(name)
            if state is None:
                if value is None:
                    continue
                patch[name] = [None, value, True]
            elif not state[2] or not _same_json(state[1], value):
                patch[name] = [state[0], value, True]
        if patch:
            rows.append((module, record_id, patch, seen_at))
    upsert_many(conn, t.record_state, _COLUMNS, rows, keys=_KEYS, merge=("fields",))
    return {row[1] for row in rows}


def save_written(
    conn: sa.Connection,
    module: str,
    items: Iterable[tuple[str, Mapping[str, Any]]],
    written_at: datetime,
) -> None:
    """Remember what was written (record id, field -> value each): the CRM now holds it."""
    # One patch per values dictionary (records planned alike share theirs), so that it is
    # encoded once; the dictionaries are alive in ``items`` meanwhile, so their ids are unique.
    patches: dict[int, dict[str, list[Any]]] = {}
    rows = []
    for record_id, values in items:
        patch = patches.get(id(values))
        if patch is None:
            patch = patches[id(values)] = {name: [v, v, True] for name, v in values.items()}
        rows.append((module, record_id, patch, written_at))
    upsert_many(conn, t.record_state, _COLUMNS, rows, keys=_KEYS, merge=("fields",))


def stored_fields(
    conn: sa.Connection, module: str, record_ids: Collection[str]
) -> dict[str, dict[str, list[Any]]]:
    """record id -> field -> [written, crm, seen], as stored. Records stored alike share one
    object (most do: those written from equal health and not edited since): do not change it."""
    table = t.record_state
    found: dict[str, dict[str, list[Any]]] = {}
    if not record_ids:
        return found
    decoded: dict[str, dict[str, list[Any]]] = {}
    query = sa.select(table.c.record_id, sa.cast(table.c.fields, sa.Text)).where(
        table.c.module == module, among(table.c.record_id, record_ids)
    )
    for record_id, text in conn.execute(query):
        fields = decoded.get(text)
        if fields is None:
            fields = decoded[text] = json.loads(text)
        found[record_id] = fields
    return found


def _same_json(stored: Any, value: Any) -> bool:
    """Whether ``value`` is stored as ``stored`` is: 5 and 5.0, or 1 and True, are not (the CRM
    changed the field's type, or a person typed another value)."""
    if isinstance(value, dict | list) or isinstance(stored, dict | list):
        return json.dumps(stored, sort_keys=True) == json.dumps(value, sort_keys=True)
    return type(stored) is type(value) and stored == value
