"""The API credits charged per minute (``credit_usage``): written and read only here, for
``jobs/credits.py`` (which owns the rolling window and the budget)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.store import Store


def oldest_charged_minute(store: Store, since: datetime) -> datetime | None:
    """The oldest minute from ``since`` on in which credits were charged, or None."""
    usage = t.credit_usage
    query = sa.select(sa.func.min(usage.c.minute)).where(
        usage.c.minute >= since, usage.c.credits > 0
    )
    with store.engine.connect() as conn:
        oldest: datetime | None = conn.execute(query).scalar_one_or_none()
    return oldest


def charged_since(store: Store, since: datetime) -> int:
    """Credits charged from the minute ``since`` on."""
    usage = t.credit_usage
    query = sa.select(sa.func.coalesce(sa.func.sum(usage.c.credits), 0)).where(
        usage.c.minute >= since
    )
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def add_usage(
    store: Store, minutes: Iterable[tuple[datetime, int, int]], *, forget_before: datetime
) -> None:
    """Add (minute, credits, calls) to what each minute holds; drop the minutes before
    ``forget_before`` (usage older than the window is never read again)."""
    usage = t.credit_usage
    stmt = store._insert(usage)
    stmt = stmt.on_conflict_do_update(
        index_elements=["minute"],
        set_={
            "credits": usage.c.credits + stmt.excluded.credits,
            "calls": usage.c.calls + stmt.excluded.calls,
        },
    )
    rows = [{"minute": m, "credits": credits, "calls": calls} for m, credits, calls in minutes]
    with store.engine.begin() as conn:
        conn.execute(stmt, rows)
        conn.execute(usage.delete().where(usage.c.minute < forget_before))
