"""The work of one connection's run on workers, step by step: sync and fan out, score a
chunk (the push: push_steps.py); each step a function of the runtime, the tasks (tasks.py) only
call them.

A run holds its connection's lease (jobs/store/connections.py) from its sync to the end of its
last push chunk; the lease's token is the run's fencing token. Every step checks it before it writes, and
a step whose run was taken over (its lease expired, a newer run took it) writes nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from connector.errors import ConnectorError, RetryLaterError
from jobs.pull.sync import sync
from jobs.runner import DIED_MESSAGE, deletions_every
from jobs.score import CHUNK_SIZE, score
from jobs.store.connections import ConnectionRow, UnknownConnection
from jobs.store.records import RecordKind
from jobs.store.runs import RunStatus
from jobs.workers.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunEnd:
    """A run a step recorded as ended: the caller defers its surveys (if ok) and alerts."""

    run_id: int | None
    status: RunStatus

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.OK


class Superseded(Exception):
    """The run's lease was taken over by a newer run: this step wrote nothing."""


@dataclass(frozen=True)
class Fanned:
    """What a run's first step left for the workers: its token and its chunk count."""

    token: int
    chunks: int


def row_of(rt: Runtime, name: str) -> ConnectionRow | None:
    try:
        return rt.connections.get(name)
    except UnknownConnection:
        log.warning("connection %s was removed: nothing to do", name)
        return None


def start_run(rt: Runtime, name: str, holder: str) -> Fanned | RunEnd | None:
    """Take the lease, sync, and count the scoring chunks: None if the connection is paused,
    gone, or its previous run still holds it (that run goes on; this tick is dropped).

    On a failed sync the run is recorded as failed (or stopped) and the lease released: its
    `RunEnd`."""
    row = row_of(rt, name)
    if row is None or row.paused:
        return None
    token = rt.connections.take_lease(name, holder, rt.clock(), rt.timings.lease)
    if token is None:
        log.info("%s: its previous run still holds it; this tick is dropped", name)
        return None
    with rt.lease_kept(name, token) as current, rt.opened(row) as (conn, _meter):
        now = rt.clock()
        conn.store.end_abandoned_runs(now, DIED_MESSAGE)
        run_id = conn.store.start_run("run (worker)", now)
        rt.connections.set_lease_holder(name, token, holder, run_id)
        try:
            with org_slot(rt, row):
                report = sync(
                    conn.client,
                    conn.mapper,
                    conn.store,
                    clock=conn.clock,
                    run_id=run_id,
                    deletions_every=deletions_every(conn),
                )
        except (ConnectorError, Superseded) as exc:
            return _end(rt, row, token, run_id, exc)
        if not current():
            return None
        conn.store.refresh_statistics()  # once, before the chunks read what the sync stored
        count = math.ceil(conn.store.count(RecordKind.ENGAGEMENTS) / CHUNK_SIZE)
        rt.connections.start_chunks(name, token, count)
        log.info("%s: run %d synced %s; %d scoring chunks", name, run_id, report.totals(), count)
        return Fanned(token, count)


def score_part(rt: Runtime, name: str, token: int, chunk: int) -> bool:
    """Score the run's chunk ``chunk`` (engagements in id order), saving in one transaction
    per chunk; True if it was the run's last chunk (the caller plans the push:
    jobs/workers/push_steps.py).

    Raises:
        Superseded: the run was taken over; nothing was saved.
    """
    row = row_of(rt, name)
    if row is None:
        return False
    with rt.lease_kept(name, token) as current, rt.opened(row) as (conn, _meter):
        fence(current)
        ids = conn.store.engagement_ids(chunk * CHUNK_SIZE, CHUNK_SIZE)
        config = conn.settings.config
        score(
            conn.store,
            config.health,
            clock=conn.clock,
            risk=config.risk,
            sla=config.sla,
            survey_weights=config.surveys.role_weights,
            workers=0,
            only=ids,
            before_save=lambda: fence(current),
        )
    return rt.connections.chunk_done(name, token, chunk)


def _end(rt: Runtime, row: ConnectionRow, token: int, run_id: int | None, exc: Exception) -> RunEnd:
    """Record the run as stopped (the CRM asked to wait) or failed, and free the connection."""
    status = RunStatus.STOPPED if isinstance(exc, RetryLaterError) else RunStatus.FAILED
    log.warning("%s: run %s %s: %s", row.name, run_id, status.value, exc)
    if run_id is not None:
        with rt.opened(row) as (conn, _meter):
            conn.store.finish_run(run_id, status, {}, str(exc), conn.clock())
    rt.connections.release_lease(row.name, token)
    return RunEnd(run_id, status)


def fence(current: Callable[[], bool]) -> None:
    if not current():
        raise Superseded("a newer run took this connection over; this step wrote nothing")


def org_slot(rt: Runtime, row: ConnectionRow) -> AbstractContextManager[int | None]:
    """One of the org's concurrency slots, held while talking to the CRM (waits for one)."""
    limits = rt.limits.limits(row.org)
    return rt.limits.slot(row.org, limits.concurrency if limits else 1)
