"""The daemon: APScheduler 3.x, its schedule rebuilt from the config at every start.

One APScheduler job, ``run`` (sync, score, push), on an interval from the config. Overlap is
prevented twice: ``max_instances=1`` inside a process, and the store's job lock (a lease)
across processes (two daemons on one database).

Stopping (SIGTERM from systemd, `docker stop`, a deploy; Ctrl-C): the first signal takes no
new run and asks the run in progress to stop at its next safe point (jobs/stopping.py: a page
stored, a batch journaled), which the runner records as "interrupted"; the daemon waits for it
at most ``[daemon] stop_grace_seconds``, then closes the scheduler and the store and exits 0.
A second signal, or the end of the grace period, stops at once: the run is recorded as
interrupted and the process exits without waiting; what it sent to the CRM is in the push's
journal, which the next run reconciles, and the cursors moved only past stored pages.
Waiting matters: returning from `main` while the run goes on ends the interpreter under it
("cannot schedule new futures after interpreter shutdown", issue 20).

The schedule is kept in memory, never in the database: APScheduler's SQLAlchemy job store
unpickles what its table holds, so anyone with write access to the store (a team's shared
PostgreSQL) could run code inside the daemon. The config is where the schedule is set anyway;
nothing the daemon reads from the store is unpickled (migration 0013 drops the old table).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.base import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs import log_context, stopping
from jobs.ops.serving import start_ops_server
from jobs.runner import LOCK_NAME, Connection, Job, JobAlreadyRunning, RunResult, run_job
from jobs.store.runs import RunStatus

log = logging.getLogger(__name__)

#: The connection the scheduled job runs on (this process only).
_connection: Connection | None = None
_on_result: Callable[[RunResult], None] | None = None
#: Set while no run is in progress; a run starts only under `_starting` and before a stop.
_idle = threading.Event()
_starting = threading.Lock()


class _StopNow(BaseException):
    """A second signal while waiting for the run to reach a safe point."""


def scheduled_run() -> None:
    """The scheduled job: one run (sync, score, push) under the store's lock."""
    if _connection is None:
        log.error("scheduled run without a connection; is the daemon set up?")
        return
    with _starting:
        if stopping.stop_requested():
            return  # the daemon is stopping: no new run
        _idle.clear()
    try:
        result = run_job(_connection, Job.RUN)
        if _on_result:
            _on_result(result)  # before the daemon, waiting for idle, may exit
    except JobAlreadyRunning as exc:
        log.warning("%s; skipping this turn", exc)
    finally:
        _idle.set()


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
    """Block until SIGTERM/SIGINT; the run in progress stops at its next safe point first."""
    global _connection, _on_result
    _connection, _on_result = conn, on_result
    stopping.clear()
    _idle.set()
    # The run summaries are INFO lines: the daemon shows them without -v.
    log.setLevel(logging.INFO)
    grace = conn.settings.config.daemon.stop_grace_seconds
    scheduler = build_scheduler(conn)
    received: list[str] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        if len(received) > 1:
            raise _StopNow
        log.warning(
            "received %s; taking no new run, the run in progress stops at its next safe point "
            "(at most %s s; a second signal stops at once)",
            received[0],
            f"{grace:g}",
        )
        stopping.request_stop()
        try:
            scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ops = start_ops_server(conn, lambda: scheduler.running)  # /healthz, /metrics (issue 20)
    try:
        scheduler.start()
        with _starting:  # a run that was about to start sees the stop and does not
            pass
        if not _idle.wait(grace):
            log.warning("the run did not reach a safe point within %g s", grace)
            _stop_now(conn, f"did not reach a safe point within {grace:g} s")
    except _StopNow:
        _stop_now(conn, f"stopped at once by a second signal ({received[-1]})")
    finally:
        if ops is not None:
            ops.stop()
        _connection, _on_result = None, None


def _stop_now(conn: Connection, why: str) -> None:
    """Record the run in progress as interrupted, free the lock, and end the process now:
    what was sent is in the push's journal, which the next run reconciles."""
    run = log_context.current()
    try:
        if run is not None:
            conn.store.finish_run(
                run.run_id,
                RunStatus.INTERRUPTED,
                {},
                f"{why} during {run.step}; what was sent is journaled; the next run resumes",
                conn.clock(),
            )
            log.warning("%s #%d interrupted: %s", Job.RUN.value, run.run_id, why)
        conn.store.unlock(LOCK_NAME, f"{socket.gethostname()}:{os.getpid()}")
    except Exception as exc:  # noqa: BLE001 - stopping at once all the same
        # The store is busy or down: the next run finds the run's lease gone and records it
        # as "died" (jobs/runner.py), and reconciles the journal as after any crash.
        log.warning("could not record the stop in the store (%s); the next run will", exc)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
