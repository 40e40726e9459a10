"""What the portfolio report (`engage report`, `/report`) reads: engagements with their latest
health, the score history in one ordered pass, and each engagement's earned-value sums.

Read only; every query is filtered by the report's owner and account filters in SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.health import decode_health
from mappings.domain import EngagementHealth, EngagementStatus

#: History rows fetched per round trip while streaming.
HISTORY_BATCH = 20_000


@dataclass(frozen=True)
class PortfolioFilter:
    """Whose engagements: an owner (id or name) and an account (id or name); None = all."""

    owner: str | None = None
    account: str | None = None


@dataclass(frozen=True)
class ReportEngagement:
    crm_id: str
    name: str
    account: str
    owner: str
    sla_tier: str | None
    health: EngagementHealth


@dataclass(frozen=True)
class HistoryRow:
    engagement_id: str
    recorded_at: datetime
    risk_level: str
    sla_compliance: float | None
    nps: int | None
    csat: float | None


@dataclass(frozen=True)
class EarnedValue:
    """Σ planned value × % complete (EV), Σ planned value due by the day (PV), Σ costs (AC)."""

    earned: Decimal
    planned_due: Decimal
    actual: Decimal


def _where(query: Any, portfolio: PortfolioFilter) -> Any:
    e = t.engagements
    query = query.where(e.c.deleted_at.is_(None), e.c.status != EngagementStatus.CLOSED_LOST.value)
    if portfolio.owner is not None:
        query = query.where(
            sa.or_(e.c.owner_id == portfolio.owner, e.c.owner_name == portfolio.owner)
        )
    if portfolio.account is not None:
        query = query.where(
            sa.or_(e.c.account_id == portfolio.account, e.c.account_name == portfolio.account)
        )
    return query


def scored_engagements(engine: sa.Engine, portfolio: PortfolioFilter) -> list[ReportEngagement]:
    """The engagements in the filter that have a score, with their latest health."""
    e, h = t.engagements, t.engagement_health
    query = _where(
        sa.select(
            e.c.crm_id,
            e.c.name,
            sa.func.coalesce(e.c.account_name, e.c.account_id),
            sa.func.coalesce(e.c.owner_name, e.c.owner_id, ""),
            e.c.sla_tier,
            *(c for c in h.c if c.name not in ("engagement_id", "inputs_hash")),
        ).join(h, h.c.engagement_id == e.c.crm_id),
        portfolio,
    ).order_by(e.c.crm_id)
    with engine.connect() as conn:
        return [
            ReportEngagement(
                row[0], row[1], row[2], row[3], row[4], decode_health(row[0], row._mapping)
            )
            for row in conn.execute(query)
        ]


def history(engine: sa.Engine, portfolio: PortfolioFilter, since: datetime) -> Iterator[HistoryRow]:
    """The history rows of the engagements in the filter that tell their state from `since` on:
    each engagement's latest row at or before `since`, and every row after it; by engagement,
    then time, streamed. (A year of weekly history behind a 12-week report is mostly never
    read.)"""
    hh, e = t.health_history, t.engagements
    columns = (
        hh.c.engagement_id,
        hh.c.recorded_at,
        hh.c.risk_level,
        hh.c.sla_compliance,
        hh.c.nps,
        hh.c.csat,
    )
    latest_before = (
        sa.select(hh.c.engagement_id, sa.func.max(hh.c.recorded_at).label("at"))
        .where(hh.c.recorded_at <= since)
        .group_by(hh.c.engagement_id)
        .subquery()
    )
    starting = sa.select(*columns).join(
        latest_before,
        sa.and_(
            latest_before.c.engagement_id == hh.c.engagement_id,
            latest_before.c.at == hh.c.recorded_at,
        ),
    )
    after = sa.select(*columns).where(hh.c.recorded_at > since)
    rows = sa.union_all(starting, after).subquery()
    query = _where(
        sa.select(*rows.c).join(e, e.c.crm_id == rows.c.engagement_id), portfolio
    ).order_by(rows.c.engagement_id, rows.c.recorded_at)
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=HISTORY_BATCH).execute(query)
        for part in result.partitions():
            for row in part:
                yield HistoryRow(*row)


def earned_values(
    engine: sa.Engine, portfolio: PortfolioFilter, today: date
) -> dict[str, EarnedValue]:
    """Per engagement in the filter with milestones: EV, PV due by `today`, AC (the sums
    `jobs.health.risk` computes SPI and CPI from)."""
    m, c, e = t.milestones, t.cost_entries, t.engagements
    milestone_sums = _where(
        sa.select(
            m.c.engagement_id,
            sa.func.sum(m.c.planned_value * m.c.percent_complete / 100),
            sa.func.sum(sa.case((m.c.planned_date <= today, m.c.planned_value), else_=0)),
        )
        .join(e, e.c.crm_id == m.c.engagement_id)
        .group_by(m.c.engagement_id),
        portfolio,
    )
    cost_sums = _where(
        sa.select(c.c.engagement_id, sa.func.sum(c.c.amount))
        .join(e, e.c.crm_id == c.c.engagement_id)
        .group_by(c.c.engagement_id),
        portfolio,
    )
    with engine.connect() as conn:
        actual = {eid: Decimal(str(total or 0)) for eid, total in conn.execute(cost_sums)}
        return {
            eid: EarnedValue(
                Decimal(str(earned or 0)), Decimal(str(due or 0)), actual.get(eid, Decimal(0))
            )
            for eid, earned, due in conn.execute(milestone_sums)
        }


def level_counts(engine: sa.Engine, portfolio: PortfolioFilter) -> dict[str, int]:
    """Scored engagements in the filter by current risk level (the report's check figure)."""
    e, h = t.engagements, t.engagement_health
    query = _where(
        sa.select(h.c.risk_level, sa.func.count())
        .join(e, e.c.crm_id == h.c.engagement_id)
        .group_by(h.c.risk_level),
        portfolio,
    )
    with engine.connect() as conn:
        return {str(level): int(count) for level, count in conn.execute(query)}
