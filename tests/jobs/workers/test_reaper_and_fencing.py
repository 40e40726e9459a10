"""The reaper (procrastinate issue #1446) and the fencing token, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import procrastinate
import psycopg
import pytest
import sqlalchemy as sa

from connector.sandbox import SandboxCRM
from jobs.store import Store
from jobs.store.connections import ConnectionTables
from jobs.workers import push_steps, steps
from jobs.workers.app import Timings, make_app
from jobs.workers.connections import read_definition, save_definition
from jobs.workers.reaper import reap
from jobs.workers.runtime import Runtime
from jobs.workers.tasks import ALERTS, PUSH, SCORE_CHUNK, defer_run
from tests.conftest import FakeClock
from tests.jobs.workers.conftest import zoho_config, zoho_env

pytestmark = pytest.mark.postgres

TIMINGS = Timings(stale_seconds=3, heartbeat_seconds=1, polling_seconds=0.5)


@pytest.fixture
def cluster(pg_schema: Callable[[], str]) -> Iterator[Store]:
    store = Store.open(pg_schema())
    yield store
    store.close()


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def _status(store: Store, job_id: int) -> str:
    with store.engine.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT status::text FROM procrastinate_jobs WHERE id = :id"),
                {"id": job_id},
            ).scalar_one()
        )


def _one_connection(cluster: Store, clock: FakeClock) -> tuple[ConnectionTables, Runtime]:
    """A connection "c1" (no config: these tests never open it) and a runtime on the cluster."""
    tables = ConnectionTables(cluster.engine)
    tables.add(
        name="c1", org="o", kind="zoho", config_toml="", mapping_toml="", secret_env={},
        every_seconds=60, now=clock(),
    )  # fmt: skip
    return tables, replace(Runtime.for_store(cluster, TIMINGS), clock=clock)


def test_a_stalled_run_holding_a_queueing_lock_is_failed_not_retried_and_the_next_runs(
    cluster: Store, clock: FakeClock
) -> None:
    """Issue #1446: retrying a dead run whose next tick already waits with the same queueing
    lock is a unique violation, every time: the connection would never run again."""
    app = make_app(_url(cluster), TIMINGS)
    tables, rt = _one_connection(cluster, clock)

    async def scenario() -> None:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            manager = app.job_manager
            worker = await manager.register_worker()
            assert await asyncio.to_thread(defer_run, app, "c1")
            dead = await manager.fetch_job(queues=None, worker_id=worker)
            assert dead is not None and dead.queueing_lock == "run:c1"
            assert dead.id is not None
            assert tables.take_lease("c1", f"job:{dead.id}", clock(), TIMINGS.lease) == 1
            assert await asyncio.to_thread(
                defer_run, app, "c1"
            )  # the next tick's run waits behind it
            assert not await asyncio.to_thread(defer_run, app, "c1")  # at most one waits
            chunk = await app.configure_task(SCORE_CHUNK, queue="score").defer_async(
                connection="c1", token=1, chunk=0
            )
            assert (await manager.fetch_job(queues=["score"], worker_id=worker)).id == chunk  # type: ignore[union-attr]
            push = await app.configure_task(PUSH, queue="push").defer_async(
                connection="c1", token=1, chunk=0
            )
            assert (await manager.fetch_job(queues=["push"], worker_id=worker)).id == push  # type: ignore[union-attr]
            # The worker is killed: its heartbeat stops.
            with cluster.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "UPDATE procrastinate_workers "
                        "SET last_heartbeat = now() - interval '4 seconds'"
                    )
                )
            # The documented recipe (retry every stalled job) fails on the dead run:
            with pytest.raises((procrastinate.exceptions.ConnectorException, psycopg.Error)):
                await manager.retry_job(dead)
            report = await reap(manager, rt)
            assert report.failed == [dead.id, push]
            assert report.retried == [chunk]
            assert report.freed == ["c1"]  # the dead run's lease, released at once
            assert _status(cluster, dead.id) == "failed"
            assert _status(cluster, push) == "failed"
            assert _status(cluster, chunk) == "todo"
            # The waiting run is free to run now: the live worker takes the connection.
            live = await manager.register_worker()
            waiting = await manager.fetch_job(queues=["run"], worker_id=live)
            assert waiting is not None and waiting.queueing_lock == "run:c1"
            assert tables.take_lease("c1", f"job:{waiting.id}", clock(), TIMINGS.lease) == 2
            # A second pass finds nothing more to do (and raises nothing).
            again = await reap(manager, rt)
            assert again.failed == [] and again.freed == []

    asyncio.run(scenario())


def test_a_chunk_or_the_push_plan_of_a_run_that_was_taken_over_writes_nothing(
    cluster: Store,
    sandbox: SandboxCRM,
    clock: FakeClock,
    pg_schema: Callable[[], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = pg_schema()
    config = zoho_config(tmp_path / "c1.toml", sandbox, own)
    for variable, value in zoho_env("c1", sandbox).items():
        monkeypatch.setenv(variable, value)
    tables = ConnectionTables(cluster.engine)
    rt = replace(Runtime.for_store(cluster, TIMINGS), clock=clock)
    save_definition(tables, rt.limits, read_definition("c1", config, {}), clock())
    fanned = steps.start_run(rt, "c1", "job:1")
    assert isinstance(fanned, steps.Fanned) and fanned.token == 1 and fanned.chunks == 1
    # The run stalls longer than its lease: another run takes the connection over.
    clock.advance(seconds=TIMINGS.lease_seconds + 1)
    assert tables.take_lease("c1", "job:2", clock(), TIMINGS.lease) == 2
    writes_before = len(sandbox.calls)
    with pytest.raises(steps.Superseded):
        steps.score_part(rt, "c1", 1, 0)
    with pytest.raises(steps.Superseded):
        push_steps.plan_push(rt, "c1", 1)  # its push is not planned either
    # (a push chunk of a run taken over: test_push_chunks.py)
    store = Store.open(own)
    ids = store.engagement_ids()
    assert ids and store.health(ids) == {}  # nothing scored was saved
    assert [c for c in sandbox.calls[writes_before:] if c[0] == "update"] == []
    # The newer run's chunk does write: the fence, not something else, stopped the old one.
    rt.connections.start_chunks("c1", 2, 1)
    assert steps.score_part(rt, "c1", 2, 0) is True  # and it was the run's last chunk
    assert len(store.health(ids)) > 0
    store.close()


def test_a_stalled_alerts_job_and_push_chunk_are_failed_and_the_lease_waits_for_the_other_chunks(
    cluster: Store, clock: FakeClock
) -> None:
    """An alerts job left "doing" may have posted a message: failed, never run again (its
    outbox rows stay "sending", uncertain). A dead push chunk is failed too; its run keeps the
    lease while another of its chunks still waits, and loses it once none does."""
    app = make_app(_url(cluster), TIMINGS)
    tables, rt = _one_connection(cluster, clock)
    token = tables.take_lease("c1", "job:0", clock(), TIMINGS.lease)
    assert token == 1

    async def stall(worker: int) -> None:
        with cluster.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE procrastinate_workers SET last_heartbeat = now() - "
                    "interval '4 seconds' WHERE id = :id"
                ),
                {"id": worker},
            )

    async def scenario() -> None:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            manager = app.job_manager
            alerts = await app.configure_task(
                ALERTS, lock="alerts:c1", queueing_lock="alerts:c1", queue="alerts"
            ).defer_async(connection="c1", run_id=7)
            pushes = [
                await app.configure_task(PUSH, queue="push").defer_async(
                    connection="c1", token=token, chunk=k
                )
                for k in (0, 1)
            ]
            dead = await manager.register_worker()
            assert (await manager.fetch_job(queues=["alerts"], worker_id=dead)).id == alerts  # type: ignore[union-attr]
            assert (await manager.fetch_job(queues=["push"], worker_id=dead)).id == pushes[0]  # type: ignore[union-attr]
            await stall(dead)
            report = await reap(manager, rt)
            assert report.failed == [alerts, pushes[0]] and report.retried == []
            assert _status(cluster, alerts) == "failed"
            assert _status(cluster, pushes[0]) == "failed"
            assert report.freed == []  # chunk 1 of the run still waits: the lease is kept
            assert tables.get("c1").lease_expires_at is not None
            # Chunk 1 is taken by a worker that dies too: now no chunk of the run is left.
            second = await manager.register_worker()
            assert (await manager.fetch_job(queues=["push"], worker_id=second)).id == pushes[1]  # type: ignore[union-attr]
            await stall(second)
            again = await reap(manager, rt)
            assert again.failed == [pushes[1]] and again.freed == ["c1"]
            assert tables.get("c1").lease_expires_at is None
            assert _status(cluster, alerts) == "failed"  # not run again

    asyncio.run(scenario())
