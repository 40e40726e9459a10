"""Account roll-ups as the push plans them (ranked in SQL, jobs/push/plan.py) on SQLite and PostgreSQL:
the level of the riskiest active engagement by score, ties to the highest id as Python orders
strings, and a one-line summary in English and Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.config import HealthSection
from jobs.health.engagement import score_engagement
from jobs.messages.catalog import Words
from jobs.messages.fields import field_words
from jobs.push.plan import rollups_of
from jobs.store import Store
from mappings.domain import (
    Account,
    AccountHealth,
    Engagement,
    EngagementHealth,
    EngagementStatus,
    RiskLevel,
)
from tests.jobs.health.test_engagement import deal

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def engagement(crm_id: str, account_id: str, status: str = "active") -> Engagement:
    return Engagement(
        crm_id=crm_id,
        name=f"Deal {crm_id}",
        account_id=account_id,
        stage="Closed Won" if status == "active" else "Closed Lost",
        status=EngagementStatus(status),
    )


def health(engagement_id: str, score: int, level: RiskLevel) -> EngagementHealth:
    return EngagementHealth(
        engagement_id=engagement_id, risk_score=score, risk_level=level, updated_at=NOW
    )


def test_rollups_ranked_in_the_store_match_the_rules(store: Store) -> None:
    accounts = ["tie", "unscored", "lost-only", "gone", "lonely"]
    store.save_accounts([Account(crm_id=a, name=a.title()) for a in accounts], NOW)
    deals = [
        # Scores 40, 40, 10: a tie, broken by the higher id in byte order, as Python compares
        # strings ("a" > "B"; a linguistic collation puts "B" after "a"). This machine's
        # PostgreSQL database collates as C.UTF-8, so here the test cannot show that the
        # ranking ignores a linguistic collation; the query asks for C.
        engagement("a-1", "tie"),
        engagement("B-2", "tie"),
        engagement("Z-3", "tie"),
        engagement("L-4", "tie", status="closed_lost"),  # not active: not counted
        engagement("S-5", "unscored"),
        engagement("S-6", "unscored"),  # active, no health yet: no roll-up for its account
        engagement("L-7", "lost-only", status="closed_lost"),
        engagement("G-8", "gone"),
        engagement("D-9", "lonely"),
    ]
    store.save_engagements(deals, NOW)
    scores = [
        health("a-1", 40, RiskLevel.MEDIUM),
        health("B-2", 40, RiskLevel.MEDIUM),
        health("Z-3", 10, RiskLevel.LOW),
        health("S-5", 70, RiskLevel.HIGH),
        health("G-8", 90, RiskLevel.CRITICAL),
        health("D-9", 55, RiskLevel.HIGH),
    ]
    store.save_health(scores)
    store.mark_deleted("accounts", ["gone"], NOW)
    store.mark_deleted("engagements", ["D-9"], NOW)  # "lonely" keeps no live engagement

    with store.engine.connect() as conn:
        rollups = rollups_of(conn, accounts, field_words(Words.shipped()))

    assert set(rollups) == {"tie", "lost-only"}
    assert rollups["tie"].risk_level is RiskLevel.MEDIUM
    assert rollups["tie"].active_engagements == 3
    assert (
        rollups["tie"].summary_en == "3 active engagements; riskiest: Deal a-1 (score 40, medium)"
    )
    assert rollups["tie"].summary_zh == "3 个进行中的项目；风险最高：Deal a-1（40 分，中）"
    assert rollups["lost-only"].risk_level is None
    assert rollups["lost-only"].summary_en == "No active engagements"
    assert rollups["lost-only"] == AccountHealth(
        account_id="lost-only",
        risk_level=None,
        active_engagements=0,
        summary_en="No active engagements",
        summary_zh="暂无进行中的项目",
    )


def test_account_takes_the_level_of_its_riskiest_active_engagement(store: Store) -> None:
    today = NOW.date()
    calm = deal(crm_id="D1", name="Calm")
    risky = deal(crm_id="D2", name="Risky", end_date=today + timedelta(days=12))
    lost = deal(crm_id="D3", stage="Closed Lost", status=EngagementStatus.CLOSED_LOST)
    other = deal(crm_id="D4", account_id="A2", stage="Qualification", status="pipeline")
    store.save_accounts([Account(crm_id=a, name=a) for a in ("A1", "A2")], NOW)
    store.save_engagements([calm, risky, lost, other], NOW)
    scored = [score_engagement(e, now=NOW, bands=HealthSection()) for e in (calm, risky, other)]
    store.save_health([h for h in scored if h is not None])

    with store.engine.connect() as conn:
        rollups = rollups_of(conn, ["A1", "A2"], field_words(Words.shipped()))

    assert rollups["A1"].risk_level is RiskLevel.MEDIUM
    assert rollups["A1"].summary_en == "2 active engagements; riskiest: Risky (score 35, medium)"
    assert rollups["A1"].summary_zh == "2 个进行中的项目；风险最高：Risky（35 分，中）"
    assert rollups["A2"].risk_level is None
    assert rollups["A2"].summary_en == "No active engagements"
