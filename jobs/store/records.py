"""Synced records (accounts, contacts, engagements), their cursors, the store's facts about
itself (meta) and skipped records: what the pull writes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.base import StoreBase, list_validator, where_among
from jobs.store.bulk import among, upsert_many
from mappings.domain import (
    Account,
    Contact,
    Engagement,
)


#: Kinds of synced records, as stored in cursors and skip reasons.
class RecordKind(StrEnum):
    """The kinds of synced records: mapping sections, cursor streams, skip and deletion kinds."""

    ACCOUNTS = "accounts"
    CONTACTS = "contacts"
    ENGAGEMENTS = "engagements"


KIND_TABLES: dict[str, sa.Table] = {
    RecordKind.ACCOUNTS: t.accounts,
    RecordKind.CONTACTS: t.contacts,
    RecordKind.ENGAGEMENTS: t.engagements,
}


@dataclass(frozen=True)
class SkipRow:
    kind: str
    record_id: str
    field: str | None
    reason: str
    seen_at: datetime


# ``store_meta`` inside the caller's transaction (the push keeps its facts with its writes);
# `RecordTables.meta` / `set_meta` are the same on their own connection.
def meta_in(conn: sa.Connection, key: str) -> str | None:
    """The value of `key` in ``store_meta``, or None."""
    query = sa.select(t.store_meta.c.value).where(t.store_meta.c.key == key)
    value: str | None = conn.execute(query).scalar_one_or_none()
    return value


def set_meta_in(conn: sa.Connection, values: Mapping[str, str]) -> None:
    """Set keys of ``store_meta``."""
    upsert_many(conn, t.store_meta, ("key", "value"), list(values.items()), keys=("key",))


def delete_meta_in(conn: sa.Connection, key: str) -> None:
    conn.execute(t.store_meta.delete().where(t.store_meta.c.key == key))


def live_ids_in(
    conn: sa.Connection, kind: str, start: int = 0, count: int | None = None
) -> list[str]:
    """CRM ids of the records of ``kind`` not deleted, in order; from the ``start``-th (0
    first), at most ``count`` of them."""
    table = KIND_TABLES[kind]
    query = sa.select(table.c.crm_id).where(table.c.deleted_at.is_(None)).order_by(table.c.crm_id)
    if start or count is not None:
        query = query.offset(start).limit(count)
    return list(conn.execute(query).scalars())


def live_engagement_accounts_in(conn: sa.Connection) -> list[tuple[str, str, str]]:
    """(crm id, account id, status) of every live engagement, by crm id: plain columns, not
    validated engagements."""
    e = t.engagements
    query = (
        sa.select(e.c.crm_id, e.c.account_id, e.c.status)
        .where(e.c.deleted_at.is_(None))
        .order_by(e.c.crm_id)
    )
    return [(crm_id, account_id, status) for crm_id, account_id, status in conn.execute(query)]


def _record_row(item: Account | Contact | Engagement, synced_at: datetime) -> dict[str, Any]:
    """A synced record's row: its fields by name (the table's columns), the CRM's modification
    time as ``crm_modified_at``, live again if it was deleted."""
    row = item.model_dump(exclude={"modified_at"})
    row.update(crm_modified_at=item.modified_at, deleted_at=None, synced_at=synced_at)
    return row


class RecordTables(StoreBase):
    """Tables ``accounts``, ``contacts``, ``engagements``, ``sync_state``, ``meta``,
    ``skipped``: written here only."""

    # --- synced records ------------------------------------------------------------------------
    def save_accounts(self, items: Sequence[Account], synced_at: datetime) -> None:
        self._upsert(t.accounts, [_record_row(a, synced_at) for a in items], ["crm_id"])

    def save_contacts(self, items: Sequence[Contact], synced_at: datetime) -> None:
        self._upsert(t.contacts, [_record_row(c, synced_at) for c in items], ["crm_id"])

    def save_engagements(self, items: Sequence[Engagement], synced_at: datetime) -> None:
        rows = [{**_record_row(e, synced_at), "status": e.status.value} for e in items]
        self._upsert(t.engagements, rows, ["crm_id"])

    def mark_deleted(self, kind: str, record_ids: Iterable[str], at: datetime) -> int:
        table = KIND_TABLES[kind]
        ids = list(record_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                table.update()
                .where(among(table.c.crm_id, ids), table.c.deleted_at.is_(None))
                .values(deleted_at=at)
            )
        return result.rowcount or 0

    def engagement_ids(self, start: int = 0, count: int | None = None) -> list[str]:
        """Ids of the engagements not deleted, in order; from the ``start``-th, at most
        ``count`` (a worker's scoring chunk reads its 500 ids, not the 100,000 of a large org
        200 times over)."""
        with self.engine.connect() as conn:
            return live_ids_in(conn, RecordKind.ENGAGEMENTS, start, count)

    def live_crm_ids(self, kind: str) -> set[str]:
        """CRM ids of ``kind`` held and not marked deleted (for CRMs without a deletion log)."""
        table = KIND_TABLES[kind]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.crm_id).where(table.c.deleted_at.is_(None)))
            return {str(row[0]) for row in rows}

    def engagements(
        self, *, include_deleted: bool = False, ids: Collection[str] | None = None
    ) -> list[Engagement]:
        query = where_among(sa.select(t.engagements), t.engagements, ids, "crm_id").order_by(
            t.engagements.c.crm_id
        )
        if not include_deleted:
            query = query.where(t.engagements.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        fields = Engagement.model_fields.keys()  # once: each access builds it (pydantic 2)
        result: list[Engagement] = list_validator(Engagement)(
            [
                {
                    k: v
                    for k, v in {**row, "modified_at": row["crm_modified_at"]}.items()
                    if v is not None and k in fields
                }
                for row in rows
            ]
        )
        return result

    def accounts(self) -> list[Account]:
        query = sa.select(t.accounts).where(t.accounts.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.accounts.c.crm_id)).mappings().all()
        fields = Account.model_fields.keys()
        return [
            Account.model_validate({k: v for k, v in row.items() if v is not None and k in fields})
            for row in rows
        ]

    def count(self, kind: str) -> int:
        table = KIND_TABLES[kind]
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(table)
            return int(conn.execute(query.where(table.c.deleted_at.is_(None))).scalar_one())

    # --- cursors -------------------------------------------------------------------------------
    def cursor(self, stream: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.sync_cursors.c.cursor).where(t.sync_cursors.c.stream == stream)
            ).scalar_one_or_none()

    def set_cursor(self, stream: str, value: datetime, now: datetime) -> None:
        self._upsert(
            t.sync_cursors, [{"stream": stream, "cursor": value, "updated_at": now}], ["stream"]
        )

    # --- facts about the store ------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            query = sa.select(t.store_meta.c.value).where(t.store_meta.c.key == key)
            return conn.execute(query).scalar_one_or_none()

    def set_meta(self, key: str, value: str) -> None:
        self._upsert(t.store_meta, [{"key": key, "value": value}], ["key"])

    # --- skipped records -----------------------------------------------------------------------
    def record_skip(
        self,
        kind: str,
        record_id: str,
        reason: str,
        field: str | None,
        run_id: int | None,
        at: datetime,
    ) -> None:
        row = {
            "kind": kind,
            "record_id": record_id,
            "field": field,
            "reason": reason,
            "run_id": run_id,
            "seen_at": at,
        }
        self._upsert(t.skipped_records, [row], ["kind", "record_id"])

    def clear_skips(self, kind: str, record_ids: Iterable[str]) -> None:
        ids = list(record_ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                t.skipped_records.delete().where(
                    t.skipped_records.c.kind == kind, among(t.skipped_records.c.record_id, ids)
                )
            )

    def skips(self, limit: int | None = 50) -> list[SkipRow]:
        """The latest skipped records first; ``limit=None``: all of them."""
        query = sa.select(t.skipped_records).order_by(
            t.skipped_records.c.seen_at.desc(), t.skipped_records.c.record_id
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).mappings().all()
        return [
            SkipRow(r["kind"], r["record_id"], r["field"], r["reason"], r["seen_at"]) for r in rows
        ]

    def skip_count(self) -> int:
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(t.skipped_records)
            return int(conn.execute(query).scalar_one())
