"""Tables ``push_basis`` (what each engagement was last planned from) and ``push_dirty`` (a mark
per record the sync says to plan again): written here only. Which records a push plans, and
why, is jobs/push/due.py's; this module holds the SQL that answers it.

Every function takes the caller's connection: a push marks, compares and clears in the
transactions that journal its writes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.bulk import among, insert, upsert_many
from jobs.store.ledger import open_rows_query
from jobs.store.records import KIND_TABLES, RecordKind

#: Health columns that are not values the CRM sees.
_NOT_COPIED = {"engagement_id", "inputs_hash"}
#: Copied from the engagement rather than its health.
ENGAGEMENT_COLUMNS = ("account_id", "status", "name")


def copied_health_columns() -> list[str]:
    """The columns of ``engagement_health`` the basis copies (every value column)."""
    return [c.name for c in t.engagement_health.columns if c.name not in _NOT_COPIED]


def mark(conn: sa.Connection, module: str, record_ids: Iterable[str]) -> None:
    """Have the next push plan these records of ``module`` again."""
    rows = [(module, record_id) for record_id in sorted(set(record_ids))]
    upsert_many(conn, t.push_dirty, ("module", "record_id"), rows, keys=("module", "record_id"))


def differing(conn: sa.Connection) -> list[tuple[str, str, str | None]]:
    """Live engagements with no basis, or whose health or roll-up columns differ from it:
    (engagement id, account id now, account id in the basis)."""
    return [(crm_id, now, before) for crm_id, now, before in conn.execute(_differing())]


def drop_gone(conn: sa.Connection) -> set[str]:
    """Remove the basis of engagements that left the working set (deleted, or no longer
    stored); returns the accounts they were under."""
    e, b = t.engagements, t.push_basis
    gone = conn.execute(
        sa.select(b.c.engagement_id, b.c.account_id)
        .select_from(b.outerjoin(e, e.c.crm_id == b.c.engagement_id))
        .where(sa.or_(e.c.crm_id.is_(None), e.c.deleted_at.is_not(None)))
    ).all()
    engagement_ids = [engagement_id for engagement_id, _ in gone]
    if engagement_ids:
        conn.execute(b.delete().where(among(b.c.engagement_id, engagement_ids)))
    return {account_id for _, account_id in gone}


def marked_or_unsettled(conn: sa.Connection, module: str, kind: RecordKind) -> set[str]:
    """Ids of ``module`` marked, or with an open ledger row, that are live records of
    ``kind``; the marks of records no longer live are dropped (nothing of theirs will be
    planned)."""
    d, w, records = t.push_dirty, t.write_ledger, KIND_TABLES[kind]
    live = sa.and_(records.c.deleted_at.is_(None))
    marked = (
        sa.select(d.c.record_id)
        .join(records, records.c.crm_id == d.c.record_id)
        .where(d.c.module == module, live)
    )
    open_rows = (
        open_rows_query()
        .join(records, records.c.crm_id == w.c.record_id)
        .where(w.c.module == module, live)
    )
    found = set(conn.execute(marked).scalars()) | set(conn.execute(open_rows).scalars())
    live_ids = sa.select(records.c.crm_id).where(records.c.deleted_at.is_(None))
    conn.execute(d.delete().where(d.c.module == module, d.c.record_id.not_in(live_ids)))
    return found


def waiting(conn: sa.Connection) -> tuple[int, Any]:
    """How many records wait for a push, and the health time of the oldest engagement among
    them (None if none): engagements differing from their basis, marks, open ledger rows."""
    d, h = t.push_dirty, t.engagement_health
    differs = _differing().with_only_columns(t.engagements.c.crm_id)
    waiting_ids = sa.union(differs, sa.select(d.c.record_id), open_rows_query()).subquery()
    count = conn.execute(sa.select(sa.func.count()).select_from(waiting_ids)).scalar_one()
    oldest = conn.execute(
        sa.select(sa.func.min(h.c.updated_at)).where(
            h.c.engagement_id.in_(sa.select(waiting_ids.c[0]))
        )
    ).scalar_one()
    return int(count), oldest


def planned(
    conn: sa.Connection, module: str, record_ids: Collection[str], *, engagements: bool
) -> None:
    """``record_ids`` of ``module`` were planned: clear their marks and, for ``engagements``,
    copy what they were planned from into the basis."""
    if not record_ids:
        return
    d = t.push_dirty
    conn.execute(d.delete().where(d.c.module == module, among(d.c.record_id, record_ids)))
    if engagements:
        _refresh_basis(conn, record_ids)


def _differing() -> sa.Select[tuple[str, str, str | None]]:
    e, h, b = t.engagements, t.engagement_health, t.push_basis
    current = _basis_values()
    differs = [b.c[name].is_distinct_from(value) for name, value in current.items()]
    return (
        sa.select(e.c.crm_id, e.c.account_id, b.c.account_id)
        .select_from(
            e.outerjoin(h, h.c.engagement_id == e.c.crm_id).outerjoin(
                b, b.c.engagement_id == e.c.crm_id
            )
        )
        .where(e.c.deleted_at.is_(None), sa.or_(b.c.engagement_id.is_(None), *differs))
    )


def _basis_values() -> dict[str, Any]:
    """Basis column -> the store's current value for it (an engagement outer-joined to its
    health)."""
    e, h = t.engagements, t.engagement_health
    values: dict[str, Any] = {name: e.c[name] for name in ENGAGEMENT_COLUMNS}
    for name in copied_health_columns():
        column = h.c[name]
        # JSON is copied as its text: PostgreSQL's json type has no equality.
        values[name] = sa.cast(column, sa.Text()) if isinstance(column.type, sa.JSON) else column
    return values


def _refresh_basis(conn: sa.Connection, engagement_ids: Collection[str]) -> None:
    e, h, b = t.engagements, t.engagement_health, t.push_basis
    values = _basis_values()
    source = (
        sa.select(e.c.crm_id, *values.values())
        .select_from(e.outerjoin(h, h.c.engagement_id == e.c.crm_id))
        # A WHERE clause also keeps SQLite from reading ON CONFLICT as a join's ON.
        .where(among(e.c.crm_id, engagement_ids), e.c.deleted_at.is_(None))
    )
    stmt = insert(conn.dialect, b).from_select(["engagement_id", *values], source)
    stmt = stmt.on_conflict_do_update(
        index_elements=["engagement_id"], set_={name: stmt.excluded[name] for name in values}
    )
    conn.execute(stmt)
