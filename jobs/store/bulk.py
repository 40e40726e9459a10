"""Many rows per statement without SQLAlchemy's per-row parameter machinery, on both databases.

``Connection.execute(statement, list_of_dicts)`` builds a parameter dictionary per row and
runs it through the compiled statement's processing: for the 70,000 field-state rows of a push
of 10,000 deals that took 3 s, against 0.5 s for the same rows handed to the driver. Here a
statement is compiled once per dialect, each column's own bind processor (the JSON serializer,
`UtcDateTime`, …) is applied to the values directly, and the driver's ``executemany`` gets
tuples (or dictionaries, for a named paramstyle). What reaches the database is what SQLAlchemy
would have sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType


def id_slices(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    """`ids` in consecutive lists of at most `size` (one chunk each)."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def among(column: sa.ColumnElement[Any], ids: Collection[str]) -> sa.ColumnElement[bool]:
    """``column IN ids``, the ids sent as one parameter whatever their number.

    ``column.in_(ids)`` renders and binds one parameter per id on every execution; for the
    2,000-id lists of a push that was a tenth of its time at 10,000 deals. One parameter keeps
    the compiled statement cached: a JSON array read by ``json_each`` on SQLite, a text array
    on PostgreSQL, whose distinct ids are looked up one by one (``IN (SELECT unnest(…))``).
    Not ``= ANY(array)``: where the column is the second of a key (``source, external_id``;
    ``module, record_id``) PostgreSQL planned that as a scan of every row under the first
    column, with the array as a filter, each time: a first sync's facts, 1,000 ids per batch
    into a table growing to millions of rows, went quadratic (0.3 s per batch at 2 million
    tickets, against 4 ms looked up; benchmarks/workers.py prints the rows per second). On a
    table PostgreSQL has not analyzed yet, either form may still read every row under the
    first column (it guesses that few match): `FactWriter` inserts new facts unlooked-up.
    """
    return _Among(column, sa.bindparam(None, list(ids), type_=_IdList()))


class _IdList(sa.TypeDecorator[list[str]]):
    """A list of ids as one parameter: JSON text on SQLite, text[] on PostgreSQL."""

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(sa.String()))
        return dialect.type_descriptor(sa.String())

    def process_bind_param(self, value: list[str] | None, dialect: sa.Dialect) -> Any:
        if dialect.name == "postgresql":
            return value
        return json.dumps(value)


class _Among(sa.ColumnElement[bool]):
    inherit_cache = True
    type = sa.Boolean()
    # A condition already: without this, SQLite's "= 1" after it would keep indexes unused.
    _is_implicitly_boolean = True
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 - SQLAlchemy's protocol
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: sa.ColumnElement[Any], ids: sa.BindParameter[list[str]]) -> None:
        self.column = column
        self.ids = ids


@compiles(_Among)
def _among_sqlite(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = compiler.process(element.column, **kw), compiler.process(element.ids, **kw)
    return f"{column} IN (SELECT value FROM json_each({ids}))"


@compiles(_Among, "postgresql")
def _among_postgresql(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = compiler.process(element.column, **kw), compiler.process(element.ids, **kw)
    return f"{column} IN (SELECT unnest({ids}))"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Where each given column goes in the driver's parameter tuple; None: named parameters.
    order: tuple[int, ...] | None
    processors: tuple[Callable[[Any], Any] | None, ...]


_CACHE: dict[tuple[Any, ...], _Compiled] = {}


def upsert_many(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    keys: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
    merge: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (values in the order of ``columns``); with ``keys``, a row whose keys
    exist updates the other given columns instead (ON CONFLICT … DO UPDATE, both databases),
    or only those of ``update`` when given. The JSON objects of ``merge`` columns are merged
    into those stored, key by key (a key given replaces the stored key's value), instead of
    replacing them: SQLite's json_patch, PostgreSQL's jsonb ``||`` (the column must be jsonb
    there). No value of a merged object may be null (json_patch would drop its key)."""
    if not rows:
        return
    if update is None:
        update = [c for c in columns if c not in (keys or ())]
    cache_key = (
        table.name,
        tuple(columns),
        tuple(keys or ()),
        tuple(update),
        tuple(merge),
        conn.dialect.name,
    )
    compiled = _CACHE.get(cache_key)
    if compiled is None:
        compiled = _CACHE[cache_key] = _compile(conn.dialect, table, columns, keys, update, merge)
    if any(compiled.processors):
        # Column by column, each processor once per distinct value object, on None too, as
        # SQLAlchemy does (JSON turns it into 'null').
        values: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for index, processor in enumerate(compiled.processors):
            if processor is not None:
                values[index] = _processed(processor, values[index])
        rows = list(zip(*values, strict=True))
    params: list[Any]
    if compiled.order is None:
        params = [dict(zip(columns, row, strict=True)) for row in rows]
    elif compiled.order == tuple(range(len(columns))):
        params = rows if isinstance(rows, list) else list(rows)
    else:
        params = [tuple(row[i] for i in compiled.order) for row in rows]
    conn.exec_driver_sql(compiled.sql, params)


def _processed(processor: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    """``processor`` applied to each value, once per distinct object: the rows of one batch
    share their timestamp object, and the values of records planned from equal health are
    the same objects (jobs/push/plan.py); the objects are alive in ``column``, so ids are unique."""
    distinct = {id(value): value for value in column}
    done = {key: processor(value) for key, value in distinct.items()}
    return [done[id(value)] for value in column]


def insert_rows(
    dialect: sa.Dialect, table: sa.Table, columns: Sequence[str]
) -> tuple[Any, Callable[[Sequence[Mapping[str, Any]]], Any]]:
    """An INSERT of many rows of ``columns`` as one short statement, and the function that
    turns rows (dicts by column) into its parameters; the statement takes
    ``on_conflict_do_update`` and ``returning`` as the dialect's INSERT does.

    On PostgreSQL the rows go as one array per column, unnested into rows
    (``INSERT … SELECT … FROM unnest(…)``): SQLAlchemy's many-row VALUES rendered 10,000
    placeholders for 1,000 tickets, which psycopg parsed anew for every batch (too long for
    its cache: half the CPU of saving a first sync's facts) and the server planned anew. Each
    element goes through its column's own bind processing (ARRAY of the column's type), and
    the outside-text rule sees the arrays (jobs/store/outside_text.py). On SQLite: VALUES,
    one row per parameter set, as before.
    """
    stmt = insert(dialect, table)
    if dialect.name != "postgresql":
        return stmt, list
    # One dimension: a value that is itself a sequence (a ticket's pauses, JSON) is one element.
    arrays = [
        sa.bindparam(name, type_=postgresql.ARRAY(table.c[name].type, dimensions=1))
        for name in columns
    ]
    given = sa.func.unnest(*arrays).table_valued(*columns).render_derived()
    rows_of = sa.select(*(given.c[name] for name in columns))

    as_element = {
        name: convert
        for name in columns
        if (convert := _array_element(table.c[name].type)) is not None
    }

    def params(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        values = {name: [row[name] for row in rows] for name in columns}
        for name, convert in as_element.items():
            values[name] = [convert(value) for value in values[name]]
        return values

    return stmt.from_select(list(columns), rows_of), params


def _array_element(column_type: sa.types.TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """What makes a value one element of a PostgreSQL array of ``column_type`` (None: the
    value as it is).

    psycopg refuses a list of mixed Python types ("cannot dump lists of mixed types"): a
    float column given ``100.0`` and ``0`` (a file's "100" and "0" read as JSON numbers), a
    numeric one given a Decimal and an int. Numbers become the column's own Python type; None
    and the values of other columns go as they are.
    """
    if isinstance(column_type, sa.Float):
        return lambda value: value if value is None else float(value)
    if isinstance(column_type, sa.Numeric):
        return lambda value: value if value is None else Decimal(str(value))
    return None


def insert(dialect: sa.Dialect, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` on both databases."""
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    if dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {dialect.name}")


def _merged(dialect: sa.Dialect, stored: sa.Column[Any], given: Any) -> Any:
    """SQL for ``stored`` with the keys of the JSON object ``given`` merged in."""
    if dialect.name == "postgresql":
        return stored.op("||")(given)
    return sa.func.json_patch(stored, given)


def _compile(
    dialect: sa.Dialect,
    table: sa.Table,
    columns: Sequence[str],
    keys: Sequence[str] | None,
    update: Sequence[str],
    merge: Sequence[str],
) -> _Compiled:
    stmt = insert(dialect, table).values(
        {name: sa.bindparam(name, type_=table.c[name].type) for name in columns}
    )
    if keys:
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_={
                    c: _merged(dialect, table.c[c], stmt.excluded[c])
                    if c in merge
                    else stmt.excluded[c]
                    for c in update
                },
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    compiled = stmt.compile(dialect=dialect)
    order = None
    if compiled.positional:
        order = tuple(columns.index(name) for name in compiled.positiontup)
    return _Compiled(
        sql=compiled.string,
        order=order,
        processors=tuple(
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
        ),
    )
