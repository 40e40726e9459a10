"""The CLI's lease on a connection: 90 s, renewed every 30 s while the job runs, so a holder
killed on any machine frees the connection in about a minute and a half (not two hours)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import LOCK_NAME, Job, JobAlreadyRunning, LeaseHeartbeat, connect, run_job
from tests.conftest import FakeClock


def test_a_lease_left_by_a_holder_on_another_machine_frees_the_connection_after_90_s(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, store_url, tmp_path / "engage.toml"), clock=clock)
    # Another machine's job took the lease and was killed there: no renewal ever comes.
    assert conn.store.try_lock(LOCK_NAME, "other-host:42", clock(), clock() + timedelta(seconds=90))
    clock.advance(seconds=89)
    with pytest.raises(JobAlreadyRunning):
        run_job(conn, Job.SYNC)
    assert sandbox.calls == []
    clock.advance(seconds=2)  # 91 s after it was taken: expired
    assert run_job(conn, Job.SYNC).status == "ok"
    assert conn.store.lock_holder(LOCK_NAME) is None  # released at the end
    conn.close()


def test_the_heartbeat_renews_the_lease_for_90_s_from_each_beat(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, store_url, tmp_path / "engage.toml"), clock=clock)
    start = clock()
    assert conn.store.try_lock(LOCK_NAME, "here:1", start, start + timedelta(seconds=90))
    heartbeat = LeaseHeartbeat(conn.store, "here:1", clock)
    clock.advance(seconds=30)
    assert heartbeat.beat()
    lease = conn.store.lock_lease(LOCK_NAME)
    assert lease == ("here:1", start + timedelta(seconds=120))
    # Another holder cannot take it at 100 s (the beat moved it to 120 s)...
    clock.advance(seconds=70)
    assert not conn.store.try_lock(LOCK_NAME, "there:2", clock(), clock() + timedelta(seconds=90))
    # ...but at 121 s it can, and the old holder's next beat finds it lost.
    clock.advance(seconds=21)
    assert conn.store.try_lock(LOCK_NAME, "there:2", clock(), clock() + timedelta(seconds=90))
    assert heartbeat.beat() is False
    assert heartbeat.held is False
    assert conn.store.lock_holder(LOCK_NAME) == "there:2"
    conn.close()
