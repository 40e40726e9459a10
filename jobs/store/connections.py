"""Connections run by `engage worker`: their rows, their schedule, the lease of their current
run (with its fencing token) and the fan-in of a run's scoring chunks.

The one owner of the tables ``connections`` and ``run_chunks``. Every statement that two
workers may race on is one atomic ``UPDATE … WHERE … RETURNING``: whoever gets the row back won.
Times come from the caller's clock (tests inject theirs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from jobs.store import cluster_tables as t
from jobs.store.schema import UtcDateTime

_table = t.connections


def driver_conninfo(store_url: str) -> tuple[str, str]:
    """The store URL's backend (postgresql, sqlite) and the URL as libpq's conninfo (no
    SQLAlchemy driver name; the search_path option kept)."""
    url = sa.engine.make_url(store_url)
    return url.get_backend_name(), url.set(drivername=url.get_backend_name()).render_as_string(
        hide_password=False
    )


class UnknownConnection(LookupError):
    """No connection of that name in the store."""


@dataclass(frozen=True)
class ConnectionRow:
    name: str
    org: str
    kind: str
    config_toml: str
    mapping_toml: str
    #: Secret name (client_id, api_key, ...) -> the environment variable that holds it.
    secret_env: Mapping[str, str]
    every_seconds: float
    paused: bool
    next_due_at: datetime
    lease_token: int
    lease_holder: str | None
    lease_expires_at: datetime | None
    lease_run_id: int | None
    added_at: datetime


def _row(r: Any) -> ConnectionRow:
    values = dict(r._mapping)
    values["secret_env"] = json.loads(values["secret_env"])
    return ConnectionRow(**values)


class ConnectionTables:
    """The ``connections`` and ``run_chunks`` tables of the cluster's PostgreSQL store."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # --- rows ----------------------------------------------------------------------------------
    def add(
        self,
        *,
        name: str,
        org: str,
        kind: str,
        config_toml: str,
        mapping_toml: str,
        secret_env: Mapping[str, str],
        every_seconds: float,
        now: datetime,
    ) -> bool:
        """Add the connection, or replace its definition (keeping its lease and pause);
        True if it is new. It is due at once."""
        values = {
            "org": org,
            "kind": kind,
            "config_toml": config_toml,
            "mapping_toml": mapping_toml,
            "secret_env": json.dumps(dict(secret_env), sort_keys=True),
            "every_seconds": every_seconds,
        }
        with self.engine.begin() as conn:
            updated = conn.execute(_table.update().where(_table.c.name == name).values(**values))
            if updated.rowcount:
                return False
            conn.execute(
                _table.insert().values(
                    name=name,
                    paused=False,
                    next_due_at=now,
                    lease_token=0,
                    added_at=now,
                    **values,
                )
            )
        return True

    def all(self) -> list[ConnectionRow]:
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(sa.select(_table).order_by(_table.c.name))]

    def get(self, name: str) -> ConnectionRow:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_table).where(_table.c.name == name)).first()
        if row is None:
            raise UnknownConnection(name)
        return _row(row)

    def set_paused(self, name: str, paused: bool) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                _table.update().where(_table.c.name == name).values(paused=paused)
            ).rowcount
        if not done:
            raise UnknownConnection(name)

    def remove(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.run_chunks.delete().where(t.run_chunks.c.connection == name))
            done = conn.execute(_table.delete().where(_table.c.name == name)).rowcount
        if not done:
            raise UnknownConnection(name)

    # --- schedule ------------------------------------------------------------------------------
    def claim_due(self, now: datetime) -> list[str]:
        """The connections due at ``now`` (not paused, no live lease), each moved to its next
        time in the same statement: of two workers ticking at once, one claims each."""
        free = sa.or_(_table.c.lease_expires_at.is_(None), _table.c.lease_expires_at < now)
        stmt = (
            _table.update()
            .where(_table.c.paused.is_(False), _table.c.next_due_at <= now, free)
            .values(
                next_due_at=sa.bindparam("now_", now, type_=UtcDateTime())
                + sa.func.make_interval(0, 0, 0, 0, 0, 0, _table.c.every_seconds)
            )
            .returning(_table.c.name)
        )
        with self.engine.begin() as conn:
            return sorted(conn.execute(stmt).scalars())

    # --- lease and fencing ---------------------------------------------------------------------
    def take_lease(self, name: str, holder: str, now: datetime, ttl: timedelta) -> int | None:
        """Take the connection's lease unless a live one is held: the new fencing token, or
        None. A lease whose holder stopped renewing it is taken over (its token is superseded)."""
        stmt = (
            _table.update()
            .where(
                _table.c.name == name,
                sa.or_(_table.c.lease_expires_at.is_(None), _table.c.lease_expires_at < now),
            )
            .values(
                lease_token=_table.c.lease_token + 1,
                lease_holder=holder,
                lease_expires_at=now + ttl,
                lease_run_id=None,
            )
            .returning(_table.c.lease_token)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def renew_lease(self, name: str, token: int, now: datetime, ttl: timedelta) -> bool:
        """Extend the lease of ``token``; False if it was taken over or released."""
        stmt = (
            _table.update()
            .where(_table.c.name == name, _table.c.lease_token == token)
            .where(_table.c.lease_expires_at.is_not(None))
            .values(lease_expires_at=now + ttl)
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def set_lease_holder(self, name: str, token: int, holder: str, run_id: int | None) -> None:
        """Who works for the run now (the job the reaper may find stalled) and its run id."""
        values: dict[str, Any] = {"lease_holder": holder}
        if run_id is not None:
            values["lease_run_id"] = run_id
        with self.engine.begin() as conn:
            conn.execute(
                _table.update()
                .where(_table.c.name == name, _table.c.lease_token == token)
                .values(**values)
            )

    def release_lease(self, name: str, token: int) -> None:
        """End the run's lease (the token stays: a late chunk of that run still writes nothing)."""
        with self.engine.begin() as conn:
            conn.execute(
                _table.update()
                .where(_table.c.name == name, _table.c.lease_token == token)
                .values(lease_holder=None, lease_expires_at=None, lease_run_id=None)
            )

    def release_leases_held_by(self, holders: list[str]) -> list[str]:
        """Release the leases held by these (stalled) jobs at once: the connections freed."""
        if not holders:
            return []
        stmt = (
            _table.update()
            .where(_table.c.lease_holder.in_(holders), _table.c.lease_expires_at.is_not(None))
            .values(lease_holder=None, lease_expires_at=None, lease_run_id=None)
            .returning(_table.c.name)
        )
        with self.engine.begin() as conn:
            return sorted(conn.execute(stmt).scalars())

    def release_leases_of_dead_pushes(self, runs: list[tuple[str, int]]) -> list[str]:
        """Release the leases of these runs (connection, token), whose push chunk the reaper
        failed, unless another push chunk of the run still waits or runs (the run is then
        alive; its lease is freed when its chunks are done with it): the connections freed."""
        freed: list[str] = []
        stmt = sa.text(
            "UPDATE connections AS c SET lease_holder = NULL, lease_expires_at = NULL,"
            " lease_run_id = NULL WHERE c.name = :name AND c.lease_token = :token"
            " AND c.lease_expires_at IS NOT NULL AND NOT EXISTS ("
            " SELECT 1 FROM procrastinate_jobs AS j WHERE j.status IN ('todo', 'doing')"
            " AND j.task_name = 'engage.push' AND j.args->>'connection' = c.name"
            " AND (j.args->>'token')::bigint = c.lease_token) RETURNING c.name"
        )
        with self.engine.begin() as conn:
            for name, token in sorted(set(runs)):
                freed += conn.execute(stmt, {"name": name, "token": token}).scalars()
        return freed

    def keep_leases_of_waiting_steps(self, now: datetime, ttl: timedelta) -> int:
        """Extend the leases of runs whose next step waits in procrastinate's queue (a chunk or
        a push deferred, not started yet): a run is alive while its steps are, not only while
        one of them runs. Called by the reaper; the count of leases kept."""
        stmt = sa.text(
            "UPDATE connections AS c SET lease_expires_at = :until "
            "WHERE c.lease_expires_at IS NOT NULL AND EXISTS ("
            " SELECT 1 FROM procrastinate_jobs AS j WHERE j.status = 'todo'"
            " AND j.args->>'connection' = c.name"
            " AND (j.args->>'token')::bigint = c.lease_token)"
        ).bindparams(sa.bindparam("until", now + ttl, type_=UtcDateTime()))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount or 0

    def is_current(self, name: str, token: int) -> bool:
        """Whether ``token`` is still the connection's newest: the fence every chunk checks
        before it writes (a run taken over has a newer token)."""
        query = sa.select(_table.c.lease_token).where(_table.c.name == name)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none() == token

    # --- the fan-in of scoring chunks ----------------------------------------------------------
    def start_chunks(self, name: str, token: int, count: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.run_chunks.delete().where(t.run_chunks.c.connection == name))
            if count:
                conn.execute(
                    t.run_chunks.insert(),
                    [
                        {"connection": name, "token": token, "chunk": k, "done": False}
                        for k in range(count)
                    ],
                )

    def chunk_done(self, name: str, token: int, chunk: int) -> bool:
        """Mark the chunk done; True once every chunk of the run is done: for the chunk that
        was the last left, and for any chunk of the run run again after that (a chunk whose
        worker died after marking it may have been the last: its retry plans the push, which
        the plan makes happen once)."""
        chunks = t.run_chunks
        mine = sa.and_(chunks.c.connection == name, chunks.c.token == token)
        with self.engine.begin() as conn:
            lock_connection_row(conn, name)  # serialises the run's last chunks
            conn.execute(
                chunks.update()
                .where(mine, chunks.c.chunk == chunk, chunks.c.done.is_(False))
                .values(done=True)
            )
            total, left = conn.execute(
                sa.select(sa.func.count(), sa.func.count().filter(chunks.c.done.is_(False))).where(
                    mine
                )
            ).one()
        return bool(total) and not left


def lock_connection_row(conn: sa.Connection, name: str) -> None:
    """Lock the connection's row until the transaction ends: the steps of one run that must
    not interleave (the last chunks of a run) wait on it."""
    conn.execute(sa.select(_table.c.name).where(_table.c.name == name).with_for_update())


# --- what `engage cluster status` shows (procrastinate's tables read, never written) ------------
def jobs_installed(engine: sa.Engine) -> bool:
    """Whether procrastinate's tables are in the cluster store's schema (`engage cluster init`)."""
    with engine.connect() as conn:
        return (
            conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None
        )


def job_counts(engine: sa.Engine) -> dict[str, dict[str, int]]:
    """Jobs by task and state."""
    query = sa.text(
        "SELECT task_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2"
    )
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for task, status, n in conn.execute(query):
            counts.setdefault(task, {})[status] = int(n)
    return counts


def stalled_jobs(engine: sa.Engine, stale_seconds: float) -> list[dict[str, Any]]:
    """Jobs ``doing`` on a worker whose heartbeat is older than ``stale_seconds`` (or gone)."""
    query = sa.text(
        "SELECT j.id, j.task_name, j.args::text AS args FROM procrastinate_jobs j "
        "LEFT JOIN procrastinate_workers w ON w.id = j.worker_id "
        "WHERE j.status = 'doing' AND (w.id IS NULL OR "
        "w.last_heartbeat < now() - make_interval(secs => :stale)) ORDER BY j.id"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {"stale": stale_seconds}).mappings().all()
    return [{"id": r["id"], "task": r["task_name"], "args": json.loads(r["args"])} for r in rows]
