"""What a worker process holds while it runs jobs: the cluster's tables, its timings and
clock, and the connections' stores opened once per process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from jobs.runner import Connection, connect
from jobs.store import Store
from jobs.store.connections import ConnectionRow, ConnectionTables
from jobs.store.org_limits import OrgLimitTables
from jobs.workers.app import Timings
from jobs.workers.connections import settings_of
from jobs.workers.credits import OrgReservingMeter

log = logging.getLogger(__name__)


_OPENING = threading.Lock()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    connections: ConnectionTables
    limits: OrgLimitTables
    timings: Timings
    clock: Callable[[], datetime] = _utc_now
    #: Connections whose store this process has migrated already (once per process).
    _migrated: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_store(cls, store: Store, timings: Timings) -> Runtime:
        """On the cluster's store (opened, so migrated, by the caller)."""
        return cls(ConnectionTables(store.engine), OrgLimitTables(store.engine), timings)

    @contextmanager
    def opened(self, row: ConnectionRow) -> Iterator[tuple[Connection, OrgReservingMeter | None]]:
        """The connection, its credits reserved from the org's budget (Zoho), closed after."""
        settings = settings_of(row)
        meters: list[OrgReservingMeter] = []
        block = settings.config.cluster.credit_block

        def reserving(inner: object) -> OrgReservingMeter:
            meter = OrgReservingMeter(inner, self.limits, row.org, block, self.clock)  # type: ignore[arg-type]
            meters.append(meter)
            return meter

        with self._lock:
            first = row.name not in self._migrated
            self._migrated.add(row.name)
        # Alembic is not thread-safe (its context is process-wide, and it loads the migration
        # scripts as modules): two jobs' threads opening stores at once broke each other's.
        with _OPENING:
            conn = connect(settings, clock=self.clock, upgrade=first, wrap_meter=reserving)
        try:
            yield conn, (meters[0] if meters else None)
        finally:
            for meter in meters:
                meter.close()
            conn.close()

    @contextmanager
    def lease_kept(self, name: str, token: int) -> Iterator[Callable[[], bool]]:
        """Renew the run's lease every ``renew_seconds`` while the block runs; yields the
        fence: a function saying whether the run still holds the connection's newest token."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.timings.renew_seconds):
                try:
                    if not self.connections.renew_lease(
                        name, token, self.clock(), self.timings.lease
                    ):
                        log.warning("%s: the run's lease was taken over", name)
                        return
                except Exception:
                    log.warning("%s: could not renew the run's lease", name, exc_info=True)

        thread = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
        thread.start()
        try:
            yield lambda: self.connections.is_current(name, token)
        finally:
            stop.set()
            thread.join()


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    """The runtime the tasks of this process use (set when the worker starts)."""
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no worker runtime installed (jobs/workers/runtime.install)")
    return _current
