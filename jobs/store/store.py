"""The store: engagements, health, what was written, cursors, runs. SQLite or PostgreSQL.

The same code runs on both: upserts use each dialect's ``ON CONFLICT`` (identical API in
SQLAlchemy for the two), and every datetime is stored as aware UTC.
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

from connector.errors import RetryLaterError
from jobs.store import outside_text
from jobs.store import schema as t
from jobs.store.bulk import among
from mappings.domain import (
    Account,
    ChangeStatus,
    Contact,
    Driver,
    Engagement,
    EngagementHealth,
    RiskLevel,
    SlaStatus,
    TicketPriority,
    TouchpointKind,
)

#: Kinds of synced records, as stored in cursors and skip reasons.
KIND_TABLES = {"accounts": t.accounts, "contacts": t.contacts, "engagements": t.engagements}


class TicketTimes(NamedTuple):
    """A stored ticket as scoring reads it: what the SLA engine measures, no more."""

    external_id: str
    priority: TicketPriority
    opened_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    waiting_on_client: tuple[tuple[datetime, datetime], ...]


# What scoring reads of the other facts, as plain tuples (see `Store.scoring_milestones`...).
# Each starts with the engagement id, as the domain models have it.


class MilestoneProgress(NamedTuple):
    """A stored milestone as scoring reads it: what the risk model and SLA engine read."""

    engagement_id: str
    planned_date: date
    planned_value: Decimal
    percent_complete: float
    delivered_date: date | None
    rejected_count: int


class CostAmount(NamedTuple):
    """A stored cost entry as scoring reads it."""

    engagement_id: str
    amount: Decimal


class TouchpointTime(NamedTuple):
    """A stored touchpoint as scoring reads it."""

    engagement_id: str
    kind: TouchpointKind
    at: datetime


class ChangeValue(NamedTuple):
    """A stored change request as scoring reads it."""

    engagement_id: str
    value: Decimal
    status: ChangeStatus


@dataclass(frozen=True)
class FieldState:
    written_value: Any
    crm_value: Any
    crm_seen: bool


@dataclass(frozen=True)
class RunRow:
    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    counts: dict[str, int]
    message: str | None


@dataclass(frozen=True)
class SkipRow:
    kind: str
    record_id: str
    field: str | None
    reason: str
    seen_at: datetime


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


#: PostgreSQL: the migration's advisory lock, one per schema (search_path), for the transaction.
_MIGRATION_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('engage-migrate:' || coalesce(current_schema(), '')))"
)


class StoreUnavailableError(RetryLaterError):
    """The store's database cannot be reached or opened now (down, refused, locked)."""


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    # Imported here: Alembic takes a fifth of a second to import, and scoring's worker
    # processes, which never migrate, would each pay it.
    from alembic import command

    # Under a lock: two processes starting at once on a fresh store (two `engage` commands,
    # a daemon and a status) would both create the tables, and one crashed.
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held until this transaction ends; per schema, so that stores in other schemas of
            # one database do not wait for each other.
            connection.execute(sa.text(_MIGRATION_LOCK))
        command.upgrade(migration_config(connection), "head")


@contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    """On SQLite, an exclusive lock on a file beside the database (`<db>.migrate-lock`) while
    migrating: SQLite's own locks do not cover Alembic's first look at a fresh file, and
    pysqlite runs DDL outside transactions. PostgreSQL's advisory lock is taken in `migrate`."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migration_config(connection: sa.Connection) -> AlembicConfig:
    """Alembic's configuration for the store's migrations, run on `connection`."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option(
        "script_location", str(resources.files("jobs.store").joinpath("migrations"))
    )
    cfg.attributes["connection"] = connection
    return cfg


class Store:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        outside_text.install(engine)  # U+0000 never reaches the database
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_write_ahead_log)

    @classmethod
    def open(cls, url: str, **engine_options: Any) -> Store:
        """The store at `url`, migrated to the newest schema. A database that cannot be
        reached or opened raises `StoreUnavailableError`, with the driver's reason."""
        engine = sa.create_engine(url, **engine_options)
        try:
            migrate(engine)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
            engine.dispose()
            where = engine.url.render_as_string(hide_password=True)
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreUnavailableError(f"cannot open the store {where}: {reason}") from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- synced records ------------------------------------------------------------------------
    def save_accounts(self, items: Sequence[Account], synced_at: datetime) -> None:
        rows = [
            {
                "crm_id": a.crm_id,
                "name": a.name,
                "industry": a.industry,
                "owner_id": a.owner_id,
                "owner_name": a.owner_name,
                "country": a.country,
                "crm_modified_at": a.modified_at,
                "deleted_at": None,
                "synced_at": synced_at,
            }
            for a in items
        ]
        self._upsert(t.accounts, rows, ["crm_id"])

    def save_contacts(self, items: Sequence[Contact], synced_at: datetime) -> None:
        rows = [
            {
                "crm_id": c.crm_id,
                "account_id": c.account_id,
                "first_name": c.first_name,
                "last_name": c.last_name,
                "email": c.email,
                "title": c.title,
                "email_opt_out": c.email_opt_out,
                "crm_modified_at": c.modified_at,
                "deleted_at": None,
                "synced_at": synced_at,
            }
            for c in items
        ]
        self._upsert(t.contacts, rows, ["crm_id"])

    def save_engagements(self, items: Sequence[Engagement], synced_at: datetime) -> None:
        rows = [
            {
                **e.model_dump(exclude={"modified_at", "status"}),
                "status": e.status.value,
                "crm_modified_at": e.modified_at,
                "deleted_at": None,
                "synced_at": synced_at,
            }
            for e in items
        ]
        self._upsert(t.engagements, rows, ["crm_id"])

    def mark_deleted(self, kind: str, record_ids: Iterable[str], at: datetime) -> int:
        table = KIND_TABLES[kind]
        ids = list(record_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                table.update()
                .where(among(table.c.crm_id, ids), table.c.deleted_at.is_(None))
                .values(deleted_at=at)
            )
        return result.rowcount or 0

    def engagement_ids(self) -> list[str]:
        """Ids of the engagements not deleted, in order."""
        table = t.engagements
        query = (
            sa.select(table.c.crm_id).where(table.c.deleted_at.is_(None)).order_by(table.c.crm_id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def live_crm_ids(self, kind: str) -> set[str]:
        """CRM ids of ``kind`` held and not marked deleted (for CRMs without a deletion log)."""
        table = KIND_TABLES[kind]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.crm_id).where(table.c.deleted_at.is_(None)))
            return {str(row[0]) for row in rows}

    def engagements(
        self, *, include_deleted: bool = False, ids: Collection[str] | None = None
    ) -> list[Engagement]:
        query = _among(sa.select(t.engagements), t.engagements, ids, "crm_id").order_by(
            t.engagements.c.crm_id
        )
        if not include_deleted:
            query = query.where(t.engagements.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        fields = Engagement.model_fields.keys()  # once: each access builds it (pydantic 2)
        result: list[Engagement] = _list_validator(Engagement)(
            [
                {
                    k: v
                    for k, v in {**row, "modified_at": row["crm_modified_at"]}.items()
                    if v is not None and k in fields
                }
                for row in rows
            ]
        )
        return result

    def accounts(self) -> list[Account]:
        query = sa.select(t.accounts).where(t.accounts.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.accounts.c.crm_id)).mappings().all()
        fields = Account.model_fields.keys()
        return [
            Account.model_validate({k: v for k, v in row.items() if v is not None and k in fields})
            for row in rows
        ]

    def count(self, kind: str) -> int:
        table = KIND_TABLES[kind]
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(table)
            return int(conn.execute(query.where(table.c.deleted_at.is_(None))).scalar_one())

    # --- cursors -------------------------------------------------------------------------------
    def cursor(self, stream: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.sync_cursors.c.cursor).where(t.sync_cursors.c.stream == stream)
            ).scalar_one_or_none()

    def set_cursor(self, stream: str, value: datetime, now: datetime) -> None:
        self._upsert(
            t.sync_cursors, [{"stream": stream, "cursor": value, "updated_at": now}], ["stream"]
        )

    # --- facts about the store ------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            query = sa.select(t.store_meta.c.value).where(t.store_meta.c.key == key)
            return conn.execute(query).scalar_one_or_none()

    def set_meta(self, key: str, value: str) -> None:
        self._upsert(t.store_meta, [{"key": key, "value": value}], ["key"])

    # --- skipped records -----------------------------------------------------------------------
    def record_skip(
        self,
        kind: str,
        record_id: str,
        reason: str,
        field: str | None,
        run_id: int | None,
        at: datetime,
    ) -> None:
        row = {
            "kind": kind,
            "record_id": record_id,
            "field": field,
            "reason": reason,
            "run_id": run_id,
            "seen_at": at,
        }
        self._upsert(t.skipped_records, [row], ["kind", "record_id"])

    def clear_skips(self, kind: str, record_ids: Iterable[str]) -> None:
        ids = list(record_ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                t.skipped_records.delete().where(
                    t.skipped_records.c.kind == kind, among(t.skipped_records.c.record_id, ids)
                )
            )

    def skips(self, limit: int | None = 50) -> list[SkipRow]:
        """The latest skipped records first; ``limit=None``: all of them."""
        query = sa.select(t.skipped_records).order_by(
            t.skipped_records.c.seen_at.desc(), t.skipped_records.c.record_id
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).mappings().all()
        return [
            SkipRow(r["kind"], r["record_id"], r["field"], r["reason"], r["seen_at"]) for r in rows
        ]

    def skip_count(self) -> int:
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(t.skipped_records)
            return int(conn.execute(query).scalar_one())

    # --- health --------------------------------------------------------------------------------
    def health(self, ids: Collection[str] | None = None) -> dict[str, EngagementHealth]:
        query = _among(sa.select(t.engagement_health), t.engagement_health, ids)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {
            r["engagement_id"]: EngagementHealth(
                engagement_id=r["engagement_id"],
                risk_score=r["risk_score"],
                risk_level=RiskLevel(r["risk_level"]),
                drivers=tuple(Driver.model_validate(d) for d in r["drivers"]),
                sla_status=SlaStatus(r["sla_status"]),
                nps=r["nps"],
                csat=r["csat"],
                sla_compliance=r["sla_compliance"],
                next_sla_deadline=r["next_sla_deadline"],
                updated_at=r["updated_at"],
            )
            for r in rows
        }

    def inputs_hashes(self, ids: Collection[str] | None = None) -> dict[str, str | None]:
        table = t.engagement_health
        query = _among(sa.select(table.c.engagement_id, table.c.inputs_hash), table, ids)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())

    def frozen_measures(
        self, engagement_ids: Collection[str] | None = None
    ) -> dict[str, list[list[Any]]]:
        """engagement -> its finished measures, each [ticket_id, metric, goal_minutes,
        used_minutes, met, policy_version]."""
        table = t.sla_measure_sets
        query = _among(sa.select(table.c.engagement_id, table.c.measures), table, engagement_ids)
        with self.engine.connect() as conn:
            return {eid: json.loads(text) for eid, text in conn.execute(query)}

    def save_measures(self, measures: Mapping[str, Sequence[Sequence[Any]]]) -> None:
        """Replace each given engagement's frozen measures (an empty list removes them)."""
        encoded = {eid: encode_measures(m) for eid, m in measures.items()}
        with self.engine.begin() as conn:
            self._save_measures(conn, encoded)

    def save_scores(
        self,
        health: Sequence[EngagementHealth],
        inputs_hashes: Mapping[str, str],
        measures: Mapping[str, str],
    ) -> None:
        """Save what scoring computed for some engagements, in one transaction: the health
        values that changed (`save_health`), what each engagement's health was computed from
        (its inputs hash), and its frozen measures as `encode_measures` wrote them."""
        with self.engine.begin() as conn:
            saved = self._save_health(conn, health, inputs_hashes)
            if unchanged := [(e, h) for e, h in inputs_hashes.items() if e not in saved]:
                table = t.engagement_health
                conn.execute(
                    table.update()
                    .where(table.c.engagement_id == sa.bindparam("eid"))
                    .values(inputs_hash=sa.bindparam("hash")),
                    [{"eid": eid, "hash": h} for eid, h in unchanged],
                )
            self._save_measures(conn, measures)

    def _save_measures(self, conn: sa.Connection, measures: Mapping[str, str]) -> None:
        table = t.sla_measure_sets
        emptied = [eid for eid, text in measures.items() if text == _NO_MEASURES]
        if emptied:
            conn.execute(table.delete().where(among(table.c.engagement_id, emptied)))
        kept = [
            {"engagement_id": eid, "measures": text}
            for eid, text in measures.items()
            if text != _NO_MEASURES
        ]
        self._upsert_in(conn, table, kept, ["engagement_id"])

    def clear_measures(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.sla_measure_sets.delete())

    def save_health(self, items: Sequence[EngagementHealth]) -> None:
        """Store new health values and append each to the history (callers pass changes only)."""
        with self.engine.begin() as conn:
            self._save_health(conn, items)

    def _save_health(
        self,
        conn: sa.Connection,
        items: Sequence[EngagementHealth],
        inputs_hashes: Mapping[str, str] | None = None,
    ) -> set[str]:
        """`save_health`; with `inputs_hashes` covering every item, each row's inputs hash is
        stored with it (one statement less per engagement). Returns the engagements whose hash
        was stored."""
        if not items:
            return set()
        rows = [
            {
                "engagement_id": h.engagement_id,
                "risk_score": h.risk_score,
                "risk_level": h.risk_level.value,
                "drivers": [d.model_dump() for d in h.drivers],
                "sla_status": h.sla_status.value,
                "nps": h.nps,
                "csat": h.csat,
                "sla_compliance": h.sla_compliance,
                "next_sla_deadline": h.next_sla_deadline,
                "updated_at": h.updated_at,
            }
            for h in items
        ]
        stored: set[str] = set()
        if inputs_hashes is not None and all(h.engagement_id in inputs_hashes for h in items):
            for row, item in zip(rows, items, strict=True):
                row["inputs_hash"] = inputs_hashes[item.engagement_id]
            stored = {h.engagement_id for h in items}
        self._upsert_in(conn, t.engagement_health, rows, ["engagement_id"])
        history = [
            {
                "engagement_id": h.engagement_id,
                "risk_score": h.risk_score,
                "risk_level": h.risk_level.value,
                "sla_status": h.sla_status.value,
                "recorded_at": h.updated_at,
            }
            for h in items
        ]
        conn.execute(t.health_history.insert(), history)
        return stored

    def health_history(self, engagement_id: str) -> list[tuple[datetime, int]]:
        query = (
            sa.select(t.health_history.c.recorded_at, t.health_history.c.risk_score)
            .where(t.health_history.c.engagement_id == engagement_id)
            .order_by(t.health_history.c.recorded_at, t.health_history.c.id)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(query)]

    # Field state (what was written, what the CRM holds) is read and written a chunk of records
    # at a time by jobs/store/field_states.py; the push replaces conflicts (jobs/push/pusher.py).

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
                t.runs.insert().values(job=job, started_at=now, status="running", counts={})
            )
            key = result.inserted_primary_key
            assert key is not None  # an INSERT always reports its key
            return int(key[0])

    def finish_run(
        self, run_id: int, status: str, counts: dict[str, int], message: str | None, now: datetime
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
        return [
            RunRow(
                r["id"],
                r["job"],
                r["started_at"],
                r["finished_at"],
                r["status"],
                dict(r["counts"]),
                r["message"],
            )
            for r in rows
        ]

    def record_outcomes(self, run_id: int | None, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as conn:
                conn.execute(t.write_outcomes.insert(), [{"run_id": run_id, **r} for r in rows])

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
                .where(table.c.status == "running", table.c.job.not_like("% --dry-run"))
                .values(status="died", finished_at=now, message=message)
            )
        return result.rowcount or 0

    def lock_holder(self, job: str) -> str | None:
        """Who holds the job's lock now (expired or not), or None."""
        query = sa.select(t.job_locks.c.holder).where(t.job_locks.c.job == job)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    # --- delivery facts ------------------------------------------------------------------------
    # Milestones, tickets, costs, touchpoints and change requests, keyed by (source, external_id).
    # The section imports what it needs itself so that it stays one self-contained block; the
    # names become class attributes (``Store.Milestone``...), which is harmless.
    from pydantic import BaseModel as _FactModel

    from mappings.domain import ChangeRequest, CostEntry, Milestone, Ticket, Touchpoint

    def fact_model(self, kind: str) -> type[_FactModel]:
        """The domain model of a kind of fact ("milestones", "tickets", "costs"...)."""
        models: dict[str, type[Store._FactModel]] = {
            "milestones": self.Milestone,
            "tickets": self.Ticket,
            "costs": self.CostEntry,
            "touchpoints": self.Touchpoint,
            "changes": self.ChangeRequest,
        }
        if kind not in models:
            raise ValueError(f"unknown kind of fact {kind!r}; one of {', '.join(models)}")
        return models[kind]

    def save_facts(self, kind: str, facts: Sequence[_FactModel], source: str, at: datetime) -> int:
        """Insert or update facts by (source, external_id); returns how many rows were new or
        changed. A fact whose values are already stored is left alone (its ``imported_at`` too),
        so saving the same facts again returns 0. The last of two facts with one id wins.
        """
        with self.fact_writer(kind, source, at) as writer:
            writer.add(facts)
        return writer.changed

    @contextmanager
    def fact_writer(self, kind: str, source: str, at: datetime) -> Iterator[FactWriter]:
        """Facts of one kind added in batches, all in one transaction: a file import stores
        every row or (an exception) none. The engagements' fact versions are raised once, at
        the end: raising them per batch updated the same rows again and again inside one
        transaction, and on PostgreSQL each lookup then walked every dead version of its row
        (100,000 rows took 151 s against SQLite's 6.5 s)."""
        with self.engine.begin() as conn:
            writer = FactWriter(self, conn, kind, source, at)
            yield writer
            self._raise_fact_versions(conn, writer.touched)

    def fact_versions(self, ids: Collection[str] | None = None) -> dict[str, int]:
        """engagement -> a number raised whenever one of its delivery facts changes."""
        table = t.fact_versions
        query = _among(sa.select(table.c.engagement_id, table.c.version), table, ids)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())

    def with_open_tickets(self, ids: Collection[str]) -> set[str]:
        """Those of the engagements `ids` that have a ticket not resolved yet."""
        table = t.FACT_TABLES["tickets"]
        query = _among(
            sa.select(table.c.engagement_id).where(table.c.resolved_at.is_(None)).distinct(),
            table,
            ids,
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars().all())

    def _raise_fact_versions(self, conn: sa.Connection, engagement_ids: Iterable[str]) -> None:
        ids = sorted(set(engagement_ids))  # sorted: concurrent writers lock rows in one order
        if not ids:
            return
        table = t.fact_versions
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["engagement_id"], set_={"version": table.c.version + 1}
        )
        conn.execute(stmt, [{"engagement_id": e, "version": 1} for e in ids])

    def milestones(self, ids: Collection[str] | None = None) -> dict[str, list[Milestone]]:
        return self._facts_by_engagement("milestones", ids)

    def tickets(self, ids: Collection[str] | None = None) -> dict[str, list[Ticket]]:
        return self._facts_by_engagement("tickets", ids)

    def tickets_since(
        self, ids: Collection[str], finished_since: datetime
    ) -> dict[str, list[TicketTimes]]:
        """For scoring: the tickets of the engagements `ids` that are open or had a first
        response or were resolved at or after `finished_since` (what an SLA window starting then
        measures), in order of opening. Tickets finished earlier are most of a long engagement's,
        and are not read (`first_tickets_opened` tells when the first of them was opened)."""
        table = t.FACT_TABLES["tickets"]
        query = (
            _among(
                sa.select(
                    table.c.engagement_id,
                    table.c.external_id,
                    table.c.priority,
                    table.c.opened_at,
                    table.c.first_response_at,
                    table.c.resolved_at,
                    table.c.waiting_on_client,
                ),
                table,
                ids,
            )
            .where(
                sa.or_(
                    table.c.resolved_at.is_(None),
                    table.c.resolved_at >= finished_since,
                    table.c.first_response_at >= finished_since,
                )
            )
            .order_by(table.c.engagement_id, table.c.opened_at, table.c.source, table.c.external_id)
        )
        grouped: dict[str, list[TicketTimes]] = {}
        priorities = {p.value: p for p in TicketPriority}
        with self.engine.connect() as conn:
            # Plain tuples, not validated models: every ticket was validated when it was
            # stored, and this reads tens of thousands per chunk of engagements.
            for eid, xid, priority, opened, first, resolved, pauses in conn.execute(query).all():
                grouped.setdefault(eid, []).append(
                    TicketTimes(xid, priorities[priority], opened, first, resolved, pauses or ())
                )
        return grouped

    def first_tickets_opened(self, ids: Collection[str]) -> dict[str, datetime]:
        """engagement -> the earliest `opened_at` of all its tickets (the SLA engine's "first
        recorded activity" when there has been no status report), for those of `ids` with any."""
        table = t.FACT_TABLES["tickets"]
        query = _among(
            sa.select(table.c.engagement_id, sa.func.min(table.c.opened_at)), table, ids
        ).group_by(table.c.engagement_id)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())

    # Scoring reads the other facts as plain tuples of the columns it uses, not validated
    # models: every fact was validated when it was stored, and reading them as models again
    # (with the columns nothing reads) was a sixth of a scoring worker's time.

    def scoring_milestones(self, ids: Collection[str]) -> dict[str, list[MilestoneProgress]]:
        """For scoring: `milestones`, as much of each as the risk model and SLA engine read."""
        rows = self._fact_columns("milestones", MilestoneProgress._fields, ids)
        return _by_engagement(map(MilestoneProgress._make, rows))

    def scoring_costs(self, ids: Collection[str]) -> dict[str, list[CostAmount]]:
        """For scoring: `cost_entries`, their amounts."""
        return _by_engagement(
            map(CostAmount._make, self._fact_columns("costs", CostAmount._fields, ids))
        )

    def scoring_touchpoints(self, ids: Collection[str]) -> dict[str, list[TouchpointTime]]:
        """For scoring: `touchpoints`, their kinds and times."""
        kinds = {k.value: k for k in TouchpointKind}
        rows = self._fact_columns("touchpoints", TouchpointTime._fields, ids)
        return _by_engagement(TouchpointTime(eid, kinds[kind], at) for eid, kind, at in rows)

    def scoring_changes(self, ids: Collection[str]) -> dict[str, list[ChangeValue]]:
        """For scoring: `change_requests`, their values and statuses."""
        statuses = {s.value: s for s in ChangeStatus}
        rows = self._fact_columns("changes", ChangeValue._fields, ids)
        return _by_engagement(ChangeValue(eid, value, statuses[s]) for eid, value, s in rows)

    def _fact_columns(
        self, kind: str, names: Sequence[str], ids: Collection[str]
    ) -> Sequence[Sequence[Any]]:
        """The columns `names` of the facts of a kind of the engagements `ids`, in the order of
        `_facts_by_engagement` (the first name must be "engagement_id")."""
        with self.engine.connect() as conn:
            return conn.execute(_facts_in_order(kind, names, ids)).tuples().all()

    def cost_entries(self, ids: Collection[str] | None = None) -> dict[str, list[CostEntry]]:
        return self._facts_by_engagement("costs", ids)

    def touchpoints(self, ids: Collection[str] | None = None) -> dict[str, list[Touchpoint]]:
        return self._facts_by_engagement("touchpoints", ids)

    def change_requests(self, ids: Collection[str] | None = None) -> dict[str, list[ChangeRequest]]:
        return self._facts_by_engagement("changes", ids)

    def delete_facts_of(self, kind: str, source: str, external_ids: Sequence[str]) -> int:
        """Delete facts of ``source`` whose external id is one of ``external_ids`` or starts with
        one of them followed by "@" (one CRM record fanned out to several engagements)."""
        table = t.FACT_TABLES[kind]
        removed = 0
        with self.engine.begin() as conn:
            for start in range(0, len(external_ids), 500):
                batch = external_ids[start : start + 500]
                matches = [table.c.external_id.in_(batch)] + [
                    table.c.external_id.startswith(f"{x}@", autoescape=True) for x in batch
                ]
                gone = conn.execute(
                    table.delete()
                    .where(table.c.source == source, sa.or_(*matches))
                    .returning(table.c.engagement_id)
                ).all()
                removed += len(gone)
                self._raise_fact_versions(conn, {eid for (eid,) in gone})
        return removed

    def _facts_by_engagement(
        self, kind: str, ids: Collection[str] | None = None
    ) -> dict[str, list[Any]]:
        """Every stored fact of a kind (of the engagements `ids`, when given), by engagement id,
        each list in date order."""
        model, table = self.fact_model(kind), t.FACT_TABLES[kind]
        # Only the model's columns, read as plain tuples: this runs over every fact in the store.
        names = [c.name for c in table.columns if c.name in model.model_fields]
        query = _facts_in_order(kind, names, ids)
        validate = _list_validator(model)
        grouped: dict[str, list[Any]] = {}
        with self.engine.connect() as conn:
            for rows in conn.execute(query).partitions(5000):
                # One validation call per partition: per-row calls cost a third more.
                facts = validate(
                    [
                        {k: v for k, v in zip(names, row, strict=True) if v is not None}
                        for row in rows
                    ]
                )
                for fact in facts:
                    grouped.setdefault(fact.engagement_id, []).append(fact)
        return grouped

    # --- plumbing ------------------------------------------------------------------------------
    def _insert(self, table: sa.Table) -> Any:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table)
        if dialect == "sqlite":
            return sqlite.insert(table)
        raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {dialect}")

    def _upsert(self, table: sa.Table, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
        """Insert or update by primary key, in chunks; only the columns given are updated."""
        if not rows:
            return
        with self.engine.begin() as conn:
            self._upsert_in(conn, table, rows, keys)

    def _upsert_in(
        self, conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]], keys: list[str]
    ) -> None:
        """`_upsert` inside the caller's transaction."""
        if not rows:
            return
        stmt = self._insert(table)
        columns = [c for c in rows[0] if c not in keys]
        if columns:
            stmt = stmt.on_conflict_do_update(
                index_elements=keys, set_={c: stmt.excluded[c] for c in columns}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        for start in range(0, len(rows), 1000):
            conn.execute(stmt, list(rows[start : start + 1000]))


class FactWriter:
    """`Store.fact_writer`: adds facts of one kind inside the writer's transaction."""

    def __init__(
        self, store: Store, conn: sa.Connection, kind: str, source: str, at: datetime
    ) -> None:
        self._store, self._conn, self._kind = store, conn, kind
        self._source, self._at = source, at
        self._model, self._table = store.fact_model(kind), t.FACT_TABLES[kind]
        #: Rows new or changed so far; the engagements whose facts changed.
        self.changed = 0
        self.touched: set[str] = set()

    def add(self, facts: Sequence[BaseModel]) -> None:
        table, source = self._table, self._source
        by_id: dict[str, dict[str, Any]] = {}
        for fact in facts:
            if not isinstance(fact, self._model):
                raise TypeError(
                    f"{self._kind} takes {self._model.__name__}, not {type(fact).__name__}"
                )
            values = {
                # Enums are stored as their values (a StrEnum's str() is its value).
                k: str(v) if isinstance(v, str) else v
                for k, v in fact.model_dump().items()
            }
            by_id[values["external_id"]] = {**values, "source": source, "imported_at": self._at}
        if not by_id:
            return
        rows = list(by_id.values())
        keys = ["source", "external_id"]
        stmt = self._store._insert(table)
        compared = [c for c in rows[0] if c not in (*keys, "imported_at")]
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={c: stmt.excluded[c] for c in rows[0] if c not in keys},
            # Only rows whose values differ are updated, and only those come back from RETURNING.
            where=sa.or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in compared)),
        ).returning(table.c.external_id, table.c.engagement_id)
        for start in range(0, len(rows), 1000):
            batch = rows[start : start + 1000]
            # A fact moved to another engagement changes the one it left too.
            held = sa.select(table.c.external_id, table.c.engagement_id).where(
                table.c.source == source,
                among(table.c.external_id, [r["external_id"] for r in batch]),
            )
            before: dict[str, str] = {row[0]: row[1] for row in self._conn.execute(held)}
            touched = self._conn.execute(stmt, batch).all()
            self.changed += len(touched)
            self.touched |= {eid for _, eid in touched} | {
                before[x] for x, _ in touched if x in before
            }


_F = TypeVar("_F", bound=tuple[Any, ...])


def _by_engagement(facts: Iterable[_F]) -> dict[str, list[_F]]:
    """Facts (tuples starting with the engagement id, in engagement order) by engagement id."""
    return {eid: list(group) for eid, group in itertools.groupby(facts, itemgetter(0))}


@functools.cache
def _list_validator(model: type[BaseModel]) -> Callable[[list[dict[str, Any]]], list[Any]]:
    """Validates a list of a model's field dicts in one call (the adapter is built once)."""
    return TypeAdapter(list[model]).validate_python  # type: ignore[valid-type]


#: `encode_measures` of no measures: saving it removes the engagement's stored measures.
_NO_MEASURES = "[]"


def encode_measures(measures: Sequence[Sequence[Any]]) -> str:
    """An engagement's frozen measures as `Store.save_scores` stores them (JSON). Scoring
    workers encode their own results: encoding 600,000 measures was a third of the time of the
    process that saves them."""
    return json.dumps(list(measures), separators=(",", ":"))


def _sqlite_write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """SQLite in write-ahead-log mode: readers (scoring workers, `engage status` during a run)
    never wait for a writer nor block it, and a commit is one append and one fsync instead of a
    rollback journal's several (scoring 10,000 engagements spent 3 s in commits). Durability is
    unchanged (synchronous=FULL, as in SQLite's default). A database in memory stays in memory
    mode."""
    cursor = dbapi_connection.cursor()
    try:
        # The mode is kept in the file: set it once. Switching needs the database to itself; if
        # another connection is using it just then, this one goes on in the old mode and a later
        # one switches.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] not in ("wal", "memory"):
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _facts_in_order(kind: str, names: Sequence[str], ids: Collection[str] | None) -> Any:
    """The columns `names` of the facts of a kind (of the engagements `ids`, when given), by
    engagement, each engagement's in date order (then source and external id: a stable order)."""
    table = t.FACT_TABLES[kind]
    return _among(sa.select(*(table.c[n] for n in names)), table, ids).order_by(
        table.c.engagement_id,
        table.c[t.FACT_DATE_COLUMNS[kind]],
        table.c.source,
        table.c.external_id,
    )


def _among(
    query: Any, table: sa.Table, ids: Collection[str] | None, column: str = "engagement_id"
) -> Any:
    """`query` limited to the rows of the engagements `ids` (all rows when None)."""
    return query if ids is None else query.where(among(table.c[column], ids))
