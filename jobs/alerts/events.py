"""What holds now, rule by rule: pure, over the engagements, their health and what alert
planning saw last time. No store, no clock: the caller passes today's date.

Most events are states (the SLA is breached, a milestone is overdue): they hold until they
clear, and the planner turns each stretch into one episode. A rise of the risk level by N is a
transition: it holds on the run that saw the rise only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from jobs.alerts.config import LEVEL_ORDER, Event, RuleSection
from mappings.domain import Engagement, EngagementHealth, RenewalStatus

#: The subject of the run's own events (failed, stopped, quarantined rows).
JOB_SUBJECT = "job"
#: Drivers an alert shows at most.
TOP_DRIVERS = 3
#: Risk drivers that say a milestone is late / no status report came within the cadence
#: (jobs/health/risk.py).
MILESTONE_DRIVER = "milestones_overdue"
REPORT_DRIVER = "report_overdue"


@dataclass(frozen=True)
class Observation:
    """One rule on one subject this run: whether it holds, and what an alert would say."""

    rule: RuleSection
    subject: str
    holds: bool
    content: dict[str, Any] = field(default_factory=dict)


def _level_rank(level: str | None) -> int | None:
    values = [lv.value for lv in LEVEL_ORDER]
    return values.index(level) if level in values else None


def passes_filters(rule: RuleSection, e: Engagement, h: EngagementHealth) -> bool:
    return (
        (not rule.accounts or e.account_id in rule.accounts)
        and (not rule.owners or (e.owner_id or "") in rule.owners)
        and (not rule.tiers or (e.sla_tier or "") in rule.tiers)
        and (not rule.only_levels or h.risk_level in rule.only_levels)
    )


def _holds(
    rule: RuleSection,
    e: Engagement,
    h: EngagementHealth,
    before: tuple[str, str] | None,
    today: date,
) -> tuple[bool, str | None, str | None]:
    """(holds, from, to) for one engagement."""
    codes = {d.code for d in h.drivers}
    if rule.event == Event.SLA_STATUS:
        return h.sla_status in rule.statuses, before[1] if before else None, h.sla_status.value
    if rule.event == Event.RISK_LEVEL:
        was = before[0] if before else None
        now_rank, was_rank = _level_rank(h.risk_level.value), _level_rank(was)
        rose = (
            rule.rise_by is not None
            and now_rank is not None
            and was_rank is not None
            and now_rank - was_rank >= rule.rise_by
        )
        return rose or h.risk_level in rule.levels, was, h.risk_level.value
    if rule.event == Event.MILESTONE_OVERDUE:
        return MILESTONE_DRIVER in codes, None, None
    if rule.event == Event.NO_TOUCHPOINT:
        return REPORT_DRIVER in codes, None, None
    if rule.event == Event.LOW_SATISFACTION:
        low_csat = rule.csat_below is not None and h.csat is not None and h.csat < rule.csat_below
        low_nps = rule.nps_below is not None and h.nps is not None and h.nps < rule.nps_below
        shown = f"CSAT {h.csat if h.csat is not None else '-'} / NPS {h.nps if h.nps is not None else '-'}"
        return low_csat or low_nps, None, shown
    if rule.event == Event.CONTRACT_ENDING:
        if e.end_date is None or e.renewal_status in (
            RenewalStatus.RENEWED,
            RenewalStatus.NOT_RENEWING,
        ):
            return False, None, None
        left = (e.end_date - today).days
        return 0 <= left <= rule.days, None, e.end_date.isoformat()
    return False, None, None


def engagement_content(
    rule: RuleSection,
    e: Engagement,
    h: EngagementHealth,
    from_: str | None,
    to: str | None,
    link: str | None,
) -> dict[str, Any]:
    drivers = sorted(h.drivers, key=lambda d: -d.points)[:TOP_DRIVERS]
    return {
        "kind": "alert",
        "event": rule.event.value,
        "engagement_id": e.crm_id,
        "engagement": e.name,
        "account": e.account_name or e.account_id,
        "owner": e.owner_name or e.owner_id,
        "owner_id": e.owner_id,
        "from": from_,
        "to": to,
        "score": h.risk_score,
        "level": h.risk_level.value,
        "sla": h.sla_status.value,
        "drivers": [{"en": d.en, "zh": d.zh, "points": d.points} for d in drivers],
        "link": link,
    }


def observe_engagements(
    rules: Sequence[RuleSection],
    engagements: Sequence[Engagement],
    health: Mapping[str, EngagementHealth],
    seen: Mapping[str, tuple[str, str]],
    today: date,
    link_of: Callable[[str], str | None],
) -> list[Observation]:
    """Every (engagement rule, engagement with health) pair; filtered-out pairs do not hold."""
    found: list[Observation] = []
    for rule in rules:
        if rule.event == Event.JOB:
            continue
        for e in engagements:
            h = health.get(e.crm_id)
            if h is None:
                continue
            holds, from_, to = _holds(rule, e, h, seen.get(e.crm_id), today)
            holds = holds and passes_filters(rule, e, h)
            content = engagement_content(rule, e, h, from_, to, link_of(e.crm_id)) if holds else {}
            found.append(Observation(rule, e.crm_id, holds, content))
    return found


def observe_job(
    rules: Sequence[RuleSection], outcome: str, message: str | None, connection: str
) -> list[Observation]:
    """The run's own events: ``outcome`` is "ok", "failed", "stopped" or "quarantined"."""
    return [
        Observation(
            rule,
            JOB_SUBJECT,
            outcome in rule.outcomes,
            {
                "kind": "alert",
                "event": Event.JOB.value,
                "to": outcome,
                "message": message,
                "connection": connection,
            },
        )
        for rule in rules
        if rule.event == Event.JOB
    ]
