"""Drivers a person can act on: each case's facts and, written by hand, the English and Chinese
sentence (fact, its size, the goal it misses) and the next step after the dash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from jobs.health.engagement import Riskiest, account_health
from jobs.health.risk import (
    FactorResult,
    communication_factor,
    contract_factor,
    cost_factor,
    quality_factor,
    satisfaction_factor,
    schedule_factor,
    sla_factor,
)
from mappings.domain import (
    CostEntry,
    EngagementStatus,
    Milestone,
    RiskLevel,
    SlaStatus,
    Touchpoint,
)
from tests.jobs.health.test_engagement import deal

TODAY = date(2026, 11, 29)


def report(days_ago: int, kind: str = "status_report") -> Touchpoint:
    return Touchpoint.model_validate(
        {
            "external_id": f"T{days_ago}{kind}",
            "engagement_id": "D1",
            "kind": kind,
            "at": datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC),
        }
    )


def milestone(name: str, planned: date, **extra: object) -> Milestone:
    return Milestone.model_validate(
        {
            "external_id": name,
            "engagement_id": "D1",
            "name": name,
            "planned_date": planned,
            "planned_value": 100,
            "percent_complete": 100,  # on plan by value: only the overdue rule speaks
            **extra,
        }
    )


@dataclass(frozen=True)
class Case:
    facts: Callable[[], FactorResult | None]
    code: str
    en: str
    zh: str


CASES = {
    "report-27-days-overdue": Case(
        lambda: communication_factor([report(34)], 7, TODAY),
        "report_overdue",
        "Weekly status report 27 days overdue (goal: every 7 days) — send this week's report",
        "周报已逾期 27 天（约定每 7 天一次）— 请本周发送周报",
    ),
    "report-1-day-overdue": Case(
        lambda: communication_factor([report(8)], 7, TODAY),
        "report_overdue",
        "Weekly status report 1 day overdue (goal: every 7 days) — send this week's report",
        "周报已逾期 1 天（约定每 7 天一次）— 请本周发送周报",
    ),
    "report-fortnightly-2-days-overdue": Case(
        lambda: communication_factor([report(16)], 14, TODAY),
        "report_overdue",
        "Status report 2 days overdue (goal: every 14 days) — send this week's report",
        "状态报告已逾期 2 天（约定每 14 天一次）— 请本周发送周报",
    ),
    "no-report-ever": Case(
        lambda: communication_factor([report(3, "call")], 7, TODAY),
        "report_overdue",
        "No status report recorded yet (goal: every 7 days)"
        " — send the first status report this week",
        "尚无状态报告记录（约定每 7 天一次）— 请本周发送第一份状态报告",
    ),
    "one-milestone-9-days-late": Case(
        lambda: schedule_factor([milestone("Release 2.1", date(2026, 11, 20))], TODAY),
        "milestones_overdue",
        "Release 2.1 is 9 days late (planned Nov 20, 2026) — agree a new date with the client",
        "Release 2.1 已延期 9 天（计划 2026年11月20日）— 请与客户商定新日期",
    ),
    "one-milestone-1-day-late": Case(
        lambda: schedule_factor([milestone("Go-live", date(2026, 11, 28))], TODAY),
        "milestones_overdue",
        "Go-live is 1 day late (planned Nov 28, 2026) — agree a new date with the client",
        "Go-live 已延期 1 天（计划 2026年11月28日）— 请与客户商定新日期",
    ),
    "two-milestones-late-names-the-oldest": Case(
        lambda: schedule_factor(
            [milestone("UAT", date(2026, 11, 25)), milestone("Design", date(2026, 11, 17))],
            TODAY,
        ),
        "milestones_overdue",
        "Design is 12 days late (planned Nov 17, 2026); 2 milestones overdue"
        " — agree a new date with the client",
        "Design 已延期 12 天（计划 2026年11月17日；共 2 个里程碑逾期）— 请与客户商定新日期",
    ),
    "sla-breached-names-the-goal": Case(
        lambda: sla_factor(SlaStatus.BREACHED, 50.0, goal_pct=95),
        "sla_breached",
        "SLA breached: compliance 50% (goal: 95%) — go through the missed goals with the client",
        "SLA 已违约：达标率 50%（目标 95%）— 请与客户逐项复盘未达标的目标",
    ),
    "sla-breached-before-any-percent": Case(
        lambda: sla_factor(SlaStatus.BREACHED, None, goal_pct=95),
        "sla_breached",
        "SLA breached: an open ticket is past its goal (goal: 95% of goals met)"
        " — resolve the open ticket today",
        "SLA 已违约：有未关闭工单超出时限（目标达标率 95%）— 请今天解决未关闭的工单",
    ),
    "sla-compliant-below-goal": Case(
        lambda: sla_factor(SlaStatus.COMPLIANT, 85.0, goal_pct=90),
        "sla_compliant",
        "SLA compliance 85% (goal: 90%) — review the tickets that missed their goal",
        "SLA 达标率 85%（目标 90%）— 请复查未达标的工单",
    ),
    "nps-low": Case(
        lambda: satisfaction_factor(10, None, None),
        "nps_low",
        "NPS 10 (goal: 30 or more) — ask the client what would raise their score",
        "NPS 为 10（目标 ≥ 30）— 请询问客户如何提升评分",
    ),
    "one-delivery-rejected": Case(
        lambda: quality_factor([milestone("Design", date(2026, 12, 1), rejected_count=1)]),
        "rejected_deliveries",
        "1 delivery rejected by the client (goal: none)"
        " — agree the acceptance criteria before the next delivery",
        "客户拒收交付 1 次（目标：0 次）— 请在下次交付前与客户确认验收标准",
    ),
    "two-deliveries-rejected": Case(
        lambda: quality_factor([milestone("Design", date(2026, 12, 1), rejected_count=2)]),
        "rejected_deliveries",
        "2 deliveries rejected by the client (goal: none)"
        " — agree the acceptance criteria before the next delivery",
        "客户拒收交付 2 次（目标：0 次）— 请在下次交付前与客户确认验收标准",
    ),
    "contract-ended-1-day-ago": Case(
        lambda: contract_factor(deal(end_date=date(2026, 11, 28)), TODAY),
        "contract_ended",
        "Contract ended 1 day ago with no renewal recorded — record the renewal or close the deal",
        "合同已于 1 天前到期，未见续约— 请记录续约或关闭商机",
    ),
    "contract-ends-in-2-days": Case(
        lambda: contract_factor(deal(end_date=date(2026, 12, 1)), TODAY),
        "contract_ending",
        "Contract ends in 2 days (goal: renewal agreed 90 days ahead) — start the renewal talk",
        "合同将在 2 天后到期（目标：提前 90 天谈妥续约）— 请启动续约洽谈",
    ),
    "no-sla-tier": Case(
        lambda: contract_factor(deal(sla_tier=None), TODAY),
        "no_sla_tier",
        "No SLA tier agreed (goal: a tier for every active contract)"
        " — agree an SLA tier with the client",
        "未约定 SLA 等级（目标：每个进行中的合同都有等级）— 请与客户约定 SLA 等级",
    ),
    "pipeline-close-date-passed-1-day": Case(
        lambda: contract_factor(
            deal(
                status=EngagementStatus.PIPELINE,
                stage="Negotiation",
                closing_date=date(2026, 11, 28),
            ),
            TODAY,
        ),
        "close_date_passed",
        "Expected close date passed 1 day ago — update the close date or the stage",
        "预计成交日期已过 1 天— 请更新预计成交日期或阶段",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_driver_names_the_fact_its_size_the_goal_and_the_next_step(case: Case) -> None:
    result = case.facts()
    assert result is not None
    found = [d for d in result.drivers if d.code == case.code]
    assert [(d.en, d.zh) for d in found] == [(case.en, case.zh)]


def test_no_driver_reads_compliance_dash() -> None:
    """Before: `SLA at risk (compliance —)`; now the goal is named, and no bare dash."""
    result = sla_factor(SlaStatus.AT_RISK, None, goal_pct=95)
    assert result is not None
    (found,) = result.drivers
    assert found.en == (
        "SLA at risk: an open ticket is near its goal (goal: 95% of goals met)"
        " — resolve the open ticket today"
    )
    assert (
        found.zh == "SLA 有违约风险：有未关闭工单接近时限（目标达标率 95%）— 请今天解决未关闭的工单"
    )


@pytest.mark.parametrize(
    ("active", "en", "zh"),
    [
        (
            1,
            "1 active engagement; riskiest: ERP rollout (score 49, medium)",
            "1 个进行中的项目；风险最高：ERP rollout（49 分，中）",
        ),
        (
            2,
            "2 active engagements; riskiest: ERP rollout (score 49, medium)",
            "2 个进行中的项目；风险最高：ERP rollout（49 分，中）",
        ),
    ],
)
def test_the_account_roll_up_counts_in_each_language(active: int, en: str, zh: str) -> None:
    rollup = account_health("A1", active, Riskiest("ERP rollout", 49, RiskLevel.MEDIUM))
    assert (rollup.summary_en, rollup.summary_zh) == (en, zh)


def test_an_account_with_no_active_engagement() -> None:
    rollup = account_health("A1", 0, None)
    assert (rollup.summary_en, rollup.summary_zh) == ("No active engagements", "暂无进行中的项目")


def test_a_large_number_is_grouped_as_the_locale_writes_it() -> None:
    result = communication_factor([report(1207)], 7, TODAY)
    assert result is not None
    assert result.drivers[0].en.startswith("Weekly status report 1,200 days overdue")
    assert result.drivers[0].zh.startswith("周报已逾期 1,200 天")


def test_cost_driver_says_spent_and_done_against_the_goal() -> None:
    ms = [milestone("Build", date(2026, 12, 30), percent_complete=25, planned_value=400)]
    costs = [
        CostEntry.model_validate(
            {"external_id": "C1", "engagement_id": "D1", "spent_on": TODAY, "amount": Decimal(120)}
        )
    ]
    # EV = 400 × 25 % = 100; AC = 120: CPI 0.83; spent 120 / 400 = 30 %, done 25 %.
    result = cost_factor(ms, costs)
    assert result is not None
    assert result.drivers[0].en == (
        "Cost performance CPI 0.83: 30% of budget spent, 25% done (goal: 1.00 or more)"
        " — review the spending with the delivery lead"
    )
    assert result.drivers[0].zh == (
        "成本绩效指数 CPI 0.83：预算已花费 30%，完成 25%（目标 ≥ 1.00）— 请与交付负责人复核支出"
    )
