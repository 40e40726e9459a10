"""Records due for planning (`DueRecords`): what changed since the last push, so that a push
plans those records and no others.

Planning a record means computing the values the plugin wants in the CRM and comparing them
with what was written and what the CRM holds: at 100,000 deals that is seconds of work, while a
push after a quiet sync has nothing to do, and one after 10% of the health changed has 10% of
it. A record is planned again when:

- its engagement's health or roll-up columns (account, status, name) differ from the basis the
  push last planned it from (table ``push_basis``, compared in SQL, row by row);
- the sync saw its CRM values change, saved its account again, or one of the engagements of its
  account changed or left the working set (table ``push_dirty``, a mark per record);
- its row in the write ledger is not settled (pending, refused, conflicting, quarantined);
- or the mapping changed since the last complete push (everything is planned, as it is the
  first time).

A push refreshes the basis of the engagements it planned and clears their marks in the
transaction that journals their writes (their `pending` ledger rows keep them planned until the
CRM's answer is stored), so a push that stops mid-way leaves what it did not reach to the next.
The mapping's fingerprint is recorded once a push has planned everything it had to: a first
push that stops is done in full again, and one that found a target field missing makes the
next plan everything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from jobs.push.ledger import SETTLED_STATUSES
from jobs.store import Store
from jobs.store import schema as t
from jobs.store.bulk import among, insert, upsert_many
from jobs.store.records import delete_meta_in, meta_in
from mappings.engine import Mapper

#: store_meta key: the mapping fingerprint of the last push that planned everything it had to.
PUSH_FINGERPRINT = "push_fingerprint"
#: Health columns that are not values the CRM sees.
_NOT_COPIED = {"engagement_id", "inputs_hash"}
#: Copied from the engagement rather than its health.
ENGAGEMENT_COLUMNS = ("account_id", "status", "name")


def copied_health_columns() -> list[str]:
    """The columns of ``engagement_health`` the basis copies (every value column)."""
    return [c.name for c in t.engagement_health.columns if c.name not in _NOT_COPIED]


@dataclass
class DueRecords:
    """Records to plan: engagement ids and account ids, each sorted."""

    engagements: list[str]
    accounts: list[str]
    #: Everything is planned (first push, or the mapping changed).
    full: bool


def mark(conn: sa.Connection, module: str, record_ids: Iterable[str]) -> None:
    """Have the next push plan these records of ``module`` again."""
    rows = [(module, record_id) for record_id in sorted(set(record_ids))]
    upsert_many(conn, t.push_dirty, ("module", "record_id"), rows, keys=("module", "record_id"))


def detect(store: Store, mapper: Mapper) -> DueRecords:
    """The records the next push has to plan (see the module docstring).

    Engagements that left the working set (deleted, or filtered out) since they were planned
    have their basis removed and their account marked, in one transaction, so that the account
    is planned even if this push stops early.
    """
    engagement_module = mapper.spec.targets.engagements.module
    account_target = mapper.spec.targets.accounts
    account_module = account_target.module if account_target is not None else None
    e, b = t.engagements, t.push_basis
    with store.engine.begin() as conn:
        fingerprint = meta_in(conn, PUSH_FINGERPRINT)
        if fingerprint != mapper.fingerprint():
            live = sa.select(e.c.crm_id).where(e.c.deleted_at.is_(None)).order_by(e.c.crm_id)
            every = _live_accounts(conn) if account_module is not None else []
            return DueRecords(list(conn.execute(live).scalars()), every, full=True)
        changed: set[str] = set()
        account_ids: set[str] = set()
        for crm_id, account_id, before in conn.execute(_differing()):
            changed.add(crm_id)
            account_ids.add(account_id)
            if before is not None:
                account_ids.add(before)
        gone = conn.execute(
            sa.select(b.c.engagement_id, b.c.account_id)
            .select_from(b.outerjoin(e, e.c.crm_id == b.c.engagement_id))
            .where(sa.or_(e.c.crm_id.is_(None), e.c.deleted_at.is_not(None)))
        ).all()
        account_ids.update(account_id for _, account_id in gone)
        _delete_basis(conn, [engagement_id for engagement_id, _ in gone])
        if account_module is not None:
            mark(conn, account_module, account_ids)
        changed |= _marked_or_unsettled(conn, engagement_module, e)
        _unmark_gone(conn, engagement_module, e)
        accounts: list[str] = []
        if account_module is not None:
            accounts = sorted(_marked_or_unsettled(conn, account_module, t.accounts))
            _unmark_gone(conn, account_module, t.accounts)
    return DueRecords(sorted(changed), accounts, full=False)


def waiting(store: Store) -> tuple[int, Any]:
    """What the next push has to write, read only (for the metrics): how many records, and the
    health time of the oldest engagement among them (None if none). A record waits when its
    engagement differs from the basis of the last push, is marked, or has an open ledger row;
    an account waits with its marks and open rows only (its time is its engagements')."""
    d, w, h = t.push_dirty, t.write_ledger, t.engagement_health
    differing = _differing().with_only_columns(t.engagements.c.crm_id)
    open_rows = sa.select(w.c.record_id).where(w.c.status.not_in(SETTLED_STATUSES))
    waiting_ids = sa.union(differing, sa.select(d.c.record_id), open_rows).subquery()
    with store.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(waiting_ids)).scalar_one()
        oldest = conn.execute(
            sa.select(sa.func.min(h.c.updated_at)).where(
                h.c.engagement_id.in_(sa.select(waiting_ids.c[0]))
            )
        ).scalar_one()
    return int(count), oldest


def planned(conn: sa.Connection, mapper: Mapper, module: str, record_ids: Collection[str]) -> None:
    """Record that ``record_ids`` of ``module`` were planned: clear their marks and, for
    engagements, copy what they were planned from into the basis. Call inside the transaction
    that journals their writes."""
    if not record_ids:
        return
    d = t.push_dirty
    conn.execute(d.delete().where(d.c.module == module, among(d.c.record_id, record_ids)))
    if module == mapper.spec.targets.engagements.module:
        _refresh_basis(conn, record_ids)


def complete(store: Store, mapper: Mapper) -> None:
    """A push planned everything it had to under this mapping: later pushes may plan only
    what changed."""
    store.set_meta(PUSH_FINGERPRINT, mapper.fingerprint())


def forget(store: Store) -> None:
    """The next push plans everything again (say, a target field went missing mid-push)."""
    with store.engine.begin() as conn:
        delete_meta_in(conn, PUSH_FINGERPRINT)


def _differing() -> sa.Select[tuple[str, str, str | None]]:
    """Live engagements with no basis, or whose health or roll-up columns differ from it:
    (engagement id, account id now, account id in the basis)."""
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


def _delete_basis(conn: sa.Connection, engagement_ids: list[str]) -> None:
    if engagement_ids:
        b = t.push_basis
        conn.execute(b.delete().where(among(b.c.engagement_id, engagement_ids)))


def _marked_or_unsettled(conn: sa.Connection, module: str, records: sa.Table) -> set[str]:
    """Ids of ``module`` marked, or with an open ledger row, that are live in ``records``."""
    d, w = t.push_dirty, t.write_ledger
    live = sa.and_(records.c.deleted_at.is_(None))
    marked = (
        sa.select(d.c.record_id)
        .join(records, records.c.crm_id == d.c.record_id)
        .where(d.c.module == module, live)
    )
    open_rows = (
        sa.select(w.c.record_id)
        .join(records, records.c.crm_id == w.c.record_id)
        .where(w.c.module == module, w.c.status.not_in(SETTLED_STATUSES), live)
    )
    return set(conn.execute(marked).scalars()) | set(conn.execute(open_rows).scalars())


def _unmark_gone(conn: sa.Connection, module: str, records: sa.Table) -> None:
    """Marks of records no longer live: nothing of theirs will be planned."""
    d = t.push_dirty
    live = sa.select(records.c.crm_id).where(records.c.deleted_at.is_(None))
    conn.execute(d.delete().where(d.c.module == module, d.c.record_id.not_in(live)))


def _live_accounts(conn: sa.Connection) -> list[str]:
    a = t.accounts
    query = sa.select(a.c.crm_id).where(a.c.deleted_at.is_(None)).order_by(a.c.crm_id)
    return list(conn.execute(query).scalars())
