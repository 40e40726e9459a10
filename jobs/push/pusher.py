"""Push: write what changed into the CRM, a chunk at a time, with the calls of one chunk in
flight while the next is planned.

A push plans only the records whose inputs changed since the last push (jobs/push/due.py; the
first push, and the first after a mapping change, plans every record), a chunk at a time
(jobs/push/plan.py). For each chunk, in one transaction: the rows with nothing to write are settled
in the row ledger (jobs/push/ledger.py), conflicts are listed, the rows to send are journaled
``pending``, and what they were planned from is recorded. Then the chunk's write calls join the
queue, and up to ``concurrency`` calls are in flight while the next chunk is planned: a call
that returns starts the next one at once, on its own thread, so the CRM is never kept waiting
for the planner. Every store write stays on the planning thread: the outcomes of the calls
that returned meanwhile are stored together in the next transaction (each call's outcomes in
one transaction, never split), so a crash never makes the next run write the same values twice.

Rows the CRM refused wait for their next retry; quarantined rows wait for `engage retry`. After
a call fails as a whole (say, still rate limited), no new call starts; the ones in flight finish
and are recorded, then the error stops the push. A target field deleted in the CRM mid-way stops
only that field's writes.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.base import CRMClient, FieldMeta, WriteOutcome, WriteStatus
from connector.retry import RetryPolicy
from jobs import stopping
from jobs.push import due, echo
from jobs.push.due import DueRecords
from jobs.push.ledger import Ledger, LedgerRow, RowDecision, decide_row
from jobs.push.plan import Plan, PlannedWrite, plan, plan_chunks, same_value
from jobs.store import Connection, Store
from jobs.store import outcomes as stored_outcomes
from mappings.engine import Mapper

log = logging.getLogger(__name__)

#: Write calls journaled and waiting for a free slot before planning pauses (bounds memory).
MAX_WAITING_CALLS = 20


@dataclass
class PushReport:
    to_update: int = 0
    unchanged: int = 0
    conflicts: int = 0
    invalid: int = 0
    written: int = 0
    refused: int = 0
    dry_run: bool = False
    #: (module, field) pairs the CRM no longer has; their writes stopped this run.
    missing_fields: set[tuple[str, str]] = field(default_factory=set)
    #: Refused earlier and not due for another attempt yet (row ledger).
    deferred: int = 0
    #: Quarantined rows left alone until `engage retry`.
    quarantined: int = 0
    #: Writes of an interrupted run found in the CRM and recorded without a second call.
    landed: int = 0
    #: Records planned: those whose inputs changed since the last push, or all when ``full``.
    planned: int = 0
    full: bool = False
    #: The whole plan, on a dry run (`engage push --dry-run` shows it).
    plan: Plan | None = None

    def counts(self) -> dict[str, int]:
        return {
            "to_update": self.to_update,
            "unchanged": self.unchanged,
            "conflicts": self.conflicts,
            "invalid": self.invalid,
            "written": self.written,
            "refused": self.refused,
            "deferred": self.deferred,
            "quarantined": self.quarantined,
            "landed": self.landed,
            "planned": self.planned,
        }

    def add_plan(self, chunk: Plan) -> None:
        self.to_update += len(chunk.writes)
        self.unchanged += chunk.unchanged
        self.conflicts += len(chunk.conflicts)
        self.invalid += len(chunk.invalid)
        self.planned += len(chunk.planned)


def push(
    client: CRMClient,
    mapper: Mapper,
    store: Store,
    *,
    clock: Callable[[], datetime],
    run_id: int | None = None,
    dry_run: bool = False,
    metadata: Mapping[str, Mapping[str, FieldMeta]] | None = None,
    missing_fields: set[tuple[str, str]] | None = None,
    policy: RetryPolicy | None = None,
    concurrency: int = 1,
    report: PushReport | None = None,
) -> PushReport:
    """Write what changed. ``missing_fields``: (module, field) pairs the sync found deleted.

    ``policy`` decides when refused rows are due again and when they are quarantined;
    ``concurrency`` is how many write calls may be in flight at once. A dry run plans every
    record and writes nothing (``report.plan`` holds it). ``report``, when given, is filled in
    as the push goes, so that it tells what was done even if the push stops with an error.
    """
    report = report or PushReport()
    report.dry_run = dry_run
    report.missing_fields = set(missing_fields or ())
    if dry_run:
        report.plan = plan(mapper, store, metadata)
        report.add_plan(report.plan)
        report.full = True
        return report
    now = clock()
    store.record_outcomes(
        run_id,
        [
            _missing_outcome(module, "(all records)", name, now)
            for module, name in sorted(report.missing_fields)
        ],
    )
    todo = due.for_push(store, mapper)
    report.full = todo.full
    # Fields known missing: nothing planned now is recorded as done, so that every record is
    # planned again once the field is back.
    complete = not report.missing_fields
    push_records(
        client,
        mapper,
        store,
        todo,
        clock=clock,
        run_id=run_id,
        metadata=metadata,
        policy=policy,
        concurrency=concurrency,
        report=report,
        record_planned=complete,
    )
    due.settle(store, mapper, planned_all=complete, fields_missing=bool(report.missing_fields))
    return report


def push_records(
    client: CRMClient,
    mapper: Mapper,
    store: Store,
    todo: DueRecords,
    *,
    clock: Callable[[], datetime],
    run_id: int | None,
    report: PushReport,
    metadata: Mapping[str, Mapping[str, FieldMeta]] | None = None,
    policy: RetryPolicy | None = None,
    concurrency: int = 1,
    record_planned: bool = True,
) -> None:
    """Plan and write the records of ``todo`` (all of a push, or one chunk of it on workers),
    filling ``report``. ``record_planned``: the records' marks are cleared and their basis
    copied as they are journaled (False while target fields are known missing). Raises the
    error that stopped the calls, after storing what the calls in flight returned."""
    pusher = _Pusher(
        client, mapper, store, Ledger(store, policy), report, clock, run_id, concurrency
    )
    try:
        for chunk in plan_chunks(mapper, store, metadata, todo):
            if pusher.calls.error is not None:
                break
            if stopping.stop_requested():
                # A safe point: what is journaled and not sent is sent again by the next run.
                pusher.settle()
                raise stopping.RunInterrupted("push")
            pusher.add_chunk(chunk, record_planned=record_planned)
        pusher.finish()
    finally:
        pusher.calls.close()
    if pusher.calls.error is not None:
        raise pusher.calls.error


@dataclass
class _Batch:
    """One write call's rows, with their ledger rows from before this push."""

    module: str
    items: list[PlannedWrite]
    previous: dict[str, LedgerRow]


@dataclass
class _Finished:
    batch: _Batch
    outcomes: list[WriteOutcome] | None
    error: BaseException | None


class _Calls:
    """Write calls: a queue of journaled batches and up to ``concurrency`` calls in flight.

    A call that returns starts the next waiting one from its own thread, and leaves its
    outcomes for the planning thread (``take``), which stores them. After a call fails as a
    whole no new call starts; ``close`` drops the waiting ones and waits for those in flight.
    """

    def __init__(self, client: CRMClient, concurrency: int) -> None:
        self.client = client
        self.concurrency = max(1, concurrency)
        self.error: BaseException | None = None
        #: Set when the push stops at a safe point: no waiting call starts any more.
        self.stopped = False
        self._waiting: deque[_Batch] = deque()
        self._in_flight = 0
        #: Returned calls not taken yet; counted with ``_in_flight`` under the lock, so that
        #: ``busy()`` never misses a call between its return and its taking.
        self._returned_calls: queue.Queue[_Finished] = queue.Queue()
        self._untaken = 0
        # Reentrant: a future that is already done runs its callback in the submitting thread.
        self._lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="push")

    def add(self, batches: Iterable[_Batch]) -> None:
        with self._lock:
            self._waiting.extend(batches)
            self._start()

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def busy(self) -> bool:
        """Calls in flight or not taken yet, or waiting ones that will still start."""
        with self._lock:
            starting = self._waiting and self.error is None and not self.stopped
            return bool(self._in_flight or self._untaken or starting)

    def take(self, *, block: bool) -> list[_Finished]:
        """The calls that returned: at least one when ``block`` (call only when ``busy()``),
        else those already back."""
        taken = []
        if block:
            taken.append(self._returned_calls.get())
        while True:
            try:
                taken.append(self._returned_calls.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            self._untaken -= len(taken)
        return taken

    def stop(self) -> None:
        """Start no waiting call (they stay journaled); those in flight still return."""
        with self._lock:
            self.stopped = True

    def close(self) -> None:
        with self._lock:
            self._waiting.clear()
        self._pool.shutdown(wait=True)

    def _start(self) -> None:
        while (
            not self.stopped
            and self.error is None
            and self._in_flight < self.concurrency
            and self._waiting
        ):
            batch = self._waiting.popleft()
            rows = [{"id": i.record_id, **i.values()} for i in batch.items]
            self._in_flight += 1
            future = self._pool.submit(self.client.update_records, batch.module, rows)
            future.add_done_callback(functools.partial(self._returned, batch))

    def _returned(self, batch: _Batch, future: Future[list[WriteOutcome]]) -> None:
        try:
            finished = _Finished(batch, future.result(), None)
        except Exception as exc:  # noqa: BLE001 - handed to the planning thread, which raises it
            finished = _Finished(batch, None, exc)
        with self._lock:
            self._in_flight -= 1
            self._untaken += 1
            self._returned_calls.put(finished)
            if finished.error is not None:
                self.error = self.error or finished.error
            self._start()


class _Pusher:
    """The planning thread's side of a push: journal chunks, store what the calls return."""

    def __init__(
        self,
        client: CRMClient,
        mapper: Mapper,
        store: Store,
        ledger: Ledger,
        report: PushReport,
        clock: Callable[[], datetime],
        run_id: int | None,
        concurrency: int,
    ) -> None:
        self.client = client
        self.mapper = mapper
        self.store = store
        self.ledger = ledger
        self.report = report
        self.clock = clock
        self.run_id = run_id
        self.calls = _Calls(client, concurrency)
        #: Per module, journaled rows that did not fill a write call, with their ledger rows.
        self._tails: dict[str, tuple[list[PlannedWrite], dict[str, LedgerRow]]] = {}

    def add_chunk(self, chunk: Plan, *, record_planned: bool) -> None:
        """Settle, journal and queue one chunk of the plan (one module's records)."""
        self.report.add_plan(chunk)
        if not chunk.planned:
            return
        module = chunk.planned[0][0]
        for other in [m for m in self._tails if m != module]:
            self.calls.add(self._batches(other, [], {}, last=True))  # that module is done
        now = self.clock()
        ids = [record_id for _, record_id in chunk.planned]
        previous = self.ledger.rows(module, ids)
        gone = {name for m, name in self.report.missing_fields if m == module}
        to_send, landed = self._due(chunk, previous, now)
        sendable = _without(to_send, gone)
        batches = self._batches(module, sendable, previous, last=False)
        finished = self._checked(self.calls.take(block=False))
        with self.store.engine.begin() as conn:
            resend = self._store_finished(conn, finished)
            conflicts: dict[str, tuple[str, str]] = {}
            for c in chunk.conflicts:
                conflicts.setdefault(
                    c.record_id, (c.field, "changed in the CRM by a person; left alone")
                )
            unchanged = [record_id for _, record_id in chunk.unchanged_rows]
            self.ledger.settle(conn, module, unchanged, conflicts, previous, self.run_id, now)
            if landed:
                self.ledger.mark_landed(conn, module, landed, self.run_id, now)
            _replace_conflicts(conn, module, ids, chunk, now)
            self.ledger.journal(
                conn, module, [(i.record_id, i.values()) for i in sendable], self.run_id, now
            )
            if record_planned:
                due.planned(conn, self.mapper, module, ids)
        self.calls.add([*resend, *batches])
        while self.calls.waiting() > MAX_WAITING_CALLS and self.calls.error is None:
            self._store(self.calls.take(block=True))

    def _batches(
        self,
        module: str,
        items: list[PlannedWrite],
        previous: Mapping[str, LedgerRow],
        *,
        last: bool,
    ) -> list[_Batch]:
        """Full write calls of ``items`` after the rows left over from the module's previous
        chunk; rows that do not fill a call wait for the next chunk unless ``last``, so that a
        push makes ceil(rows / batch size) calls per module whatever the chunking."""
        size = self.client.max_write_batch
        held, held_previous = self._tails.pop(module, ([], {}))
        items = held + items
        merged = {
            **held_previous,
            **{i.record_id: previous[i.record_id] for i in items if i.record_id in previous},
        }
        cut = len(items) if last else len(items) - len(items) % size
        if cut < len(items):
            rest = items[cut:]
            self._tails[module] = (
                rest,
                {i.record_id: merged[i.record_id] for i in rest if i.record_id in merged},
            )
        return [
            _Batch(
                module,
                part,
                {i.record_id: merged[i.record_id] for i in part if i.record_id in merged},
            )
            for start in range(0, cut, size)
            for part in [items[start : start + size]]
        ]

    def finish(self) -> None:
        """Send the rows still held back, wait for every call and store its outcomes."""
        for module in list(self._tails):
            self.calls.add(self._batches(module, [], {}, last=True))
        while self.calls.busy():
            self._store(self.calls.take(block=True))
            if stopping.stop_requested():
                self.calls.stop()  # the calls in flight still return and are stored
        if self.calls.stopped:
            raise stopping.RunInterrupted("push")

    def settle(self) -> None:
        """Stop at a safe point: start no new call, store the outcomes of those in flight."""
        self.calls.stop()
        while self.calls.busy():
            self._store(self.calls.take(block=True))

    def _due(
        self, chunk: Plan, previous: Mapping[str, LedgerRow], now: datetime
    ) -> tuple[list[PlannedWrite], list[tuple[str, dict[str, Any]]]]:
        """The writes to send now, and those an interrupted run already landed."""
        due: list[PlannedWrite] = []
        landed: list[tuple[str, dict[str, Any]]] = []
        for item in chunk.writes:
            row = previous.get(item.record_id)
            if row is None:  # never tried before: sent (decide_row's first answer)
                due.append(item)
                continue
            values = item.values()
            crm_holds = all(same_value(old, new) for old, new in item.changes.values())
            decision = decide_row(row, values, crm_holds, now)
            if decision is RowDecision.SEND:
                due.append(item)
            elif decision is RowDecision.LANDED:
                landed.append((item.record_id, values))
            elif decision is RowDecision.WAIT:
                self.report.deferred += 1
            else:
                self.report.quarantined += 1
        self.report.landed += len(landed)
        return due, landed

    def _store(self, finished: list[_Finished]) -> None:
        if not finished:
            return
        checked = self._checked(finished)
        with self.store.engine.begin() as conn:
            resend = self._store_finished(conn, checked)
        self.calls.add(resend)

    def _checked(self, finished: list[_Finished]) -> list[tuple[_Finished, set[str]]]:
        """Each returned call with the target fields its refusals show gone from the CRM (a
        metadata call, made here: never inside a transaction, whose lock it would hold)."""
        return [
            (
                done,
                _fields_gone_from_crm(
                    self.client, done.batch, done.outcomes, self.report.missing_fields
                )
                if done.outcomes is not None
                else set(),
            )
            for done in finished
        ]

    def _store_finished(
        self, conn: Connection, finished: list[tuple[_Finished, set[str]]]
    ) -> list[_Batch]:
        """Store the outcomes of calls that returned, in the caller's transaction; return the
        rows to send again once it commits: those refused only because a target field is gone
        from the CRM, journaled without it."""
        resend = []
        for done, missing in finished:
            if done.outcomes is None:
                continue  # failed as a whole: its rows stay pending; the error stops the push
            batch, outcomes = done.batch, done.outcomes
            pairs = list(zip(batch.items, outcomes, strict=True))
            if not missing:
                _record(self, conn, batch, pairs)
                continue
            log.error(
                "%s: field(s) %s no longer exist in the CRM",
                batch.module,
                ", ".join(sorted(missing)),
            )
            spoiled = [
                i for i, o in pairs if o.status is not WriteStatus.WRITTEN and o.field in missing
            ]
            spoiled_ids = {i.record_id for i in spoiled}
            _record(self, conn, batch, [(i, o) for i, o in pairs if i.record_id not in spoiled_ids])
            now = self.clock()
            stored_outcomes.add_outcomes(
                conn,
                self.run_id,
                [
                    _missing_outcome(batch.module, i.record_id, name, now)
                    for i in spoiled
                    for name in sorted(missing & set(i.changes))
                ],
            )
            retry = _without(spoiled, missing)
            self.ledger.journal(
                conn, batch.module, [(i.record_id, i.values()) for i in retry], self.run_id, now
            )
            if retry:
                resend.append(_Batch(batch.module, retry, batch.previous))
        return resend


def _record(
    pusher: _Pusher,
    conn: Connection,
    batch: _Batch,
    pairs: list[tuple[PlannedWrite, WriteOutcome]],
) -> None:
    written = 0
    for item, outcome in pairs:
        if outcome.status is WriteStatus.WRITTEN:
            written += 1
        else:
            log.warning(
                "%s %s refused: %s %s",
                batch.module,
                item.record_id,
                outcome.crm_code,
                outcome.message,
            )
    # Who wrote, and when, so the next read leaves these writes out (jobs/push/echo.py).
    echo.note_written(conn, batch.module, [outcome for _, outcome in pairs])
    # Field state, write history and ledger in the caller's transaction (jobs/push/ledger.py).
    pusher.ledger.record(
        conn,
        batch.module,
        [(item.record_id, item.values(), outcome) for item, outcome in pairs],
        batch.previous,
        pusher.run_id,
        pusher.clock(),
    )
    pusher.report.written += written
    pusher.report.refused += len(pairs) - written


def _replace_conflicts(
    conn: Connection, module: str, record_ids: list[str], chunk: Plan, now: datetime
) -> None:
    """The conflicts standing now among ``record_ids``: older ones are resolved or superseded."""
    standing = [
        {
            "record_id": c.record_id,
            "field": c.field,
            "crm_value": c.crm_value,
            "written_value": c.written_value,
            "wanted_value": c.wanted_value,
        }
        for c in chunk.conflicts
    ]
    stored_outcomes.replace_conflicts(conn, module, record_ids, standing, now)


def _without(items: list[PlannedWrite], gone: set[str]) -> list[PlannedWrite]:
    """The writes without the fields ``gone`` (those left with no field are dropped)."""
    if not gone:
        return items
    trimmed = [
        PlannedWrite(i.module, i.record_id, {k: v for k, v in i.changes.items() if k not in gone})
        for i in items
    ]
    return [i for i in trimmed if i.changes]


def _fields_gone_from_crm(
    client: CRMClient,
    batch: _Batch,
    outcomes: list[WriteOutcome],
    known_missing: set[tuple[str, str]],
) -> set[str]:
    """Fields named by refusals that the CRM's metadata no longer lists (one metadata call)."""
    named = {
        o.field
        for i, o in zip(batch.items, outcomes, strict=True)
        if o.status is not WriteStatus.WRITTEN and o.field and o.field in i.changes
    }
    if not named:
        return set()
    existing = {meta.api_name for meta in client.get_fields(batch.module)}
    missing = {name for name in named if name not in existing}
    known_missing.update((batch.module, name) for name in missing)
    return missing


def _missing_outcome(module: str, record_id: str, name: str, now: datetime) -> dict[str, Any]:
    return {
        "module": module,
        "record_id": record_id,
        "status": WriteStatus.INVALID.value,
        "crm_code": "FIELD_MISSING",
        "field": name,
        "message": (
            f"{module}.{name} no longer exists in the CRM; its writes stopped "
            "(run `engage mappings check`, then `engage fields ensure`)"
        ),
        "at": now,
    }
