"""The jobs workers run (named ``engage.<task>`` in procrastinate), and how each is locked.

=============  =====================  ======================  ===============================
task           lock                   queueing_lock           on a stalled worker (reaper)
=============  =====================  ======================  ===============================
tick           —                      — (periodic: one a      retried (claiming is atomic)
                                      timestamp, by the DB)
run(c)         ``conn:c``             ``run:c``               failed (#1446; the next tick's
                                                              run takes over)
score_chunk    —                      —                       retried (fingerprints make a
                                                              re-run write the same; once all
                                                              are done, it plans the push)
push(c, t, k)  —                      —                       failed (its chunk stays claimed;
                                                              the next run's push checks what
                                                              landed)
surveys(c)     ``surveys:c``          ``surveys:c``           failed (a row already "sending"
                                                              is never sent again)
alerts(c, r)   ``alerts:c``           ``alerts:c``            failed (likewise: "sending" is
                                                              uncertain, never resent)
reap           —                      —                       retried
=============  =====================  ======================  ===============================

Push chunks share no lock: they run in parallel on several workers, each inside an org slot,
and each is claimed in ``push_chunks`` before it pushes (a chunk delivered twice pushes once).
Runs of one connection never overlap because the run's lease (jobs/store/connections.py) is
held from its sync to the end of its last push chunk (every working step renews it, the reaper
keeps it while steps wait), and a tick defers no run for a connection whose lease is live.
Surveys and alerts are deferred by the step that ended the run; they hold no lease.
"""

from __future__ import annotations

import logging
import os

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.types import JSONValue

from jobs.workers import push_steps, reaper, runtime, steps
from jobs.workers.alerts import send_alerts
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
    started = steps.start_run(runtime.current(), connection, _holder(context))
    if isinstance(started, steps.RunEnd):  # the sync failed or was stopped
        _after_run(context.app, connection, started)
        return
    if started is None:
        return
    if started.chunks == 0:
        _plan_push(context.app, connection, started.token)
        return
    chunks: list[dict[str, JSONValue]] = [
        {"connection": connection, "token": started.token, "chunk": k}
        for k in range(started.chunks)
    ]
    context.app.configure_task(SCORE_CHUNK, queue="score").batch_defer(*chunks)


def score_chunk(context: procrastinate.JobContext, connection: str, token: int, chunk: int) -> None:
    try:
        last = steps.score_part(runtime.current(), connection, token, chunk)
    except steps.Superseded as exc:
        log.warning("%s chunk %d: %s", connection, chunk, exc)
        return
    if last:
        _plan_push(context.app, connection, token)


def _plan_push(app: procrastinate.App, name: str, token: int) -> None:
    """Cut the run's push into chunks and defer them all at once (they run in parallel: no
    lock of theirs; the run's lease keeps the connection's next run away)."""
    try:
        fan = push_steps.plan_push(runtime.current(), name, token)
    except steps.Superseded as exc:
        log.warning("%s push: %s", name, exc)
        return
    if fan.ended is not None:
        _after_run(app, name, fan.ended)
        return
    if fan.chunks:
        chunks: list[dict[str, JSONValue]] = [
            {"connection": name, "token": token, "chunk": k} for k in fan.chunks
        ]
        app.configure_task(PUSH, queue="push").batch_defer(*chunks)


def push(context: procrastinate.JobContext, connection: str, token: int, chunk: int) -> None:
    try:
        ended = push_steps.push_part(runtime.current(), connection, token, chunk)
    except steps.Superseded as exc:
        log.warning("%s push chunk %d: %s", connection, chunk, exc)
        return
    if ended is not None:
        _after_run(context.app, connection, ended)


def _after_run(app: procrastinate.App, name: str, ended: steps.RunEnd) -> None:
    """The steps after a run ended: surveys after an ok one, alerts after any (a failed or
    stopped run alerts on its own outcome). One of each waits at most (queueing locks)."""
    followers = [(ALERTS, "alerts", {"run_id": ended.run_id})] if ended.run_id is not None else []
    if ended.ok:
        followers.append((SURVEYS, "surveys", {}))
    for task, queue, args in followers:
        try:
            app.configure_task(
                task, lock=f"{queue}:{name}", queueing_lock=f"{queue}:{name}", queue=queue
            ).defer(connection=name, **args)
        except AlreadyEnqueued:  # one waits already: it covers this run too
            pass


def surveys(context: procrastinate.JobContext, connection: str) -> None:
    send_surveys(runtime.current(), connection, os.environ)


def alerts(context: procrastinate.JobContext, connection: str, run_id: int) -> None:
    send_alerts(runtime.current(), connection, run_id)


async def reap(context: procrastinate.JobContext, timestamp: int) -> None:
    """Fail or retry the jobs of workers that stopped beating (jobs/workers/reaper.py)."""
    report = await reaper.reap(context.app.job_manager, runtime.current())
    if report.failed or report.retried:
        log.warning("reaper: %s", report)


TICK, RUN, SCORE_CHUNK, PUSH, SURVEYS, ALERTS, REAP = (
    "engage.tick",
    "engage.run",
    "engage.score_chunk",
    "engage.push",
    "engage.surveys",
    "engage.alerts",
    "engage.reap",
)
#: Stalled jobs of these tasks are failed, never retried (see the table above).
NEVER_RETRIED = frozenset({RUN, PUSH, SURVEYS, ALERTS})


def register(app: procrastinate.App, tick_seconds: int, reap_seconds: int) -> None:
    """Add the tasks to ``app``, the tick and the reaper as periodic tasks."""
    for name, func, queue in (
        (TICK, tick, "tick"),
        (RUN, run, "run"),
        (SCORE_CHUNK, score_chunk, "score"),
        (PUSH, push, "push"),
        (SURVEYS, surveys, "surveys"),
        (ALERTS, alerts, "alerts"),
        (REAP, reap, "tick"),
    ):
        app.task(name=name, queue=queue, pass_context=True)(func)
    app.periodic(cron=f"* * * * * */{tick_seconds}", periodic_id="tick")(app.tasks[TICK])
    app.periodic(cron=f"* * * * * */{reap_seconds}", periodic_id="reap")(app.tasks[REAP])
