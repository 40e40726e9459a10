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
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from connector.base import WriteOutcome, WriteStatus
from connector.retry import RetryPolicy
from jobs.store import Connection, Store, outcomes
from jobs.store import ledger as stored
from jobs.store.field_states import save_written
from jobs.store.ledger import FAILED_STATUSES, SETTLED_STATUSES, LedgerRow, RowStatus, entry

__all__ = [
    "FAILED_STATUSES",
    "SETTLED_STATUSES",
    "Ledger",
    "LedgerRow",
    "RowDecision",
    "RowStatus",
    "decide_row",
    "missing_fields",
]

#: Statuses whose row is waiting for a later attempt.
_REFUSED = frozenset(FAILED_STATUSES)


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
    """The push's rules over the ``write_ledger`` table (its SQL: jobs/store/ledger.py)."""

    def __init__(self, store: Store, policy: RetryPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or RetryPolicy()

    # --- reading -------------------------------------------------------------------------------
    def rows(self, module: str, record_ids: Collection[str] | None = None) -> dict[str, LedgerRow]:
        """The rows of ``module`` (of ``record_ids`` only, when given). Settled rows (written,
        unchanged) come back without their values: a push needs only their status, and at
        100,000 records that saves the memory and the JSON parsing of all of them."""
        if record_ids is not None and not record_ids:
            return {}
        with self.store.engine.connect() as conn:
            return stored.rows_of(conn, module, record_ids)

    def failed(self, limit: int | None = 50) -> list[LedgerRow]:
        """Rows whose values are not in the CRM, quarantined first, then by next retry."""
        with self.store.engine.connect() as conn:
            return stored.failed_rows(conn, limit)

    def counts(self) -> dict[str, int]:
        with self.store.engine.connect() as conn:
            return stored.status_counts(conn)

    # --- writing (each inside the caller's transaction) --------------------------------------
    def journal(
        self,
        conn: Connection,
        module: str,
        items: Sequence[tuple[str, dict[str, Any]]],
        run_id: int | None,
        now: datetime,
    ) -> None:
        """Mark rows ``pending`` with the values about to be sent (attempts are kept)."""
        stored.journal(conn, module, items, run_id, now)

    def record(
        self,
        conn: Connection,
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
                entry(
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
        stored.put(conn, rows)

    def _settle_journaled(
        self,
        conn: Connection,
        module: str,
        written: Sequence[tuple[str, dict[str, Any]]],
        run_id: int | None,
        now: datetime,
    ) -> list[stored.Entry]:
        """Mark the written rows ``written`` with one statement: their journal entry already
        holds the values sent (re-serialising them cost a tenth of a push of 10,000 deals).
        Returns whole entries to write instead when some rows do not exist (not journaled).
        A settled row's values are never read back, so only a missing row matters."""
        if not written:
            return []
        ids = [record_id for record_id, _ in written]
        settled = stored.settle_written(conn, module, ids, run_id, now)
        if settled == len(written):
            return []
        # Some were not journaled (not how the push calls this): write every entry whole.
        return [
            entry(module, record_id, RowStatus.WRITTEN, values, now, run_id)
            for record_id, values in written
        ]

    def settle(
        self,
        conn: Connection,
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
                rows.append(entry(module, record_id, RowStatus.UNCHANGED, None, now, run_id))
            elif before.status is RowStatus.PENDING:
                # Its write landed before a crash, and a later push recorded the values.
                rows.append(entry(module, record_id, RowStatus.WRITTEN, before.values, now, run_id))
        for record_id, (field, message) in conflicts.items():
            before = previous.get(record_id)
            if before is None or before.status is not RowStatus.CONFLICT or before.field != field:
                rows.append(
                    entry(
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
        stored.put(conn, rows)

    def mark_landed(
        self,
        conn: Connection,
        module: str,
        items: Sequence[tuple[str, dict[str, Any]]],
        run_id: int | None,
        now: datetime,
    ) -> None:
        """Writes of an interrupted run that the CRM holds: written, without a second call."""
        save_written(conn, module, items, now)
        rows = [
            entry(
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
        stored.put(conn, rows)

    def requeue(self, record_ids: Sequence[str] | None, now: datetime) -> int:
        """Quarantined rows (all, or those of ``record_ids``) become due at the next run."""
        with self.store.engine.begin() as conn:
            return stored.requeue(conn, record_ids, now)


def missing_fields(store: Store) -> list[tuple[str, str, str]]:
    """(module, field, message) of target fields the latest push found gone from the CRM.

    These stop a field, not a row (the rows are written without it), so they are not in the
    ledger; the write history of that run holds them.
    """
    with store.engine.connect() as conn:
        return outcomes.fields_found_missing(conn)
