"""A run's push on workers, in chunks: plan the chunks once, push each (several at once, on
several workers), and the last chunk to end finishes the run.

What is due is worked out once, when the run's last scoring chunk is done (`plan_push`), and
each chunk's records are frozen in ``push_chunks`` (jobs/store/push_chunks.py): a record is in
one chunk only, so no record is written by two chunks. Each chunk pushes its records inside one
of the org's concurrency slots, after checking the run's fencing token (a chunk of a run that
was taken over writes nothing). Marking the push complete (jobs/push/due.py: later pushes plan
only what changes) waits for the last chunk and happens only if every chunk ended ok: a chunk
that failed, or was killed (the reaper fails it, never retries it), leaves its records due, and
the push journal makes the next run's push check what landed before writing again.

The run's lease stays held while any chunk waits or runs (each chunk renews it, the reaper keeps
the leases of runs whose chunks wait), so the connection's next run never starts beside them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from connector.errors import ConnectorError, RetryLaterError
from jobs.push import due
from jobs.push.due import DueRecords
from jobs.push.pusher import PushReport, push_records
from jobs.runner import Connection
from jobs.store.connections import ConnectionRow
from jobs.store.push_chunks import PushChunk, PushChunkTable
from jobs.store.runs import RunStatus
from jobs.workers.runtime import Runtime
from jobs.workers.steps import RunEnd, Superseded, fence, org_slot, row_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushFan:
    """The push chunks to defer, or how the run ended (nothing was due)."""

    chunks: list[int]
    ended: RunEnd | None = None


def slices(todo: DueRecords, size: int) -> list[tuple[list[str], list[str]]]:
    """The due records cut into chunks of at most ``size`` engagements and ``size`` accounts
    (chunk k: the k-th slice of each)."""
    count = -(-max(len(todo.engagements), len(todo.accounts)) // size)
    return [
        (todo.engagements[k * size : (k + 1) * size], todo.accounts[k * size : (k + 1) * size])
        for k in range(count)
    ]


def plan_push(rt: Runtime, name: str, token: int) -> PushFan:
    """Cut the run's push into chunks, once; a run with nothing due ends here. A second call
    for the run (its scoring chunk run again after its worker died) plans nothing and gives
    the chunks whose deferral was lost, if any.

    Raises:
        Superseded: the run was taken over; nothing was planned.
    """
    row = row_of(rt, name)
    if row is not None and row.lease_token != token:
        raise Superseded("a newer run took this connection over; its push was not planned")
    if row is None or row.lease_expires_at is None:
        return PushFan([])  # gone, or the run ended already (nothing was due)
    table = PushChunkTable(rt.connections.engine)
    with rt.lease_kept(name, token) as current, rt.opened(row) as (conn, _meter):
        fence(current)
        if table.planned(name, token):
            return PushFan(table.not_deferred(name, token))
        todo = due.for_push(conn.store, conn.mapper)
        parts = slices(todo, conn.settings.config.cluster.push_chunk_records)
        if not table.plan(name, token, parts):  # a twin of this step planned it meanwhile
            return PushFan([])
        if parts:
            log.info("%s: the push of run %s in %d chunk(s)", name, row.lease_run_id, len(parts))
            return PushFan(list(range(len(parts))))
        return PushFan([], _finish(rt, conn, row, token, []))


def push_part(rt: Runtime, name: str, token: int, chunk: int) -> RunEnd | None:
    """Push the records of chunk ``chunk``; the run's end if it was the last chunk to end.
    A chunk taken before (its job delivered twice, or its worker died) does nothing.

    Raises:
        Superseded: the run was taken over before the chunk began; nothing was written.
    """
    row = row_of(rt, name)
    if row is None:
        return None
    table = PushChunkTable(rt.connections.engine)
    with rt.lease_kept(name, token) as current, rt.opened(row) as (conn, _meter):
        fence(current)
        part = table.claim(name, token, chunk)
        if part is None:
            return None
        report = PushReport()
        state, message = RunStatus.OK, None
        try:
            with org_slot(rt, row):
                push_records(
                    conn.client,
                    conn.mapper,
                    conn.store,
                    DueRecords(part.engagements, part.accounts, full=False),
                    clock=conn.clock,
                    run_id=row.lease_run_id,
                    report=report,
                    policy=conn.policy,
                    concurrency=conn.settings.config.push.write_concurrency,
                )
        except ConnectorError as exc:
            state = RunStatus.STOPPED if isinstance(exc, RetryLaterError) else RunStatus.FAILED
            message = str(exc)
            log.warning("%s: push chunk %d %s: %s", name, chunk, state.value, exc)
        ended = table.end(
            name,
            token,
            chunk,
            state=state.value,
            counts=report.counts(),
            message=message,
            fields_missing=bool(report.missing_fields),
        )
        return None if ended is None else _finish(rt, conn, row, token, ended)


def _finish(
    rt: Runtime, conn: Connection, row: ConnectionRow, token: int, chunks: list[PushChunk]
) -> RunEnd:
    """Record the run with its chunks' counts summed, settle what is due, free the connection.

    The run is ok if every chunk was; else failed (or stopped, if every chunk that did not end
    ok was asked by the CRM to wait), with their messages."""
    counts: Counter[str] = Counter()
    for part in chunks:
        counts.update({f"push_{k}": v for k, v in part.counts.items()})
    not_ok = [p for p in chunks if p.state != RunStatus.OK.value]
    status = RunStatus.OK
    if not_ok:
        stopped = all(p.state == RunStatus.STOPPED.value for p in not_ok)
        status = RunStatus.STOPPED if stopped else RunStatus.FAILED
    missing = any(p.fields_missing for p in chunks)
    due.settle(conn.store, conn.mapper, planned_all=not not_ok, fields_missing=missing)
    run_id = row.lease_run_id
    if run_id is not None:
        message = "; ".join(p.message for p in not_ok if p.message) or None
        conn.store.finish_run(run_id, status, dict(counts), message, conn.clock())
    rt.connections.release_lease(row.name, token)
    return RunEnd(run_id, status)
