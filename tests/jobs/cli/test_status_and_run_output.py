"""What `engage status` and the daemon print: the skipped count with `--all`, run timings."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import context, main
from jobs.cli.run import summary_line
from jobs.demo.run import sandbox_env
from jobs.runner import Job, RunResult
from jobs.score import ScoreReport
from jobs.store import Store
from jobs.store.runs import RunStatus
from tests.conftest import FakeClock, write_sandbox_config


def test_status_names_how_many_records_are_skipped_and_how_to_list_all(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    store = Store.open(sqlite_url)
    for i in range(164):
        clock.advance(seconds=1)
        store.record_skip(
            "engagements", f"57257670{i:011d}", "Stage is empty", "Stage", None, clock()
        )
    store.close()
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "200"})
    shown = runner.invoke(main, ["--config", str(config), "status"])
    assert shown.exit_code == 0, shown.output
    assert "skipped records (164)" in shown.output
    assert "164 skipped records; the latest 50 are listed above" in shown.output
    assert "`engage status --all` lists all of them" in shown.output
    assert shown.output.count("Stage is empty") == 50
    every = runner.invoke(main, ["--config", str(config), "status", "--all"])
    assert every.exit_code == 0, every.output
    assert every.output.count("Stage is empty") == 164
    assert "--all` lists" not in every.output


def test_status_with_few_skips_lists_them_without_a_hint(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    store = Store.open(sqlite_url)
    store.record_skip("engagements", "5725767000000000001", "Stage is empty", None, None, clock())
    store.close()
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "200"})
    shown = runner.invoke(main, ["--config", str(config), "status"])
    assert "skipped records (1)" in shown.output and "--all" not in shown.output


def test_the_daemon_s_run_summary_is_one_line_with_its_start_duration_and_counts(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    started = clock()
    result = RunResult(
        job=Job.RUN,
        run_id=7,
        status=RunStatus.OK,
        started_at=started,
        finished_at=started + timedelta(seconds=83.4),
        score=ScoreReport(scored=12, changed=3),
    )
    with caplog.at_level(logging.INFO, logger="jobs.daemon"):
        summary_line(result, "zoho:engage.toml")
    (record,) = caplog.records
    assert record.getMessage() == (
        f"run #7 ok (started {started:%Y-%m-%d %H:%M:%S} UTC, took 83.4 s): "
        "scored 12, health_changed 3"
    )
    assert (record.run_id, record.connection, record.step) == (7, "zoho:engage.toml", "summary")


def test_an_error_line_shows_no_escape_sequence_it_quotes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A CRM's answer or a file's content quoted in an error must not drive the terminal.
    context.fresh_consoles()
    with pytest.raises(SystemExit) as stopped:
        context.fail("the CRM said \x1b[2J\x1b]0;owned\x07refused")
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert err.strip() == "error: the CRM said refused"
