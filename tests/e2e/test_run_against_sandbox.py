"""The whole path over real HTTP: sandbox CRM -> sync -> score -> push -> sandbox CRM."""

from __future__ import annotations

import logging
import math
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env, sandbox_settings
from jobs.runner import Connection, Job, connect, run_job
from tests.conftest import FakeClock, write_sandbox_config


def open_connection(
    crm: SandboxCRM, store_url: str, tmp_path: Path, clock: FakeClock
) -> Connection:
    return connect(sandbox_settings(crm, store_url, tmp_path / "engage.toml"), clock=clock)


def test_five_thousand_deals_sync_in_one_call_per_200(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(deals=5000, accounts=300, clock=clock) as crm:
        conn = open_connection(crm, sqlite_url, tmp_path, clock)
        result = run_job(conn, Job.SYNC)
        assert result.status == "ok"
        deals = crm.records("Deals")
        odd = set(crm.odd_deals)
        assert len(deals) == 5000
        stored = {e.crm_id for e in conn.store.engagements()}
        # Every deal is either stored or skipped with a reason; none is lost.
        skipped = {s.record_id for s in conn.store.skips(limit=10_000)}
        assert stored | skipped == set(deals)
        assert skipped <= odd
        assert crm.count("get_records", "Deals") == math.ceil(5000 / 200)
        assert crm.count("get_records", "Accounts") == math.ceil(300 / 200)
        # The first sync reads the metadata of Deals (what its stages mean, whether its
        # optional fields exist) and of the three optional activity modules, once; one token
        # for the whole run.
        assert crm.count("fields") == 4
        assert crm.count("token") == 1
        crm.reset_calls()
        assert run_job(conn, Job.SYNC).status == "ok"
        assert crm.count("fields") == 0  # known for a day: a quiet sync asks nothing again
        conn.close()


def test_a_module_with_more_records_than_page_tokens_reach_is_read_whole(
    clock: FakeClock, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Zoho's page tokens reach 100,000 records (§2); here 2,400, in the sandbox and the client.
    monkeypatch.setattr("connector.sandbox.zoho.records._PAGE_TOKEN_LIMIT", 2400)
    monkeypatch.setattr("connector.zoho.paging.PAGE_TOKEN_LIMIT_RECORDS", 2400)
    with SandboxCRM(deals=5000, accounts=300, clock=clock) as crm:
        conn = open_connection(crm, sqlite_url, tmp_path, clock)
        result = run_job(conn, Job.SYNC)
        assert result.status == "ok", result.message
        skipped = {s.record_id for s in conn.store.skips(limit=10_000)}
        stored = {e.crm_id for e in conn.store.engagements()}
        assert stored | skipped == set(crm.records("Deals"))
        # Two more queries, each re-reading its first second's records: a page or two more.
        assert (
            math.ceil(5000 / 200) < crm.count("get_records", "Deals") <= math.ceil(5000 / 200) + 2
        )
        conn.close()


def test_second_run_writes_nothing_and_seven_changes_make_one_write(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    conn = open_connection(sandbox, store_url, tmp_path, clock)
    first = run_job(conn, Job.RUN)
    assert first.status == "ok"
    assert first.push is not None and first.push.written > 0
    scored = conn.store.health()
    deals = sandbox.records("Deals")
    # What the CRM now holds was written by us, read back from the sandbox's own records.
    sample = next(iter(scored.values()))
    assert deals[sample.engagement_id]["Engagement_Risk_Score"] == sample.risk_score

    clock.advance(minutes=15)
    sandbox.reset_calls()
    second = run_job(conn, Job.RUN)
    assert second.status == "ok"
    assert sandbox.count("update") == 0

    # A person moves seven active contracts' end dates to next week.
    active = sorted(
        e.crm_id for e in conn.store.engagements() if e.status.value == "active" and e.end_date
    )[:7]
    next_week = (clock() + timedelta(days=7)).date().isoformat()
    clock.advance(minutes=15)
    for deal_id in active:
        sandbox.edit("Deals", deal_id, Contract_End=next_week)
    clock.advance(minutes=15)
    sandbox.reset_calls()
    before = {i: d["Modified_Time"] for i, d in deals.items()}
    third = run_job(conn, Job.RUN)
    assert third.status == "ok"
    assert sandbox.count("update", "Deals") == 1
    rewritten = {i for i, d in deals.items() if d["Modified_Time"] != before[i]}
    assert rewritten == set(active)
    for deal_id in active:
        assert "Contract ends in 7 days" in deals[deal_id]["Engagement_Risk_Drivers"]
        assert "合同将在 7 天后到期" in deals[deal_id]["Engagement_Risk_Drivers"]
    # Account roll-ups of those deals may change too: at most one call for all of them.
    assert sandbox.count("update", "Accounts") <= 1
    conn.close()


def test_token_expiring_mid_sync_is_refreshed_once(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(deals=1000, clock=clock) as crm:
        conn = open_connection(crm, sqlite_url, tmp_path, clock)
        pages = conn.client.iter_pages("Deals", ["Deal_Name"])
        first_page = next(pages)
        crm.expire_tokens()
        rest = [record for page in pages for record in page.records]
        assert len(first_page.records) + len(rest) == 1000
        assert crm.count("token") == 2
        conn.close()


def test_concurrent_calls_with_an_expired_token_start_one_refresh(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(deals=50, clock=clock, concurrency_limit=20) as crm:
        conn = open_connection(crm, sqlite_url, tmp_path, clock)
        conn.client.get_fields("Deals")  # first token
        crm.expire_tokens()
        start = threading.Barrier(8)
        errors: list[BaseException] = []

        def read() -> None:
            start.wait()
            try:
                list(conn.client.iter_pages("Deals", ["Deal_Name"]))
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert crm.count("token") == 2  # the first token and exactly one refresh
        conn.close()


def test_bad_deals_are_skipped_with_reasons_shown_by_status(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    deal_ids = sorted(sandbox.records("Deals"))
    garbled, empty = deal_ids[0], deal_ids[1]
    # Typed by hand into the text field Contract_Value (Zoho's currency field Amount could
    # not hold it).
    sandbox.edit("Deals", garbled, Contract_Value="12,000 USD")
    sandbox.edit("Deals", empty, Deal_Name=None)
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "200"})
    result = runner.invoke(main, ["--config", str(config), "run"])
    assert result.exit_code == 0, result.output
    status = runner.invoke(main, ["--config", str(config), "status"])
    assert status.exit_code == 0
    assert garbled in status.output and "Contract_Value = '12,000 USD'" in status.output
    assert empty in status.output and "Deal_Name is empty" in status.output
    conn = open_connection(sandbox, sqlite_url, tmp_path, clock)
    stored = {e.crm_id for e in conn.store.engagements()}
    assert garbled not in stored and empty not in stored
    assert len(stored) == len(deal_ids) - len(set(sandbox.odd_deals) | {garbled, empty})
    conn.close()


def test_no_secret_reaches_logs_errors_or_status(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    runner = CliRunner(env=sandbox_env(sandbox))
    outputs = [
        runner.invoke(main, ["--config", str(config), "-v", "run"]).output,
        runner.invoke(main, ["--config", str(config), "status"]).output,
    ]
    issued = list(sandbox._tokens)  # the sandbox's own record of the access tokens it issued
    sandbox.expire_tokens()  # a refresh and its log lines
    outputs.append(runner.invoke(main, ["--config", str(config), "-v", "sync"]).output)
    bad = CliRunner(env={**sandbox_env(sandbox), "ENGAGE_ZOHO_CLIENT_SECRET": "wrong-secret-123"})
    failed = bad.invoke(main, ["--config", str(config), "-v", "sync"])
    assert failed.exit_code == 2  # bad configuration (issue 16 item 7)
    assert "client id or secret" in failed.output
    outputs.append(failed.output)
    text = "\n".join(outputs) + "\n".join(r.getMessage() for r in caplog.records)
    issued += list(sandbox._tokens)
    assert len(issued) >= 2, "the runs should have obtained tokens"
    for secret in [sandbox.client_secret, sandbox.refresh_token, "wrong-secret-123", *issued]:
        assert secret not in text
