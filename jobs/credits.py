"""The connection's credit budget, kept in the store so that every job and process shares it.

Each call's credits are added to a per-minute row of ``credit_usage`` before the call is sent.
A call that would take the rolling 24-hour total over the budget is refused with
``CreditBudgetExceededError`` (a ``RetryLaterError``): the job stops cleanly ("stopped") and a
later run resumes once older usage has rolled out of the window.

Only one job of a connection runs at a time (the runner's lock), so the total is read from the
store once and then kept in memory, re-read every few minutes for long-lived daemons.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from connector.errors import CreditBudgetExceededError
from jobs.store import Store
from jobs.store import schema as t

WINDOW = timedelta(hours=24)
#: How long the in-memory total is trusted before the store is read again.
RELOAD_AFTER = timedelta(minutes=5)


def credits_used(store: Store, now: datetime) -> int:
    """Credits charged in the 24 hours before ``now`` (whole minutes, so slightly generous)."""
    since = _minute(now - WINDOW)
    query = sa.select(sa.func.coalesce(sa.func.sum(t.credit_usage.c.credits), 0)).where(
        t.credit_usage.c.minute >= since
    )
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


class StoreCreditMeter:
    """A ``connector.credits.CreditMeter`` backed by the store. Thread-safe."""

    def __init__(self, store: Store, budget: int, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.budget = budget
        self.clock = clock
        self._lock = threading.Lock()
        self._used: int | None = None
        self._loaded_at: datetime | None = None

    def used(self) -> int:
        with self._lock:
            return self._current(self.clock())

    def charge(self, credits: int) -> None:
        with self._lock:
            now = self.clock()
            used = self._current(now)
            if used + credits > self.budget:
                raise CreditBudgetExceededError(
                    f"the daily credit budget of {self.budget} would be exceeded: {used} used in "
                    f"the last 24 hours and the next call costs {credits}; the job stopped before "
                    "exceeding it (raise [crm] daily_credit_budget, or wait)"
                )
            self._add(now, credits)
            self._used = used + credits

    def _current(self, now: datetime) -> int:
        if self._used is None or self._loaded_at is None or now - self._loaded_at > RELOAD_AFTER:
            self._used = credits_used(self.store, now)
            self._loaded_at = now
        return self._used

    def _add(self, now: datetime, credits: int) -> None:
        table = t.credit_usage
        stmt = self.store._insert(table).values(minute=_minute(now), credits=credits, calls=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["minute"],
            set_={"credits": table.c.credits + credits, "calls": table.c.calls + 1},
        )
        with self.store.engine.begin() as conn:
            conn.execute(stmt)
            # Usage older than the window is never read again.
            conn.execute(table.delete().where(table.c.minute < _minute(now - 2 * WINDOW)))


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)
