"""The alerts job of workers (jobs/workers/alerts.py) in-process on a real PostgreSQL, a Zoho
sandbox and local Slack and Teams webhooks: a run that stopped alerts on its own outcome, once,
however often its alerts job runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import procrastinate
import pytest
from procrastinate import testing

from connector.sandbox import SandboxCRM
from connector.sandbox.chat import ChatWebhooks
from connector.sandbox.faults import FaultPlan
from jobs.store import Store
from jobs.store.runs import RunStatus
from jobs.workers import push_steps, runtime, steps, tasks
from jobs.workers.alerts import send_alerts
from jobs.workers.app import Timings
from jobs.workers.connections import read_definition, save_definition
from jobs.workers.runtime import Runtime
from tests.conftest import FakeClock
from tests.jobs.workers.conftest import zoho_config, zoho_env

pytestmark = pytest.mark.postgres

TIMINGS = Timings(stale_seconds=3, heartbeat_seconds=1, polling_seconds=0.5)
ALERTS = """
[alerts]
rules = [{ event = "job", outcomes = ["failed", "stopped"], routes = ["slack", "teams"] }]
[alerts.routes.slack]
channel = "slack"
url_env = "ENGAGE_TEST_C1_SLACK"
[alerts.routes.teams]
channel = "teams"
url_env = "ENGAGE_TEST_C1_TEAMS"
"""


@pytest.fixture
def chat() -> Iterator[ChatWebhooks]:
    with ChatWebhooks() as hooks:
        yield hooks


def test_a_stopped_runs_alert_is_sent_once_to_each_route_and_an_ok_run_sends_nothing(
    pg_schema: Callable[[], str],
    sandbox: SandboxCRM,
    clock: FakeClock,
    tmp_path: Path,
    chat: ChatWebhooks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = Store.open(pg_schema())
    config = zoho_config(tmp_path / "c1.toml", sandbox, pg_schema(), "\n" + ALERTS)
    for variable, value in zoho_env("c1", sandbox).items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("ENGAGE_TEST_C1_SLACK", chat.slack_url("slack"))
    monkeypatch.setenv("ENGAGE_TEST_C1_TEAMS", chat.teams_url("teams"))
    rt = replace(Runtime.for_store(cluster, TIMINGS), clock=clock)
    save_definition(rt.connections, rt.limits, read_definition("c1", config, {}), clock())
    observer = sandbox.install_faults(FaultPlan(rate_429=1.0))  # the CRM keeps refusing
    ended = steps.start_run(rt, "c1", "job:1")
    assert isinstance(ended, steps.RunEnd) and ended.status is RunStatus.STOPPED
    assert ended.run_id is not None
    assert (chat.count("slack"), chat.count("teams")) == (0, 0)  # the run itself sends nothing
    assert send_alerts(rt, "c1", ended.run_id) == 1
    assert (chat.count("slack"), chat.count("teams")) == (1, 1)
    assert "stopped" in str(chat.received["slack"][0])
    # The job delivered again (at least once): nothing is posted twice.
    send_alerts(rt, "c1", ended.run_id)
    assert (chat.count("slack"), chat.count("teams")) == (1, 1)
    # The CRM answers again: an ok run, whose alerts job posts nothing.
    observer.plan = FaultPlan()
    fanned = steps.start_run(rt, "c1", "job:2")
    assert isinstance(fanned, steps.Fanned)
    for k in range(fanned.chunks):
        steps.score_part(rt, "c1", fanned.token, k)
    fan = push_steps.plan_push(rt, "c1", fanned.token)
    ok = [push_steps.push_part(rt, "c1", fanned.token, k) for k in fan.chunks][-1]
    assert ok is not None and ok.ok and ok.run_id is not None
    assert send_alerts(rt, "c1", ok.run_id) == 1
    assert (chat.count("slack"), chat.count("teams")) == (1, 1)
    cluster.close()


def test_a_run_whose_sync_stopped_defers_its_alerts_job_and_no_survey_step(
    pg_schema: Callable[[], str],
    sandbox: SandboxCRM,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The task, not only the step: the run ends at its sync, and what follows is its alerts."""
    cluster = Store.open(pg_schema())
    own = pg_schema()
    config = zoho_config(tmp_path / "c1.toml", sandbox, own, "\n" + ALERTS)
    for variable, value in zoho_env("c1", sandbox).items():
        monkeypatch.setenv(variable, value)
    rt = replace(Runtime.for_store(cluster, TIMINGS), clock=clock)
    save_definition(rt.connections, rt.limits, read_definition("c1", config, {}), clock())
    sandbox.install_faults(FaultPlan(rate_429=1.0))
    memory = testing.InMemoryConnector()
    app = procrastinate.App(connector=memory)
    tasks.register(app, TIMINGS.tick_seconds, TIMINGS.reap_seconds)
    monkeypatch.setattr(runtime, "_current", rt)  # the runtime tasks use; undone after
    with app.open():
        assert tasks.defer_run(app, "c1")
        app.run_worker(queues=["run"], wait=False, install_signal_handlers=False)
    store = Store.open(own)
    (run,) = store.runs(10)
    store.close()
    assert run.status == RunStatus.STOPPED
    # (the worker also deferred its periodic tick and reaper as it started: not this test's)
    periodic = (tasks.TICK, tasks.REAP)
    deferred = [
        (j["task_name"], j["args"]) for j in memory.jobs.values() if j["task_name"] not in periodic
    ]
    assert deferred == [
        (tasks.RUN, {"connection": "c1"}),
        (tasks.ALERTS, {"connection": "c1", "run_id": run.id}),
    ]
    cluster.close()
