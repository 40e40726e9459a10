"""The engagement risk model: weighted factors, each an explicit formula. Pure: no I/O.

Every factor gives a score from 0 (no concern) to 100 (worst) and the sentences behind it, in
English and Chinese. The engagement's risk score (0–100, higher = riskier) is the weighted mean
of the factors **that have data**: a factor with nothing to measure (no milestones yet, no
survey yet, PV = 0, AC = 0) is left out and the others are re-weighted, so a missing feed never
reads as "no risk" or as "high risk". Weights come from `[risk.weights]` and sum to 100.

| factor | formula (f = factor score, clamped to 0..100) |
|---|---|
| schedule | SPI = EV / PV over milestones due by today (EV = Σ planned value × % complete, over all milestones; PV = Σ planned value of those due). f = max((1 − SPI) / 0.3 × 100, 25 × overdue milestones + days late of the latest) |
| cost | CPI = EV / AC (AC = Σ cost entries). f = (1 − CPI) / 0.3 × 100 |
| sla | breached 100; at risk 60; compliant: (100 − compliance %) × 2, at most 40 |
| satisfaction | NPS (−100..100): (30 − NPS) × 1.25, i.e. 0 at NPS ≥ 30 and 100 at NPS ≤ −50; CSAT (1..5): (4 − CSAT) × 50; the worse of the two, +20 if NPS fell 20 or more since the previous survey |
| communication | days since the last status report ÷ cadence: f = (ratio − 1) × 50 (0 on time, 100 at three cadences); only once any touchpoint is recorded |
| contract | active: ended 45, ends ≤ 30 d 35, ≤ 90 d 20 (halved while a renewal is in progress; 0 once renewed; 5 within 90 d of a planned close), no end date 15, + no SLA tier 5; pipeline: close date passed 20 + 5 per 15 days late (max 40), work due to start but unsigned 30 |
| quality | 35 × rejected deliveries |
| scope | Σ change requests (pending + approved) ÷ contract value: f = ratio / 0.3 × 100 |
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobs.messages.catalog import LOCALES, Words
from mappings.domain import (
    ChangeFact,
    ChangeStatus,
    CostFact,
    Driver,
    Engagement,
    EngagementStatus,
    MilestoneFact,
    RenewalStatus,
    SlaStatus,
    TouchpointFact,
    TouchpointKind,
)

#: SPI or CPI this far below 1 scores 100 (30 % behind plan or over cost).
PERFORMANCE_SPAN = 0.3


class Factor(StrEnum):
    SCHEDULE = "schedule"
    COST = "cost"
    SLA = "sla"
    SATISFACTION = "satisfaction"
    COMMUNICATION = "communication"
    CONTRACT = "contract"
    QUALITY = "quality"
    SCOPE = "scope"


class RiskWeights(BaseModel):
    """How much each factor counts, in percent; must sum to 100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: int = Field(default=20, ge=0, le=100)
    cost: int = Field(default=15, ge=0, le=100)
    sla: int = Field(default=20, ge=0, le=100)
    satisfaction: int = Field(default=15, ge=0, le=100)
    communication: int = Field(default=10, ge=0, le=100)
    contract: int = Field(default=10, ge=0, le=100)
    quality: int = Field(default=5, ge=0, le=100)
    scope: int = Field(default=5, ge=0, le=100)

    @model_validator(mode="after")
    def _sum_to_100(self) -> RiskWeights:
        total = sum(self.of(f) for f in Factor)
        if total != 100:
            listed = ", ".join(f"{f.value} {self.of(f)}" for f in Factor)
            raise ValueError(f"weights must sum to 100, got {total} ({listed})")
        return self

    def of(self, factor: Factor) -> int:
        return int(getattr(self, factor.value))


@dataclass(frozen=True)
class DeliveryFacts:
    """Everything known about an engagement's delivery, as of one day."""

    milestones: Sequence[MilestoneFact] = ()
    costs: Sequence[CostFact] = ()
    touchpoints: Sequence[TouchpointFact] = ()
    change_requests: Sequence[ChangeFact] = ()
    sla_status: SlaStatus = SlaStatus.NOT_MEASURED
    sla_compliance: float | None = None
    sla_next_breach: datetime | None = None
    nps: int | None = None
    previous_nps: int | None = None
    csat: float | None = None
    #: Calendar days between two status reports: the SLA tier's `status_report_every_days`,
    #: or `DEFAULT_REPORT_CADENCE_DAYS` for an engagement with no tier or no cadence in it.
    report_cadence_days: int = 7
    #: The SLA status without its status-report rule: what the SLA factor reads, since the
    #: communication factor owns a missing report (None: the same as `sla_status`).
    sla_factor_status: SlaStatus | None = None
    #: The tier's goal the compliance % is read against (`tickets_met_pct`, else
    #: `on_time_milestones_pct`).
    sla_goal_pct: float = 90.0  # DEFAULT_SLA_GOAL_PCT


#: The goal named when a tier gives none: `on_time_milestones_pct`'s default.
DEFAULT_SLA_GOAL_PCT = 90.0

#: The weekly report: the cadence of an engagement whose SLA tier sets none.
DEFAULT_REPORT_CADENCE_DAYS = 7


@dataclass(frozen=True)
class FactorResult:
    factor: Factor
    score: float  # 0..100
    drivers: tuple[Driver, ...]  # points here are within the factor (0..100)


@dataclass(frozen=True)
class Assessment:
    score: int
    drivers: tuple[Driver, ...]  # points are contributions to the score, largest first
    factors: tuple[FactorResult, ...]


def assess(
    engagement: Engagement,
    facts: DeliveryFacts,
    weights: RiskWeights,
    today: date,
    words: Words | None = None,
) -> Assessment:
    """The engagement's risk score and the reasons, largest contribution first; the sentences
    from `words` (the shipped catalogs by default)."""
    words = words or Words.shipped()
    milestones = facts.milestones
    # Two factors read the earned value: worked out once (this runs for every engagement).
    earned = earned_value(milestones) if milestones else None
    results = [
        r
        for r in (
            schedule_factor(milestones, today, earned=earned, words=words),
            cost_factor(milestones, facts.costs, earned=earned, words=words),
            sla_factor(
                facts.sla_factor_status or facts.sla_status,
                facts.sla_compliance,
                goal_pct=facts.sla_goal_pct,
                words=words,
            ),
            satisfaction_factor(facts.nps, facts.previous_nps, facts.csat, words=words),
            communication_factor(facts.touchpoints, facts.report_cadence_days, today, words=words),
            contract_factor(engagement, today, words=words),
            quality_factor(milestones, words=words),
            scope_factor(facts.change_requests, engagement.contract_value, words=words),
        )
        if r is not None
    ]
    weight = {r.factor: weights.of(r.factor) for r in results}  # each factor once
    total_weight = sum(weight[r.factor] for r in results)
    if total_weight == 0:
        return Assessment(score=0, drivers=(), factors=tuple(results))
    score = sum(weight[r.factor] * r.score for r in results) / total_weight
    drivers = []
    for r in results:
        for d in r.drivers:
            points = round(weight[r.factor] * d.points / total_weight)
            if points > 0:
                # A new Driver rather than model_copy(update=...), which takes twice as long;
                # the values are valid (points stay within 0..100 as the weight share is ≤ 1).
                drivers.append(Driver(code=d.code, points=points, en=d.en, zh=d.zh))
    drivers.sort(key=lambda d: (-d.points, d.code))
    return Assessment(
        score=round(min(100.0, score)), drivers=tuple(drivers), factors=tuple(results)
    )


def _clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


def earned_value(milestones: Sequence[MilestoneFact]) -> Decimal:
    return sum(
        (m.planned_value * _exact_percent(m.percent_complete) / 100 for m in milestones),
        Decimal(0),
    )


@functools.lru_cache(maxsize=1024, typed=True)
def _exact_percent(percent: float) -> Decimal:
    """The percentage as written (``Decimal(str(...))``), kept: a portfolio's milestones share
    a handful of values, and converting was a fifth of the time of the risk model."""
    return Decimal(str(percent))


def driver(words: Words, code: str, points: float, fact: str, step: str, **params: Any) -> Driver:
    """One driver in English and Chinese: the fact (message ``driver.<fact>``, naming its size
    and the goal it misses), then the next step (``step.<step>``)."""
    en, zh = _sentences(words, fact, step, tuple(params.items()))
    return Driver(code=code, points=round(points), en=en, zh=zh)


@functools.lru_cache(maxsize=16384)
def _sentences(
    words: Words, fact: str, step: str, params: tuple[tuple[str, Any], ...]
) -> tuple[str, str]:
    """Kept: across a portfolio the same facts recur (days late, cadences, counts), and
    rendering a sentence pair costs several times what the rest of a factor does."""
    en, zh = (
        words.text(
            "driver.with_step",
            locale,
            fact=words.text(f"driver.{fact}", locale, **dict(params)),
            step=words.text(f"step.{step}", locale),
        )
        for locale in LOCALES
    )
    return en, zh


def schedule_factor(
    milestones: Sequence[MilestoneFact],
    today: date,
    *,
    earned: Decimal | None = None,
    words: Words | None = None,
) -> FactorResult | None:
    """`earned`: the `earned_value` of `milestones`, when the caller has it. The overdue
    driver names the most overdue milestone (the earliest planned, then the first listed)."""
    due = [m for m in milestones if m.planned_date <= today]
    if not milestones or not due:
        return None
    words = words or Words.shipped()
    planned = sum((m.planned_value for m in due), Decimal(0))
    if earned is None:
        earned = earned_value(milestones)
    overdue = [m for m in due if m.delivered_date is None]
    drivers = []
    scores = []
    if planned > 0:
        spi = float(earned / planned)
        spi_score = _clamp((1 - spi) / PERFORMANCE_SPAN * 100)
        scores.append(spi_score)
        if spi_score > 0:
            drivers.append(driver(words, "spi", spi_score, "spi", "spi", spi=spi))
    if overdue:
        worst = min(overdue, key=lambda m: m.planned_date)
        late = (today - worst.planned_date).days
        overdue_score = _clamp(25 * len(overdue) + late)
        scores.append(overdue_score)
        fact = "milestone_late" if len(overdue) == 1 else "milestones_late"
        drivers.append(
            driver(
                words,
                "milestones_overdue",
                overdue_score,
                fact,
                "milestone_late",
                name=worst.name,
                late=late,
                planned=worst.planned_date,
                count=len(overdue),
            )
        )
    if not scores:
        return None
    return FactorResult(Factor.SCHEDULE, max(scores), tuple(drivers))


def cost_factor(
    milestones: Sequence[MilestoneFact],
    costs: Sequence[CostFact],
    *,
    earned: Decimal | None = None,
    words: Words | None = None,
) -> FactorResult | None:
    """`earned`: the `earned_value` of `milestones`, when the caller has it."""
    actual = sum((c.amount for c in costs), Decimal(0))
    if actual == 0 or not milestones:
        return None  # AC = 0: nothing spent, nothing to compare
    if earned is None:
        earned = earned_value(milestones)
    cpi = float(earned / actual)
    score = _clamp((1 - cpi) / PERFORMANCE_SPAN * 100)
    budget = sum((m.planned_value for m in milestones), Decimal(0))
    drivers: tuple[Driver, ...] = ()
    if score > 0:
        words = words or Words.shipped()
        if budget:
            spent, done = float(actual / budget) * 100, float(earned / budget) * 100
            found = driver(words, "cpi", score, "cpi", "cpi", cpi=cpi, spent=spent, done=done)
        else:
            found = driver(words, "cpi", score, "cpi_no_budget", "cpi", cpi=cpi)
        drivers = (found,)
    return FactorResult(Factor.COST, score, drivers)


def sla_factor(
    status: SlaStatus,
    compliance: float | None,
    *,
    goal_pct: float = DEFAULT_SLA_GOAL_PCT,
    words: Words | None = None,
) -> FactorResult | None:
    """`status`: the SLA status without the status-report rule (the communication factor
    owns a missing report). `goal_pct`: the tier's goal the compliance % is read against."""
    if status is SlaStatus.NOT_MEASURED:
        return None
    words = words or Words.shipped()
    params: dict[str, Any] = {"compliance": compliance, "goal": goal_pct}
    if status is SlaStatus.BREACHED:
        score = 100.0
        # With no compliance % yet, only an open ticket past its goal can breach.
        fact, step = (
            ("sla_breached", "sla_breached")
            if compliance is not None
            else ("sla_breached_open", "sla_open")
        )
    elif status is SlaStatus.AT_RISK:
        score = 60.0
        fact, step = ("sla_at_risk" if compliance is not None else "sla_at_risk_open"), "sla_open"
    else:
        score = min(40.0, _clamp((100 - (compliance if compliance is not None else 100)) * 2))
        fact, step = "sla_compliance", "sla_compliance"
    code = f"sla_{status.value}"
    drivers = (driver(words, code, score, fact, step, **params),) if score else ()
    return FactorResult(Factor.SLA, score, drivers)


def satisfaction_factor(
    nps: int | None, previous_nps: int | None, csat: float | None, *, words: Words | None = None
) -> FactorResult | None:
    if nps is None and csat is None:
        return None  # no survey yet
    words = words or Words.shipped()
    scores = [0.0]
    drivers = []
    if nps is not None:
        nps_score = _clamp((30 - nps) * 1.25)
        if previous_nps is not None and previous_nps - nps >= 20:
            nps_score = _clamp(nps_score + 20)
            drivers.append(
                driver(
                    words,
                    "nps_falling",
                    nps_score,
                    "nps_falling",
                    "nps_falling",
                    previous=previous_nps,
                    nps=nps,
                )
            )
        elif nps_score > 0:
            drivers.append(driver(words, "nps_low", nps_score, "nps_low", "nps_low", nps=nps))
        scores.append(nps_score)
    if csat is not None:
        csat_score = _clamp((4 - csat) * 50)
        if csat_score > 0:
            drivers.append(driver(words, "csat_low", csat_score, "csat_low", "csat_low", csat=csat))
        scores.append(csat_score)
    return FactorResult(Factor.SATISFACTION, max(scores), tuple(drivers))


def communication_factor(
    touchpoints: Sequence[TouchpointFact],
    cadence_days: int,
    today: date,
    *,
    words: Words | None = None,
) -> FactorResult | None:
    """The one factor that counts a missing or late status report (the SLA factor does not)."""
    if not touchpoints:
        return None  # communication is not tracked for this engagement yet
    reports = [t.at.date() for t in touchpoints if t.kind is TouchpointKind.STATUS_REPORT]
    days = (today - max(reports)).days if reports else None
    score = 100.0 if days is None else _clamp((days / cadence_days - 1) * 50)
    drivers: tuple[Driver, ...] = ()
    if score > 0:
        words = words or Words.shipped()
        if days is None:
            found = driver(
                words, "report_overdue", score, "report_never", "report_never", cadence=cadence_days
            )
        else:
            fact = "report_overdue.weekly" if cadence_days == 7 else "report_overdue.other"
            found = driver(
                words,
                "report_overdue",
                score,
                fact,
                "report_overdue",
                overdue=days - cadence_days,
                cadence=cadence_days,
            )
        drivers = (found,)
    return FactorResult(Factor.COMMUNICATION, score, drivers)


def contract_factor(
    engagement: Engagement, today: date, *, words: Words | None = None
) -> FactorResult | None:
    if engagement.status is EngagementStatus.CLOSED_LOST:
        return None
    drivers = tuple(risk_drivers(engagement, today, words=words))
    return FactorResult(Factor.CONTRACT, _clamp(sum(d.points for d in drivers)), drivers)


def quality_factor(
    milestones: Sequence[MilestoneFact], *, words: Words | None = None
) -> FactorResult | None:
    if not milestones:
        return None
    rejected = sum(m.rejected_count for m in milestones)
    score = _clamp(35 * rejected)
    drivers: tuple[Driver, ...] = ()
    if rejected:
        drivers = (
            driver(
                words or Words.shipped(),
                "rejected_deliveries",
                score,
                "rejected_deliveries",
                "rejected_deliveries",
                count=rejected,
            ),
        )
    return FactorResult(Factor.QUALITY, score, drivers)


def scope_factor(
    changes: Sequence[ChangeFact], contract_value: Decimal | None, *, words: Words | None = None
) -> FactorResult | None:
    if not changes or not contract_value:
        return None
    counted = [c for c in changes if c.status is not ChangeStatus.REJECTED]
    value = sum((c.value for c in counted), Decimal(0))
    ratio = float(value / contract_value)
    score = _clamp(ratio / PERFORMANCE_SPAN * 100)
    pending = sum(1 for c in counted if c.status is ChangeStatus.PENDING)
    drivers: tuple[Driver, ...] = ()
    if score > 0:
        drivers = (
            driver(
                words or Words.shipped(),
                "scope_growth",
                score,
                "scope_growth",
                "scope_growth",
                share=ratio * 100,
                pending=pending,
            ),
        )
    return FactorResult(Factor.SCOPE, score, drivers)


def risk_drivers(
    engagement: Engagement, today: date, *, words: Words | None = None
) -> list[Driver]:
    """Every rule that fires for this engagement, largest first."""
    words = words or Words.shipped()
    drivers: list[Driver] = []
    if engagement.status is EngagementStatus.ACTIVE:
        drivers.extend(_contract_drivers(engagement, today, words))
        if not engagement.sla_tier:
            drivers.append(driver(words, "no_sla_tier", 5, "no_sla_tier", "no_sla_tier"))
    elif engagement.status is EngagementStatus.PIPELINE:
        drivers.extend(_pipeline_drivers(engagement, today, words))
    return sorted(drivers, key=lambda d: (-d.points, d.code))


def _contract_drivers(engagement: Engagement, today: date, words: Words) -> list[Driver]:
    end = engagement.end_date
    if end is None:
        return [driver(words, "no_contract_end", 15, "no_contract_end", "no_contract_end")]
    days_left = (end - today).days
    renewal = engagement.renewal_status
    if renewal is RenewalStatus.RENEWED:
        return []  # the contract continues
    if renewal is RenewalStatus.NOT_RENEWING:
        # A planned close, not a surprise: said once it is near, with few points.
        if days_left > 90:
            return []
        return [
            driver(
                words,
                "contract_closing",
                5,
                "contract_closing",
                "contract_closing",
                days=max(days_left, 0),
            )
        ]
    in_progress = renewal is RenewalStatus.IN_PROGRESS
    if days_left < 0:
        rule = "contract_ended_renewing" if in_progress else "contract_ended"
        return [
            driver(words, "contract_ended", 25 if in_progress else 45, rule, rule, days=-days_left)
        ]
    if days_left <= 30:
        points = 35
    elif days_left <= 90:
        points = 20
    else:
        return []
    # Renewal under way: half the concern, said so.
    rule = "contract_ending_renewing" if in_progress else "contract_ending"
    points = points // 2 if in_progress else points
    return [driver(words, "contract_ending", points, rule, rule, days=days_left)]


def _pipeline_drivers(engagement: Engagement, today: date, words: Words) -> list[Driver]:
    drivers = []
    if engagement.closing_date is not None and engagement.closing_date < today:
        late = (today - engagement.closing_date).days
        points = min(40, 20 + 5 * (late // 15))
        drivers.append(
            driver(
                words,
                "close_date_passed",
                points,
                "close_date_passed",
                "close_date_passed",
                days=late,
            )
        )
    if engagement.start_date is not None and engagement.start_date < today:
        late = (today - engagement.start_date).days
        drivers.append(
            driver(words, "started_unsigned", 30, "started_unsigned", "started_unsigned", days=late)
        )
    return drivers
