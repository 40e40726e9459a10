"""Back-off that adapts (issue 16 item 5): a concurrency 429 halves the calls in flight, which
grow back one at a time after successes (AIMD, connector/retry.py); a 429 with the org's credits
used up stops the job at once with a credits message."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from connector.retry import AdaptiveConcurrency
from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultPlan
from jobs.cli import main
from jobs.demo.run import sandbox_env
from jobs.store import Store
from tests.conftest import FakeClock, write_sandbox_config


def test_a_429_halves_the_limit_and_successes_grow_it_back_one_at_a_time() -> None:
    gate = AdaptiveConcurrency(8)
    for _ in range(3):
        gate.acquire()
    gate.release(outcome=False)
    assert gate.limit == 4
    gate.release(outcome=False)
    assert gate.limit == 2
    gate.release(outcome=None)  # no answer at all: says nothing about concurrency
    assert gate.limit == 2
    for _ in range(2):  # a run of `limit` successes grows it by one
        gate.acquire()
        gate.release(outcome=True)
    assert gate.limit == 3
    for _ in range(3):
        gate.acquire()
        gate.release(outcome=True)
    assert gate.limit == 4
    assert gate.changes == [(8, 4), (4, 2), (2, 3), (3, 4)]
    gate.acquire()
    gate.release(outcome=False)
    gate.acquire()
    gate.release(outcome=False)
    gate.acquire()
    gate.release(outcome=False)
    assert gate.limit == 1  # never below one


def test_a_run_completes_under_an_org_concurrency_of_two_with_latency(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    # Real time for the latency (the sandbox sleeps 100 ms per call); nothing here asserts a time.
    with SandboxCRM(deals=2000, accounts=200, clock=clock, concurrency_limit=2) as crm:
        crm.install_faults(FaultPlan(latency_seconds=0.1))
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        result = CliRunner(env=sandbox_env(crm)).invoke(main, ["--config", str(config), "run"])
        assert result.exit_code == 0, result.output
        deals = crm.records("Deals")
        store = Store.open(sqlite_url)
        health = store.health()
        store.close()
        assert len(health) > 1500
        # Every score computed was written: the CRM holds each one (read back from the sandbox).
        wrong = [
            h
            for h in health.values()
            if deals[h.engagement_id]["Engagement_Risk_Score"] != h.risk_score
        ]
        assert wrong == []
        # 2,000 deals: 20 update calls of 100 at least, five threads against a limit of two.
        assert crm.count("update", "Deals") >= 20


def test_a_429_with_the_org_s_credits_used_up_stops_at_once_with_a_credits_message(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(deals=40, accounts=10, clock=clock, daily_credits=1000) as crm:
        crm.spend_credits(1000)  # other integrations of the org spent them all
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        result = CliRunner(env=sandbox_env(crm)).invoke(main, ["--config", str(config), "sync"])
        assert result.exit_code == 75
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, lines
        assert "credits are used up" in lines[0] and "come back" in lines[0]
        assert "still rate limited" not in lines[0]
        # The sync's first call (the deals' field metadata, jobs/pull/source_probe.py) is not retried
        # as a concurrency 429, and nothing is asked after it.
        assert crm.count("fields") + crm.count("get_records") == 1
        status = CliRunner(env=sandbox_env(crm)).invoke(main, ["--config", str(config), "status"])
        assert "the CRM reported 0 API credits left" in status.output


def test_a_run_stopped_by_429s_says_so_in_one_line_with_nothing_before_it(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(deals=40, accounts=10, clock=clock, concurrency_limit=0) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        result = CliRunner(env=sandbox_env(crm)).invoke(main, ["--config", str(config), "run"])
        assert result.exit_code == 75
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, lines  # no empty figures table before it
        assert lines[0].startswith("run #1 stopped: ") and "still rate limited" in lines[0]
        assert lines[0].count("the next run resumes") == 1
        # The bounded attempts of the sync's first call (the deals' field metadata), no more.
        assert crm.count("fields") + crm.count("get_records") == 3
