"""The row ledger: the latest outcome of every row the plugin tried to write, and what happens next.

One row per CRM record (module, record id):

- ``pending``: journaled just before its write call went out. Left behind only by a crash or a
  stopped run; the next push checks whether the values landed (the sync has just re-read the
  record) and, if so, records them as written without a second call.
- ``written`` / ``unchanged``: the CRM holds what the plugin wants.
- ``conflict``: a person changed a plugin field; left alone (``engage status``).
- ``invalid`` (the CRM refused the values; code and field kept) and ``retrying`` (refused for
  another reason): sent again on a later run once ``next_retry_at`` has passed, with the retry
  policy's backoff, until written or ``quarantined`` after ``row_max_attempts`` refusals.
- ``quarantined``: not sent again until ``engage retry`` re-queues it, or until the values the
  plugin wants change (a mapping fix), which counts as a new row.

Only rows whose entry changes are written to the store, so a quiet run costs no ledger writes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from connector.base import WriteOutcome, WriteStatus
from connector.retry import RetryPolicy
from jobs.store import Store, outcomes
from jobs.store import schema as t
from jobs.store.bulk import among, upsert_many
from jobs.store.field_states import save_written


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
#: Statuses whose row is waiting for a later attempt.
_REFUSED = frozenset(FAILED_STATUSES)
#: Statuses of rows whose values the CRM holds: nothing more to do for them.
SETTLED_STATUSES = (RowStatus.WRITTEN.value, RowStatus.UNCHANGED.value)
#: Every column of a ledger row, in the order ``_entry`` gives them.
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


class RowDecision(StrEnum):
    SEND = "send"
    #: The write of a crashed run landed: the CRM holds the values; record, do not resend.
    LANDED = "landed"
    #: Refused before and its next attempt is not due yet.
    WAIT = "wait"
    QUARANTINED = "quarantined"


def decide_row(
    row: LedgerRow | None, values: dict[str, Any], crm_holds_values: bool, now: datetime
) -> RowDecision:
    """What to do with a planned write of ``values``, given its ledger row."""
    if row is None:
        return RowDecision.SEND
    if row.status is RowStatus.PENDING and crm_holds_values and row.values == values:
        return RowDecision.LANDED
    if row.status in _REFUSED and row.values == values:
        if row.status is RowStatus.QUARANTINED:
            return RowDecision.QUARANTINED
        if row.next_retry_at is not None and row.next_retry_at > now:
            return RowDecision.WAIT
    return RowDecision.SEND


class Ledger:
    """Reads and writes the ``write_ledger`` table of a store (SQLite or PostgreSQL)."""

    def __init__(self, store: Store, policy: RetryPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or RetryPolicy()

    # --- reading -------------------------------------------------------------------------------
    def rows(self, module: str, record_ids: Collection[str] | None = None) -> dict[str, LedgerRow]:
        """The rows of ``module`` (of ``record_ids`` only, when given). Settled rows (written,
        unchanged) come back without their values: a push needs only their status, and at
        100,000 records that saves the memory and the JSON parsing of all of them."""
        with self.store.engine.connect() as conn:
            if record_ids is not None and not record_ids:
                return {}
            return _rows_where(conn, module, record_ids)

    def failed(self, limit: int | None = 50) -> list[LedgerRow]:
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
        with self.store.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        table = t.write_ledger
        query = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
        with self.store.engine.connect() as conn:
            return {status: int(n) for status, n in conn.execute(query)}

    # --- writing (each inside the caller's transaction) --------------------------------------
    def journal(
        self,
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
        upsert_many(
            conn, t.write_ledger, _JOURNAL_COLUMNS, rows, keys=_KEYS, update=_JOURNAL_UPDATES
        )

    def record(
        self,
        conn: sa.Connection,
        module: str,
        results: Sequence[tuple[str, dict[str, Any], WriteOutcome]],
        previous: Mapping[str, LedgerRow],
        run_id: int | None,
        now: datetime,
    ) -> None:
        """The CRM's verdict on one call's rows: (record id, values sent, outcome) each.

        Into the caller's transaction (one commit for the outcomes of one or more calls, so no
        crash can separate them): the written values into ``record_state``, every refusal into
        the ``write_outcomes`` history, and the ledger rows. A refusal continues the row's
        count of attempts when the values are the ones refused before; the row is quarantined
        when the count reaches the policy's maximum.
        """
        rows = []
        written = []
        for record_id, values, outcome in results:
            if outcome.status is WriteStatus.WRITTEN:
                written.append((record_id, values))
                continue
            before = previous.get(record_id)
            attempts = 1
            if before is not None and before.values == values:
                attempts = before.attempts + 1
            if self.policy.row_quarantined(attempts):
                status, next_retry = RowStatus.QUARANTINED, None
            else:
                status = (
                    RowStatus.INVALID
                    if outcome.status is WriteStatus.INVALID
                    else RowStatus.RETRYING
                )
                delay = self.policy.row_retry_delay_seconds(attempts)
                next_retry = now + timedelta(seconds=delay)
            rows.append(
                _entry(
                    module,
                    record_id,
                    status,
                    values,
                    now,
                    run_id,
                    crm_code=outcome.crm_code,
                    field=outcome.field,
                    message=outcome.message or None,
                    attempts=attempts,
                    next_retry_at=next_retry,
                )
            )
        history = [
            (
                run_id,
                module,
                record_id,
                outcome.status.value,
                outcome.crm_code,
                outcome.field,
                outcome.message or None,
                now,
            )
            for record_id, _values, outcome in results
            if outcome.status is not WriteStatus.WRITTEN
        ]
        save_written(conn, module, written, now)
        outcomes.add_history(conn, history)
        rows += self._settle_journaled(conn, module, written, run_id, now)
        upsert_many(conn, t.write_ledger, _COLUMNS, rows, keys=_KEYS)

    def _settle_journaled(
        self,
        conn: sa.Connection,
        module: str,
        written: Sequence[tuple[str, dict[str, Any]]],
        run_id: int | None,
        now: datetime,
    ) -> list[tuple[Any, ...]]:
        """Mark the written rows ``written`` with one statement: their journal entry already
        holds the values sent (re-serialising them cost a tenth of a push of 10,000 deals).
        Returns whole entries to write instead when some rows do not exist (not journaled).
        A settled row's values are never read back, so only a missing row matters."""
        if not written:
            return []
        table = t.write_ledger
        ids = [record_id for record_id, _ in written]
        settled = conn.execute(
            table.update()
            # By key only: with a condition on the status, SQLite walks the status index
            # through every pending row of the push, for each call.
            .where(table.c.module == module, among(table.c.record_id, ids))
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
        if settled == len(written):
            return []
        # Some were not journaled (not how the push calls this): write every entry whole.
        return [
            _entry(module, record_id, RowStatus.WRITTEN, values, now, run_id)
            for record_id, values in written
        ]

    def settle(
        self,
        conn: sa.Connection,
        module: str,
        unchanged: Iterable[str],
        conflicts: Mapping[str, tuple[str, str]],
        previous: Mapping[str, LedgerRow],
        run_id: int | None,
        now: datetime,
    ) -> None:
        """Rows with nothing to write this run: ``unchanged`` ids, ``conflicts`` id -> (field,
        message). Only entries that change are written."""
        rows = []
        for record_id in unchanged:
            if record_id in conflicts:
                continue
            before = previous.get(record_id)
            if before is None or before.status in _REFUSED or before.status is RowStatus.CONFLICT:
                rows.append(_entry(module, record_id, RowStatus.UNCHANGED, None, now, run_id))
            elif before.status is RowStatus.PENDING:
                # Its write landed before a crash, and a later push recorded the values.
                rows.append(
                    _entry(module, record_id, RowStatus.WRITTEN, before.values, now, run_id)
                )
        for record_id, (field, message) in conflicts.items():
            before = previous.get(record_id)
            if before is None or before.status is not RowStatus.CONFLICT or before.field != field:
                rows.append(
                    _entry(
                        module,
                        record_id,
                        RowStatus.CONFLICT,
                        None,
                        now,
                        run_id,
                        field=field,
                        message=message,
                    )
                )
        upsert_many(conn, t.write_ledger, _COLUMNS, rows, keys=_KEYS)

    def mark_landed(
        self,
        conn: sa.Connection,
        module: str,
        items: Sequence[tuple[str, dict[str, Any]]],
        run_id: int | None,
        now: datetime,
    ) -> None:
        """Writes of an interrupted run that the CRM holds: written, without a second call."""
        save_written(conn, module, items, now)
        rows = [
            _entry(
                module,
                record_id,
                RowStatus.WRITTEN,
                values,
                now,
                run_id,
                message="written by an interrupted run; confirmed by reading it back",
            )
            for record_id, values in items
        ]
        upsert_many(conn, t.write_ledger, _COLUMNS, rows, keys=_KEYS)

    def requeue(self, record_ids: Sequence[str] | None, now: datetime) -> int:
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
        with self.store.engine.begin() as conn:
            return int(conn.execute(query).rowcount or 0)


def missing_fields(store: Store) -> list[tuple[str, str, str]]:
    """(module, field, message) of target fields the latest push found gone from the CRM.

    These stop a field, not a row (the rows are written without it), so they are not in the
    ledger; the write history of that run holds them.
    """
    with store.engine.connect() as conn:
        return outcomes.fields_found_missing(conn)


def _entry(
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
) -> tuple[Any, ...]:
    """A whole ledger row, its values in the order of ``_COLUMNS``."""
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


def _rows_where(
    conn: sa.Connection, module: str, record_ids: Collection[str] | None
) -> dict[str, LedgerRow]:
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
