"""The first risk rules, computed by hand from the table in jobs/health/engagement.py's docstring."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from jobs.config import HealthSection
from jobs.health.engagement import score_engagement
from mappings.domain import Engagement, EngagementStatus, RiskLevel, SlaStatus

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
BANDS = HealthSection()


def deal(**changes: object) -> Engagement:
    values: dict[str, object] = {
        "crm_id": "D1",
        "name": "Managed Service Desk",
        "account_id": "A1",
        "stage": "Closed Won",
        "status": EngagementStatus.ACTIVE,
        "start_date": date(2025, 1, 1),
        "end_date": date(2027, 6, 30),
        "sla_tier": "Gold",
    }
    values.update(changes)
    return Engagement.model_validate(values)


@pytest.mark.parametrize(
    ("end_in_days", "score", "level", "text"),
    [
        pytest.param(400, 0, RiskLevel.LOW, None, id="far-from-end"),
        pytest.param(
            60,
            20,
            RiskLevel.LOW,
            "Contract ends in 60 days (goal: renewal agreed 90 days ahead) — start the renewal talk",
            id="within-90-days",
        ),
        pytest.param(
            12,
            35,
            RiskLevel.MEDIUM,
            "Contract ends in 12 days (goal: renewal agreed 90 days ahead) — start the renewal talk",
            id="within-30-days",
        ),
        pytest.param(
            -5,
            45,
            RiskLevel.MEDIUM,
            "Contract ended 5 days ago with no renewal recorded — record the renewal or close the deal",
            id="ended",
        ),
    ],
)
def test_contract_end_drives_risk(
    end_in_days: int, score: int, level: RiskLevel, text: str | None
) -> None:
    health = score_engagement(
        deal(end_date=TODAY + timedelta(days=end_in_days)), now=NOW, bands=BANDS
    )
    assert health is not None
    assert (health.risk_score, health.risk_level) == (score, level)
    assert [d.en for d in health.drivers] == ([text] if text else [])
    assert health.sla_status is SlaStatus.NOT_MEASURED


def test_drivers_are_bilingual_and_capped_at_three() -> None:
    health = score_engagement(
        deal(
            stage="Negotiation/Review",
            status=EngagementStatus.PIPELINE,
            closing_date=TODAY - timedelta(days=31),
            start_date=TODAY - timedelta(days=10),
            end_date=None,
        ),
        now=NOW,
        bands=BANDS,
    )
    assert health is not None
    # 20 + 5 * (31 // 15) = 30 for the close date, 30 for unsigned work: 60 -> high.
    assert health.risk_score == 60
    assert health.risk_level is RiskLevel.HIGH
    assert [d.zh for d in health.drivers] == [
        "预计成交日期已过 31 天— 请更新预计成交日期或阶段",
        "计划开工已过 10 天，合同仍未签署— 请在继续工作前签署合同",
    ]


def test_a_lost_deal_is_not_scored() -> None:
    lost = deal(stage="Closed Lost", status=EngagementStatus.CLOSED_LOST)
    assert score_engagement(lost, now=NOW, bands=BANDS) is None


def test_unchanged_health_keeps_its_timestamp() -> None:
    first = score_engagement(deal(end_date=TODAY + timedelta(days=12)), now=NOW, bands=BANDS)
    later = NOW + timedelta(hours=5)
    again = score_engagement(
        deal(end_date=TODAY + timedelta(days=12)), now=later, bands=BANDS, previous=first
    )
    assert again is first
    moved = score_engagement(
        deal(end_date=TODAY + timedelta(days=13)), now=later, bands=BANDS, previous=first
    )
    assert moved is not None and moved.updated_at == later


def test_bands_come_from_the_config() -> None:
    strict = HealthSection(medium=10, high=20, critical=30)
    health = score_engagement(deal(end_date=TODAY + timedelta(days=12)), now=NOW, bands=strict)
    assert health is not None and health.risk_level is RiskLevel.CRITICAL


@pytest.mark.parametrize(
    ("renewal", "end_in_days", "score", "text"),
    [
        pytest.param("renewed", 12, 0, None, id="renewed"),
        pytest.param(
            "in_progress",
            12,
            17,
            "Contract ends in 12 days; renewal in progress — get the renewal signed before the end date",
            id="in-progress",
        ),  # 35 // 2
        pytest.param(
            "in_progress",
            -5,
            25,
            "Contract ended 5 days ago; renewal still in progress — get the renewal signed",
            id="ended-in-progress",
        ),
        pytest.param(
            "not_renewing",
            40,
            5,
            "Planned close: the client is not renewing (ends in 40 days) — plan the handover with the client",
            id="planned-close",
        ),
        pytest.param("not_renewing", 200, 0, None, id="planned-close-far"),
    ],
)
def test_renewal_status_tempers_the_contract_factor(
    renewal: str, end_in_days: int, score: int, text: str | None
) -> None:
    health = score_engagement(
        deal(end_date=TODAY + timedelta(days=end_in_days), renewal_status=renewal),
        now=NOW,
        bands=BANDS,
    )
    assert health is not None
    assert health.risk_score == score
    assert [d.en for d in health.drivers] == ([text] if text else [])
