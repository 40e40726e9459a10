"""The risk factors, each checked against arithmetic done by hand in the test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner

from jobs.cli import main
from jobs.health.risk import (
    DeliveryFacts,
    RiskWeights,
    assess,
    communication_factor,
    cost_factor,
    quality_factor,
    satisfaction_factor,
    schedule_factor,
    scope_factor,
    sla_factor,
)
from mappings.domain import (
    ChangeRequest,
    CostEntry,
    Engagement,
    Milestone,
    SlaStatus,
    Touchpoint,
)

TODAY = date(2026, 11, 23)


def milestone(n: int, due_in_days: int, value: int, done: float, **extra: object) -> Milestone:
    return Milestone.model_validate(
        {
            "external_id": f"M{n}",
            "engagement_id": "D1",
            "name": f"Milestone {n}",
            "planned_date": TODAY + timedelta(days=due_in_days),
            "planned_value": value,
            "percent_complete": done,
            **extra,
        }
    )


def test_schedule_spi_and_overdue_milestones() -> None:
    # Due: M1 (100, done, delivered) and M2 (100, 50 % done, 12 days late, not delivered).
    # EV = 100 + 50 + 0 (M3 not started) = 150; PV = 200; SPI = 0.75 -> (1 - 0.75) / 0.3 = 83.3.
    # Overdue: one milestone, 12 days -> 25 * 1 + 12 = 37. Factor = max(83.3, 37) = 83.3.
    result = schedule_factor(
        [
            milestone(1, -30, 100, 100, delivered_date=TODAY - timedelta(days=31)),
            milestone(2, -12, 100, 50),
            milestone(3, 20, 100, 0),
        ],
        TODAY,
    )
    assert result is not None
    assert result.score == pytest.approx(83.333, abs=0.01)
    assert [d.en for d in result.drivers] == [
        "Schedule performance SPI 0.75 (earned value behind plan)",
        "1 milestone overdue, up to 12 days: Milestone 2 is 12 days late",
    ]
    assert result.drivers[1].zh == "1 个里程碑逾期，最长 12 天：Milestone 2 已延期 12 天"


@pytest.mark.parametrize(
    "milestones",
    [
        pytest.param([], id="no-milestones"),
        pytest.param([milestone(1, 10, 100, 0)], id="nothing-due-yet"),
    ],
)
def test_schedule_without_data_is_left_out(milestones: list[Milestone]) -> None:
    assert schedule_factor(milestones, TODAY) is None


def test_pv_zero_keeps_only_the_overdue_signal() -> None:
    # PV = 0 (a free milestone is due): no SPI; one overdue by 3 days -> 25 + 3 = 28.
    result = schedule_factor([milestone(1, -3, 0, 0)], TODAY)
    assert result is not None and result.score == 28


def cost(amount: int) -> CostEntry:
    return CostEntry(
        external_id=f"C{amount}", engagement_id="D1", spent_on=TODAY, amount=Decimal(amount)
    )


def test_cost_cpi() -> None:
    # EV = 400 * 25 % = 100; AC = 120 -> CPI = 0.8333 -> (1 - 0.8333) / 0.3 * 100 = 55.6.
    # Budget 400: spent 120 / 400 = 30 %, done 100 / 400 = 25 %.
    result = cost_factor([milestone(1, 30, 400, 25)], [cost(100), cost(20)])
    assert result is not None
    assert result.score == pytest.approx(55.56, abs=0.01)
    assert result.drivers[0].en == "Cost performance CPI 0.83: 30% of budget spent, 25% done"


def test_ac_zero_is_left_out() -> None:
    assert cost_factor([milestone(1, 30, 400, 25)], []) is None


@pytest.mark.parametrize(
    ("status", "compliance", "score"),
    [
        pytest.param(SlaStatus.BREACHED, 70.0, 100, id="breached"),
        pytest.param(SlaStatus.AT_RISK, 90.0, 60, id="at-risk"),
        pytest.param(SlaStatus.COMPLIANT, 95.0, 10, id="compliant-95"),  # (100 - 95) * 2
        pytest.param(SlaStatus.COMPLIANT, 50.0, 40, id="compliant-capped"),  # 100 capped at 40
    ],
)
def test_sla(status: SlaStatus, compliance: float, score: int) -> None:
    result = sla_factor(status, compliance)
    assert result is not None and result.score == score
    assert sla_factor(SlaStatus.NOT_MEASURED, None) is None


@pytest.mark.parametrize(
    ("nps", "previous", "csat", "score"),
    [
        pytest.param(30, None, None, 0, id="nps-30-is-fine"),
        pytest.param(-50, None, None, 100, id="nps-minus-50"),
        pytest.param(10, None, None, 25, id="nps-10"),  # (30 - 10) * 1.25
        pytest.param(10, 40, None, 45, id="nps-fell-30"),  # 25 + 20 for the fall
        pytest.param(None, None, 3.0, 50, id="csat-3"),  # (4 - 3) * 50
        pytest.param(20, None, 2.5, 75, id="worse-of-two"),  # max(12.5, 75)
    ],
)
def test_satisfaction(
    nps: int | None, previous: int | None, csat: float | None, score: float
) -> None:
    result = satisfaction_factor(nps, previous, csat)
    assert result is not None and result.score == score


def test_no_survey_yet_is_left_out() -> None:
    assert satisfaction_factor(None, None, None) is None


def report(days_ago: int) -> Touchpoint:
    at = datetime(2026, 11, 23, 10, tzinfo=UTC) - timedelta(days=days_ago)
    return Touchpoint(external_id=f"T{days_ago}", engagement_id="D1", kind="status_report", at=at)


@pytest.mark.parametrize(
    ("days_ago", "score"),
    [
        pytest.param(5, 0, id="on-time"),
        pytest.param(14, 50, id="two-weeks"),  # (14 / 7 - 1) * 50
        pytest.param(21, 100, id="three-weeks"),
        pytest.param(19, 85.714, id="nineteen-days"),  # (19 / 7 - 1) * 50
    ],
)
def test_communication(days_ago: int, score: float) -> None:
    result = communication_factor([report(days_ago)], 7, TODAY)
    assert result is not None and result.score == pytest.approx(score, abs=0.01)
    assert communication_factor([], 7, TODAY) is None


def test_quality_and_scope() -> None:
    rework = quality_factor([milestone(1, 5, 10, 0, rejected_count=2)])
    assert rework is not None and rework.score == 70  # 35 * 2
    changes = [
        ChangeRequest(
            external_id="CR1",
            engagement_id="D1",
            raised_on=TODAY,
            value=Decimal(15000),
            status="approved",
        ),
        ChangeRequest(external_id="CR2", engagement_id="D1", raised_on=TODAY, value=Decimal(10000)),
        ChangeRequest(
            external_id="CR3",
            engagement_id="D1",
            raised_on=TODAY,
            value=Decimal(90000),
            status="rejected",
        ),
    ]
    # (15,000 + 10,000) / 100,000 = 25 % -> 0.25 / 0.3 * 100 = 83.3; one pending.
    scope = scope_factor(changes, Decimal(100000))
    assert scope is not None and scope.score == pytest.approx(83.33, abs=0.01)
    assert scope.drivers[0].en == "Change requests worth 25% of the contract (1 pending)"


def test_missing_factors_are_left_out_and_the_rest_reweighted() -> None:
    engagement = Engagement(
        crm_id="D1",
        name="ERP",
        account_id="A1",
        stage="Closed Won",
        status="active",
        contract_value=Decimal(100000),
        end_date=TODAY + timedelta(days=12),
        sla_tier="Gold",
    )
    # Contract: ends in 12 days -> 35. CSAT 3.0 -> 50. No other data.
    # Weights: contract 10, satisfaction 15 -> (10 * 35 + 15 * 50) / 25 = 44.
    result = assess(engagement, DeliveryFacts(csat=3.0), RiskWeights(), TODAY)
    assert result.score == 44
    # Contributions: CSAT 15 * 50 / 25 = 30; contract 10 * 35 / 25 = 14.
    assert [(d.code, d.points) for d in result.drivers] == [
        ("csat_low", 30),
        ("contract_ending", 14),
    ]


def test_weights_must_sum_to_100(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "engage.toml"
    path.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        "[risk.weights]\nschedule = 15\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["--config", str(path), "run"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {path}: risk.weights: weights must sum to 100, got 95 (schedule 15, cost 15, "
        "sla 20, satisfaction 15, communication 10, contract 10, quality 5, scope 5)"
    )
