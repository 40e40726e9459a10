"""The [alerts] section refuses what cannot work, naming file and key; `engage alerts test`
sends a sample, refuses retired Teams connector URLs with what to do, accepts a Workflows URL
on any host; `engage alerts plan` shows what the next run would send and the rule behind it;
the run's own outcome alerts (failed) and clears (ok)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.odoo.links import lead_url
from connector.sandbox.chat import ChatWebhooks
from connector.zoho.links import deal_url
from jobs.alerts.steps import plan_step
from jobs.cli import main
from jobs.config import load_settings
from jobs.store import Store
from mappings.tomlfile import ConfigFileError
from tests.conftest import FakeClock
from tests.jobs.alerts.conftest import learn_baseline, settings_with
from tests.jobs.alerts.test_outbox import breach, seeded

BASE = '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "https://accounts.zoho.eu"\n'


def config_file(tmp_path: Path, alerts: str, store: str | None = None) -> Path:
    path = tmp_path / "engage.toml"
    store_part = f'[store]\nurl = "{store}"\n' if store else ""
    path.write_text(BASE + store_part + textwrap.dedent(alerts), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("alerts", "key", "words"),
    [
        (
            '[alerts.routes.ops]\nchannel = "slack"\nurl = "https://hooks.slack.com/services/T/B/x"\n',
            "alerts.routes.ops",
            "a webhook URL is a secret and does not belong in the file",
        ),
        ('[alerts.routes.ops]\nchannel = "slack"\n', "alerts.routes.ops", "needs url_env"),
        (
            '[alerts.routes.ops]\nchannel = "email"\nto = "a@b.example"\ntimezone = "Mars/Olympus"\n',
            "alerts.routes.ops.timezone",
            "not an IANA time zone",
        ),
        (
            '[alerts]\nrules = [{ event = "sla_status", routes = ["nowhere"] }]\n',
            "alerts",
            "route 'nowhere' is not in alerts.routes",
        ),
        (
            (
                '[alerts]\nrules = [{ event = "risk_level", routes = ["ops"] }]\n'
                '[alerts.routes.ops]\nchannel = "email"\nto = "a@b.example"\n'
            ),
            "alerts.rules.0",
            "needs rise_by or levels",
        ),
    ],
)
def test_a_bad_alerts_section_names_the_file_and_the_key(
    tmp_path: Path, alerts: str, key: str, words: str
) -> None:
    path = config_file(tmp_path, alerts)
    with pytest.raises(ConfigFileError) as caught:
        load_settings(path, {})
    assert caught.value.key == key
    assert words in str(caught.value) and str(path) in str(caught.value)
    assert "hooks.slack.com" not in str(caught.value)  # a pasted URL is not echoed


SLACK_ROUTE = '[alerts.routes.ops]\nchannel = "slack"\nurl_env = "OPS_HOOK"\nlanguage = "zh"\n'
TEAMS_ROUTE = '[alerts.routes.team]\nchannel = "teams"\nurl_env = "TEAM_HOOK"\n'


def test_alerts_test_sends_a_sample_in_the_routes_language(
    tmp_path: Path, chat: ChatWebhooks, sqlite_url: str
) -> None:
    path = config_file(tmp_path, SLACK_ROUTE + TEAMS_ROUTE, sqlite_url)
    env = {"OPS_HOOK": chat.slack_url("ops"), "TEAM_HOOK": chat.teams_url("team")}
    result = CliRunner().invoke(main, ["--config", str(path), "alerts", "test", "ops"], env=env)
    assert result.exit_code == 0, result.output
    assert "sent a sample to route ops (slack)" in result.output
    assert chat.received["ops"][0]["blocks"][0]["text"]["text"] == "测试提醒：路由 ops 可以送达"
    # A Workflows URL is opaque: this one is on 127.0.0.1 and is used as it is.
    result = CliRunner().invoke(main, ["--config", str(path), "alerts", "test", "team"], env=env)
    assert result.exit_code == 0, result.output
    card = chat.received["team"][0]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["version"] == "1.4"
    missing = CliRunner().invoke(
        main, ["--config", str(path), "alerts", "test", "ops"], env={"OPS_HOOK": ""}
    )
    assert missing.exit_code == 2
    assert (
        "route ops: set the environment variable OPS_HOOK to its slack webhook URL"
        in missing.output
    )
    unknown = CliRunner().invoke(main, ["--config", str(path), "alerts", "test", "nope"], env=env)
    assert unknown.exit_code == 2 and "no route 'nope'" in unknown.output


@pytest.mark.parametrize(
    "url",
    [
        "https://outlook.office.com/webhook/1234@5678/IncomingWebhook/abcd/ef01",
        "https://contoso.webhook.office.com/webhookb2/1234@5678/IncomingWebhook/abcd/ef01",
    ],
)
def test_a_retired_office_365_connector_url_is_refused_with_what_to_do(
    tmp_path: Path, url: str, sqlite_url: str
) -> None:
    path = config_file(tmp_path, TEAMS_ROUTE, sqlite_url)
    result = CliRunner().invoke(
        main, ["--config", str(path), "alerts", "test", "team"], env={"TEAM_HOOK": url}
    )
    assert result.exit_code == 2
    assert "TEAM_HOOK holds an Office 365 connector URL; Microsoft retired those" in result.output
    assert '"When a Teams webhook request is received"' in result.output
    assert "IncomingWebhook" not in result.output


def test_a_revoked_hook_in_alerts_test_is_one_line_exit_1(
    tmp_path: Path, chat: ChatWebhooks, sqlite_url: str
) -> None:
    path = config_file(tmp_path, SLACK_ROUTE, sqlite_url)
    url = chat.slack_url("ops").replace("sandboxsecret", "wrongsecret")
    result = CliRunner().invoke(
        main, ["--config", str(path), "alerts", "test", "ops"], env={"OPS_HOOK": url}
    )
    assert result.exit_code == 1
    assert "the Slack webhook of route ops answered 404 no_service" in result.output
    assert "wrongsecret" not in result.output


def test_alerts_plan_shows_what_the_next_run_sends_with_the_rule_and_stores_nothing(
    store: Store, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    alerts = '[alerts]\nrules = [{ event = "sla_status", routes = ["lead"] }]\n'
    alerts += '[alerts.routes.lead]\nchannel = "email"\nto = "lead@provider.example"\n'
    path = config_file(tmp_path, alerts, store_url)
    settings = load_settings(path, {})
    (one,) = seeded(store, settings, clock(), 1)
    clock.advance(minutes=15)
    breach(store, [one], clock())
    for _ in range(2):  # a plan stores nothing: the second shows the same
        result = CliRunner().invoke(main, ["--config", str(path), "alerts", "plan"])
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == [
            "new: lead <- rule sla_status on E01 (sla_status: compliant -> breached)"
        ]


def test_the_runs_own_failure_alerts_once_and_clears_when_a_run_works(
    store: Store, store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    alerts = {
        "routes": {"lead": {"channel": "email", "to": "lead@provider.example"}},
        "rules": [{"event": "job", "routes": ["lead"], "outcomes": ["failed", "stopped"]}],
    }
    settings = settings_with(tmp_path, store_url, alerts)
    learn_baseline(store, settings, clock())
    runs = [("failed", 1), ("failed", 0), ("ok", 0), ("stopped", 1)]
    added = []
    for outcome, _ in runs:
        clock.advance(hours=5)
        run = plan_step(store, settings, now=clock(), outcome=outcome, message=f"run {outcome}")
        added.append(run.added)
    assert added == [1, 0, 0, 1]


def test_deal_links_are_built_per_crm() -> None:
    assert (
        deal_url("https://accounts.zoho.com.cn", "5725767000000412345", "org60012345")
        == "https://crm.zoho.com.cn/crm/org60012345/tab/Potentials/5725767000000412345"
    )
    assert deal_url("https://accounts.zoho.eu", "42") == "https://crm.zoho.eu/crm/tab/Potentials/42"
    assert lead_url("https://acme.odoo.com/", "17") == (
        "https://acme.odoo.com/web#id=17&model=crm.lead&view_type=form"
    )
    assert lead_url("https://acme.odoo.com", "17", "odoo") == "https://acme.odoo.com/odoo/crm/17"
