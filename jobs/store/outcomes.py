"""Tables ``write_outcomes`` (each write's result, per run: the history `engage status --failed`
shows) and ``conflicts`` (a person's edit standing against the plugin's value): written here only.

The push journals both inside the transaction that records its writes, so every function takes
the caller's connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.bulk import among, upsert_many

#: The columns of one history row, in the order `add_history` takes them.
HISTORY_COLUMNS = ("run_id", "module", "record_id", "status", "crm_code", "field", "message", "at")


def add_outcomes(
    conn: sa.Connection, run_id: int | None, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Rows of ``write_outcomes`` (dicts of its columns but ``run_id``) for the run `run_id`."""
    if rows:
        conn.execute(t.write_outcomes.insert(), [{"run_id": run_id, **r} for r in rows])


def add_history(conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Rows of ``write_outcomes`` as tuples in the order of `HISTORY_COLUMNS`."""
    upsert_many(conn, t.write_outcomes, HISTORY_COLUMNS, rows)


def clear_conflicts(conn: sa.Connection, module: str) -> None:
    """Forget every conflict of `module` (a full push plans all its records again)."""
    conn.execute(t.conflicts.delete().where(t.conflicts.c.module == module))


def replace_conflicts(
    conn: sa.Connection,
    module: str,
    record_ids: Sequence[str],
    standing: Sequence[Mapping[str, Any]],
    seen_at: datetime,
) -> None:
    """The conflicts standing now among `record_ids` of `module` (dicts of ``record_id``,
    ``field``, ``crm_value``, ``written_value``, ``wanted_value``): older ones are resolved or
    superseded."""
    table = t.conflicts
    conn.execute(
        table.delete().where(table.c.module == module, among(table.c.record_id, record_ids))
    )
    if standing:
        conn.execute(
            table.insert(), [{"module": module, **c, "seen_at": seen_at} for c in standing]
        )


def fields_found_missing(conn: sa.Connection) -> list[tuple[str, str, str]]:
    """(module, field, message) of the target fields the latest push found gone from the CRM."""
    runs, rows = t.runs, t.write_outcomes
    # "running" is RunStatus.RUNNING, spelt out: jobs/store/runs.py imports this module.
    latest = (
        sa.select(sa.func.max(runs.c.id))
        .where(runs.c.job.in_(["push", "run"]), runs.c.status != "running")
        .scalar_subquery()
    )
    query = (
        sa.select(rows.c.module, rows.c.field, rows.c.message)
        .where(rows.c.run_id == latest, rows.c.crm_code == "FIELD_MISSING")
        .distinct()
        .order_by(rows.c.module, rows.c.field)
    )
    return [(m, f or "", msg or "") for m, f, msg in conn.execute(query)]
