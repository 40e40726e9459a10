"""From observations to outbox rows: episodes, the cool-down, the first run's baseline.

A condition that starts to hold opens an episode (numbered per rule and subject); each route
of the rule gets one alert keyed ``route|rule|subject|episode``, so re-planning the same
episode adds nothing. The episode closes when the condition stops holding; when it comes back
within ``cooldown_minutes`` of the episode's start, the same episode is re-opened (a flapping
value is one alert), later a new one starts (one more alert).

The first planning of a store (nothing seen yet) is a baseline: it records what holds without
alerting, so that connecting a portfolio does not send one alert per old breach. Later, an
engagement planning has not seen yet is compared with nothing and alerts like any change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from jobs.alerts.config import AlertsSection
from jobs.alerts.events import JOB_SUBJECT, Observation
from jobs.store.alerts import Episode, NewAlert


@dataclass(frozen=True)
class PlannedAlert:
    """One alert a run adds, with the rule behind it (what `engage alerts plan` shows)."""

    alert: NewAlert
    rule: str
    why: str


@dataclass
class AlertPlan:
    alerts: list[PlannedAlert]
    episodes: list[Episode]
    baseline: bool = False

    @property
    def new_alerts(self) -> list[NewAlert]:
        return [p.alert for p in self.alerts]


def _why(observation: Observation) -> str:
    c = observation.content
    rule = observation.rule
    if c.get("from") is not None or c.get("to") is not None:
        return f"{rule.event.value}: {c.get('from') or '-'} -> {c.get('to') or '-'}"
    return rule.event.value


def plan_alerts(
    config: AlertsSection,
    observations: Sequence[Observation],
    episodes: Mapping[tuple[str, str], Episode],
    *,
    now: datetime,
    baseline: bool,
) -> AlertPlan:
    cooldown = timedelta(minutes=config.cooldown_minutes)
    plan = AlertPlan([], [], baseline)
    for o in observations:
        key = (o.rule.key, o.subject)
        episode = episodes.get(key)
        if not o.holds:
            if episode is not None and episode.open:
                plan.episodes.append(replace(episode, open=False, closed_at=now))
            continue
        if episode is not None and episode.open:
            continue  # the same episode: alerted when it opened
        if episode is not None and now - episode.opened_at < cooldown:
            plan.episodes.append(replace(episode, open=True, closed_at=None))
            continue  # back within the cool-down: the same episode, no second alert
        number = episode.episode + 1 if episode is not None else 1
        plan.episodes.append(Episode(o.rule.key, o.subject, number, True, now, None))
        if baseline and o.subject != JOB_SUBJECT:
            continue
        for route_name in o.rule.routes:
            route = config.routes[route_name]
            alert = NewAlert(
                key=f"{route_name}|{o.rule.key}|{o.subject}|{number}",
                route=route_name,
                kind="alert",
                rule=o.rule.key,
                subject=o.subject,
                language=route.language,
                content=json.dumps(o.content, ensure_ascii=False, sort_keys=True),
            )
            plan.alerts.append(PlannedAlert(alert, o.rule.key, _why(o)))
    return plan
