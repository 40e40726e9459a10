"""The procrastinate app over the cluster's PostgreSQL, and the timings workers run with.

procrastinate's tables live in the cluster store's schema (the URL's search_path), beside the
connections; `engage cluster init` creates them, a worker refuses to start without them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from datetime import timedelta

import procrastinate

from jobs.store.connections import driver_conninfo

#: Queues a worker serves by default: the tick and reaper, runs, scoring chunks, push chunks,
#: surveys, alerts.
QUEUES = ("tick", "run", "score", "push", "surveys", "alerts")


class NeedsPostgresError(ValueError):
    """The cluster store is not PostgreSQL: workers need it (one line, exit 2)."""


class BadTimingError(ValueError):
    """An ``ENGAGE_WORKER_*`` variable that is not a number (one line, exit 2)."""


@dataclass(frozen=True)
class Timings:
    """How often workers beat, tick and reap, and how long a run's lease lasts.

    Production values below; tests set short ones through ``ENGAGE_WORKER_<FIELD>`` variables
    (heartbeat 1 s, stale 3 s, polling 0.5 s)."""

    #: A worker's heartbeat in procrastinate_workers.
    heartbeat_seconds: float = 10.0
    #: A job whose worker has not beaten for this long is stalled (the reaper acts on it).
    stale_seconds: float = 30.0
    #: How often an idle worker looks for jobs NOTIFY did not announce (a job freed by a lock).
    polling_seconds: float = 1.0
    #: Ticks (defer the due runs) and reaper passes.
    tick_seconds: int = 10
    reap_seconds: int = 10
    #: A run's lease on its connection, renewed while its jobs live.
    lease_seconds: float = 90.0
    renew_seconds: float = 30.0

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Timings:
        """Production timings, each overridable by ``ENGAGE_WORKER_<FIELD>`` (e.g.
        ``ENGAGE_WORKER_STALE_SECONDS=3``)."""
        env = dict(os.environ) if env is None else env
        timings = cls()
        for f in fields(cls):
            raw = env.get(f"ENGAGE_WORKER_{f.name.upper()}")
            if raw:
                try:
                    value: float = int(raw) if f.type in ("int", int) else float(raw)
                    timings = replace(timings, **{f.name: value})  # type: ignore[arg-type]
                except ValueError:
                    raise BadTimingError(
                        f"environment variable ENGAGE_WORKER_{f.name.upper()}: {raw!r} is "
                        "not a number"
                    ) from None
        return timings


def libpq_url(store_url: str) -> str:
    """The cluster store's SQLAlchemy URL as psycopg's conninfo (its search_path kept).

    Raises:
        NeedsPostgresError: the store is not PostgreSQL.
    """
    backend, conninfo = driver_conninfo(store_url)
    if backend != "postgresql":
        raise NeedsPostgresError(
            f"workers need a PostgreSQL store, not {backend} (keep `engage daemon` for one "
            "machine, or point [store] url or --cluster at PostgreSQL)"
        )
    return conninfo


def make_app(store_url: str, timings: Timings, concurrency: int = 1) -> procrastinate.App:
    """An app on the cluster store, with the tasks of jobs/workers/tasks.py; its pool holds a
    connection per concurrent job and a few for the worker's own queries."""
    from jobs.workers import tasks

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=libpq_url(store_url), min_size=1, max_size=concurrency + 3
        ),
    )
    tasks.register(app, timings.tick_seconds, timings.reap_seconds)
    return app
