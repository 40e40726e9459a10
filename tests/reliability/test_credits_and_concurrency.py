"""The credit budget shared through the store, and bounded concurrency of write calls."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from connector.errors import CreditBudgetExceededError
from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.config import load_settings
from jobs.credits import StoreCreditMeter, credits_used
from jobs.demo.run import sandbox_env
from jobs.push.ledger import Ledger, RowStatus
from jobs.runner import Job, connect, run_job
from jobs.store import Store
from jobs.store import schema as t
from mappings.tomlfile import ConfigFileError
from tests.conftest import FakeClock, write_sandbox_config


def config_with(crm: SandboxCRM, store_url: str, tmp_path: Path, extra: str) -> Path:
    path = write_sandbox_config(crm, store_url, tmp_path)
    text = path.read_text(encoding="utf-8").replace("[crm.zoho]", extra + "\n[crm.zoho]", 1)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_ledger_and_credit_tables_match_the_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), t.metadata)
    ours = {"write_ledger", "credit_usage"}
    mine = [d for d in diffs if any(name in repr(d) for name in ours)]
    assert mine == []


def test_the_meter_refuses_a_call_that_would_exceed_the_budget_and_forgets_after_24_hours(
    store: Store, clock: FakeClock
) -> None:
    meter = StoreCreditMeter(store, budget=10, clock=clock)
    meter.charge(4)
    clock.advance(minutes=30)
    meter.charge(4)
    with pytest.raises(CreditBudgetExceededError, match="budget of 10") as refused:
        meter.charge(3)
    assert "8 used in the last 24 hours" in str(refused.value)
    meter.save()  # the job ends
    # Nothing was recorded for the refused call, and another job sees the same total.
    assert StoreCreditMeter(store, budget=10, clock=clock).used() == 8
    meter.charge(2)
    meter.save()
    assert credits_used(store, clock()) == 10
    clock.advance(hours=23, minutes=45)  # the first 4 are now older than 24 hours
    assert credits_used(store, clock()) == 6
    assert StoreCreditMeter(store, budget=10, clock=clock).used() == 6


def test_a_job_stops_before_exceeding_the_budget_and_status_shows_the_usage(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config = config_with(sandbox, sqlite_url, tmp_path, "daily_credit_budget = 20")
    conn = connect(load_settings(config, sandbox_env(sandbox)), clock=clock)
    result = run_job(conn, Job.RUN)
    assert result.status == "stopped"
    assert result.message is not None and "daily credit budget of 20" in result.message
    # Every call's cost was counted, exactly as the CRM charged it, and stayed within budget.
    assert credits_used(conn.store, clock()) == sandbox.credits_used <= 20
    used_first = credits_used(conn.store, clock())
    clock.advance(minutes=5)
    sandbox.reset_calls()
    # The budget is shared through the store: the next job starts from what the first spent.
    again = run_job(conn, Job.RUN)
    assert again.status == "stopped"
    used = credits_used(conn.store, clock())
    assert used - used_first == sandbox.credits_used and used <= 20
    conn.close()
    shown = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "200"}).invoke(
        main, ["--config", str(config), "status"]
    )
    assert shown.exit_code == 0, shown.output
    assert f"API credits used in the last 24 hours: {used} of the daily budget 20" in shown.output


def test_zoho_s_lower_count_of_the_org_s_credits_is_believed_over_the_budget(
    store: Store, clock: FakeClock
) -> None:
    meter = StoreCreditMeter(store, budget=1000, clock=clock)
    meter.charge(1)
    meter.crm_remaining(25)  # other integrations of the org spent most of its credits
    meter.charge(10)
    meter.charge(10)
    with pytest.raises(CreditBudgetExceededError, match="the CRM reports 5 API credits left"):
        meter.charge(10)
    meter.charge(5)
    meter.save()  # the job ends
    assert credits_used(store, clock()) == 26  # the refused call was not counted
    # Another job of the connection starts from Zoho's count, less what was charged since
    # (whole minutes: the call charged in the minute before the count is taken off too).
    clock.advance(minutes=2)
    with pytest.raises(CreditBudgetExceededError, match="the CRM reports 0 API credits left"):
        StoreCreditMeter(store, budget=1000, clock=clock).charge(1)
    # A count older than the 24-hour window says nothing any more.
    clock.advance(hours=24)
    StoreCreditMeter(store, budget=1000, clock=clock).charge(10)


def test_credits_are_stored_every_two_seconds_during_a_job_and_at_its_end(
    store: Store, clock: FakeClock
) -> None:
    """Not a commit per call (the write threads queued behind it): a process killed outright
    loses at most the last two seconds of its count."""
    meter = StoreCreditMeter(store, budget=1000, clock=clock)
    meter.charge(10)
    meter.charge(10)
    assert credits_used(store, clock()) == 0
    assert meter.used() == 20
    clock.advance(seconds=2)
    meter.charge(10)
    assert credits_used(store, clock()) == 30
    meter.charge(5)
    assert credits_used(store, clock()) == 30
    meter.save()
    assert credits_used(store, clock()) == 35
    meter.save()  # nothing counted since: nothing added
    assert credits_used(store, clock()) == 35


def test_the_budget_still_binds_when_zoho_counts_more_credits_left(
    store: Store, clock: FakeClock
) -> None:
    meter = StoreCreditMeter(store, budget=20, clock=clock)
    meter.crm_remaining(40_000)
    meter.charge(15)
    with pytest.raises(CreditBudgetExceededError, match="budget of 20"):
        meter.charge(10)


def test_a_run_stops_before_the_org_s_shared_credits_run_out_and_status_shows_zoho_s_count(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(clock=clock, daily_credits=1000) as crm:
        config = config_with(crm, sqlite_url, tmp_path, "")
        conn = connect(load_settings(config, sandbox_env(crm)), clock=clock)
        assert run_job(conn, Job.SYNC).status == "ok"
        assert run_job(conn, Job.SCORE).status == "ok"
        # Other integrations leave the org 25 credits: the first push needs about 40.
        crm.spend_credits(1000 - crm.org_credits_used - 25)
        clock.advance(minutes=15)
        crm.reset_calls()
        result = run_job(conn, Job.RUN)  # its sync's answers carry Zoho's count
        assert result.status == "stopped"
        assert result.message is not None and "the CRM reports" in result.message
        assert "for the whole org" in result.message
        assert crm.org_credits_used <= 1000  # stopped in time: Zoho never refused a call
        assert crm.count("update") >= 1  # it wrote what the credits allowed, and says so
        assert result.push is not None and result.push.written > 0
        assert crm.credits_used <= 25
        conn.close()
        shown = CliRunner(env={**sandbox_env(crm), "COLUMNS": "200"}).invoke(
            main, ["--config", str(config), "status"]
        )
    assert shown.exit_code == 0, shown.output
    left = 1000 - crm.org_credits_used
    assert f"the CRM reported {left} API credits left for the whole org" in shown.output


def test_the_default_budget_comes_from_the_edition_table(tmp_path: Path) -> None:
    path = tmp_path / "engage.toml"
    base = '[crm]\nkind = "zoho"\n{extra}\n[crm.zoho]\naccounts_url = "https://accounts.zoho.com"\n'
    path.write_text(base.format(extra=""), encoding="utf-8")
    assert load_settings(path, {}).config.crm.credit_budget() == 50_250  # standard, 1 user
    path.write_text(base.format(extra='edition = "enterprise"\nlicensed_users = 40'), "utf-8")
    assert load_settings(path, {}).config.crm.credit_budget() == 90_000
    path.write_text(base.format(extra='edition = "free"\nlicensed_users = 3'), "utf-8")
    assert load_settings(path, {}).config.crm.credit_budget() == 5_000


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        pytest.param('edition = "gold"', "crm.edition", id="unknown-edition"),
        pytest.param("daily_credit_budget = 0", "crm.daily_credit_budget", id="zero-budget"),
        pytest.param("[push]\nwrite_concurrency = 11", "push.write_concurrency", id="too-many"),
    ],
)
def test_bad_reliability_settings_name_the_key(tmp_path: Path, extra: str, key: str) -> None:
    path = tmp_path / "engage.toml"
    text = '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "https://accounts.zoho.com"\n'
    if extra.startswith("[push]"):
        text += extra + "\n"
    else:
        text = text.replace("[crm.zoho]", extra + "\n[crm.zoho]")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as error:
        load_settings(path, {})
    assert key in str(error.value) and str(path) in str(error.value)


class CountsConcurrentWrites:
    """The real client; records how many update calls were in flight at once.

    The first ``expected`` calls wait for each other (a barrier, not a sleep), so they overlap
    however slow the machine; with less concurrency than that the barrier breaks.
    """

    def __init__(self, inner: Any, expected: int) -> None:
        self.inner = inner
        self.max_write_batch = inner.max_write_batch
        self.now = 0
        self.most = 0
        self.calls = 0
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(expected, timeout=30)

    def update_records(self, module: str, rows: list[dict[str, Any]]) -> Any:
        with self._lock:
            self.now += 1
            self.calls += 1
            first = self.calls <= self._barrier.parties
            self.most = max(self.most, self.now)
        if first:
            self._barrier.wait()
        try:
            return self.inner.update_records(module, rows)
        finally:
            with self._lock:
                self.now -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_write_calls_overlap_up_to_the_configured_concurrency(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(deals=1200, accounts=150, clock=clock) as crm:
        config = config_with(crm, sqlite_url, tmp_path, "")
        config.write_text(
            config.read_text(encoding="utf-8") + "[push]\nwrite_concurrency = 3\n", "utf-8"
        )
        conn = connect(load_settings(config, sandbox_env(crm)), clock=clock)
        assert run_job(conn, Job.SYNC).status == "ok"
        counting = CountsConcurrentWrites(conn.client, expected=3)
        conn.client = counting  # type: ignore[assignment]
        result = run_job(conn, Job.RUN)
        assert result.status == "ok" and result.push is not None
        assert counting.most == 3
        written = result.push.written
        rows = {**Ledger(conn.store).rows("Deals"), **Ledger(conn.store).rows("Accounts")}
        assert sum(r.status is RowStatus.WRITTEN for r in rows.values()) == written
        deals = sum(1 for r in Ledger(conn.store).rows("Deals").values() if r.status == "written")
        assert crm.count("update", "Deals") == math.ceil(deals / 100)
        with conn.store.engine.connect() as db:
            # Nothing was refused: the history of refusals stays empty.
            stored = db.execute(sa.select(sa.func.count()).select_from(t.write_outcomes))
            assert stored.scalar_one() == 0
        conn.close()
