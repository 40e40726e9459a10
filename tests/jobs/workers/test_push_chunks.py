"""A run's push in chunks on workers (jobs/workers/push_steps.py), step by step in-process on a
real PostgreSQL and a Zoho sandbox over HTTP: each record written once whatever the chunking,
the run finished once by its last chunk, what is due settled only after every chunk, fencing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import procrastinate
import pytest

from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultInjector, FaultPlan
from jobs.push.due import PUSH_FINGERPRINT
from jobs.store import Store
from jobs.store.runs import RunStatus
from jobs.workers import push_steps, steps
from jobs.workers.app import Timings, make_app
from jobs.workers.connections import read_definition, save_definition
from jobs.workers.runtime import Runtime
from jobs.workers.tasks import PUSH
from tests.conftest import FakeClock
from tests.jobs.workers.conftest import zoho_config, zoho_env

pytestmark = pytest.mark.postgres

TIMINGS = Timings(stale_seconds=3, heartbeat_seconds=1, polling_seconds=0.5)
#: 300 sandbox deals, 120 accounts: three push chunks of at most 100 deals (and 100 accounts).
CHUNK = 100


@dataclass
class Org:
    rt: Runtime
    store: Store
    observer: FaultInjector
    sandbox: SandboxCRM
    app: procrastinate.App


@pytest.fixture
def org(
    pg_schema: Callable[[], str],
    sandbox: SandboxCRM,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Org]:
    cluster = Store.open(pg_schema())
    app = make_app(cluster.engine.url.render_as_string(hide_password=False), TIMINGS)
    with app.open():
        app.schema_manager.apply_schema()  # the push plan looks for the chunks' jobs
    own = pg_schema()
    config = zoho_config(tmp_path / "c1.toml", sandbox, own, f"push_chunk_records = {CHUNK}\n")
    for variable, value in zoho_env("c1", sandbox).items():
        monkeypatch.setenv(variable, value)
    rt = replace(Runtime.for_store(cluster, TIMINGS), clock=clock)
    save_definition(rt.connections, rt.limits, read_definition("c1", config, {}), clock())
    observer = sandbox.install_faults(FaultPlan())
    store = Store.open(own)
    yield Org(rt, store, observer, sandbox, app)
    store.close()
    cluster.close()


def scored(org: Org, holder: str = "job:1") -> int:
    """A run synced and every scoring chunk done: its token."""
    fanned = steps.start_run(org.rt, "c1", holder)
    assert isinstance(fanned, steps.Fanned)
    for k in range(fanned.chunks):
        steps.score_part(org.rt, "c1", fanned.token, k)
    return fanned.token


def updates(sandbox: SandboxCRM) -> int:
    return sum(1 for c in sandbox.calls if c[0] == "update")


def test_three_push_chunks_write_each_record_once_and_the_last_finishes_the_run_once(
    org: Org,
) -> None:
    token = scored(org)
    fan = push_steps.plan_push(org.rt, "c1", token)
    assert fan == push_steps.PushFan([0, 1, 2])
    ends = [push_steps.push_part(org.rt, "c1", token, k) for k in (2, 0)]
    assert ends == [None, None]
    assert org.store.meta(PUSH_FINGERPRINT) is None  # not complete before the last chunk
    assert org.store.runs(1)[0].status == RunStatus.RUNNING
    last = push_steps.push_part(org.rt, "c1", token, 1)
    assert last is not None and last.ok
    # A chunk run again (a redelivered job) writes nothing and does not finish the run again.
    assert push_steps.push_part(org.rt, "c1", token, 0) is None
    calls = len(org.sandbox.calls)
    assert push_steps.push_part(org.rt, "c1", token, 1) is None
    assert len(org.sandbox.calls) == calls
    received = org.observer.counts.rows_received
    assert received and set(received.values()) == {1}
    run = org.store.runs(1)[0]
    assert (run.id, run.status) == (last.run_id, RunStatus.OK)
    assert run.counts["push_written"] == len(received)
    assert org.store.meta(PUSH_FINGERPRINT) is not None
    assert org.rt.connections.get("c1").lease_expires_at is None  # the lease released
    # Nothing changed since: the next run's push has no chunk and ends at once.
    again = scored(org, "job:2")
    quiet = push_steps.plan_push(org.rt, "c1", again)
    assert quiet.chunks == [] and quiet.ended is not None and quiet.ended.ok
    assert push_steps.plan_push(org.rt, "c1", again) == push_steps.PushFan([])  # ended once
    assert org.observer.counts.rows_received == received


def test_a_chunk_that_fails_leaves_the_push_incomplete_and_its_records_to_the_next_run(
    org: Org,
) -> None:
    token = scored(org)
    assert push_steps.plan_push(org.rt, "c1", token).chunks == [0, 1, 2]
    assert push_steps.push_part(org.rt, "c1", token, 0) is None
    after_first = dict(org.observer.counts.rows_received)
    org.observer.plan = FaultPlan(rate_429=1.0)  # the CRM refuses every call for a while
    assert push_steps.push_part(org.rt, "c1", token, 1) is None
    org.observer.plan = FaultPlan()
    end = push_steps.push_part(org.rt, "c1", token, 2)
    assert end is not None and end.status is RunStatus.STOPPED
    run = org.store.runs(1)[0]
    assert run.status == RunStatus.STOPPED and run.message
    assert org.store.meta(PUSH_FINGERPRINT) is None  # not marked complete
    written_by_run_1 = set(org.observer.counts.rows_received)
    assert written_by_run_1 > set(after_first)
    # The next run writes what chunk 1 did not, and nothing the others wrote.
    token = scored(org, "job:2")
    fan = push_steps.plan_push(org.rt, "c1", token)
    assert fan.chunks
    ends = [push_steps.push_part(org.rt, "c1", token, k) for k in fan.chunks]
    assert ends[-1] is not None and ends[-1].ok
    received = org.observer.counts.rows_received
    assert set(received.values()) == {1}
    assert set(received) > written_by_run_1
    assert org.store.meta(PUSH_FINGERPRINT) is not None


def test_a_push_chunk_of_a_run_that_was_taken_over_writes_nothing(
    org: Org, clock: FakeClock
) -> None:
    token = scored(org)
    assert push_steps.plan_push(org.rt, "c1", token).chunks == [0, 1, 2]
    # The run stalls longer than its lease: another run takes the connection over.
    clock.advance(seconds=TIMINGS.lease_seconds + 1)
    assert org.rt.connections.take_lease("c1", "job:9", clock(), TIMINGS.lease) == token + 1
    before = updates(org.sandbox)
    with pytest.raises(steps.Superseded):
        push_steps.push_part(org.rt, "c1", token, 0)
    assert updates(org.sandbox) - before == 0
    assert org.observer.counts.rows_received == {}


def test_a_last_scoring_chunk_run_again_defers_the_push_its_dead_first_run_did_not(
    org: Org,
) -> None:
    """Killed after its chunk was marked done (or after the push was planned) and before the
    push chunks were deferred: the reaper retries the scoring chunk, and that run defers them."""
    fanned = steps.start_run(org.rt, "c1", "job:1")
    assert isinstance(fanned, steps.Fanned) and fanned.chunks >= 1
    token, last = fanned.token, fanned.chunks - 1
    for k in range(fanned.chunks):
        steps.score_part(org.rt, "c1", token, k)
    # Its first run died here; run again, it finds every chunk done.
    assert steps.score_part(org.rt, "c1", token, last) is True
    assert push_steps.plan_push(org.rt, "c1", token) == push_steps.PushFan([0, 1, 2])
    # Died again, after planning and before deferring: the next try defers the same chunks.
    assert push_steps.plan_push(org.rt, "c1", token) == push_steps.PushFan([0, 1, 2])
    with org.app.open():
        org.app.configure_task(PUSH, queue="push").batch_defer(
            *[{"connection": "c1", "token": token, "chunk": k} for k in (0, 1, 2)]
        )
    # Deferred: a further try defers nothing (no chunk is pushed by two jobs).
    assert push_steps.plan_push(org.rt, "c1", token) == push_steps.PushFan([])
