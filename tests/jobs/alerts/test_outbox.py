"""The alert outbox on SQLite and PostgreSQL: a burst becomes one summary, quiet hours hold and
release at local time across a DST change, a revoked webhook disables its route only, 5xx and
429 are retried as the shared policy says (Retry-After obeyed), a flapping value is one alert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from connector.retry import RetryPolicy
from connector.sandbox.chat import Answer, ChatWebhooks
from jobs.alerts.steps import plan_step, send_step
from jobs.cli import main
from jobs.config import Settings
from jobs.store import Store
from jobs.store.alerts import AlertStore
from jobs.store.schema import metadata
from mappings.domain import Engagement, RiskLevel, SlaStatus
from tests.conftest import FakeClock
from tests.jobs.alerts.conftest import health, learn_baseline, settings_with


def engagements(count: int) -> list[Engagement]:
    return [
        Engagement.model_validate(
            {
                "crm_id": f"E{n:02d}",
                "name": f"Engagement {n:02d}",
                "account_id": "A1",
                "account_name": "ACME",
                "owner_id": "U1",
                "stage": "Closed Won",
                "status": "active",
            }
        )
        for n in range(1, count + 1)
    ]


def breach(store: Store, ids: list[str], at: datetime, sla: SlaStatus = SlaStatus.BREACHED) -> None:
    store.save_health([health(i, at, sla=sla, level=RiskLevel.HIGH, score=70) for i in ids])


def slack_routes(
    chat: ChatWebhooks, env: dict[str, str], **routes: dict[str, Any]
) -> dict[str, Any]:
    out = {}
    for name, extra in routes.items():
        variable = f"HOOK_{name.upper()}"
        kind = extra.pop("channel", "slack")
        env[variable] = chat.slack_url(name) if kind == "slack" else chat.teams_url(name)
        out[name] = {"channel": kind, "url_env": variable, **extra}
    return out


def sla_alerts(routes: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"routes": routes, "rules": [{"event": "sla_status", "routes": list(routes)}], **more}


def sla_settings(
    tmp_path: Path, store_url: str, chat: ChatWebhooks, **routes: dict[str, Any]
) -> tuple[Settings, dict[str, str]]:
    """Settings with one SLA rule to these chat routes (`slack_routes`), and the environment
    that holds their hooks."""
    env: dict[str, str] = {}
    alerts = sla_alerts(slack_routes(chat, env, **routes))
    return settings_with(tmp_path, store_url, alerts, env=env), env


def seeded(store: Store, settings: Settings, now: datetime, count: int) -> list[str]:
    store.save_engagements(engagements(count), now)
    store.save_health([health(e.crm_id, now) for e in engagements(count)])
    learn_baseline(store, settings, now)
    return [e.crm_id for e in engagements(count)]


def test_fifty_breaches_in_one_run_to_one_route_are_one_summary(
    store: Store, store_url: str, clock: FakeClock, chat: ChatWebhooks, tmp_path: Path
) -> None:
    settings, env = sla_settings(tmp_path, store_url, chat, ops={"burst_limit": 20})
    ids = seeded(store, settings, clock(), 50)
    clock.advance(minutes=15)
    breach(store, ids, clock())
    assert plan_step(store, settings, now=clock()).added == 50
    report = send_step(store, settings, now=clock(), env=env)
    assert (report.messages, report.summaries, report.alerts) == (1, 1, 50)
    assert chat.count("ops") == 1 and chat.refused == {}
    (summary,) = chat.received["ops"]
    assert summary["blocks"][0]["text"]["text"] == "50 alerts at once for ops"
    listed = summary["blocks"][1]["text"]["text"]
    # The first 15 titles, then how many more: 15 + 35 = 50.
    assert listed.count("• SLA breached: Engagement") == 15
    assert listed.endswith("• …and 35 more")
    assert {r.state for r in AlertStore(store.engine).rows()} == {"sent"}
    # Twenty at once is not a burst: one message each.
    assert send_step(store, settings, now=clock(), env=env).messages == 0


def test_quiet_hours_hold_alerts_until_the_local_morning_across_the_end_of_dst(
    store: Store, store_url: str, clock: FakeClock, chat: ChatWebhooks, tmp_path: Path
) -> None:
    route = {"timezone": "America/New_York", "quiet_hours": ["22:00", "07:00"]}
    settings, env = sla_settings(tmp_path, store_url, chat, ny=route)
    # Sunday 1 November 2026: New York leaves daylight time at 02:00 (UTC-4 -> UTC-5).
    clock.now = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)  # 23:00 EDT on Saturday: quiet
    (one,) = seeded(store, settings, clock(), 1)
    clock.advance(minutes=15)
    breach(store, [one], clock())
    plan_step(store, settings, now=clock())
    report = send_step(store, settings, now=clock(), env=env)
    # 07:00 EST is 12:00 UTC (it would be 11:00 UTC at the summer offset).
    assert report.held == {"ny": (1, datetime(2026, 11, 1, 12, 0, tzinfo=UTC))}
    clock.now = datetime(2026, 11, 1, 11, 30, tzinfo=UTC)  # 06:30 EST: still night
    assert send_step(store, settings, now=clock(), env=env).messages == 0
    status = CliRunner().invoke(
        main, ["--config", _written(settings, env, tmp_path), "alerts", "status"]
    )
    assert "held by quiet hours until 2026-11-01 12:00 UTC" in status.output
    assert chat.count("ny") == 0
    clock.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # 07:00 EST: morning
    assert send_step(store, settings, now=clock(), env=env).messages == 1
    assert chat.count("ny") == 1


def _written(settings: Settings, env: dict[str, str], tmp_path: Path) -> str:
    """The settings as a config file for `engage` commands (routes and store only)."""
    alerts = settings.config.alerts
    lines = [
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "https://accounts.zoho.eu"',
        f'[store]\nurl = "{settings.config.store.url}"',
        "[alerts]",
    ]
    for name, route in alerts.routes.items():
        lines.append(
            f'[alerts.routes.{name}]\nchannel = "{route.channel}"\nurl_env = "{route.url_env}"'
        )
        lines.append(f'timezone = "{route.timezone}"')
        if route.quiet_hours:
            lines.append(f"quiet_hours = {list(route.quiet_hours)!r}".replace("'", '"'))
    path = tmp_path / "engage.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("status", [404, 410])
def test_a_revoked_webhook_disables_its_route_and_the_others_keep_working(
    status: int,
    store: Store,
    store_url: str,
    clock: FakeClock,
    chat: ChatWebhooks,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, env = sla_settings(tmp_path, store_url, chat, gone={}, alive={"channel": "teams"})
    ids = seeded(store, settings, clock(), 2)
    chat.script["gone"] = [Answer(status, "channel_is_archived" if status == 410 else "no_service")]
    clock.advance(minutes=15)
    breach(store, ids, clock())
    plan_step(store, settings, now=clock())
    report = send_step(store, settings, now=clock(), env=env)
    assert list(report.disabled) == ["gone"]
    assert chat.statuses["gone"] == [status]  # the second alert was not tried on a dead hook
    assert chat.count("alive") == 2
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(
        main, ["--config", _written(settings, env, tmp_path), "alerts", "status"]
    )
    assert "route gone (slack): planned 2, sending 0, sent 0, failed 0" in result.output
    assert (
        f"DISABLED since 2026-11-23 09:15 UTC: the Slack webhook of route gone answered {status}"
        in result.output
    )
    assert "route alive (teams): planned 0, sending 0, sent 2, failed 0" in result.output
    # Later runs leave the disabled route alone; enabling it sends what waited.
    clock.advance(minutes=15)
    send_step(store, settings, now=clock(), env=env)
    assert chat.statuses["gone"] == [status]
    CliRunner().invoke(
        main, ["--config", _written(settings, env, tmp_path), "alerts", "enable", "gone"]
    )
    paced: list[float] = []
    assert send_step(store, settings, now=clock(), env=env, sleep=paced.append).messages == 2
    assert chat.count("gone") == 2
    assert paced == [1.0]  # Slack takes about one message a second per webhook


def test_a_busy_webhook_is_retried_obeying_retry_after_then_requeued(
    store: Store, store_url: str, clock: FakeClock, chat: ChatWebhooks, tmp_path: Path
) -> None:
    settings, env = sla_settings(tmp_path, store_url, chat, busy={})
    (one,) = seeded(store, settings, clock(), 1)
    slept: list[float] = []
    policy = RetryPolicy(sleep=slept.append, random=lambda: 1.0)
    chat.script["busy"] = [Answer(429, "rate_limited", {"Retry-After": "3"}), Answer(503, "")]
    clock.advance(minutes=15)
    breach(store, [one], clock())
    plan_step(store, settings, now=clock())
    report = send_step(store, settings, now=clock(), env=env, policy=policy)
    assert report.messages == 1 and chat.statuses["busy"] == [429, 503, 200]
    # Retry-After: 3 s; then the policy's backoff for attempt 2 (0.5 s doubled, full jitter 1.0).
    assert slept == [3.0, 1.0]

    # Still failing after the policy's attempts: back in the queue with the row backoff.
    clock.advance(minutes=15)
    breach(store, [one], clock(), SlaStatus.COMPLIANT)
    plan_step(store, settings, now=clock())
    clock.advance(hours=5)  # past the cool-down: a new episode
    breach(store, [one], clock())
    plan_step(store, settings, now=clock())
    chat.script["busy"] = [Answer(503, "")] * 4
    report = send_step(store, settings, now=clock(), env=env, policy=policy)
    assert report.messages == 0 and len(report.requeued) == 1
    (row,) = AlertStore(store.engine).rows("planned")
    assert row.attempts == 1 and row.retry_at == clock() + timedelta(seconds=900)
    assert row.message == "the Slack webhook of route busy answered 503 after 4 attempt(s)"


def test_a_flapping_value_inside_the_cooldown_is_one_alert(
    store: Store, store_url: str, clock: FakeClock, chat: ChatWebhooks, tmp_path: Path
) -> None:
    env: dict[str, str] = {}
    settings = settings_with(
        tmp_path,
        store_url,
        sla_alerts(slack_routes(chat, env, ops={}), cooldown_minutes=60),
        env=env,
    )
    (one,) = seeded(store, settings, clock(), 1)
    for minutes, status in (
        (15, SlaStatus.BREACHED),
        (15, SlaStatus.COMPLIANT),
        (15, SlaStatus.BREACHED),
    ):
        clock.advance(minutes=minutes)
        breach(store, [one], clock(), status)
        plan_step(store, settings, now=clock())
    assert len(AlertStore(store.engine).rows()) == 1
    clock.advance(minutes=15)
    breach(store, [one], clock(), SlaStatus.COMPLIANT)
    plan_step(store, settings, now=clock())
    clock.advance(minutes=61)  # the cool-down is over: the next breach is a new episode
    breach(store, [one], clock())
    plan_step(store, settings, now=clock())
    assert [r.key for r in AlertStore(store.engine).rows()] == [
        "ops|sla_status|E01|1",
        "ops|sla_status|E01|2",
    ]


def test_alert_tables_match_the_migration(store: Store) -> None:
    """The tables in jobs/store/alert_tables.py and those migration 0019 creates are the same."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diff if "alert" in repr(d)] == []


def test_a_payload_the_service_refuses_fails_that_alert_only(
    store: Store, store_url: str, clock: FakeClock, chat: ChatWebhooks, tmp_path: Path
) -> None:
    settings, env = sla_settings(tmp_path, store_url, chat, ops={})
    ids = seeded(store, settings, clock(), 2)
    chat.script["ops"] = [Answer(400, "invalid_blocks")]
    clock.advance(minutes=15)
    breach(store, ids, clock())
    plan_step(store, settings, now=clock())
    report = send_step(store, settings, now=clock(), env=env, sleep=lambda _s: None)
    assert (report.messages, report.alerts) == (1, 1)
    rows = {r.subject: r for r in AlertStore(store.engine).rows()}
    assert (rows["E01"].state, rows["E02"].state) == ("failed", "sent")
    assert (
        rows["E01"].message
        == "the Slack webhook of route ops refused the message: 400 invalid_blocks"
    )


def test_a_rules_filters_choose_the_engagements_it_alerts_on(
    store: Store, store_url: str, clock: FakeClock, chat: ChatWebhooks, tmp_path: Path
) -> None:
    env: dict[str, str] = {}
    alerts = sla_alerts(slack_routes(chat, env, ops={}))
    alerts["rules"] = [
        {"event": "sla_status", "routes": ["ops"], "owners": ["U9"]},  # nobody's: E.. are U1's
        {"event": "sla_status", "name": "acme", "routes": ["ops"], "accounts": ["A1"]},
    ]
    settings = settings_with(tmp_path, store_url, alerts, env=env)
    ids = seeded(store, settings, clock(), 2)
    clock.advance(minutes=15)
    breach(store, ids, clock())
    run = plan_step(store, settings, now=clock())
    assert sorted(a.key for a in run.plan.new_alerts) == ["ops|acme|E01|1", "ops|acme|E02|1"]
