"""The jobs workers run (named ``engage.<task>`` in procrastinate), and how each is locked.

=============  =====================  ======================  ===============================
task           lock                   queueing_lock           on a stalled worker (reaper)
=============  =====================  ======================  ===============================
tick           —                      — (periodic: one a      retried (claiming is atomic)
                                      timestamp, by the DB)
run(c)         ``conn:c``             ``run:c``               failed (#1446; the next tick's
                                                              run takes over)
score_chunk    —                      —                       retried (fingerprints make a
                                                              re-run write the same)
push(c)        ``conn:c``             ``push:c``              failed (the next run's sync
                                                              checks what landed)
surveys(c)     ``surveys:c``          ``surveys:c``           failed (a row already "sending"
                                                              is never sent again)
alerts(c)      ``alerts:c``           ``alerts:c``            (to come: the alerts step, same
                                                              shape as surveys)
reap           —                      —                       retried
=============  =====================  ======================  ===============================

``run`` and ``push`` share the lock ``conn:c``: a connection's push never runs beside its
next run's sync. Runs of one connection never overlap because the run's lease
(jobs/store/connections.py) is held from its sync to the end of its push, and a tick defers no
run for a connection whose lease is live.
"""

from __future__ import annotations

import logging
import os

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.types import JSONValue

from jobs.workers import reaper, runtime, steps
from jobs.workers.surveys import send_surveys

log = logging.getLogger(__name__)


def _holder(context: procrastinate.JobContext) -> str:
    """A lease holder the reaper can find: the procrastinate job working for the run."""
    job = context.job
    assert job is not None and job.id is not None
    return f"job:{job.id}"


def defer_run(app: procrastinate.App, name: str) -> bool:
    """Defer the connection's run unless one already waits (its queueing lock)."""
    try:
        app.configure_task(
            RUN, lock=f"conn:{name}", queueing_lock=f"run:{name}", queue="run"
        ).defer(connection=name)
    except AlreadyEnqueued:
        return False
    return True


def tick(context: procrastinate.JobContext, timestamp: int) -> None:
    """Defer a run for each connection that is due (periodic: once a timestamp)."""
    rt = runtime.current()
    for name in rt.connections.claim_due(rt.clock()):
        if defer_run(context.app, name):
            log.info("%s is due: run deferred", name)


def run(context: procrastinate.JobContext, connection: str) -> None:
    fanned = steps.start_run(runtime.current(), connection, _holder(context))
    if fanned is None:
        return
    if fanned.chunks == 0:
        _defer_push(context.app, connection, fanned.token)
        return
    chunks: list[dict[str, JSONValue]] = [
        {"connection": connection, "token": fanned.token, "chunk": k} for k in range(fanned.chunks)
    ]
    context.app.configure_task(SCORE_CHUNK, queue="score").batch_defer(*chunks)


def score_chunk(context: procrastinate.JobContext, connection: str, token: int, chunk: int) -> None:
    try:
        last = steps.score_part(runtime.current(), connection, token, chunk)
    except steps.Superseded as exc:
        log.warning("%s chunk %d: %s", connection, chunk, exc)
        return
    if last:
        _defer_push(context.app, connection, token)


def _defer_push(app: procrastinate.App, name: str, token: int) -> None:
    try:
        app.configure_task(
            PUSH, lock=f"conn:{name}", queueing_lock=f"push:{name}", queue="push"
        ).defer(connection=name, token=token)
    except AlreadyEnqueued:  # a push of this run already waits (a chunk ran twice)
        pass


def push(context: procrastinate.JobContext, connection: str, token: int) -> None:
    try:
        ok = steps.push_run(runtime.current(), connection, token, _holder(context))
    except steps.Superseded as exc:
        log.warning("%s push: %s", connection, exc)
        return
    if ok:
        try:
            context.app.configure_task(
                SURVEYS,
                lock=f"surveys:{connection}",
                queueing_lock=f"surveys:{connection}",
                queue="surveys",
            ).defer(connection=connection)
        except AlreadyEnqueued:
            pass
    # The alerts step (being built) goes here, as its own job with its own lock:
    # configure_task(ALERTS, lock=f"alerts:{connection}", queueing_lock=f"alerts:{connection}").


def surveys(context: procrastinate.JobContext, connection: str) -> None:
    send_surveys(runtime.current(), connection, os.environ)


async def reap(context: procrastinate.JobContext, timestamp: int) -> None:
    """Fail or retry the jobs of workers that stopped beating (jobs/workers/reaper.py)."""
    report = await reaper.reap(context.app.job_manager, runtime.current())
    if report.failed or report.retried:
        log.warning("reaper: %s", report)


TICK, RUN, SCORE_CHUNK, PUSH, SURVEYS, REAP = (
    "engage.tick",
    "engage.run",
    "engage.score_chunk",
    "engage.push",
    "engage.surveys",
    "engage.reap",
)
#: Stalled jobs of these tasks are failed, never retried (see the table above).
NEVER_RETRIED = frozenset({RUN, PUSH, SURVEYS})


def register(app: procrastinate.App, tick_seconds: int, reap_seconds: int) -> None:
    """Add the tasks to ``app``, the tick and the reaper as periodic tasks."""
    for name, func, queue in (
        (TICK, tick, "tick"),
        (RUN, run, "run"),
        (SCORE_CHUNK, score_chunk, "score"),
        (PUSH, push, "push"),
        (SURVEYS, surveys, "surveys"),
        (REAP, reap, "tick"),
    ):
        app.task(name=name, queue=queue, pass_context=True)(func)
    app.periodic(cron=f"* * * * * */{tick_seconds}", periodic_id="tick")(app.tasks[TICK])
    app.periodic(cron=f"* * * * * */{reap_seconds}", periodic_id="reap")(app.tasks[REAP])
