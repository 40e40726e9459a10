"""A sandbox deal pushed into breach, end to end over real HTTP and real SMTP: sandbox CRM ->
sync -> score -> alerts -> local Slack and Teams webhooks (checking Block Kit and the Adaptive
Card envelope) and an aiosmtpd server. Then: no change sends nothing; clear and recur sends one
more of each. And a full run's logs never show a webhook URL."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from connector.sandbox.chat import Answer, ChatWebhooks
from jobs.cli import main
from jobs.config import Config, Settings
from jobs.demo.run import sandbox_env
from jobs.runner import Job, connect, run_job
from jobs.store import Store
from jobs.store.alerts import AlertStore
from mappings.domain import Milestone, SlaStatus
from tests.conftest import FakeClock
from tests.surveys.conftest import Inbox

SLACK_URL_ENV = "ENGAGE_TEST_SLACK_DELIVERY"
TEAMS_URL_ENV = "ENGAGE_TEST_TEAMS_DELIVERY"


def alerts_section(inbox: Inbox) -> dict[str, Any]:
    return {
        "cooldown_minutes": 60,
        "zoho_org": "org777",
        "routes": {
            "delivery-slack": {"channel": "slack", "url_env": SLACK_URL_ENV, "language": "en"},
            "delivery-teams": {"channel": "teams", "url_env": TEAMS_URL_ENV, "language": "zh"},
            "lead-mail": {"channel": "email", "to": "lead@provider.example", "language": "zh"},
        },
        "rules": [
            {
                "event": "sla_status",
                "statuses": ["breached"],
                "routes": ["delivery-slack", "delivery-teams", "lead-mail"],
            }
        ],
    }


def sandbox_settings_with_alerts(
    crm: SandboxCRM, store_url: str, tmp_path: Path, inbox: Inbox
) -> Settings:
    config = Config.model_validate(
        {
            "crm": {"kind": "zoho", "zoho": {"accounts_url": crm.url}},
            "store": {"url": store_url},
            "surveys": {"smtp": {"host": inbox.host, "port": inbox.port}},
            "alerts": alerts_section(inbox),
        }
    )
    return Settings(config, tmp_path / "engage.toml", sandbox_env(crm))


def late_milestone(deal: str, name: str, planned: Any, delivered: Any = None) -> Milestone:
    return Milestone(
        external_id=f"{deal}-{name}",
        engagement_id=deal,
        name=name,
        planned_date=planned,
        planned_value=Decimal(1000),
        delivered_date=delivered,
        accepted_date=delivered,
        percent_complete=100 if delivered else 40,
    )


def slack_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload["blocks"], ensure_ascii=False)


def test_a_deal_pushed_into_breach_alerts_once_per_route_then_again_after_it_recurs(
    clock: FakeClock,
    store_url: str,
    tmp_path: Path,
    chat: ChatWebhooks,
    smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SLACK_URL_ENV, chat.slack_url("slack"))
    monkeypatch.setenv(TEAMS_URL_ENV, chat.teams_url("teams"))
    with SandboxCRM(deals=20, accounts=5, clock=clock) as crm:
        conn = connect(
            sandbox_settings_with_alerts(crm, store_url, tmp_path, smtp_server), clock=clock
        )
        assert run_job(conn, Job.RUN).status == "ok"  # the first run learns the portfolio
        assert (chat.count("slack"), chat.count("teams"), smtp_server.count()) == (0, 0, 0)
        health = conn.store.health()
        deal = next(
            e
            for e in conn.store.engagements()
            if e.sla_tier in ("Gold", "Silver", "Bronze")
            and e.crm_id in health
            and health[e.crm_id].sla_status is SlaStatus.NOT_MEASURED
        )
        today = clock().date()
        # Gold/Silver/Bronze want 85-95 % of milestones on time: 0 of 1 is a breach.
        conn.store.save_facts(
            "milestones",
            [late_milestone(deal.crm_id, "M1", today - timedelta(days=10))],
            "file",
            clock(),
        )
        clock.advance(minutes=15)
        assert run_job(conn, Job.RUN).status == "ok"
        assert conn.store.health()[deal.crm_id].sla_status is SlaStatus.BREACHED

        assert (chat.count("slack"), chat.count("teams")) == (1, 1)
        assert chat.refused == {}
        (slack,) = chat.received["slack"]
        (teams,) = chat.received["teams"]
        assert slack["blocks"][0] == {
            "type": "header",
            "text": {"type": "plain_text", "text": f"SLA breached: {deal.name}"},
        }
        # The drivers' words (jobs/messages catalogs): the late milestone by name, the SLA goal.
        assert "M1 is 10 days late" in slack_text(slack)
        assert "SLA breached: compliance 0% (goal:" in slack_text(slack)
        button = next(b for b in slack["blocks"] if b["type"] == "actions")["elements"][0]
        assert button["url"] == f"{crm.url}/crm/org777/tab/Potentials/{deal.crm_id}"
        card = teams["attachments"][0]["content"]
        assert card["body"][0]["text"] == f"SLA 已违约：{deal.name}"
        card_text = json.dumps(card, ensure_ascii=False)
        assert "M1 已延期 10 天" in card_text and "SLA 已违约：达标率 0%（目标" in card_text
        assert smtp_server.count() == 1
        mail = smtp_server.messages[0]
        assert str(mail["Subject"]) == f"SLA 已违约：{deal.name}"
        assert str(mail["To"]) == "lead@provider.example"
        text = mail.get_body(("plain",))
        assert text is not None and "M1 已延期 10 天" in text.get_content()
        assert mail.get_body(("html",)) is not None

        clock.advance(minutes=15)
        assert run_job(conn, Job.RUN).status == "ok"  # nothing changed
        assert (chat.count("slack"), chat.count("teams"), smtp_server.count()) == (1, 1, 1)

        # Delivered on its date after all: compliant again; the episode closes, nothing sent.
        conn.store.save_facts(
            "milestones",
            [
                late_milestone(
                    deal.crm_id, "M1", today - timedelta(days=10), today - timedelta(days=10)
                )
            ],
            "file",
            clock(),
        )
        clock.advance(hours=2)  # past the cool-down
        assert run_job(conn, Job.RUN).status == "ok"
        assert conn.store.health()[deal.crm_id].sla_status is not SlaStatus.BREACHED
        assert (chat.count("slack"), chat.count("teams"), smtp_server.count()) == (1, 1, 1)

        conn.store.save_facts(
            "milestones",
            [late_milestone(deal.crm_id, "M2", clock().date() - timedelta(days=3))],
            "file",
            clock(),
        )
        clock.advance(minutes=15)
        assert run_job(conn, Job.RUN).status == "ok"
        assert (chat.count("slack"), chat.count("teams"), smtp_server.count()) == (2, 2, 2)
        assert chat.refused == {}
        rows = AlertStore(conn.store.engine).rows()
        assert sorted((r.route, r.key.rsplit("|", 1)[1], r.state) for r in rows) == [
            ("delivery-slack", "1", "sent"),
            ("delivery-slack", "2", "sent"),
            ("delivery-teams", "1", "sent"),
            ("delivery-teams", "2", "sent"),
            ("lead-mail", "1", "sent"),
            ("lead-mail", "2", "sent"),
        ]
        conn.close()


class _RawRecords(logging.Handler):
    """Keeps every record's message as the code wrote it (no masking filter)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if record.exc_info:
            self.messages.append(logging.Formatter().formatException(record.exc_info))


def test_no_webhook_url_appears_in_any_log_line_of_a_full_run(
    clock: FakeClock,
    sqlite_url: str,
    tmp_path: Path,
    chat: ChatWebhooks,
    smtp_server: Inbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every way a URL could reach a line: a sent alert, a retried 503, a revoked hook (its
    reason is stored and printed), `engage alerts status`. Besides what the commands print
    (through the masking filter), the raw records of our loggers at DEBUG, before any mask:
    the code itself never puts a URL in a line."""
    slack_url, teams_url = chat.slack_url("revoked"), chat.teams_url("busy")
    secrets = [slack_url.rsplit("/", 1)[1], teams_url.rsplit("sig=", 1)[1]]
    monkeypatch.setenv(SLACK_URL_ENV, slack_url)
    monkeypatch.setenv(TEAMS_URL_ENV, teams_url)
    chat.script["revoked"] = [Answer(410, "channel_is_archived")]
    chat.script["busy"] = [Answer(503, "busy", {"Retry-After": "0"})]
    with SandboxCRM(deals=20, accounts=5, clock=clock) as crm:
        for key, value in sandbox_env(crm).items():
            monkeypatch.setenv(key, value)
        config = tmp_path / "engage.toml"
        config.write_text(
            f'[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "{crm.url}"\n'
            f'[store]\nurl = "{sqlite_url}"\n'
            "[alerts]\n"
            'rules = [{ event = "sla_status", routes = ["delivery-slack", "delivery-teams"] }]\n'
            f'[alerts.routes.delivery-slack]\nchannel = "slack"\nurl_env = "{SLACK_URL_ENV}"\n'
            f'[alerts.routes.delivery-teams]\nchannel = "teams"\nurl_env = "{TEAMS_URL_ENV}"\n',
            encoding="utf-8",
        )
        raw = _RawRecords()
        for name in ("jobs", "connector", "engage"):
            logging.getLogger(name).addHandler(raw)
            monkeypatch.setattr(logging.getLogger(name), "level", logging.DEBUG)
        runner = CliRunner()
        first = runner.invoke(main, ["--config", str(config), "-v", "run"])
        assert first.exit_code == 0, first.output
        store = Store.open(sqlite_url)
        deals = [e.crm_id for e in store.engagements() if e.sla_tier][:2]
        store.save_facts(
            "milestones",
            [late_milestone(d, "M1", clock().date() - timedelta(days=5)) for d in deals],
            "file",
            clock(),
        )
        store.close()
        clock.advance(minutes=15)
        second = runner.invoke(main, ["--config", str(config), "-v", "run"])
        status = runner.invoke(main, ["--config", str(config), "alerts", "status"])
    assert chat.statuses == {"revoked": [410], "busy": [503, 202, 202]}
    assert "DISABLED" in status.output and "410 channel_is_archived" in status.output
    for name in ("jobs", "connector", "engage"):
        logging.getLogger(name).removeHandler(raw)
    assert any("route delivery-slack disabled" in m for m in raw.messages)
    lines = "\n".join([first.output, second.output, status.output, *raw.messages])
    for secret in secrets:
        assert secret not in lines
    engine = Store.open(sqlite_url).engine
    stored = json.dumps([r.__dict__ for r in AlertStore(engine).rows()], default=str)
    stored += json.dumps(AlertStore(engine).disabled_routes(), default=str)
    engine.dispose()
    for secret in secrets:
        assert secret not in stored
