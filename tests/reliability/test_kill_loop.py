"""Crash safety (issue 6): `engage run` killed with SIGKILL at random moments of its sync and
push, at least 20 times, then run once more to the end, leaves the CRM exactly as one clean run
does, and no record is written twice.

The sandbox runs in this process; `engage run` is a real subprocess. Kills are placed by the
sandbox's call log (after a seeded number of API calls into the run, plus a seeded few
milliseconds), so they land inside sync and push rather than while Python starts up.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultPlan
from jobs.demo.run import sandbox_env, sandbox_settings
from jobs.push.ledger import Ledger, RowStatus
from jobs.runner import LOCK_NAME, Job, JobAlreadyRunning, connect, run_job
from jobs.store import Store
from tests.conftest import FakeClock, crm_state, write_sandbox_config

ENGAGE = str(Path(sys.executable).with_name("engage"))
DEALS, ACCOUNTS = 2000, 150
KILLS = 20


def wait_for_calls_or_exit(
    crm: SandboxCRM, process: subprocess.Popen[str], since: int, kind: str, target: int
) -> bool:
    """Poll (not a timing assertion) until the CRM has received ``target`` calls of ``kind``
    since call number ``since``; False if the run ended first."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sum(1 for k, _ in crm.calls[since:] if k == kind) >= target:
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.002)
    pytest.fail("engage run neither progressed nor ended")


def test_kill_9_at_random_moments_then_one_clean_run_equals_a_clean_run(
    tmp_path: Path,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(9)
    clean_clock, killed_clock = FakeClock(start), FakeClock(start)
    with (
        SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=clean_clock) as clean,
        SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=killed_clock) as crm,
    ):
        clean_conn = connect(
            sandbox_settings(clean, f"sqlite:///{tmp_path / 'clean.db'}", tmp_path / "c.toml")
        )
        assert run_job(clean_conn, Job.RUN).status == "ok"
        clean_conn.close()

        observer = crm.install_faults(FaultPlan())  # no faults: counts the rows each call sends
        store_url = f"sqlite:///{tmp_path / 'killed.db'}"
        config = write_sandbox_config(crm, store_url, tmp_path)
        # Two write calls in flight: kills land both between calls and beside one in flight.
        config.write_text(config.read_text("utf-8") + "[push]\nwrite_concurrency = 2\n", "utf-8")
        env = {**os.environ, **sandbox_env(crm)}
        kills: Counter[str] = Counter()
        runs = 0
        while kills.total() < KILLS:
            runs += 1
            assert runs <= 4 * KILLS, f"only {kills} kills in {runs} runs"
            # Sandbox time moves on between runs, as it would between daemon turns (and keeps
            # each process's token within Zoho's 10 per 10 minutes).
            killed_clock.advance(minutes=2)
            before = len(crm.calls)
            process = subprocess.Popen(
                [ENGAGE, "--config", str(config), "run"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            # Half the runs die during the sync (after 1-3 pages: every module has one), half
            # during the push (after 1-3 write calls reached the CRM); a run with no push left
            # to kill just finishes.
            phase = rng.choice(["sync", "push"])
            kind, target = ("get_records", rng.randint(1, 3))
            if phase == "push":
                kind, target = ("update", rng.randint(1, 3))
            if wait_for_calls_or_exit(crm, process, before, kind, target):
                time.sleep(rng.uniform(0, 0.02))
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    kills[phase] += 1
            _, errors = process.communicate(timeout=60)
            if process.returncode != -signal.SIGKILL:
                # Not killed: it ran to its end, which must have been a success.
                assert process.returncode == 0, errors
        assert kills["sync"] >= 5 and kills["push"] >= 5, kills

        killed_clock.advance(minutes=2)
        final = subprocess.run(
            [ENGAGE, "--config", str(config), "run"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
        )
        assert final.returncode == 0, final.stdout + final.stderr

        assert crm_state(crm) == crm_state(clean)
        written = {rid for rid, n in observer.counts.rows_received.items() if n}
        assert written == {
            rid
            for module in ("Accounts", "Deals")
            for rid, rec in clean.records(module).items()
            if rec["Modified_By"] == clean.api_user
        }
        twice = {rid: n for rid, n in observer.counts.rows_received.items() if n > 1}
        assert twice == {}
        store = Store.open(store_url)
        ledger = Ledger(store)
        assert set(ledger.counts()) <= {RowStatus.WRITTEN.value, RowStatus.UNCHANGED.value}
        store.close()


def test_a_lock_left_by_a_killed_process_of_this_host_is_broken(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    later = clock() + timedelta(hours=1)
    assert conn.store.try_lock(LOCK_NAME, f"{socket.gethostname()}:{dead.pid}", clock(), later)
    assert run_job(conn, Job.SYNC).status == "ok"
    # A live process of this host (this one) keeps its lock.
    assert conn.store.try_lock(LOCK_NAME, f"{socket.gethostname()}:{os.getpid()}", clock(), later)
    with pytest.raises(JobAlreadyRunning):
        run_job(conn, Job.SYNC)
    conn.close()
