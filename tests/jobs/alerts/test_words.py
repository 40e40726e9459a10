"""An alert's words are the catalogs' `alert.*` messages: a company's override file changes
what a route receives, in the route's language (docs/messages.md)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from connector.sandbox.chat import ChatWebhooks
from jobs.alerts.steps import plan_step, send_step
from jobs.cli import main
from jobs.store import Store
from tests.conftest import FakeClock
from tests.jobs.alerts.conftest import settings_with
from tests.jobs.alerts.test_config_and_cli import SLACK_ROUTE, config_file
from tests.jobs.alerts.test_outbox import breach, seeded, sla_alerts, slack_routes


def test_an_override_changes_the_sample_alerts_test_sends(
    tmp_path: Path, chat: ChatWebhooks, sqlite_url: str
) -> None:
    (tmp_path / "our-words.toml").write_text(
        '[zh_Hans.alert.title]\ntest = "演练：{route} 路由畅通"\n', encoding="utf-8"
    )
    path = config_file(
        tmp_path, '[messages]\noverride_file = "our-words.toml"\n' + SLACK_ROUTE, sqlite_url
    )
    env = {"OPS_HOOK": chat.slack_url("ops")}
    result = CliRunner().invoke(main, ["--config", str(path), "alerts", "test", "ops"], env=env)
    assert result.exit_code == 0, result.output
    assert chat.received["ops"][0]["blocks"][0]["text"]["text"] == "演练：ops 路由畅通"


def test_an_override_changes_an_alert_s_title_and_leaves_the_other_words(
    store: Store, store_url: str, clock: FakeClock, chat: ChatWebhooks, tmp_path: Path
) -> None:
    (tmp_path / "our-words.toml").write_text(
        '[en.alert]\n"title.sla_status" = "SLA now {to} on {engagement}: call the client"\n',
        encoding="utf-8",
    )
    env: dict[str, str] = {}
    alerts = sla_alerts(slack_routes(chat, env, ops={}))
    # The override file as a run reads it, from the connection's [messages] section.
    settings = settings_with(
        tmp_path, store_url, alerts, env=env, messages={"override_file": "our-words.toml"}
    )
    ids = seeded(store, settings, clock(), 1)
    clock.advance(minutes=15)
    breach(store, ids, clock())
    assert plan_step(store, settings, now=clock()).added == 1
    report = send_step(store, settings, now=clock(), env=env, sleep=lambda _: None)
    assert report.alerts == 1
    (alert,) = chat.received["ops"]
    assert (
        alert["blocks"][0]["text"]["text"] == "SLA now breached on Engagement 01: call the client"
    )
    assert "Risk score" in str(alert["blocks"])  # the messages not overridden stay as shipped
