"""The alert hook at the end of a CLI run retries as the connection's own policy says, not
with a default one (the same policy as every other call of the connection)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.retry import RetryPolicy
from connector.sandbox import SandboxCRM
from connector.sandbox.chat import Answer, ChatWebhooks
from connector.sandbox.faults import FaultPlan
from jobs.demo.run import sandbox_env
from jobs.runner import Job, connect, run_job
from tests.conftest import FakeClock
from tests.jobs.alerts.conftest import settings_with

HOOK_ENV = "ENGAGE_TEST_OPS_HOOK"


def test_the_cli_hook_sends_with_the_connections_policy(
    clock: FakeClock,
    sqlite_url: str,
    tmp_path: Path,
    chat: ChatWebhooks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(HOOK_ENV, chat.slack_url("ops"))
    alerts = {
        "routes": {"ops": {"channel": "slack", "url_env": HOOK_ENV}},
        "rules": [{"event": "job", "outcomes": ["stopped"], "routes": ["ops"]}],
    }
    waits: list[float] = []
    # One attempt per call: a default policy would post again after the webhook's 503.
    policy = RetryPolicy(max_attempts=1, max_rate_limited_attempts=1, sleep=waits.append)
    with SandboxCRM(deals=10, accounts=3, clock=clock) as crm:
        settings = settings_with(
            tmp_path,
            sqlite_url,
            alerts,
            crm={"kind": "zoho", "zoho": {"accounts_url": crm.url}},
            env=sandbox_env(crm),
        )
        crm.install_faults(FaultPlan(rate_429=1.0))  # the run stops: its outcome alerts
        chat.script["ops"] = [Answer(503, "busy")]
        conn = connect(settings, clock=clock, policy=policy)
        assert run_job(conn, Job.RUN).status == "stopped"
        conn.close()
    assert chat.statuses["ops"] == [503]
    assert chat.count("ops") == 0
    assert waits == []
