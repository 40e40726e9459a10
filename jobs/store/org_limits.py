"""What all workers of one CRM org share: the credit budget and the concurrency cap.

The one owner of ``org_limits``. PostgreSQL only (the cluster's store).

Credits are reserved, not counted after the fact: one atomic
``UPDATE … SET used = used + n WHERE used + n <= budget RETURNING`` per block, so that however
many workers reserve at once the org's total never passes its budget. A worker spends from its
block in memory and gives back what it did not spend (`give_back`); one killed outright keeps
its block until the window ends (it over-reserves by at most one block, and never overspends).
The window starts at the first reservation after the previous one ended (``window_seconds``,
a day in production).

Concurrency slots are session advisory locks ``(org's key, k)`` for k < the org's cap: a job
holds one for as long as it talks to the CRM, on a connection of its own; a process killed
outright loses its session, and PostgreSQL frees its slot at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from jobs.store import cluster_tables as t

_table = t.org_limits
_window = sa.func.make_interval(0, 0, 0, 0, 0, 0, _table.c.window_seconds)


@dataclass(frozen=True)
class OrgLimits:
    org: str
    budget: int
    window_seconds: float
    window_start: datetime | None
    used: int
    concurrency: int


class OrgLimitTables:
    """``org_limits`` and the orgs' advisory-lock slots, in the cluster's PostgreSQL store."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def set_limits(self, org: str, budget: int, concurrency: int, window_seconds: float) -> None:
        """The org's budget and cap (the latest connection added for the org sets them)."""
        stmt = sa.dialects.postgresql.insert(_table).values(
            org=org, budget=budget, window_seconds=window_seconds, used=0, concurrency=concurrency
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["org"],
            set_={"budget": budget, "concurrency": concurrency, "window_seconds": window_seconds},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def limits(self, org: str) -> OrgLimits | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_table).where(_table.c.org == org)).first()
        return None if row is None else OrgLimits(**row._mapping)

    def all_limits(self) -> list[OrgLimits]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_table).order_by(_table.c.org)).all()
        return [OrgLimits(**row._mapping) for row in rows]

    def reserve(self, org: str, credits: int, now: datetime) -> datetime | None:
        """Reserve ``credits`` of the org's budget in the current window, all or nothing: when
        that window ends (credits reserved in it are not spent after), or None if they do not
        fit."""
        window_over = sa.or_(
            _table.c.window_start.is_(None),
            _table.c.window_start + _window <= now,
        )
        used_now = sa.case((window_over, 0), else_=_table.c.used)
        stmt = (
            _table.update()
            .where(_table.c.org == org, used_now + credits <= _table.c.budget)
            .values(
                used=used_now + credits,
                window_start=sa.case((window_over, now), else_=_table.c.window_start),
            )
            .returning(_table.c.window_start + _window)
        )
        with self.engine.begin() as conn:
            ends: datetime | None = conn.execute(stmt).scalar_one_or_none()
        return ends

    def give_back(self, org: str, credits: int, reserved_at: datetime) -> None:
        """Return unspent credits reserved at ``reserved_at``, if their window is still on (a
        new window has started from zero already)."""
        if credits <= 0:
            return
        stmt = (
            _table.update()
            .where(_table.c.org == org, _table.c.window_start <= reserved_at)
            .values(used=sa.func.greatest(0, _table.c.used - credits))
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    @contextmanager
    def slot(
        self,
        org: str,
        concurrency: int,
        *,
        wait_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        keep_waiting: Callable[[], bool] = lambda: True,
    ) -> Iterator[int | None]:
        """Hold one of the org's ``concurrency`` slots while the block runs: the slot's number,
        or None if ``keep_waiting`` said stop before one was free."""
        with self.engine.connect() as conn:
            while True:
                for k in range(concurrency):
                    got = conn.execute(
                        sa.text("SELECT pg_try_advisory_lock(:key, :k)"),
                        {"key": _org_key(conn, org), "k": k},
                    ).scalar_one()
                    conn.commit()
                    if got:
                        try:
                            yield k
                        finally:
                            conn.execute(
                                sa.text("SELECT pg_advisory_unlock(:key, :k)"),
                                {"key": _org_key(conn, org), "k": k},
                            )
                            conn.commit()
                        return
                if not keep_waiting():
                    yield None
                    return
                sleep(wait_seconds)

    def slots_in_use(self, org: str) -> int:
        """Slots of the org held now, by any worker (from pg_locks)."""
        with self.engine.connect() as conn:
            key = _org_key(conn, org)
            query = sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = (:key)::oid AND objsubid = 2 AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            return int(conn.execute(query, {"key": key & 0xFFFFFFFF}).scalar_one())


def _org_key(conn: sa.Connection, org: str) -> int:
    """The org's advisory-lock key: a 32-bit hash of the schema and the org (stores in other
    schemas of the same database have their own slots)."""
    return int(
        conn.execute(
            sa.text("SELECT hashtext(coalesce(current_schema(), '') || ':org:' || :org)"),
            {"org": org},
        ).scalar_one()
    )
