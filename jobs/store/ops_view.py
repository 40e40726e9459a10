"""What an operator's scrape reads from the store: aggregates over runs, push, surveys, health.

Read at scrape time (jobs/ops/metrics.py), so the daemon keeps no metric state of its own and a
restart loses nothing. Each figure is one aggregate query; none writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from jobs.store import schema as t

#: Run counts (``runs.counts``) summed into the records counters: read from the CRM, written
#: to it, skipped (a bad record, with its reason in ``skipped_records``).
RECORD_COUNTS = {"read": "sync_read", "written": "push_written", "skipped": "sync_skipped"}


@dataclass
class OpsView:
    runs_by_outcome: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    api_credits: int = 0
    last_finished_at: datetime | None = None
    last_status: str | None = None
    outbox_by_state: dict[str, int] = field(default_factory=dict)
    sla_by_status: dict[str, int] = field(default_factory=dict)
    risk_by_level: dict[str, int] = field(default_factory=dict)


def ping(engine: sa.Engine) -> None:
    """Raise if the store's tables cannot be read now (database down, schema gone, file
    unreadable): a query on a table of ours, not ``SELECT 1``, so a dropped schema shows.
    An SQLite file removed or replaced under the daemon is caught too: its open connections
    would go on reading and writing the old, unlinked file."""
    database = engine.url.database
    a_file = engine.url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
    if a_file and not (
        os.path.isfile(str(database)) and os.access(str(database), os.R_OK | os.W_OK)
    ):
        raise FileNotFoundError(f"{database} is missing or not readable and writable")
    with engine.connect() as conn:
        conn.execute(sa.select(sa.func.count()).select_from(t.store_meta)).scalar_one()


def read_ops_view(engine: sa.Engine) -> OpsView:
    """Every figure of the metrics, from the store as it is now. Dry runs are left out."""
    view = OpsView(records=dict.fromkeys(RECORD_COUNTS, 0))
    real = ~t.runs.c.job.like("%--dry-run")
    with engine.connect() as conn:
        for status, count in conn.execute(
            sa.select(t.runs.c.status, sa.func.count()).where(real).group_by(t.runs.c.status)
        ):
            view.runs_by_outcome[str(status)] = int(count)
        for (counts,) in conn.execute(sa.select(t.runs.c.counts).where(real)):
            counts = counts if isinstance(counts, dict) else {}
            for name, key in RECORD_COUNTS.items():
                view.records[name] += _int(counts.get(key))
            view.api_calls += _int(counts.get("api_calls"))
            view.api_credits += _int(counts.get("api_credits"))
        last = conn.execute(
            sa.select(t.runs.c.finished_at, t.runs.c.status)
            .where(real, t.runs.c.finished_at.is_not(None))
            .order_by(t.runs.c.id.desc())
            .limit(1)
        ).first()
        if last is not None:
            view.last_finished_at, view.last_status = last[0], str(last[1])
        view.outbox_by_state = _grouped(conn, t.survey_invitations.c.state)
        view.sla_by_status = _grouped(conn, t.engagement_health.c.sla_status)
        view.risk_by_level = _grouped(conn, t.engagement_health.c.risk_level)
    return view


def _grouped(conn: sa.Connection, column: sa.Column[str]) -> dict[str, int]:
    query = sa.select(column, sa.func.count()).group_by(column)
    return {str(key): int(count) for key, count in conn.execute(query)}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
