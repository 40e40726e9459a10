"""Per-record write results, dry runs and deletions, against the sandbox over real HTTP."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from connector.errors import RateLimitedError
from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env, sandbox_settings
from jobs.runner import Job, connect, run_job
from mappings.spec import default_mapping_path
from tests.conftest import FakeClock, write_sandbox_config


def test_dry_run_shows_old_and_new_values_and_writes_nothing(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    runner = CliRunner(env=sandbox_env(sandbox))
    assert runner.invoke(main, ["--config", str(config), "sync"]).exit_code == 0
    # Scores are computed by `run`; a push right after a sync has no deal scored yet.
    empty = runner.invoke(main, ["--config", str(config), "push", "--dry-run", "--json"])
    assert [u for u in json.loads(empty.output)["updates"] if u["module"] == "Deals"] == []
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"))
    from jobs.score import score

    score(conn.store, conn.settings.config.health, clock=conn.clock)
    conn.close()
    sandbox.reset_calls()
    planned = runner.invoke(main, ["--config", str(config), "push", "--dry-run", "--json"])
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)
    deal_updates = [u for u in plan["updates"] if u["module"] == "Deals"]
    assert deal_updates
    first = deal_updates[0]
    assert first["changes"]["Engagement_Risk_Score"]["old"] is None
    assert isinstance(first["changes"]["Engagement_Risk_Score"]["new"], int)
    table = runner.invoke(main, ["--config", str(config), "push", "--dry-run"])
    assert table.exit_code == 0
    assert "planned changes" in table.output
    assert sandbox.count("update") == 0
    assert all(d["Engagement_Risk_Score"] is None for d in sandbox.records("Deals").values())


def test_refused_rows_are_kept_with_the_crm_reason_and_the_rest_are_written(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    # An admin maps "high" to a picklist value the CRM does not have.
    mapping = tmp_path / "my-org.toml"
    mapping.write_text(
        default_mapping_path("zoho")
        .read_text(encoding="utf-8")
        .replace('high = "High"', 'high = "Hoch"', 1),
        encoding="utf-8",
    )
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'kind = "zoho"', 'kind = "zoho"\nmapping = "my-org.toml"'
        ),
        encoding="utf-8",
    )
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "200"})
    result = runner.invoke(main, ["--config", str(config), "run"])
    assert result.exit_code == 0, result.output
    deals = sandbox.records("Deals")
    levels = {d["Engagement_Risk_Level"] for d in deals.values()}
    assert "Hoch" not in levels
    assert {"Low", "Medium"} <= levels  # the other rows of the same calls were written
    failed = runner.invoke(main, ["--config", str(config), "status", "--failed"])
    assert "INVALID_DATA" in failed.output
    assert "Engagement_Risk_Level" in failed.output


def test_deleted_deals_leave_the_working_set(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    run_job(conn, Job.SYNC)
    gone = min(e.crm_id for e in conn.store.engagements())
    clock.advance(minutes=5)
    sandbox.delete("Deals", gone)
    clock.advance(minutes=5)
    # Within the hour: deletions are not looked for yet ([crm.zoho] deleted_check_every_hours).
    sandbox.reset_calls()
    early = run_job(conn, Job.SYNC)
    assert early.sync is not None and early.sync.kinds["engagements"].deleted == 0
    assert sandbox.count("deleted") == 0
    assert gone in {e.crm_id for e in conn.store.engagements()}
    clock.advance(minutes=50)
    result = run_job(conn, Job.SYNC)
    assert result.sync is not None and result.sync.kinds["engagements"].deleted == 1
    assert sandbox.count("deleted") == 6  # one look per module: records and activities
    clock.advance(minutes=5)
    sandbox.reset_calls()
    run_job(conn, Job.SYNC, full=True)  # a full sync always looks
    assert sandbox.count("deleted") == 6
    assert gone not in {e.crm_id for e in conn.store.engagements()}
    assert gone in {e.crm_id for e in conn.store.engagements(include_deleted=True)}
    conn.close()


def test_an_incremental_sync_reads_only_what_changed(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    run_job(conn, Job.SYNC)
    clock.advance(minutes=5)
    sandbox.reset_calls()
    quiet = run_job(conn, Job.SYNC)
    assert quiet.sync is not None
    # The first sync began a minute or more after the newest record's second (by the CRM's
    # Date header): it resumed past that second, so nothing comes back, in one call a module
    # (accounts, contacts, deals, and the calls, meetings and notes).
    assert quiet.sync.totals()["read"] == 0
    assert sandbox.count("get_records") == 6
    deal_id = sorted(sandbox.records("Deals"))[5]
    sandbox.edit("Deals", deal_id, Stage="Closed Lost")
    changed = run_job(conn, Job.SYNC)  # in the same second as the edit
    assert changed.sync is not None
    assert changed.sync.kinds["engagements"].read == 1
    lost = {e.crm_id: e for e in conn.store.engagements()}[deal_id]
    assert lost.status.value == "closed_lost"
    # That second had not passed when the read began: the next sync reads it again, once.
    clock.advance(minutes=5)
    again = run_job(conn, Job.SYNC)
    clock.advance(minutes=5)
    after = run_job(conn, Job.SYNC)
    assert again.sync is not None and after.sync is not None
    assert (again.sync.kinds["engagements"].read, after.sync.kinds["engagements"].read) == (1, 0)
    conn.close()


class StopsAtThirdWrite:
    """The real client, except that the third write call is refused with a 429."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.max_write_batch = inner.max_write_batch
        self.writes = 0
        self.refused: set[str] = set()
        self._lock = threading.Lock()

    def update_records(self, module: str, rows: list[dict[str, Any]]) -> Any:
        with self._lock:  # write calls run on several threads
            self.writes += 1
            third = self.writes == 3
        if third:
            self.refused = {row["id"] for row in rows}
            raise RateLimitedError("still rate limited", http_status=429)
        return self.inner.update_records(module, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_push_stopped_midway_resumes_without_writing_anything_twice(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    real = conn.client
    stopping = StopsAtThirdWrite(real)
    conn.client = stopping  # type: ignore[assignment]
    stopped = run_job(conn, Job.RUN)
    assert stopped.status == "stopped"
    assert stopped.message is not None and "next run resumes" in stopped.message
    written_first = {
        i for i, d in sandbox.records("Deals").items() if d["Engagement_Risk_Score"] is not None
    }
    # The calls already in flight beside the refused one land; the refused one does not.
    assert len(written_first) >= 100
    assert stopping.refused and written_first.isdisjoint(stopping.refused)

    conn.client = real
    clock.advance(minutes=15)
    sandbox.reset_calls()
    before = {i: d["Modified_Time"] for i, d in sandbox.records("Deals").items()}
    resumed = run_job(conn, Job.RUN)
    assert resumed.status == "ok"
    rewritten = {i for i, d in sandbox.records("Deals").items() if d["Modified_Time"] != before[i]}
    assert rewritten.isdisjoint(written_first)
    scored = set(conn.store.health())
    assert rewritten == scored - written_first
    assert sandbox.count("update", "Deals") == math.ceil(len(rewritten) / 100)
    conn.close()
