"""What every group of tables shares: the engine, dialect-aware inserts and upserts."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeAlias

import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.dialects import postgresql, sqlite

from jobs.store.bulk import among

#: The store's connection and engine, named for callers that pass one along (to share a
#: transaction) without importing SQLAlchemy: only jobs/store issues SQL.
Connection: TypeAlias = sa.Connection
Engine: TypeAlias = sa.Engine


class StoreBase:
    """The engine and the plumbing every group of tables of the `Store` facade uses."""

    engine: sa.Engine

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


def where_among(
    query: Any, table: sa.Table, ids: Collection[str] | None, column: str = "engagement_id"
) -> Any:
    """`query` limited to the rows of the engagements `ids` (all rows when None)."""
    return query if ids is None else query.where(among(table.c[column], ids))


@functools.cache
def list_validator(model: type[BaseModel]) -> Callable[[list[dict[str, Any]]], list[Any]]:
    """Validates a list of a model's field dicts in one call (the adapter is built once)."""
    return TypeAdapter(list[model]).validate_python  # type: ignore[valid-type]
