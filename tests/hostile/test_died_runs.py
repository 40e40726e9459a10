"""A run whose process died is shown as "died" once its lease expires, not "running" forever."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env
from jobs.store import Store
from tests.conftest import FakeClock, write_sandbox_config


def _status_of_run(output: str, run_id: int) -> str:
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃").split("│")]
        if cells and cells[0] == str(run_id):
            return cells[3]
    raise AssertionError(f"run {run_id} not in:\n{output}")


def test_a_run_of_a_daemon_that_died_on_another_host_is_shown_died_after_its_lease(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, store_url, tmp_path)
    store = Store.open(store_url)
    started = clock()
    # What a daemon on another machine leaves when it is killed mid-run: its lock (a 90 s lease
    # it no longer renews) and its run.
    lease = started + timedelta(seconds=90)
    assert store.try_lock("connection", "other-host:4242", started, lease)
    run_id = store.start_run("run", started)
    runner = CliRunner(env={**sandbox_env(sandbox), "COLUMNS": "200"})

    clock.advance(seconds=89)
    assert (
        _status_of_run(runner.invoke(main, ["--config", str(config), "status"]).output, run_id)
        == "running"
    )
    clock.advance(seconds=2)
    shown = runner.invoke(main, ["--config", str(config), "status"])
    assert shown.exit_code == 0
    assert _status_of_run(shown.output, run_id) == "died"
    assert "lease expired" in shown.output

    # The next run takes the expired lock and records the dead run as such, for good.
    assert runner.invoke(main, ["--config", str(config), "run"]).exit_code == 0
    statuses = {r.id: r.status for r in store.runs()}
    assert statuses[run_id] == "died" and statuses[run_id + 1] == "ok"
    store.close()


def test_a_run_of_a_process_of_this_host_that_ended_is_shown_died_at_once(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    store = Store.open(sqlite_url)
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    holder = f"{socket.gethostname()}:{ended.stdout.strip()}"
    assert store.try_lock("connection", holder, clock(), clock() + timedelta(hours=2))
    run_id = store.start_run("sync", clock())
    clock.advance(minutes=5)
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["--config", str(config), "status"])
    assert _status_of_run(shown.output, run_id) == "died"
    store.close()
