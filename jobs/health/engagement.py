"""Engagement health: risk level bands, the score of one engagement, account roll-ups. Pure.

The risk model itself (factors, formulas, weights) is in ``jobs.health.risk``.

| Rule (status)            | Points                                  |
|--------------------------|-----------------------------------------|
| contract ended (active)  | 45                                      |
| ends within 30 d (active)| 35                                      |
| ends within 90 d (active)| 20                                      |
| no end date (active)     | 15                                      |
| no SLA tier (active)     | 5                                       |
| close date passed (pipeline) | 20, +5 per full 15 days late, max 40 |
| start date passed unsigned (pipeline) | 30                         |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobs.config import HealthSection
from jobs.health.risk import DeliveryFacts, RiskWeights, assess
from jobs.messages.catalog import LOCALES, Words
from mappings.domain import (
    AccountHealth,
    Engagement,
    EngagementHealth,
    EngagementStatus,
    RiskLevel,
)

#: How many drivers the CRM field holds (the mapping cuts the list; the store keeps them all
#: for `engage trend` and the report).
TOP_DRIVERS = 3
LEVEL_ORDER = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]


def risk_level(score: int, bands: HealthSection) -> RiskLevel:
    if score >= bands.critical:
        return RiskLevel.CRITICAL
    if score >= bands.high:
        return RiskLevel.HIGH
    if score >= bands.medium:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def score_engagement(
    engagement: Engagement,
    *,
    now: datetime,
    bands: HealthSection,
    previous: EngagementHealth | None = None,
    facts: DeliveryFacts | None = None,
    weights: RiskWeights | None = None,
    words: Words | None = None,
) -> EngagementHealth | None:
    """Health for one engagement, or ``None`` for a lost deal (nothing to deliver, nothing to say).

    ``updated_at`` only moves when a visible value changes, so re-scoring an unchanged
    engagement writes nothing to the CRM.
    """
    if engagement.status is EngagementStatus.CLOSED_LOST:
        return None
    facts = facts or DeliveryFacts(
        nps=previous.nps if previous else None, csat=previous.csat if previous else None
    )
    assessment = assess(engagement, facts, weights or RiskWeights(), now.date(), words)
    health = EngagementHealth(
        engagement_id=engagement.crm_id,
        risk_score=assessment.score,
        risk_level=risk_level(assessment.score, bands),
        drivers=assessment.drivers,  # all of them: the mapping writes the top three
        sla_status=facts.sla_status,
        sla_compliance=facts.sla_compliance,
        next_sla_deadline=facts.sla_next_breach,
        nps=facts.nps,
        csat=facts.csat,
        updated_at=now,
    )
    if previous is not None and health.same_values(previous):
        return previous
    return health


@dataclass(frozen=True)
class Riskiest:
    """An account's riskiest active engagement: the highest score, then the highest id."""

    name: str
    risk_score: int
    risk_level: RiskLevel


def account_health(
    account_id: str, active: int, riskiest: Riskiest | None, summary: tuple[str, str] | None = None
) -> AccountHealth:
    """The roll-up of an account with ``active`` scored active engagements (none unscored), of
    which ``riskiest`` (None when there are none): the level of its riskiest active engagement,
    and a one-line ``summary`` (English, Chinese; `account_summary` in the shipped words when
    None). The push counts and ranks them in SQL (`jobs.push.plan.rollups_of`); an account with
    an active engagement not scored yet gets no roll-up rather than a wrong one."""
    en, zh = summary or account_summary(active, riskiest)
    return AccountHealth(
        account_id=account_id,
        risk_level=riskiest.risk_level if riskiest is not None else None,
        active_engagements=active if riskiest is not None else 0,
        summary_en=en,
        summary_zh=zh,
    )


def account_summary(
    active: int, riskiest: Riskiest | None, words: Words | None = None
) -> tuple[str, str]:
    """An account roll-up's one line in English and Chinese (`account.*`), in ``words`` (the
    company's overrides merged over the shipped messages)."""
    words = words or Words.shipped()
    if riskiest is None:
        return words.both("account.none")
    en, zh = (
        words.text(
            "account.summary",
            locale,
            active=active,
            name=riskiest.name,
            score=riskiest.risk_score,
            level=words.text(f"level.{riskiest.risk_level.value.lower()}", locale),
        )
        for locale in LOCALES
    )
    return en, zh
