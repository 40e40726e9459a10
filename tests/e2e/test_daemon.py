"""`engage daemon` as a real process: runs on schedule, stores no job, stops on SIGTERM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env, sandbox_settings
from jobs.runner import LOCK_NAME, Job, JobAlreadyRunning, connect, run_job
from jobs.store import Store
from tests.conftest import FakeClock, write_sandbox_config
from tests.daemon_process import daemon_until


def test_daemon_runs_keeps_no_job_in_the_store_and_stops_cleanly_on_sigterm(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)

    def no_pickled_job(store: Store) -> None:
        # The schedule comes from the config and stays in memory: no pickled job in the store.
        assert "apscheduler_jobs" not in sa.inspect(store.engine).get_table_names()

    returncode, output = daemon_until(
        sandbox,
        config,
        sqlite_url,
        until=lambda store: any(r.status == "ok" for r in store.runs()),
        while_running=no_pickled_job,
    )
    assert returncode == 0, output
    assert "daemon stopped" in output
    assert sandbox.count("update", "Deals") >= 1


def test_a_job_never_runs_twice_at_once(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    # Another process (another daemon on the same database) holds the lock. The CLI below
    # reads the real clock, so the lease must outlast both the fake and the real time.
    lease_until = max(clock(), datetime.now(UTC)) + timedelta(hours=1)
    assert conn.store.try_lock(LOCK_NAME, "other-host:42", clock(), lease_until)
    for job in Job:  # not the same job, nor any other job of the connection
        with pytest.raises(JobAlreadyRunning):
            run_job(conn, job)
    assert sandbox.calls == []
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    result = CliRunner(env=sandbox_env(sandbox)).invoke(main, ["--config", str(config), "run"])
    assert result.exit_code == 1
    assert "already running" in result.output
    conn.close()
