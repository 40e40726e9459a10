"""The sandbox's own next day (issue 17 item 6): a job stopped by the org's daily credits
resumes once the sandbox's clock moves a day, moved over its sandbox-only HTTP endpoint, as a
script would move a standalone sandbox; nothing in the store is edited."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from connector.retry import RetryPolicy
from connector.sandbox import SandboxCRM
from connector.sandbox.zoho.server import SANDBOX_CLOCK_PATH
from jobs.config import load_settings
from jobs.demo.run import sandbox_env
from jobs.runner import Job, connect, run_job
from tests.conftest import FakeClock, write_sandbox_config

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_a_job_stopped_by_the_day_s_credits_resumes_when_the_sandbox_s_day_is_over(
    sqlite_url: str, tmp_path: Path
) -> None:
    # Two clocks, as two machines have: this connector's and the CRM's.
    ours, theirs = FakeClock(START), FakeClock(START)
    with SandboxCRM(clock=theirs, daily_credits=1000) as crm:
        config = write_sandbox_config(crm, sqlite_url, tmp_path)
        policy = RetryPolicy(sleep=lambda _: None, random=random.Random(3).random)
        conn = connect(load_settings(config, sandbox_env(crm)), clock=ours, policy=policy)
        assert run_job(conn, Job.SYNC).status == "ok"
        assert run_job(conn, Job.SCORE).status == "ok"
        # Other integrations leave the org 25 credits of its day; the push needs about 40.
        crm.spend_credits(1000 - crm.org_credits_used - 25)
        stopped = run_job(conn, Job.RUN)
        assert stopped.status == "stopped", stopped.message
        assert stopped.push is not None and stopped.push.written > 0  # what the day allowed

        # Our day passes (this machine's clock); the CRM's rolling 24 hours, by its own clock,
        # still hold every credit spent.
        ours.advance(days=1, minutes=1)
        assert crm.org_credits_used >= 1000 - 25
        # The CRM's day passes too, moved from outside the process like a standalone sandbox.
        with requests.Session() as http:
            moved = http.post(f"{crm.url}{SANDBOX_CLOCK_PATH}", json={"days": 1, "minutes": 1})
            assert moved.status_code == 200
            assert moved.json()["now"] == "2026-11-24T09:01:00+00:00"
            assert moved.json()["sandbox_only"] is True
        assert crm.org_credits_used == 0  # the window forgot yesterday's calls
        crm.reset_calls()
        resumed = run_job(conn, Job.RUN)
        assert resumed.status == "ok", resumed.message
        assert resumed.push is not None and resumed.push.written > 0  # the rest, written now
        assert crm.count("token") == 1  # the old token expired by the CRM's clock: refreshed
        # Nothing left to write: everything the stopped runs could not write is in the CRM.
        again = run_job(conn, Job.PUSH)
        assert again.status == "ok" and again.push is not None and again.push.written == 0
        conn.close()


def test_the_sandbox_clock_endpoint_refuses_what_it_cannot_do() -> None:
    with SandboxCRM(clock=FakeClock(START), deals=10) as crm, requests.Session() as http:
        url = f"{crm.url}{SANDBOX_CLOCK_PATH}"
        assert http.get(url).json()["now"] == "2026-11-23T09:00:00+00:00"
        backwards = http.post(url, json={"days": -1})
        assert backwards.status_code == 400
        assert "only moves forward" in backwards.json()["error"]
        assert http.post(url, json={"weeks": 1}).status_code == 400
        assert http.get(url).json()["now"] == "2026-11-23T09:00:00+00:00"  # unchanged
    with pytest.raises(ValueError, match="forward"):
        crm.advance_clock(seconds=-1)
