"""Runs, their write outcomes and conflicts (as read back), and the job locks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from jobs.store import outcomes
from jobs.store import schema as t
from jobs.store.base import StoreBase


class RunStatus(StrEnum):
    """How a run ended (column ``runs.status``), as `engage status` shows it."""

    RUNNING = "running"
    OK = "ok"
    #: Done, but some records were skipped or rows refused (see `engage status --failed`).
    PARTIAL = "partial"
    #: The CRM asked us to come back later (rate limit, outage): the next run resumes.
    STOPPED = "stopped"
    FAILED = "failed"
    #: Stopped at a safe point on the operator's request (SIGTERM/SIGINT to the daemon); what
    #: it finished is kept and the next run resumes. Not a failure.
    INTERRUPTED = "interrupted"
    #: Recorded as running, but its process ended without finishing (found at the next run).
    DIED = "died"


@dataclass(frozen=True)
class RunRow:
    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    #: A `RunStatus` value as stored; read as text, since the column may hold anything.
    status: str
    counts: dict[str, int]
    message: str | None


@dataclass(frozen=True)
class ConflictRow:
    module: str
    record_id: str
    field: str
    crm_value: Any
    written_value: Any
    wanted_value: Any
    seen_at: datetime


@dataclass(frozen=True)
class OutcomeRow:
    module: str
    record_id: str
    status: str
    crm_code: str | None
    field: str | None
    message: str | None
    at: datetime


class RunTables(StoreBase):
    """Tables ``runs`` and ``job_locks``; the views of ``conflicts`` and ``write_outcomes``."""

    # Field state (what was written, what the CRM holds) is read and written a chunk of records
    # at a time by jobs/store/field_states.py; conflicts and outcomes are written by outcomes.py.

    # --- conflicts -----------------------------------------------------------------------------
    def conflicts(self, limit: int = 50) -> list[ConflictRow]:
        query = sa.select(t.conflicts).order_by(
            t.conflicts.c.module, t.conflicts.c.record_id, t.conflicts.c.field
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).mappings().all()
        return [
            ConflictRow(
                r["module"],
                r["record_id"],
                r["field"],
                r["crm_value"],
                r["written_value"],
                r["wanted_value"],
                r["seen_at"],
            )
            for r in rows
        ]

    def conflict_count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(t.conflicts)).scalar_one()
            )

    # --- runs and outcomes ---------------------------------------------------------------------
    def start_run(self, job: str, now: datetime) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                t.runs.insert().values(job=job, started_at=now, status=RunStatus.RUNNING, counts={})
            )
            key = result.inserted_primary_key
            assert key is not None  # an INSERT always reports its key
            return int(key[0])

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        counts: dict[str, int],
        message: str | None,
        now: datetime,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id)
                .values(status=status, counts=counts, message=message, finished_at=now)
            )

    def runs(self, limit: int = 10) -> list[RunRow]:
        query = sa.select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_run_row(r) for r in rows]

    def ended_runs_since(self, run_id: int) -> list[RunRow]:
        """The runs from ``run_id`` on that have ended (any status but running), oldest first:
        what an alerts job on workers reports (jobs/workers/alerts.py)."""
        query = (
            sa.select(t.runs)
            .where(t.runs.c.id >= run_id, t.runs.c.status != RunStatus.RUNNING)
            .order_by(t.runs.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_run_row(r) for r in rows]

    def record_outcomes(self, run_id: int | None, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as conn:
                outcomes.add_outcomes(conn, run_id, rows)

    def failed_outcomes(self, limit: int = 50) -> list[OutcomeRow]:
        query = (
            sa.select(t.write_outcomes)
            .where(t.write_outcomes.c.status != "written")
            .order_by(t.write_outcomes.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            OutcomeRow(
                r["module"],
                r["record_id"],
                r["status"],
                r["crm_code"],
                r["field"],
                r["message"],
                r["at"],
            )
            for r in rows
        ]

    # --- job locks -----------------------------------------------------------------------------
    def try_lock(self, job: str, holder: str, now: datetime, expires_at: datetime) -> bool:
        """Take the job's lock unless someone else holds an unexpired one. Atomic on both DBs."""
        with self.engine.begin() as conn:
            conn.execute(
                t.job_locks.delete().where(t.job_locks.c.job == job, t.job_locks.c.expires_at < now)
            )
            stmt = self._insert(t.job_locks).values(job=job, holder=holder, expires_at=expires_at)
            stmt = stmt.on_conflict_do_nothing(index_elements=["job"]).returning(t.job_locks.c.job)
            # RETURNING yields a row only if this insert won (rowcount is unreliable here on PG).
            return conn.execute(stmt).first() is not None

    def renew_lock(self, job: str, holder: str, expires_at: datetime) -> bool:
        """Extend ``holder``'s lease of the job's lock; False if it no longer holds it."""
        with self.engine.begin() as conn:
            result = conn.execute(
                t.job_locks.update()
                .where(t.job_locks.c.job == job, t.job_locks.c.holder == holder)
                .values(expires_at=expires_at)
            )
        return bool(result.rowcount)

    def unlock(self, job: str, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.job_locks.delete().where(t.job_locks.c.job == job, t.job_locks.c.holder == holder)
            )

    def lock_lease(self, job: str) -> tuple[str, datetime] | None:
        """Who holds the job's lock now and until when (expired or not), or None."""
        query = sa.select(t.job_locks.c.holder, t.job_locks.c.expires_at).where(
            t.job_locks.c.job == job
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row[0], row[1])

    def end_abandoned_runs(self, now: datetime, message: str) -> int:
        """Record every run still "running" (but dry runs, which hold no lock) as "died": called
        by a job that has just taken the lock, which no live run can hold."""
        table = t.runs
        with self.engine.begin() as conn:
            result = conn.execute(
                table.update()
                .where(table.c.status == RunStatus.RUNNING, table.c.job.not_like("% --dry-run"))
                .values(status=RunStatus.DIED, finished_at=now, message=message)
            )
        return result.rowcount or 0

    def lock_holder(self, job: str) -> str | None:
        """Who holds the job's lock now (expired or not), or None."""
        query = sa.select(t.job_locks.c.holder).where(t.job_locks.c.job == job)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()


def _run_row(r: Any) -> RunRow:
    return RunRow(
        r["id"],
        r["job"],
        r["started_at"],
        r["finished_at"],
        r["status"],
        dict(r["counts"]),
        r["message"],
    )
