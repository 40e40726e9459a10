"""Zoho access tokens kept in the store, so that every process of a connection shares one.

The one owner of the ``zoho_tokens`` table. ``exclusive`` holds a lock that every other process
on the same store respects, for as long as a refresh takes (one HTTP call):

- PostgreSQL: a transaction-scoped advisory lock on the credential (``pg_advisory_xact_lock``),
  so processes on several machines of a team wait for one another, and a crashed holder's lock
  ends with its connection.
- SQLite: ``BEGIN IMMEDIATE``, the database's write lock, with a busy timeout long enough to
  outwait a refresh (the HTTP timeout); readers (WAL) are not blocked.

What the slot wrote is committed even when the refresh then raises (a quota refusal is kept so
that other processes do not ask again before it frees).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.kept_tokens import KeptToken, TokenKey, TokenSlot
from jobs.store import schema as t
from jobs.store.store import Store

#: SQLite: how long a process waits for another's refresh (longer than an HTTP call can take).
SQLITE_LOCK_WAIT_MS = 120_000
_SQLITE_DEFAULT_WAIT_MS = 5_000  # Python's sqlite3 default, restored afterwards

_table = t.zoho_tokens


def _where(key: TokenKey) -> Any:
    return sa.and_(
        _table.c.accounts_url == key.accounts_url,
        _table.c.client_id == key.client_id,
        _table.c.refresh_fingerprint == key.fingerprint,
    )


def _kept(row: Any) -> KeptToken | None:
    if row is None:
        return None
    try:
        times = tuple(datetime.fromisoformat(v) for v in json.loads(row.refreshes or "[]"))
    except (ValueError, TypeError):
        times = ()
    return KeptToken(
        sealed=row.sealed_token,
        api_domain=row.api_domain,
        expires_at=row.expires_at,
        worked_at=row.worked_at,
        refreshes=times,
        refused_until=row.refused_until,
    )


@dataclass
class _StoreSlot:
    conn: sa.Connection
    store: Store
    key: TokenKey

    def read(self) -> KeptToken | None:
        return _kept(self.conn.execute(sa.select(_table).where(_where(self.key))).first())

    def write(self, kept: KeptToken) -> None:
        values = {
            "sealed_token": kept.sealed,
            "api_domain": kept.api_domain,
            "expires_at": kept.expires_at,
            "worked_at": kept.worked_at,
            "refreshes": json.dumps([v.isoformat() for v in kept.refreshes]),
            "refused_until": kept.refused_until,
        }
        stmt = self.store._insert(_table).values(
            accounts_url=self.key.accounts_url,
            client_id=self.key.client_id,
            refresh_fingerprint=self.key.fingerprint,
            **values,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["accounts_url", "client_id", "refresh_fingerprint"], set_=values
        )
        self.conn.execute(stmt)


class StoreTokenCache:
    """A ``connector.kept_tokens.TokenCache`` in the store, shared by every process using it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def peek(self, key: TokenKey) -> KeptToken | None:
        with self.store.engine.connect() as conn:
            return _kept(conn.execute(sa.select(_table).where(_where(key))).first())

    @contextmanager
    def exclusive(self, key: TokenKey) -> Iterator[TokenSlot]:
        engine = self.store.engine
        with engine.connect() as conn:
            sqlite = engine.dialect.name == "sqlite"
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_LOCK_WAIT_MS}")
                # pysqlite begins transactions lazily (before a write); ask for the write lock
                # now, before reading, so two processes cannot both read "no token".
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_id(key))))
            try:
                yield _StoreSlot(conn, self.store, key)
            finally:
                conn.commit()
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {_SQLITE_DEFAULT_WAIT_MS}")


def _lock_id(key: TokenKey) -> int:
    """A signed 64-bit advisory-lock id for the credential (collisions only serialise more)."""
    digest = hashlib.sha256(
        f"zoho-token\0{key.accounts_url}\0{key.client_id}\0{key.fingerprint}".encode()
    ).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
