"""``/healthz``: is the daemon doing its job? Scheduler alive, store reachable, runs recent,
holiday data for every SLA tier's calendar.

Unhealthy (503) when the scheduler has stopped, when the store cannot be read, or when no run
has finished for ``stale_after`` once the daemon has been up that long (a first run may take a
while). Degraded (still 200, ``"status": "degraded"``) when a tier's region has no holiday data
for this year or the next: the runs go on, and SLA computations reaching that year are refused
until the operator lists its days, which a restart cannot fix, so a supervisor or load balancer
must not act on it; an alert should. The body is a small JSON object saying which check failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jobs.health.sla.calendar import DataCoverage
from jobs.health.sla.coverage import calendar_years
from jobs.health.sla.policy import SlaPolicy
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
    #: The config's SLA tiers, whose calendars' holiday data is checked.
    tiers: Mapping[str, SlaPolicy] = field(default_factory=dict)

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        body: dict[str, Any] = {"scheduler": "alive" if self.scheduler_alive() else "stopped"}
        now = self.clock()
        calendar_ok = self._calendars(body, now)
        try:
            ping(self.store.engine)
            view = read_ops_view(self.store.engine)
        except Exception as exc:  # noqa: BLE001 - any failure to read is "unreachable"
            body["store"] = f"unreachable: {type(exc).__name__}"
            body["status"] = "unhealthy"
            return False, body
        body["store"] = "reachable"
        age = None if view.last_finished_at is None else now - view.last_finished_at
        body["last_run_age_seconds"] = None if age is None else round(age.total_seconds())
        body["last_run_status"] = view.last_status
        up_long_enough = now - self.started_at > self.stale_after
        stale = up_long_enough and (age is None or age > self.stale_after)
        body["last_run"] = "stale" if stale else "recent"
        healthy = body["scheduler"] == "alive" and not stale
        body["status"] = "unhealthy" if not healthy else "ok" if calendar_ok else "degraded"
        return healthy, body

    def _calendars(self, body: dict[str, Any], now: datetime) -> bool:
        """``calendar``: "complete", "partial" (China's 调休 not yet in the data: SLAs count
        statutory holidays only) or "missing" (degraded); ``calendar_gaps`` lists each."""
        gaps = [
            row
            for row in calendar_years(self.tiers, now.date())
            if row.coverage is not DataCoverage.FULL
        ]
        missing = any(row.coverage is DataCoverage.MISSING for row in gaps)
        body["calendar"] = "missing" if missing else "partial" if gaps else "complete"
        body["calendar_gaps"] = [
            {
                "tier": row.tier,
                "region": row.region,
                "year": row.year,
                "data": row.coverage.value,
                "note": " ".join(row.notes),
            }
            for row in gaps
        ]
        return not missing
