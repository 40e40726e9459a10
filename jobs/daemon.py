"""The daemon: APScheduler 3.x, its schedule rebuilt from the config at every start.

One APScheduler job, ``run`` (sync, score, push), on an interval from the config. Overlap is
prevented twice: ``max_instances=1`` inside a process, and the store's job lock (a lease)
across processes (two daemons on one database). SIGTERM and Ctrl-C stop it after the current
run.

The schedule is kept in memory, never in the database: APScheduler's SQLAlchemy job store
unpickles what its table holds, so anyone with write access to the store (a team's shared
PostgreSQL) could run code inside the daemon. The config is where the schedule is set anyway;
nothing the daemon reads from the store is unpickled (migration 0013 drops the old table).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs.ops.serving import start_ops_server
from jobs.runner import Connection, Job, JobAlreadyRunning, RunResult, run_job

log = logging.getLogger(__name__)

#: The connection the scheduled job runs on (this process only).
_connection: Connection | None = None
_on_result: Callable[[RunResult], None] | None = None


def scheduled_run() -> None:
    """The scheduled job: one run (sync, score, push) under the store's lock."""
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
        jobstores={"default": MemoryJobStore()},
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
    ops = start_ops_server(conn, lambda: scheduler.running)  # /healthz, /metrics (issue 20)
    try:
        scheduler.start()
    finally:
        if ops is not None:
            ops.stop()
        _connection, _on_result = None, None
