"""A push plans only what changed since the last one, and a chunked, pipelined push writes the
same as one that plans everything at once (jobs/push/due.py, jobs/push/plan.py, jobs/push/pusher.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.push import due, plan
from jobs.runner import Connection, Job, connect, run_job
from mappings.engine import Mapper
from tests.conftest import FakeClock


def open_connection(
    crm: SandboxCRM, store_url: str, tmp_path: Path, clock: FakeClock
) -> Connection:
    return connect(sandbox_settings(crm, store_url, tmp_path / "engage.toml"), clock=clock)


def first_push(sandbox: SandboxCRM, conn: Connection, clock: FakeClock) -> None:
    """A first run (everything planned), then a run a quarter later that reads the push's
    own writes back: after it, nothing is left to plan."""
    first = run_job(conn, Job.RUN)
    assert first.push is not None and first.push.full and first.push.written > 0
    clock.advance(minutes=15)
    echo = run_job(conn, Job.RUN)
    assert echo.push is not None and not echo.push.full and echo.push.to_update == 0
    clock.advance(minutes=15)


def test_a_quiet_run_plans_nothing_and_one_health_change_plans_its_deal_and_account(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    conn = open_connection(sandbox, store_url, tmp_path, clock)
    first_push(sandbox, conn, clock)
    sandbox.reset_calls()
    quiet = run_job(conn, Job.RUN)
    assert quiet.push is not None
    assert (quiet.push.planned, quiet.push.to_update) == (0, 0)
    assert sandbox.count("update") == 0

    health = conn.store.health()
    engagements = {e.crm_id: e for e in conn.store.engagements()}
    deal_id = next(i for i in sorted(health) if engagements[i].status.value == "active")
    changed = health[deal_id].model_copy(
        update={"risk_score": (health[deal_id].risk_score + 7) % 101, "updated_at": clock()}
    )
    conn.store.save_health([changed])
    sandbox.reset_calls()
    pushed = run_job(conn, Job.PUSH)
    assert pushed.push is not None
    # The deal, and its account (whose roll-up may have changed); nothing else.
    assert pushed.push.planned == 2
    assert pushed.push.written >= 1
    assert sandbox.records("Deals")[deal_id]["Engagement_Risk_Score"] == changed.risk_score
    assert sandbox.count("update", "Deals") == 1
    conn.close()


def test_a_person_s_edit_of_a_plugin_field_is_planned_again_and_written_back(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    conn = open_connection(sandbox, store_url, tmp_path, clock)
    first_push(sandbox, conn, clock)
    deal_id, health = next(iter(sorted(conn.store.health().items())))
    sandbox.edit("Deals", deal_id, Engagement_Risk_Score=(health.risk_score + 1) % 101)
    clock.advance(minutes=15)
    sandbox.reset_calls()
    result = run_job(conn, Job.RUN)
    assert result.push is not None
    assert result.push.planned == 1 and result.push.written == 1
    assert sandbox.records("Deals")[deal_id]["Engagement_Risk_Score"] == health.risk_score
    conn.close()


def test_an_engagement_leaving_the_working_set_has_its_account_planned_again(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = open_connection(sandbox, sqlite_url, tmp_path, clock)
    first_push(sandbox, conn, clock)
    gone = next(e for e in conn.store.engagements() if e.status.value == "active")
    conn.store.mark_deleted("engagements", [gone.crm_id], clock())

    todo = due.detect(conn.store, conn.mapper)

    assert (todo.full, todo.engagements, todo.accounts) == (False, [], [gone.account_id])
    conn.close()


def test_a_changed_mapping_plans_everything_again(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = open_connection(sandbox, sqlite_url, tmp_path, clock)
    first_push(sandbox, conn, clock)
    assert not due.detect(conn.store, conn.mapper).full
    spec = conn.mapper.spec
    engagements = spec.targets.engagements.model_copy(update={"drivers_language": "en"})
    other = Mapper(
        spec.model_copy(
            update={"targets": spec.targets.model_copy(update={"engagements": engagements})}
        ),
        conn.mapper.words,
    )

    todo = due.detect(conn.store, other)

    assert todo.full
    assert len(todo.engagements) == conn.store.count("engagements")
    conn.close()


def test_a_push_in_small_chunks_makes_the_minimum_calls_and_writes_what_a_plan_says(
    sandbox: SandboxCRM,
    clock: FakeClock,
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = open_connection(sandbox, sqlite_url, tmp_path, clock)
    assert run_job(conn, Job.SYNC).status == "ok"
    assert run_job(conn, Job.SCORE).status == "ok"
    wanted = plan.plan(conn.mapper, conn.store)
    rows = wanted.rows_by_module()
    # 37 engagements a chunk: write calls would be cut short at every chunk's end.
    monkeypatch.setattr(plan, "CHUNK_SIZE", 37)
    sandbox.reset_calls()

    result = run_job(conn, Job.PUSH)

    assert result.push is not None and result.push.written == len(wanted.writes)
    for module, count in rows.items():
        assert sandbox.count("update", module) == math.ceil(count / 100)
    for write in wanted.writes:
        record = sandbox.records(write.module)[write.record_id]
        assert {name: record[name] for name in write.changes} == write.values()
    conn.close()
