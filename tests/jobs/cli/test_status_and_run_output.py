"""What `engage status` and the daemon print: the skipped count with `--all`, run timings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import context, main, print_result
from jobs.demo.run import sandbox_env
from jobs.runner import Job, RunResult
from jobs.store import Store
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


def test_the_daemon_s_run_table_says_when_the_run_started_and_how_long_it_took(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    started = clock()
    result = RunResult(
        job=Job.RUN,
        run_id=7,
        status="ok",
        started_at=started,
        finished_at=started + timedelta(seconds=83.4),
    )
    print_result(result, timed=True)
    line = capsys.readouterr().out.splitlines()[0]
    assert line == f"run #7 started {started:%Y-%m-%d %H:%M:%S} UTC, took 83.4 s: ok"


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
