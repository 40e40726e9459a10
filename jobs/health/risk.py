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

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    changes: Sequence[ChangeFact] = ()
    sla_status: SlaStatus = SlaStatus.NOT_MEASURED
    sla_compliance: float | None = None
    sla_next_breach: datetime | None = None
    nps: int | None = None
    previous_nps: int | None = None
    csat: float | None = None
    #: Calendar days between two status reports: the SLA tier's `status_report_every_days`,
    #: or `DEFAULT_REPORT_CADENCE_DAYS` for an engagement with no tier or no cadence in it.
    report_cadence_days: int = 7


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
    engagement: Engagement, facts: DeliveryFacts, weights: RiskWeights, today: date
) -> Assessment:
    """The engagement's risk score and the reasons, largest contribution first."""
    milestones = facts.milestones
    # Two factors read the earned value: worked out once (this runs for every engagement).
    earned = earned_value(milestones) if milestones else None
    results = [
        r
        for r in (
            schedule_factor(milestones, today, earned=earned),
            cost_factor(milestones, facts.costs, earned=earned),
            sla_factor(facts.sla_status, facts.sla_compliance),
            satisfaction_factor(facts.nps, facts.previous_nps, facts.csat),
            communication_factor(facts.touchpoints, facts.report_cadence_days, today),
            contract_factor(engagement, today),
            quality_factor(milestones),
            scope_factor(facts.changes, engagement.contract_value),
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


def schedule_factor(
    milestones: Sequence[MilestoneFact], today: date, *, earned: Decimal | None = None
) -> FactorResult | None:
    """`earned`: the `earned_value` of `milestones`, when the caller has it."""
    due = [m for m in milestones if m.planned_date <= today]
    if not milestones or not due:
        return None
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
            drivers.append(
                Driver(
                    code="spi",
                    points=round(spi_score),
                    en=f"Schedule performance SPI {spi:.2f} (earned value behind plan)",
                    zh=f"进度绩效指数 SPI {spi:.2f}（挣值落后于计划）",
                )
            )
    if overdue:
        late = max((today - m.planned_date).days for m in overdue)
        overdue_score = _clamp(25 * len(overdue) + late)
        scores.append(overdue_score)
        noun = "milestone" if len(overdue) == 1 else "milestones"
        en, zh = (
            f"{len(overdue)} {noun} overdue, up to {late} days",
            f"{len(overdue)} 个里程碑逾期，最长 {late} 天",
        )
        # The most overdue one by name (a tool's release: "Release 2.1 is 9 days late").
        worst = getattr(min(overdue, key=lambda m: m.planned_date), "name", None)
        if worst:
            en, zh = f"{en}: {worst} is {late} days late", f"{zh}：{worst} 已延期 {late} 天"
        drivers.append(Driver(code="milestones_overdue", points=round(overdue_score), en=en, zh=zh))
    if not scores:
        return None
    return FactorResult(Factor.SCHEDULE, max(scores), tuple(drivers))


def cost_factor(
    milestones: Sequence[MilestoneFact],
    costs: Sequence[CostFact],
    *,
    earned: Decimal | None = None,
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
        spent = f"{float(actual / budget) * 100:.0f}%" if budget else "—"
        done = f"{float(earned / budget) * 100:.0f}%" if budget else "—"
        drivers = (
            Driver(
                code="cpi",
                points=round(score),
                en=f"Cost performance CPI {cpi:.2f}: {spent} of budget spent, {done} done",
                zh=f"成本绩效指数 CPI {cpi:.2f}：预算已花费 {spent}，完成 {done}",
            ),
        )
    return FactorResult(Factor.COST, score, drivers)


def sla_factor(status: SlaStatus, compliance: float | None) -> FactorResult | None:
    if status is SlaStatus.NOT_MEASURED:
        return None
    shown = f"{compliance:.0f}%" if compliance is not None else "—"
    if status is SlaStatus.BREACHED:
        score, en, zh = 100.0, f"SLA breached (compliance {shown})", f"SLA 已违约（达标率 {shown}）"
    elif status is SlaStatus.AT_RISK:
        score, en, zh = (
            60.0,
            f"SLA at risk (compliance {shown})",
            f"SLA 有违约风险（达标率 {shown}）",
        )
    else:
        score = min(40.0, _clamp((100 - (compliance if compliance is not None else 100)) * 2))
        en, zh = f"SLA compliance {shown}", f"SLA 达标率 {shown}"
    drivers = (
        (Driver(code=f"sla_{status.value}", points=round(score), en=en, zh=zh),) if score else ()
    )
    return FactorResult(Factor.SLA, score, drivers)


def satisfaction_factor(
    nps: int | None, previous_nps: int | None, csat: float | None
) -> FactorResult | None:
    if nps is None and csat is None:
        return None  # no survey yet
    scores = [0.0]
    drivers = []
    if nps is not None:
        nps_score = _clamp((30 - nps) * 1.25)
        if previous_nps is not None and previous_nps - nps >= 20:
            nps_score = _clamp(nps_score + 20)
            drivers.append(
                Driver(
                    code="nps_falling",
                    points=round(nps_score),
                    en=f"NPS fell from {previous_nps} to {nps}",
                    zh=f"NPS 从 {previous_nps} 降至 {nps}",
                )
            )
        elif nps_score > 0:
            drivers.append(
                Driver(code="nps_low", points=round(nps_score), en=f"NPS {nps}", zh=f"NPS 为 {nps}")
            )
        scores.append(nps_score)
    if csat is not None:
        csat_score = _clamp((4 - csat) * 50)
        if csat_score > 0:
            drivers.append(
                Driver(
                    code="csat_low",
                    points=round(csat_score),
                    en=f"CSAT {csat:.1f} of 5",
                    zh=f"客户满意度 {csat:.1f}/5",
                )
            )
        scores.append(csat_score)
    return FactorResult(Factor.SATISFACTION, max(scores), tuple(drivers))


def communication_factor(
    touchpoints: Sequence[TouchpointFact], cadence_days: int, today: date
) -> FactorResult | None:
    if not touchpoints:
        return None  # communication is not tracked for this engagement yet
    reports = [t.at.date() for t in touchpoints if t.kind is TouchpointKind.STATUS_REPORT]
    if not reports:
        days = None
        score = 100.0
    else:
        days = (today - max(reports)).days
        score = _clamp((days / cadence_days - 1) * 50)
    drivers: tuple[Driver, ...] = ()
    if score > 0:
        every = "weekly" if cadence_days == 7 else f"every {cadence_days} days"
        every_zh = "每周一次" if cadence_days == 7 else f"每 {cadence_days} 天一次"
        en = (
            f"No status report for {days} days ({every})"
            if days is not None
            else f"No status report recorded ({every})"
        )
        zh = (
            f"已 {days} 天未发送状态报告（{every_zh}）"
            if days is not None
            else f"未记录状态报告（{every_zh}）"
        )
        drivers = (Driver(code="report_overdue", points=round(score), en=en, zh=zh),)
    return FactorResult(Factor.COMMUNICATION, score, drivers)


def contract_factor(engagement: Engagement, today: date) -> FactorResult | None:
    if engagement.status is EngagementStatus.CLOSED_LOST:
        return None
    drivers = tuple(risk_drivers(engagement, today))
    return FactorResult(Factor.CONTRACT, _clamp(sum(d.points for d in drivers)), drivers)


def quality_factor(milestones: Sequence[MilestoneFact]) -> FactorResult | None:
    if not milestones:
        return None
    rejected = sum(m.rejected_count for m in milestones)
    score = _clamp(35 * rejected)
    drivers: tuple[Driver, ...] = ()
    if rejected:
        noun = "delivery" if rejected == 1 else "deliveries"
        drivers = (
            Driver(
                code="rejected_deliveries",
                points=round(score),
                en=f"{rejected} {noun} rejected by the client",
                zh=f"客户拒收交付 {rejected} 次",
            ),
        )
    return FactorResult(Factor.QUALITY, score, drivers)


def scope_factor(
    changes: Sequence[ChangeFact], contract_value: Decimal | None
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
            Driver(
                code="scope_growth",
                points=round(score),
                en=f"Change requests worth {ratio:.0%} of the contract ({pending} pending)",
                zh=f"变更请求金额占合同 {ratio:.0%}（{pending} 项待批）",
            ),
        )
    return FactorResult(Factor.SCOPE, score, drivers)


def risk_drivers(engagement: Engagement, today: date) -> list[Driver]:
    """Every rule that fires for this engagement, largest first."""
    drivers: list[Driver] = []
    if engagement.status is EngagementStatus.ACTIVE:
        drivers.extend(_contract_drivers(engagement, today))
        if not engagement.sla_tier:
            drivers.append(
                Driver(code="no_sla_tier", points=5, en="No SLA tier agreed", zh="未约定 SLA 等级")
            )
    elif engagement.status is EngagementStatus.PIPELINE:
        drivers.extend(_pipeline_drivers(engagement, today))
    return sorted(drivers, key=lambda d: (-d.points, d.code))


def _contract_drivers(engagement: Engagement, today: date) -> list[Driver]:
    end = engagement.end_date
    if end is None:
        return [
            Driver(
                code="no_contract_end",
                points=15,
                en="No contract end date recorded",
                zh="未记录合同结束日期",
            )
        ]
    days_left = (end - today).days
    renewal = engagement.renewal_status
    if renewal is RenewalStatus.RENEWED:
        return []  # the contract continues
    if renewal is RenewalStatus.NOT_RENEWING:
        # A planned close, not a surprise: said once it is near, with few points.
        if days_left > 90:
            return []
        return [
            Driver(
                code="contract_closing",
                points=5,
                en=f"Planned close: the client is not renewing (ends in {max(days_left, 0)} days)",
                zh=f"计划结束：客户不续约（{max(days_left, 0)} 天后到期）",
            )
        ]
    in_progress = renewal is RenewalStatus.IN_PROGRESS
    if days_left < 0:
        return [
            Driver(
                code="contract_ended",
                points=25 if in_progress else 45,
                en=f"Contract ended {-days_left} days ago; renewal still in progress"
                if in_progress
                else f"Contract ended {-days_left} days ago with no renewal recorded",
                zh=f"合同已于 {-days_left} 天前到期，续约仍在进行"
                if in_progress
                else f"合同已于 {-days_left} 天前到期，未见续约",
            )
        ]
    if days_left <= 30:
        points = 35
    elif days_left <= 90:
        points = 20
    else:
        return []
    if in_progress:
        # Renewal under way: half the concern, said so.
        return [
            Driver(
                code="contract_ending",
                points=points // 2,
                en=f"Contract ends in {days_left} days; renewal in progress",
                zh=f"合同将在 {days_left} 天后到期，续约进行中",
            )
        ]
    return [
        Driver(
            code="contract_ending",
            points=points,
            en=f"Contract ends in {days_left} days",
            zh=f"合同将在 {days_left} 天后到期",
        )
    ]


def _pipeline_drivers(engagement: Engagement, today: date) -> list[Driver]:
    drivers = []
    if engagement.closing_date is not None and engagement.closing_date < today:
        late = (today - engagement.closing_date).days
        drivers.append(
            Driver(
                code="close_date_passed",
                points=min(40, 20 + 5 * (late // 15)),
                en=f"Expected close date passed {late} days ago",
                zh=f"预计成交日期已过 {late} 天",
            )
        )
    if engagement.start_date is not None and engagement.start_date < today:
        late = (today - engagement.start_date).days
        drivers.append(
            Driver(
                code="started_unsigned",
                points=30,
                en=f"Work was due to start {late} days ago but the deal is not won",
                zh=f"计划开工已过 {late} 天，合同仍未签署",
            )
        )
    return drivers
