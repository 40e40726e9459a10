"""Alert fixtures: local Slack/Teams webhooks (connector/sandbox/chat.py) that check payloads
against the documented shapes, a real SMTP server (aiosmtpd), and settings builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.sandbox.chat import ChatWebhooks
from jobs.alerts.steps import plan_step
from jobs.config import Config, Settings
from jobs.store import Store
from mappings.domain import EngagementHealth, RiskLevel, SlaStatus
from tests.surveys.conftest import Inbox, smtp_server

__all__ = ["smtp_server"]


@pytest.fixture
def chat() -> Iterator[ChatWebhooks]:
    with ChatWebhooks() as hooks:
        yield hooks


def settings_with(
    tmp_path: Path,
    store_url: str,
    alerts: dict[str, Any],
    *,
    inbox: Inbox | None = None,
    crm: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    surveys: dict[str, Any] | None = None,
    messages: dict[str, Any] | None = None,
) -> Settings:
    data: dict[str, Any] = {
        "crm": crm or {"kind": "zoho", "zoho": {"accounts_url": "https://accounts.zoho.eu"}},
        "store": {"url": store_url},
        "alerts": alerts,
    }
    if inbox is not None:
        data["surveys"] = {"smtp": {"host": inbox.host, "port": inbox.port}}
    data["surveys"] = {**data.get("surveys", {}), **(surveys or {})}
    if messages is not None:
        data["messages"] = messages
    return Settings(Config.model_validate(data), tmp_path / "engage.toml", env or {})


def health(
    engagement_id: str,
    at: datetime,
    *,
    sla: SlaStatus = SlaStatus.COMPLIANT,
    level: RiskLevel = RiskLevel.LOW,
    score: int = 10,
    drivers: tuple[dict[str, Any], ...] = (),
) -> EngagementHealth:
    return EngagementHealth.model_validate(
        {
            "engagement_id": engagement_id,
            "risk_score": score,
            "risk_level": level,
            "sla_status": sla,
            "drivers": drivers,
            "updated_at": at,
        }
    )


def learn_baseline(store: Store, settings: Settings, now: datetime) -> None:
    """The first planning of a store records what holds without alerting."""
    run = plan_step(store, settings, now=now)
    assert run.plan.baseline and run.added == 0
