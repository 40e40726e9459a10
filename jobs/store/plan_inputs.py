"""What the push's plan reads (jobs/push/plan.py): the health values of engagements, and the
roll-up of accounts counted and ranked in SQL. Reads only; the tables' writers are records.py
and health.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.bulk import among
from jobs.store.push_state import copied_health_columns
from mappings.domain import EngagementStatus


def health_value_columns() -> tuple[list[str], set[str]]:
    """The value columns of ``engagement_health`` (those the push's basis copies) and which of
    them are JSON (`health_values` gives those as their text)."""
    names = copied_health_columns()
    h = t.engagement_health
    return names, {n for n in names if isinstance(h.c[n].type, sa.JSON)}


def health_values(conn: sa.Connection, ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """(engagement id, status, *value columns in `health_value_columns` order, JSON as text)
    of those of ``ids`` that are live engagements with health: rows usable as a key."""
    e, h = t.engagements, t.engagement_health
    names, json_columns = health_value_columns()
    columns = [sa.cast(h.c[n], sa.Text()) if n in json_columns else h.c[n] for n in names]
    query = (
        sa.select(h.c.engagement_id, e.c.status, *columns)
        .join(e, e.c.crm_id == h.c.engagement_id)
        .where(e.c.deleted_at.is_(None), among(h.c.engagement_id, ids))
    )
    return [tuple(row) for row in conn.execute(query)]


def rollup_rows(
    conn: sa.Connection, account_ids: Sequence[str]
) -> list[tuple[str, str, Any, Any, int]]:
    """(account id, name, risk score, risk level, active engagements) of the riskiest
    engagement of each of ``account_ids`` that is a live account with live engagements; none
    for an account with an active engagement not scored. Score and level are None only when
    the account has no active engagement.

    Counted and ranked in SQL, one row per account: a push after a scoring run re-rolls most
    accounts, and bringing each of their engagements into Python cost seconds at 100,000 deals.
    """
    e, h, a = t.engagements, t.engagement_health, t.accounts
    active = e.c.status == EngagementStatus.ACTIVE.value
    scored = h.c.engagement_id.is_not(None)
    account = e.c.account_id
    # The highest score, then the highest id compared as Python compares strings (byte order:
    # PostgreSQL's default collation may order letters otherwise).
    crm_id = e.c.crm_id.collate("C") if conn.dialect.name == "postgresql" else e.c.crm_id
    ranked = (
        sa.select(
            e.c.account_id,
            e.c.name,
            h.c.risk_score,
            h.c.risk_level,
            sa.func.sum(sa.case((active, 1), else_=0)).over(partition_by=account).label("active"),
            sa.func.sum(sa.case((sa.and_(active, ~scored), 1), else_=0))
            .over(partition_by=account)
            .label("unscored"),
            sa.func.row_number()
            .over(
                order_by=(
                    sa.case((sa.and_(active, scored), 1), else_=0).desc(),
                    h.c.risk_score.desc(),
                    crm_id.desc(),
                ),
                partition_by=account,
            )
            .label("rank"),
        )
        .select_from(
            e.outerjoin(h, h.c.engagement_id == e.c.crm_id).join(
                a, sa.and_(a.c.crm_id == e.c.account_id, a.c.deleted_at.is_(None))
            )
        )
        .where(e.c.deleted_at.is_(None), among(e.c.account_id, account_ids))
        .subquery()
    )
    query = sa.select(
        ranked.c.account_id,
        ranked.c.name,
        ranked.c.risk_score,
        ranked.c.risk_level,
        ranked.c.active,
    ).where(ranked.c.rank == 1, ranked.c.unscored == 0)
    return [(aid, name, score, level, int(n)) for aid, name, score, level, n in conn.execute(query)]
