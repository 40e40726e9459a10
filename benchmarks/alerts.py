"""Figures for alert planning and sending at portfolio scale (not a test).

Usage: .venv/bin/python benchmarks/alerts.py [--engagements N]

Builds a SQLite store in a temporary directory with N engagements (default 10,000), learns the
baseline, then times, with a fixed clock:

  (a) quiet     a planning run with nothing changed (what every run after scoring costs);
  (b) 1% turn   1% of the engagements breach their SLA: planning, then sending to one Slack
                route on a local webhook (one summary: a burst);
  (c) again     the same state planned again: nothing added.

Prints seconds per phase and the webhook's message count.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.sandbox.chat import ChatWebhooks
from jobs.alerts.steps import plan_step, send_step
from jobs.config import Config, Settings
from jobs.store import Store
from mappings.domain import Engagement, EngagementHealth, RiskLevel, SlaStatus

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def health(eid: str, at: datetime, sla: SlaStatus) -> EngagementHealth:
    return EngagementHealth(
        engagement_id=eid, risk_score=20, risk_level=RiskLevel.LOW, sla_status=sla, updated_at=at
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engagements", type=int, default=10_000)
    count = parser.parse_args().engagements
    with tempfile.TemporaryDirectory() as folder, ChatWebhooks() as chat:
        url = f"sqlite:///{Path(folder) / 'engage.db'}"
        env = {"HOOK": chat.slack_url("ops")}
        config = Config.model_validate(
            {
                "crm": {"kind": "zoho", "zoho": {"accounts_url": "https://accounts.zoho.eu"}},
                "store": {"url": url},
                "alerts": {
                    "routes": {"ops": {"channel": "slack", "url_env": "HOOK"}},
                    "rules": [{"event": "sla_status", "routes": ["ops"]}],
                },
            }
        )
        settings = Settings(config, Path(folder) / "engage.toml", env)
        store = Store.open(url)
        ids = [f"E{n:05d}" for n in range(count)]
        store.save_engagements(
            [
                Engagement(crm_id=i, name=f"Engagement {i}", account_id="A1", stage="Won")
                for i in ids
            ],
            NOW,
        )
        store.save_health([health(i, NOW, SlaStatus.COMPLIANT) for i in ids])
        plan_step(store, settings, now=NOW)  # the baseline
        started = time.perf_counter()
        plan_step(store, settings, now=NOW + timedelta(minutes=15))
        quiet = time.perf_counter() - started
        later = NOW + timedelta(minutes=30)
        store.save_health([health(i, later, SlaStatus.BREACHED) for i in ids[: count // 100]])
        started = time.perf_counter()
        added = plan_step(store, settings, now=later).added
        report = send_step(store, settings, now=later, env=env)
        turn = time.perf_counter() - started
        started = time.perf_counter()
        again = plan_step(store, settings, now=later + timedelta(minutes=15)).added
        repeat = time.perf_counter() - started
        store.close()
        print(f"engagements {count}")
        print(f"(a) quiet planning: {quiet:.2f} s")
        print(
            f"(b) 1% turn: {turn:.2f} s, {added} alerts planned, {report.messages} message(s) "
            f"({report.summaries} summary), webhook received {chat.count('ops')}"
        )
        print(f"(c) again: {repeat:.2f} s, {again} added")


if __name__ == "__main__":
    main()
