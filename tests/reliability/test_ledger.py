"""The row ledger: a 207 with 3 invalid rows among 100, retried on later runs with backoff,
quarantined after N tries, shown by `engage status --failed`, re-queued by `engage retry`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from connector.base import WriteOutcome, WriteStatus
from connector.retry import RetryPolicy
from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultPlan
from jobs.cli import main
from jobs.config import load_settings
from jobs.demo.run import sandbox_env
from jobs.push.ledger import Ledger, RowStatus
from jobs.push.plan import plan
from jobs.push.pusher import PushReport
from jobs.runner import Connection, Job, connect, run_job
from jobs.store import Store
from jobs.store import schema as t
from tests.conftest import FakeClock, write_sandbox_config

REFUSED_FIELD = "Engagement_Risk_Level"


def push_later(conn: Connection, sandbox: SandboxCRM, clock: FakeClock, minutes: int) -> PushReport:
    """The push report of a run ``minutes`` later; the sandbox counts only its calls."""
    clock.advance(minutes=minutes)
    sandbox.reset_calls()
    result = run_job(conn, Job.PUSH)
    assert result.push is not None
    return result.push


def test_three_invalid_rows_in_a_batch_of_100_are_kept_retried_and_quarantined(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, store_url, tmp_path)
    conn = connect(load_settings(config, sandbox_env(sandbox)), clock=clock)
    assert run_job(conn, Job.SYNC).status == "ok"
    assert run_job(conn, Job.SCORE).status == "ok"
    first_batch = [w.record_id for w in plan(conn.mapper, conn.store).writes if w.module == "Deals"]
    first_batch = first_batch[:100]
    assert len(first_batch) == 100
    refused = sorted(first_batch[10:13])
    # The org refuses these three rows, e.g. a validation rule on the risk level field.
    sandbox.install_faults(FaultPlan(refuse_rows=dict.fromkeys(refused, REFUSED_FIELD)))
    sandbox.reset_calls()

    first = run_job(conn, Job.PUSH)
    assert first.push is not None and first.push.refused == 3
    deals = sandbox.records("Deals")
    landed = [rid for rid in first_batch if deals[rid]["Engagement_Risk_Score"] is not None]
    assert len(landed) == 97 and set(landed).isdisjoint(refused)
    ledger = Ledger(conn.store)
    rows = ledger.rows("Deals")
    for rid in refused:
        assert rows[rid].status is RowStatus.INVALID
        assert (rows[rid].crm_code, rows[rid].field) == ("INVALID_DATA", REFUSED_FIELD)
        assert rows[rid].attempts == 1
        assert rows[rid].next_retry_at == clock() + timedelta(minutes=15)
    assert {rows[rid].status for rid in landed} == {RowStatus.WRITTEN}

    # Before the backoff has passed, the next run leaves them alone: no call at all.
    assert push_later(conn, sandbox, clock, 5).deferred == 3
    assert sandbox.count("update") == 0

    # Retried on each later run once due, with doubling waits, then quarantined at the 5th.
    waits = [15, 30, 60, 120]
    for attempt, wait in enumerate(waits, start=2):
        again = push_later(conn, sandbox, clock, wait)
        assert sandbox.count("update", "Deals") == 1
        assert sorted(r["id"] for r in sandbox.last_update_body["data"]) == refused  # type: ignore[index]
        assert again.refused == 3
        rows = ledger.rows("Deals")
        assert {rows[rid].attempts for rid in refused} == {attempt}
    assert {rows[rid].status for rid in refused} == {RowStatus.QUARANTINED}

    assert push_later(conn, sandbox, clock, 2 * 24 * 60).quarantined == 3
    assert sandbox.count("update") == 0

    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "250"})
    pushed = runner.invoke(main, ["--config", str(config), "push"])
    assert pushed.exit_code == 0, pushed.output
    assert "quarantined 3 (`engage retry`)" in pushed.output
    shown = runner.invoke(main, ["--config", str(config), "status", "--failed"])
    assert shown.exit_code == 0, shown.output
    for rid in refused:
        assert rid in shown.output
    assert "quarantined" in shown.output and "INVALID_DATA" in shown.output
    exported = runner.invoke(main, ["--config", str(config), "status", "--failed", "--json"])
    assert exported.exit_code == 0, exported.output
    rows_json = json.loads(exported.output)["rows"]
    assert sorted(r["record_id"] for r in rows_json) == refused
    assert {(r["status"], r["crm_code"], r["field"], r["attempts"]) for r in rows_json} == {
        ("quarantined", "INVALID_DATA", REFUSED_FIELD, 5)
    }

    # The admin fixes the org's rule and re-queues one row by id, then the rest.
    sandbox.install_faults(FaultPlan())
    requeued = runner.invoke(main, ["--config", str(config), "retry", refused[0]])
    assert requeued.exit_code == 0 and "re-queued 1" in requeued.output
    sandbox.reset_calls()
    run_job(conn, Job.PUSH)
    assert [r["id"] for r in sandbox.last_update_body["data"]] == [refused[0]]  # type: ignore[index]
    assert runner.invoke(main, ["--config", str(config), "retry", "--all"]).exit_code == 0
    run_job(conn, Job.PUSH)
    deals = sandbox.records("Deals")
    assert all(deals[rid][REFUSED_FIELD] is not None for rid in refused)
    assert not ledger.failed()
    conn.close()


def test_retry_needs_records_or_all_and_json_needs_failed(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    runner = CliRunner(env=sandbox_env(sandbox))
    neither = runner.invoke(main, ["--config", str(config), "retry"])
    assert neither.exit_code == 2 and "--all" in neither.output
    both = runner.invoke(main, ["--config", str(config), "retry", "--all", "123"])
    assert both.exit_code == 2
    json_alone = runner.invoke(main, ["--config", str(config), "status", "--json"])
    assert json_alone.exit_code == 2 and "--failed" in json_alone.output


def test_a_row_whose_wanted_values_change_is_sent_at_once_despite_its_backoff(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    conn = connect(load_settings(config, sandbox_env(sandbox)), clock=clock)
    run_job(conn, Job.SYNC)
    run_job(conn, Job.SCORE)
    target = next(w for w in plan(conn.mapper, conn.store).writes if w.module == "Deals")
    sandbox.install_faults(FaultPlan(refuse_rows={target.record_id: REFUSED_FIELD}))
    run_job(conn, Job.PUSH)
    assert Ledger(conn.store).rows("Deals")[target.record_id].status is RowStatus.INVALID
    # A new value for the record (e.g. after a mapping fix) is a new row: no waiting.
    sandbox.install_faults(FaultPlan())
    health = conn.store.health()[target.record_id]
    conn.store.save_health(
        [health.model_copy(update={"risk_score": (health.risk_score + 7) % 100})]
    )
    sandbox.reset_calls()
    run_job(conn, Job.PUSH)
    assert sandbox.count("update", "Deals") == 1
    row = Ledger(conn.store).rows("Deals")[target.record_id]
    assert row.status is RowStatus.WRITTEN and row.attempts == 0
    conn.close()


def test_row_backoff_doubles_from_15_minutes_up_to_a_day_and_quarantines_at_the_limit() -> None:
    policy = RetryPolicy()
    minutes = [policy.row_retry_delay_seconds(n) / 60 for n in range(1, 9)]
    assert minutes == [15, 30, 60, 120, 240, 480, 960, 1440]
    assert [policy.row_quarantined(n) for n in (4, 5, 6)] == [False, True, True]
    assert RetryPolicy(row_max_attempts=2).row_quarantined(2)


def test_quarantine_after_comes_from_the_config(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    config.write_text(config.read_text("utf-8") + "[push]\nquarantine_after = 2\n", "utf-8")
    conn = connect(load_settings(config, sandbox_env(sandbox)), clock=clock)
    run_job(conn, Job.SYNC)
    run_job(conn, Job.SCORE)
    target = next(w for w in plan(conn.mapper, conn.store).writes if w.module == "Deals")
    sandbox.install_faults(FaultPlan(refuse_rows={target.record_id: REFUSED_FIELD}))
    run_job(conn, Job.PUSH)
    clock.advance(minutes=16)
    run_job(conn, Job.PUSH)
    row = Ledger(conn.store).rows("Deals")[target.record_id]
    assert (row.status, row.attempts) == (RowStatus.QUARANTINED, 2)
    conn.close()


def test_written_rows_keep_the_values_journaled_for_them_or_given_when_not_journaled(
    store: Store, clock: FakeClock
) -> None:
    ledger = Ledger(store)
    now = clock()
    written = WriteOutcome("D1", WriteStatus.WRITTEN)
    with store.engine.begin() as conn:
        ledger.journal(conn, "Deals", [("D1", {"Score": 62})], 1, now)
        ledger.record(conn, "Deals", [("D1", {"Score": 62}, written)], {}, 1, now)
        # Not journaled first (the push always journals): the row is written whole.
        ledger.record(
            conn,
            "Deals",
            [("D2", {"Score": 9}, WriteOutcome("D2", WriteStatus.WRITTEN))],
            {},
            1,
            now,
        )
    assert ledger.failed(limit=None) == []
    table = t.write_ledger
    with store.engine.connect() as conn:
        stored = conn.execute(
            sa.select(
                table.c.record_id, table.c.status, table.c.row_values, table.c.attempts
            ).order_by(table.c.record_id)
        ).all()
    assert [tuple(r) for r in stored] == [
        ("D1", "written", {"Score": 62}, 0),
        ("D2", "written", {"Score": 9}, 0),
    ]
