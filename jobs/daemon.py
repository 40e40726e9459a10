"""The daemon: APScheduler 3.x with its job store in the connector's own database.

One APScheduler job, ``run`` (sync, score, push), on an interval from the config. Overlap is
prevented twice: ``max_instances=1`` inside a process, and the store's job lock across
processes (two daemons on one database). SIGTERM and Ctrl-C stop it after the current run.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs.runner import Connection, Job, JobAlreadyRunning, RunResult, run_job

log = logging.getLogger(__name__)

#: The connection lives in this process only; APScheduler persists the schedule, not the object.
_connection: Connection | None = None
_on_result: Callable[[RunResult], None] | None = None


def scheduled_run() -> None:
    """Module-level so the persistent job store can reference it by name."""
    if _connection is None:
        log.error("scheduled run without a connection; is the daemon set up?")
        return
    try:
        result = run_job(_connection, Job.RUN)
    except JobAlreadyRunning as exc:
        log.warning("%s; skipping this turn", exc)
        return
    if _on_result:
        _on_result(result)


def build_scheduler(conn: Connection) -> BlockingScheduler:
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=conn.store.engine)},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone=UTC,
    )
    minutes = conn.settings.config.schedule.run_every_minutes
    scheduler.add_job(
        scheduled_run,
        IntervalTrigger(minutes=minutes, timezone=UTC),
        id=Job.RUN.value,
        name="sync, score and push",
        replace_existing=True,
        next_run_time=datetime.now(UTC),
    )
    return scheduler


def run_daemon(conn: Connection, on_result: Callable[[RunResult], None] | None = None) -> None:
    """Block until SIGTERM/SIGINT; the run in progress finishes first."""
    global _connection, _on_result
    _connection, _on_result = conn, on_result
    scheduler = build_scheduler(conn)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.warning("received %s; stopping after the current run", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        scheduler.start()
    finally:
        _connection, _on_result = None, None
