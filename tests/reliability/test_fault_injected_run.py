"""Acceptance (issue 6): with 10 % of calls failing (429, 5xx, resets) and tokens expiring every
50 calls, sync and push of 5,000 deals end with the CRM holding exactly what a fault-free run
leaves, and every row's outcome in the ledger. A stopped run is simply run again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultPlan
from jobs.push.ledger import Ledger, RowStatus
from jobs.runner import Connection, Job, RunResult, run_job
from tests.conftest import FakeClock
from tests.reliability.connections import every_record, open_connection

DEALS, ACCOUNTS = 5000, 300
#: The statuses that mean "not finished yet".
UNSETTLED = {RowStatus.PENDING, RowStatus.RETRYING, RowStatus.INVALID}


def run_until_settled(conn: Connection, clock: FakeClock, limit: int = 40) -> list[RunResult]:
    """Run the job again after each stop; wait out a refused row's backoff when only that is left."""
    results = []
    ledger = Ledger(conn.store)
    for _ in range(limit):
        result = run_job(conn, Job.RUN)
        results.append(result)
        unsettled = {s for s, n in ledger.counts().items() if n and RowStatus(s) in UNSETTLED}
        if result.status == "ok" and not unsettled:
            return results
        if result.status == "ok" or "10 per 10 minutes" in (result.message or ""):
            clock.advance(minutes=16)  # past the first row backoff (15 min) or the token window
    raise AssertionError(f"not settled after {limit} runs: {[r.status for r in results]}")


def test_five_thousand_deals_through_ten_percent_faults_end_exactly_as_a_clean_run(
    tmp_path: Path,
) -> None:
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clean_clock, faulty_clock = FakeClock(start), FakeClock(start)
    with (
        SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=clean_clock) as clean,
        SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=faulty_clock) as faulty,
    ):
        assert every_record(clean) == every_record(faulty)  # the same org to begin with
        clean_conn = open_connection(clean, clean_clock, tmp_path, "clean.db")
        assert run_job(clean_conn, Job.RUN).status == "ok"
        clean_conn.close()

        injector = faulty.install_faults(
            FaultPlan(
                seed=6,
                rate_429=0.04,
                rate_5xx=0.03,
                rate_reset=0.03,
                token_expiry_every=50,
                partial_rate=0.002,  # now and then a row refused inside a 207, too
            )
        )
        conn = open_connection(faulty, faulty_clock, tmp_path, "faulty.db")
        results = run_until_settled(conn, faulty_clock)

        # The faults really happened, in the configured mix.
        kinds = injector.counts.by_kind
        assert kinds["429"] and kinds["5xx"] and kinds["reset"]
        assert injector.counts.tokens_expired >= 2
        # Several write threads meet each expiry; one refresh serves them all (single-flight).
        assert faulty.count("token") <= 1 + injector.counts.tokens_expired
        assert injector.counts.rows_refused >= 1

        assert every_record(faulty) == every_record(clean)

        # Every row the plugin wrote has its outcome in the ledger, and it is "written".
        wanted = {
            module: {rid for rid, rec in clean.records(module).items() if _has_plugin_values(rec)}
            for module in ("Deals", "Accounts")
        }
        ledger = Ledger(conn.store)
        for module, ids in wanted.items():
            rows = ledger.rows(module)
            assert ids <= set(rows)
            assert {rows[rid].status for rid in ids} == {RowStatus.WRITTEN}
        assert not ledger.failed()
        # How many runs it took is printed for the report (pytest -s shows it).
        print(f"settled after {len(results)} runs: {[r.status for r in results]}; faults {kinds}")
        conn.close()


PLUGIN_FIELDS = ("Engagement_Risk_Score", "Account_Risk_Level")


def _has_plugin_values(record: dict[str, Any]) -> bool:
    return any(record.get(name) is not None for name in PLUGIN_FIELDS)
