"""The store: engagements, health, what was written, cursors, runs. SQLite or PostgreSQL.

The same code runs on both: upserts use each dialect's ``ON CONFLICT`` (identical API in
SQLAlchemy for the two), and every datetime is stored as aware UTC.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

from connector.errors import RetryLaterError
from jobs.store import outside_text
from jobs.store.base import StoreBase
from jobs.store.facts import (
    ChangeValue,
    CostAmount,
    FactTables,
    FactWriter,
    MilestoneProgress,
    TicketTimes,
    TouchpointTime,
)
from jobs.store.health import HealthTables, encode_measures
from jobs.store.records import KIND_TABLES, RecordTables, SkipRow
from jobs.store.revisions import (
    Revisions,
    SchemaState,
    StoreSchemaError,
    ahead_message,
    store_revisions,
)
from jobs.store.runs import ConflictRow, OutcomeRow, RunRow, RunTables
from jobs.store.statistics import refresh_statistics

__all__ = [
    "KIND_TABLES",
    "ChangeValue",
    "ConflictRow",
    "CostAmount",
    "FactWriter",
    "FieldState",
    "MilestoneProgress",
    "OutcomeRow",
    "RunRow",
    "SkipRow",
    "Store",
    "StoreBase",
    "StoreSchemaError",
    "StoreUnavailableError",
    "TicketTimes",
    "TouchpointTime",
    "encode_measures",
    "migrate",
    "migration_config",
]


@dataclass(frozen=True)
class FieldState:
    written_value: Any
    crm_value: Any
    crm_seen: bool


#: PostgreSQL: the migration's advisory lock, one per schema (search_path), for the transaction.
_MIGRATION_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext('engage-migrate:' || coalesce(current_schema(), '')))"
)


class StoreUnavailableError(RetryLaterError):
    """The store's database cannot be reached or opened now (down, refused, locked)."""


def migrate(engine: sa.Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision (idempotent); returns the revisions before and
    after. A store newer than the code raises `StoreSchemaError` (one line, both revisions)."""
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
        before = store_revisions(connection)
        if before.state is SchemaState.AHEAD:
            raise StoreSchemaError(ahead_message(before))
        command.upgrade(migration_config(connection), "head")
        return before.store, before.code


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


class Store(RecordTables, HealthTables, RunTables, FactTables):
    """The facade the rest of jobs/ uses; each group of tables is written by its own module
    (records.py, health.py, runs.py, facts.py). The push's tables have modules of functions that
    take the caller's connection (ledger.py, push_state.py, outcomes.py, field_states.py)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        outside_text.install(engine)  # U+0000 never reaches the database
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_write_ahead_log)
        elif engine.dialect.name == "postgresql":
            sa.event.listen(engine, "connect", _postgresql_binary_arrays)

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True, **engine_options: Any) -> Store:
        """The store at `url`, migrated to the newest schema. A database that cannot be
        reached or opened raises `StoreUnavailableError`, with the driver's reason.

        ``upgrade=False`` (commands that only read): never migrates; a store not at the
        newest revision raises `StoreSchemaError` ("run `engage db upgrade`", or newer than
        the code). A store newer than the code is refused the same way when upgrading."""
        # The store first: its hooks on the engine (store.py __init__) must see every
        # connection, the migration's too, which the pool keeps for the store's use.
        store = cls(sa.create_engine(url, **engine_options))
        engine = store.engine
        try:
            if upgrade:
                migrate(engine)
            else:
                with engine.connect() as connection:
                    refusal = store_revisions(connection).refusal()
                if refusal is not None:
                    raise StoreSchemaError(refusal)
        except StoreSchemaError:
            engine.dispose()
            raise
        except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
            engine.dispose()
            raise _unavailable(engine, exc) from None
        return store

    @classmethod
    def attach(cls, url: str) -> Store:
        """The store at `url` as it is: no migration, no check of its revision (scoring's
        worker processes, whose parent opened the store with `open`)."""
        return cls(sa.create_engine(url))

    def refresh_statistics(self) -> list[str]:
        """PostgreSQL's statistics of the tables a sync changed much, gathered now, before the
        scoring reads them (`jobs.store.statistics`); the tables analyzed."""
        return refresh_statistics(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def revisions_at(url: str) -> Revisions:
    """The schema revisions of the store at `url` and of the code, without migrating.

    Raises:
        StoreUnavailableError: the database cannot be reached.
    """
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return store_revisions(connection)
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
        raise _unavailable(engine, exc) from None
    finally:
        engine.dispose()


def upgrade_at(url: str) -> tuple[str | None, str]:
    """Migrate the store at `url` (`engage db upgrade`): the revisions before and after.

    Raises:
        StoreUnavailableError: the database cannot be reached.
        StoreSchemaError: the store is newer than the code.
    """
    engine = sa.create_engine(url)
    try:
        return migrate(engine)
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
        raise _unavailable(engine, exc) from None
    finally:
        engine.dispose()


def _unavailable(engine: sa.Engine, exc: BaseException) -> StoreUnavailableError:
    where = engine.url.render_as_string(hide_password=True)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return StoreUnavailableError(f"cannot open the store {where}: {reason}")


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


def _postgresql_binary_arrays(dbapi_connection: Any, _record: Any) -> None:
    """Lists (the store's array parameters: `bulk.among`'s ids, `bulk.insert_rows`' columns)
    sent in PostgreSQL's binary array format rather than as text: psycopg quotes each element
    of a text array with a regular expression, a quarter of the CPU of saving a first sync's
    facts. The statements cast every array parameter to its column's type, so the values
    stored are the same."""
    from psycopg.types.array import ListBinaryDumper

    dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)
