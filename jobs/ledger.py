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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from connector.base import WriteOutcome, WriteStatus
from connector.retry import RetryPolicy
from jobs.store import Store
from jobs.store import schema as t


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


class Decision(StrEnum):
    SEND = "send"
    #: The write of a crashed run landed: the CRM holds the values; record, do not resend.
    LANDED = "landed"
    #: Refused before and its next attempt is not due yet.
    WAIT = "wait"
    QUARANTINED = "quarantined"


def decide_row(
    row: LedgerRow | None, values: dict[str, Any], crm_holds_values: bool, now: datetime
) -> Decision:
    """What to do with a planned write of ``values``, given its ledger row."""
    if row is None:
        return Decision.SEND
    if row.status is RowStatus.PENDING and crm_holds_values and row.values == values:
        return Decision.LANDED
    if row.status in _REFUSED and row.values == values:
        if row.status is RowStatus.QUARANTINED:
            return Decision.QUARANTINED
        if row.next_retry_at is not None and row.next_retry_at > now:
            return Decision.WAIT
    return Decision.SEND


class Ledger:
    """Reads and writes the ``write_ledger`` table of a store (SQLite or PostgreSQL)."""

    def __init__(self, store: Store, policy: RetryPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or RetryPolicy()

    # --- reading -------------------------------------------------------------------------------
    def rows(self, module: str) -> dict[str, LedgerRow]:
        """Every row of ``module``. Settled rows (written, unchanged) come back without their
        values: a push needs only their status, and at 100,000 records that saves the memory
        and the JSON parsing of all of them."""
        table = t.write_ledger
        settled = [RowStatus.WRITTEN.value, RowStatus.UNCHANGED.value]
        open_rows = sa.select(table).where(table.c.module == module, table.c.status.not_in(settled))
        settled_rows = sa.select(table.c.record_id, table.c.status, table.c.updated_at).where(
            table.c.module == module, table.c.status.in_(settled)
        )
        with self.store.engine.connect() as conn:
            rows = {
                record_id: LedgerRow(
                    module, record_id, RowStatus(status), None, None, None, None, 0, None, at
                )
                for record_id, status, at in conn.execute(settled_rows)
            }
            rows.update({r["record_id"]: _row(r) for r in conn.execute(open_rows).mappings()})
        return rows

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

    # --- writing -------------------------------------------------------------------------------
    def journal(
        self,
        module: str,
        items: Sequence[tuple[str, dict[str, Any]]],
        run_id: int | None,
        now: datetime,
    ) -> None:
        """Mark rows ``pending`` with the values about to be sent (attempts are kept)."""
        self._upsert(
            [
                {
                    "module": module,
                    "record_id": record_id,
                    "status": RowStatus.PENDING.value,
                    "row_values": values,
                    "run_id": run_id,
                    "updated_at": now,
                }
                for record_id, values in items
            ]
        )

    def record_batch(
        self,
        module: str,
        results: Sequence[tuple[str, dict[str, Any], WriteOutcome]],
        previous: dict[str, LedgerRow],
        run_id: int | None,
        now: datetime,
    ) -> list[LedgerRow]:
        """The CRM's verdict on one call's rows: (record id, values sent, outcome) each.

        In one transaction (one commit per write call, and no crash can separate them): the
        written values into ``field_state``, every outcome into the ``write_outcomes`` history,
        and the ledger rows. A refusal continues the row's count of attempts when the values
        are the ones refused before; the row is quarantined when the count reaches the
        policy's maximum.
        """
        rows = []
        for record_id, values, outcome in results:
            before = previous.get(record_id)
            if outcome.status is WriteStatus.WRITTEN:
                rows.append(_entry(module, record_id, RowStatus.WRITTEN, values, now, run_id))
                continue
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
            {
                "run_id": run_id,
                "module": module,
                "record_id": record_id,
                "status": outcome.status.value,
                "crm_code": outcome.crm_code,
                "field": outcome.field,
                "message": outcome.message or None,
                "at": now,
            }
            for record_id, _values, outcome in results
        ]
        # What the CRM now holds, as Store.save_written records it.
        states = [
            {
                "module": module,
                "record_id": record_id,
                "field": name,
                "written_value": value,
                "written_at": now,
                "crm_value": value,
                "crm_seen_at": now,
            }
            for record_id, values, outcome in results
            if outcome.status is WriteStatus.WRITTEN
            for name, value in values.items()
        ]
        with self.store.engine.begin() as conn:
            if states:
                stmt = self.store._insert(t.field_state)
                keys = ["module", "record_id", "field"]
                stmt = stmt.on_conflict_do_update(
                    index_elements=keys,
                    set_={c: stmt.excluded[c] for c in states[0] if c not in keys},
                )
                conn.execute(stmt, states)
            if history:
                conn.execute(t.write_outcomes.insert(), history)
            self._upsert(rows, conn)
        return [_row(r) for r in rows]

    def settle(
        self,
        module: str,
        unchanged: Iterable[str],
        conflicts: dict[str, tuple[str, str]],
        previous: dict[str, LedgerRow],
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
        self._upsert(rows)

    def mark_landed(
        self,
        module: str,
        items: Sequence[tuple[str, dict[str, Any]]],
        run_id: int | None,
        now: datetime,
    ) -> None:
        self._upsert(
            [
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
        )

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

    def _upsert(self, rows: Sequence[dict[str, Any]], conn: sa.Connection | None = None) -> None:
        """Insert or update by (module, record id); each row's given columns only."""
        if not rows:
            return
        if conn is None:
            with self.store.engine.begin() as own:
                self._upsert(rows, own)
            return
        table = t.write_ledger
        # Group by the set of columns given, so that one statement fits each group.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(row), []).append(row)
        keys = ("module", "record_id")
        for columns, group in groups.items():
            if "attempts" not in columns:
                # A new row starts with no attempts; an existing row keeps its count.
                group = [{**r, "attempts": 0} for r in group]
            stmt = self.store._insert(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_={c: stmt.excluded[c] for c in columns if c not in keys},
            )
            for start in range(0, len(group), 1000):
                conn.execute(stmt, group[start : start + 1000])


def missing_fields(store: Store) -> list[tuple[str, str, str]]:
    """(module, field, message) of target fields the latest push found gone from the CRM.

    These stop a field, not a row (the rows are written without it), so they are not in the
    ledger; the write history of that run holds them.
    """
    runs, outcomes = t.runs, t.write_outcomes
    latest = (
        sa.select(sa.func.max(runs.c.id))
        .where(runs.c.job.in_(["push", "run"]), runs.c.status != "running")
        .scalar_subquery()
    )
    query = (
        sa.select(outcomes.c.module, outcomes.c.field, outcomes.c.message)
        .where(outcomes.c.run_id == latest, outcomes.c.crm_code == "FIELD_MISSING")
        .distinct()
        .order_by(outcomes.c.module, outcomes.c.field)
    )
    with store.engine.connect() as conn:
        return [(m, f or "", msg or "") for m, f, msg in conn.execute(query)]


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
) -> dict[str, Any]:
    return {
        "module": module,
        "record_id": record_id,
        "status": status.value,
        "row_values": values,
        "crm_code": crm_code,
        "field": field,
        "message": message,
        "attempts": attempts,
        "next_retry_at": next_retry_at,
        "run_id": run_id,
        "updated_at": now,
    }


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
