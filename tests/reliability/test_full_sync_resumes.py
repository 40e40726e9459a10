"""Acceptance (issue 16 item 4): a stopped full sync continues from where it stopped
(jobs/pull/full_sync.py), so repeated runs under heavy faults finish it, read no record more than
twice, and leave the CRM exactly as a clean run does."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultPlan
from jobs.config import Config, Settings
from jobs.demo.run import sandbox_env
from jobs.pull.full_sync import FULL_SYNC_KEY
from jobs.pull.sync import MAPPING_FINGERPRINT
from jobs.push.ledger import Ledger, RowStatus
from jobs.runner import Job, RunResult, connect, run_job
from tests.conftest import FakeClock
from tests.reliability.connections import every_record, open_connection

DEALS, ACCOUNTS = 1500, 150
UNSETTLED = {RowStatus.PENDING, RowStatus.RETRYING, RowStatus.INVALID}


def test_runs_under_30_percent_429s_and_10_percent_5xx_finish_the_first_full_sync_and_push(
    tmp_path: Path,
) -> None:
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clean_clock, faulty_clock = FakeClock(start), FakeClock(start)
    with (
        SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=clean_clock) as clean,
        SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=faulty_clock) as faulty,
    ):
        clean_conn = open_connection(clean, clean_clock, tmp_path, "clean.db")
        assert run_job(clean_conn, Job.RUN).status == "ok"
        clean_conn.close()
        clean_pages = clean.count("get_records")

        injector = faulty.install_faults(FaultPlan(seed=16, rate_429=0.30, rate_5xx=0.10))
        conn = open_connection(faulty, faulty_clock, tmp_path, "faulty.db")
        results: list[RunResult] = []
        ledger = Ledger(conn.store)
        stopped_mid_sync = 0
        for _ in range(40):
            results.append(run_job(conn, Job.RUN))
            # A stop inside the full sync leaves its progress behind for the next run.
            stopped_mid_sync += bool(conn.store.meta(FULL_SYNC_KEY))
            unsettled = {s for s, n in ledger.counts().items() if n and RowStatus(s) in UNSETTLED}
            if results[-1].status == "ok" and not unsettled:
                break
        statuses = [r.status for r in results]
        assert statuses[-1] == "ok" and not unsettled, statuses
        # The faults were real: several runs stopped before the full sync was through.
        assert injector.counts.by_kind["429"] and injector.counts.by_kind["5xx"]
        assert statuses.count("stopped") >= 2, statuses
        assert stopped_mid_sync >= 2, statuses
        assert conn.store.meta(MAPPING_FINGERPRINT) and not conn.store.meta(FULL_SYNC_KEY)

        assert every_record(faulty) == every_record(clean)
        # No record came back in more than two answers over all the runs (a stop re-reads at
        # most the last stored page's second, never the pages before it).
        assert faulty.served and max(faulty.served.values()) <= 2, Counter(faulty.served.values())
        print(
            f"{len(results)} runs {statuses}; faults {injector.counts.by_kind}; read calls "
            f"answered {faulty.count('get_records')} (clean run {clean_pages})"
        )
        conn.close()


def test_a_daily_budget_smaller_than_one_full_sync_finishes_it_over_several_days(
    tmp_path: Path,
) -> None:
    """Each run spends its day's credits and stops; the next day's run continues the full
    sync where the last stored page left it, until it is done."""
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    with SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=clock) as crm:
        config = Config.model_validate(
            {
                "crm": {
                    "kind": "zoho",
                    "zoho": {"accounts_url": crm.url},
                    "daily_credit_budget": 12,
                },
                "store": {"url": f"sqlite:///{tmp_path / 'budget.db'}"},
            }
        )
        conn = connect(Settings(config, tmp_path / "engage.toml", sandbox_env(crm)), clock=clock)
        statuses = []
        for _ in range(30):
            result = run_job(conn, Job.SYNC)
            statuses.append(result.status)
            if result.status == "ok":
                break
            assert "credit budget" in (result.message or ""), result.message
            clock.advance(hours=25)  # the rolling 24 hours have passed
        assert statuses[-1] == "ok" and statuses.count("stopped") >= 3, statuses
        assert conn.store.meta(MAPPING_FINGERPRINT) and not conn.store.meta(FULL_SYNC_KEY)
        assert conn.store.count("engagements") > 0
        assert max(crm.served.values()) <= 2
        print(f"{len(statuses)} daily runs: {statuses}; {crm.count('get_records')} read calls")
        conn.close()
