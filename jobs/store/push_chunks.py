"""The push chunks of a run on workers: which records each plans, how each ended, and the one
caller that finds the run's last chunk ended (it finishes the run).

The one owner of the table ``push_chunks`` (cluster_tables.py). The records of each chunk are
frozen when the push is planned: what is due changes as chunks push (a chunk clears its records'
marks), so a chunk never works it out again. Ending a chunk is an atomic step under the
connection's row lock, as a scoring chunk's ``done`` is (jobs/store/connections.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from jobs.store import cluster_tables as t
from jobs.store.connections import lock_connection_row

_table = t.push_chunks
#: A chunk not taken yet, and one a job took (a job that dies leaves it so: it is never taken
#: again, its records stay due for the next run); an ended chunk has a run status's value (ok,
#: failed, stopped).
TODO, PUSHING = "todo", "pushing"


@dataclass(frozen=True)
class PushChunk:
    chunk: int
    engagements: list[str]
    accounts: list[str]
    state: str
    counts: dict[str, int]
    message: str | None
    fields_missing: bool


class PushChunkTable:
    """The ``push_chunks`` table of the cluster's PostgreSQL store."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def plan(self, name: str, token: int, slices: Sequence[tuple[list[str], list[str]]]) -> bool:
        """Record the run's chunks (engagement ids, account ids each), replacing an older run's;
        False, and nothing changed, if this run's were recorded already (planned twice)."""
        mine = sa.and_(_table.c.connection == name, _table.c.token == token)
        with self.engine.begin() as conn:
            lock_connection_row(conn, name)
            if conn.execute(
                sa.select(sa.func.count()).select_from(_table).where(mine)
            ).scalar_one():
                return False
            conn.execute(_table.delete().where(_table.c.connection == name))
            rows = [
                {
                    "connection": name,
                    "token": token,
                    "chunk": k,
                    "engagements": json.dumps(engagements),
                    "accounts": json.dumps(accounts),
                    "state": TODO,
                    "counts": "{}",
                    "message": None,
                    "fields_missing": False,
                }
                for k, (engagements, accounts) in enumerate(slices)
            ]
            if rows:
                conn.execute(_table.insert(), rows)
        return True

    def planned(self, name: str, token: int) -> bool:
        """Whether the run's chunks are recorded."""
        query = sa.select(sa.func.count()).select_from(_table)
        query = query.where(_table.c.connection == name, _table.c.token == token)
        with self.engine.connect() as conn:
            return bool(conn.execute(query).scalar_one())

    def claim(self, name: str, token: int, chunk: int) -> PushChunk | None:
        """Take the chunk to push it: None unless it was never taken (a job delivered twice,
        or run again after its worker died, pushes nothing)."""
        stmt = (
            _table.update()
            .where(
                _table.c.connection == name,
                _table.c.token == token,
                _table.c.chunk == chunk,
                _table.c.state == TODO,
            )
            .values(state=PUSHING)
            .returning(*_table.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _chunk(row)

    def not_deferred(self, name: str, token: int) -> list[int]:
        """The run's chunks never taken and with no job waiting or running for them: those
        whose deferral was lost (the job that planned them died before deferring them)."""
        query = sa.text(
            "SELECT p.chunk FROM push_chunks AS p WHERE p.connection = :name"
            " AND p.token = :token AND p.state = :todo AND NOT EXISTS ("
            " SELECT 1 FROM procrastinate_jobs AS j WHERE j.task_name = 'engage.push'"
            " AND j.status IN ('todo', 'doing') AND j.args->>'connection' = p.connection"
            " AND (j.args->>'token')::bigint = p.token AND (j.args->>'chunk')::int = p.chunk)"
            " ORDER BY p.chunk"
        )
        with self.engine.connect() as conn:
            params = {"name": name, "token": token, "todo": TODO}
            return [int(k) for k in conn.execute(query, params).scalars()]

    def end(
        self,
        name: str,
        token: int,
        chunk: int,
        *,
        state: str,
        counts: dict[str, int],
        message: str | None,
        fields_missing: bool,
    ) -> list[PushChunk] | None:
        """Record how the chunk (taken by `claim`) ended; every chunk of the run if this was
        the last one to end (exactly one caller gets them), else None."""
        mine = sa.and_(_table.c.connection == name, _table.c.token == token)
        with self.engine.begin() as conn:
            lock_connection_row(conn, name)  # serialises the run's last chunks
            changed = conn.execute(
                _table.update()
                .where(mine, _table.c.chunk == chunk, _table.c.state == PUSHING)
                .values(
                    state=state,
                    counts=json.dumps(counts),
                    message=message,
                    fields_missing=fields_missing,
                )
            ).rowcount
            rows = [
                _chunk(r)
                for r in conn.execute(sa.select(_table).where(mine).order_by(_table.c.chunk))
            ]
        if not changed or any(r.state in (TODO, PUSHING) for r in rows):
            return None
        return rows


def _chunk(row: sa.Row[tuple[object, ...]]) -> PushChunk:
    r = row._mapping
    return PushChunk(
        chunk=r["chunk"],
        engagements=json.loads(r["engagements"]),
        accounts=json.loads(r["accounts"]),
        state=r["state"],
        counts=json.loads(r["counts"]),
        message=r["message"],
        fields_missing=r["fields_missing"],
    )
