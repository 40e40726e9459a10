"""Table ``write_ledger`` (the latest outcome of every row the plugin tried to write): written
here only. What the statuses mean and what happens next is the push's (jobs/push/ledger.py).

The push journals and settles rows inside the transaction that records its writes, so the
writing functions take the caller's connection.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.bulk import among, upsert_many


class RowStatus(StrEnum):
    PENDING = "pending"
    WRITTEN = "written"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    INVALID = "invalid"
    RETRYING = "retrying"
    QUARANTINED = "quarantined"


#: Statuses `engage status --failed` lists: rows whose values are not in the CRM.
FAILED_STATUSES = (RowStatus.INVALID, RowStatus.RETRYING, RowStatus.QUARANTINED)
#: Statuses of rows whose values the CRM holds: nothing more to do for them.
SETTLED_STATUSES = (RowStatus.WRITTEN.value, RowStatus.UNCHANGED.value)
#: Every column of a ledger row, in the order `entry` gives them.
_COLUMNS = (
    "module",
    "record_id",
    "status",
    "row_values",
    "crm_code",
    "field",
    "message",
    "attempts",
    "next_retry_at",
    "run_id",
    "updated_at",
)
_KEYS = ("module", "record_id")
#: What journaling a row sets: a new row starts with no attempts, an existing row keeps its
#: count (and its last refusal's code and message) until the CRM answers.
_JOURNAL_COLUMNS = (
    "module",
    "record_id",
    "status",
    "row_values",
    "run_id",
    "updated_at",
    "attempts",
)
_JOURNAL_UPDATES = ("status", "row_values", "run_id", "updated_at")


@dataclass(frozen=True, slots=True)
class LedgerRow:
    module: str
    record_id: str
    status: RowStatus
    values: dict[str, Any] | None
    crm_code: str | None
    field: str | None
    message: str | None
    attempts: int
    next_retry_at: datetime | None
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "record_id": self.record_id,
            "status": self.status.value,
            "crm_code": self.crm_code,
            "field": self.field,
            "message": self.message,
            "attempts": self.attempts,
            "next_retry_at": self.next_retry_at.isoformat() if self.next_retry_at else None,
            "updated_at": self.updated_at.isoformat(),
            "values": self.values,
        }


#: A whole ledger row as `put` takes it (see `entry`).
Entry = tuple[Any, ...]


def entry(
    module: str,
    record_id: str,
    status: RowStatus,
    values: dict[str, Any] | None,
    now: datetime,
    run_id: int | None,
    *,
    crm_code: str | None = None,
    field: str | None = None,
    message: str | None = None,
    attempts: int = 0,
    next_retry_at: datetime | None = None,
) -> Entry:
    """A whole ledger row, its values in the order of the table's columns."""
    return (
        module,
        record_id,
        status.value,
        values,
        crm_code,
        field,
        message,
        attempts,
        next_retry_at,
        run_id,
        now,
    )


# --- reading ------------------------------------------------------------------------------------
def rows_of(
    conn: sa.Connection, module: str, record_ids: Collection[str] | None
) -> dict[str, LedgerRow]:
    """The rows of ``module`` (of ``record_ids`` only, when given); settled rows without their
    values (a push needs only their status)."""
    if record_ids is not None and not record_ids:
        return {}
    table = t.write_ledger
    settled = sa.select(table.c.record_id, table.c.status, table.c.updated_at).where(
        table.c.module == module, table.c.status.in_(SETTLED_STATUSES)
    )
    open_rows = sa.select(table).where(
        table.c.module == module, table.c.status.not_in(SETTLED_STATUSES)
    )
    if record_ids is not None:
        settled = settled.where(among(table.c.record_id, record_ids))
        open_rows = open_rows.where(among(table.c.record_id, record_ids))
    rows = {
        record_id: LedgerRow(
            module, record_id, RowStatus(status), None, None, None, None, 0, None, at
        )
        for record_id, status, at in conn.execute(settled)
    }
    rows.update({r["record_id"]: _row(r) for r in conn.execute(open_rows).mappings()})
    return rows


def failed_rows(conn: sa.Connection, limit: int | None) -> list[LedgerRow]:
    """Rows whose values are not in the CRM, quarantined first, then by next retry."""
    table = t.write_ledger
    query = (
        sa.select(table)
        .where(table.c.status.in_([s.value for s in FAILED_STATUSES]))
        .order_by(
            (table.c.status != RowStatus.QUARANTINED.value),
            table.c.next_retry_at,
            table.c.module,
            table.c.record_id,
        )
    )
    if limit is not None:
        query = query.limit(limit)
    return [_row(r) for r in conn.execute(query).mappings()]


def status_counts(conn: sa.Connection) -> dict[str, int]:
    table = t.write_ledger
    query = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
    return {status: int(n) for status, n in conn.execute(query)}


def pending_ids(conn: sa.Connection, module: str) -> list[str]:
    """Record ids of ``module`` journaled and not answered (a stopped push's), sorted."""
    table = t.write_ledger
    query = (
        sa.select(table.c.record_id)
        .where(table.c.module == module, table.c.status == RowStatus.PENDING.value)
        .order_by(table.c.record_id)
    )
    return list(conn.execute(query).scalars())


def open_rows_query() -> sa.Select[tuple[str]]:
    """Record ids of the rows not settled (pending, refused, conflicting, quarantined)."""
    table = t.write_ledger
    return sa.select(table.c.record_id).where(table.c.status.not_in(SETTLED_STATUSES))


# --- writing (each inside the caller's transaction) -------------------------------------------
def journal(
    conn: sa.Connection,
    module: str,
    items: Sequence[tuple[str, dict[str, Any]]],
    run_id: int | None,
    now: datetime,
) -> None:
    """Mark rows ``pending`` with the values about to be sent (attempts are kept)."""
    rows = [
        (module, record_id, RowStatus.PENDING.value, values, run_id, now, 0)
        for record_id, values in items
    ]
    upsert_many(conn, t.write_ledger, _JOURNAL_COLUMNS, rows, keys=_KEYS, update=_JOURNAL_UPDATES)


def put(conn: sa.Connection, rows: Sequence[Entry]) -> None:
    """Whole rows (from `entry`), inserted or replaced."""
    upsert_many(conn, t.write_ledger, _COLUMNS, rows, keys=_KEYS)


def settle_written(
    conn: sa.Connection, module: str, record_ids: Sequence[str], run_id: int | None, now: datetime
) -> int:
    """Mark existing rows of ``record_ids`` written with one statement (their journal entry
    holds the values sent); returns how many rows there were."""
    table = t.write_ledger
    return int(
        conn.execute(
            table.update()
            # By key only: with a condition on the status, SQLite walks the status index
            # through every pending row of the push, for each call.
            .where(table.c.module == module, among(table.c.record_id, record_ids))
            .values(
                status=RowStatus.WRITTEN.value,
                crm_code=None,
                field=None,
                message=None,
                attempts=0,
                next_retry_at=None,
                run_id=run_id,
                updated_at=now,
            )
        ).rowcount
    )


def requeue(conn: sa.Connection, record_ids: Sequence[str] | None, now: datetime) -> int:
    """Quarantined rows (all, or those of ``record_ids``) become due at the next run."""
    table = t.write_ledger
    query = table.update().where(table.c.status == RowStatus.QUARANTINED.value)
    if record_ids is not None:
        query = query.where(table.c.record_id.in_(list(record_ids)))
    query = query.values(
        status=RowStatus.RETRYING.value,
        attempts=0,
        next_retry_at=None,
        message="re-queued by `engage retry`",
        updated_at=now,
    )
    return int(conn.execute(query).rowcount or 0)


def _row(r: Any) -> LedgerRow:
    return LedgerRow(
        module=r["module"],
        record_id=r["record_id"],
        status=RowStatus(r["status"]),
        values=r["row_values"],
        crm_code=r["crm_code"],
        field=r["field"],
        message=r["message"],
        attempts=int(r["attempts"]),
        next_retry_at=r["next_retry_at"],
        updated_at=r["updated_at"],
    )
