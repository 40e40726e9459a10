"""``/healthz``: is the daemon doing its job? Scheduler alive, store reachable, runs recent.

Unhealthy (503) when the scheduler has stopped, when the store cannot be read, or when no run
has finished for ``stale_after`` once the daemon has been up that long (a first run may take a
while). The body is a small JSON object saying which check failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jobs.store import Store
from jobs.store.ops_view import ping, read_ops_view


@dataclass
class HealthCheck:
    store: Store
    scheduler_alive: Callable[[], bool]
    clock: Callable[[], datetime]
    started_at: datetime
    #: No finished run for this long (and up this long) is unhealthy: three run intervals.
    stale_after: timedelta

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        body: dict[str, Any] = {"scheduler": "alive" if self.scheduler_alive() else "stopped"}
        now = self.clock()
        try:
            ping(self.store.engine)
            view = read_ops_view(self.store.engine)
        except Exception as exc:  # noqa: BLE001 - any failure to read is "unreachable"
            body["store"] = f"unreachable: {type(exc).__name__}"
            return False, body
        body["store"] = "reachable"
        age = None if view.last_finished_at is None else now - view.last_finished_at
        body["last_run_age_seconds"] = None if age is None else round(age.total_seconds())
        body["last_run_status"] = view.last_status
        up_long_enough = now - self.started_at > self.stale_after
        stale = up_long_enough and (age is None or age > self.stale_after)
        body["last_run"] = "stale" if stale else "recent"
        healthy = body["scheduler"] == "alive" and not stale
        body["status"] = "ok" if healthy else "unhealthy"
        return healthy, body
