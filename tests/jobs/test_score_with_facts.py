"""Scoring with delivery facts and SLA policies, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobs.cli import main
from jobs.config import HealthSection, SlaSection
from jobs.score import score
from jobs.store import Store
from mappings.domain import Engagement, Milestone, SlaStatus, Ticket, Touchpoint

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


def engagement(crm_id: str) -> Engagement:
    return Engagement(
        crm_id=crm_id,
        name=f"Service desk {crm_id}",
        account_id="A1",
        stage="Closed Won",
        status="active",
        contract_value=Decimal(120000),
        start_date=date(2026, 1, 1),
        end_date=date(2027, 12, 31),
        sla_tier="Gold",
    )


def slow_ticket(engagement_id: str) -> Ticket:
    # Opened Mon 16 Nov 09:00 UTC, resolved Mon 16 Nov 15:00: on the default Gold calendar
    # (09:00–12:00, 13:00–18:00) that is 3 h + 2 h = 300 business minutes.
    opened = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    return Ticket(
        external_id=f"{engagement_id}-T1",
        engagement_id=engagement_id,
        priority="P2",
        opened_at=opened,
        first_response_at=opened + timedelta(minutes=30),
        resolved_at=opened + timedelta(hours=6),
    )


def test_facts_drive_health_and_unchanged_engagements_are_not_recomputed(store: Store) -> None:
    store.save_engagements([engagement("D1"), engagement("D2")], NOW)
    overdue = Milestone(
        external_id="D1-M1",
        engagement_id="D1",
        name="Go-live",
        planned_date=date(2026, 11, 11),
        planned_value=Decimal(50000),
        percent_complete=80,
    )
    store.save_facts("milestones", [overdue], "file", NOW)
    first = score(store, HealthSection(), clock=lambda: NOW)
    assert (first.scored, first.changed, first.skipped_unchanged) == (2, 2, 0)
    d1 = store.health()["D1"]
    # Factors with data (weight): schedule (20): 12 days late; PV = 50,000, EV = 40,000 ->
    # SPI 0.8 -> (1 - 0.8) / 0.3 * 100 = 66.7 (overdue: 25 + 12 = 37, lower). SLA (20): Gold
    # wants 95 % of milestones on time, 0 of 1 was -> breached = 100. Contract (10): ends in
    # more than 90 days -> 0. Quality (5): no rejection -> 0.
    # Score = (20 * 66.7 + 20 * 100) / (20 + 20 + 10 + 5) = 3333.3 / 55 = 60.6 -> 61.
    assert d1.risk_score == 61
    assert d1.sla_status is SlaStatus.BREACHED
    # Contributions: SLA 20 * 100 / 55 = 36; SPI 20 * 66.7 / 55 = 24; overdue 20 * 37 / 55 = 13.
    assert [(d.code, d.points) for d in d1.drivers] == [
        ("sla_breached", 36),
        ("spi", 24),
        ("milestones_overdue", 13),
    ]

    again = score(store, HealthSection(), clock=lambda: NOW + timedelta(hours=2))
    assert (again.scored, again.changed, again.skipped_unchanged) == (2, 0, 2)

    store.save_facts(
        "milestones", [overdue.model_copy(update={"percent_complete": 100})], "file", NOW
    )
    after_change = score(store, HealthSection(), clock=lambda: NOW + timedelta(hours=3))
    assert after_change.skipped_unchanged == 1  # only D1 was recomputed


def test_a_finished_ticket_keeps_the_goal_it_was_measured_by(store: Store) -> None:
    store.save_engagements([engagement("D1")], NOW)
    store.save_facts("tickets", [slow_ticket("D1")], "file", NOW)
    report = Touchpoint(
        external_id="D1-R1", engagement_id="D1", kind="status_report", at=NOW - timedelta(days=1)
    )
    store.save_facts("touchpoints", [report], "file", NOW)
    score(store, HealthSection(), clock=lambda: NOW)
    # Gold v1: P2 resolution goal 480 business minutes; 300 used -> met, 100 % compliance.
    assert store.health()["D1"].sla_status is SlaStatus.COMPLIANT
    goals = [(m[1], m[2], m[4]) for m in store.frozen_measures()["D1"]]
    assert sorted(goals) == [("first_response", 60, True), ("resolution", 480, True)]

    stricter = SlaSection.model_validate(
        {
            "tiers": {
                "Gold": {
                    "version": 2,
                    "calendar": {"timezone": "UTC"},
                    "goals": {
                        "first_response_minutes": {"P2": 15},
                        "resolution_minutes": {"P2": 120},
                    },
                }
            }
        }
    )
    later = NOW + timedelta(days=1)
    score(store, HealthSection(), clock=lambda: later, sla=stricter)
    health = store.health()["D1"]
    assert health.sla_compliance == 100  # still measured by v1's goals
    # An explicit recompute measures it again under v2: 30 > 15 and 300 > 120, both missed.
    score(store, HealthSection(), clock=lambda: later, sla=stricter, recompute=True)
    assert store.health()["D1"].sla_compliance == 0


def test_the_report_clock_starts_at_the_first_ticket_also_when_scoring_does_not_read_it(
    store: Store,
) -> None:
    """Scoring reads only the tickets the SLA window measures, and the first ticket's opening
    only for an engagement without a status report: the report clock must come out the same."""
    store.save_engagements([engagement("D1"), engagement("D2")], NOW)
    opened = NOW - timedelta(days=200)  # finished long before the 90-day window
    old = [
        Ticket(
            external_id=f"{eid}-T0",
            engagement_id=eid,
            priority="P3",
            opened_at=opened,
            first_response_at=opened + timedelta(hours=1),
            resolved_at=opened + timedelta(days=1),
        )
        for eid in ("D1", "D2")
    ]
    store.save_facts("tickets", old, "file", NOW)
    report = Touchpoint(
        external_id="D2-R1", engagement_id="D2", kind="status_report", at=NOW - timedelta(days=1)
    )
    store.save_facts("touchpoints", [report], "file", NOW)
    score(store, HealthSection(), clock=lambda: NOW)
    health = store.health()
    # D1: no report in the 200 days since its first ticket -> overdue -> breached.
    assert health["D1"].sla_status is SlaStatus.BREACHED
    # D2: reported yesterday; its old ticket is neither measured nor needed.
    assert health["D2"].sla_status is SlaStatus.COMPLIANT


def test_overlapping_working_hours_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "engage.toml"
    path.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        '[sla.tiers.Gold.calendar]\ntimezone = "Asia/Shanghai"\n'
        'hours = ["09:00-12:00", "11:00-13:00"]\n'
        "[sla.tiers.Gold.goals]\nfirst_response_minutes = { P1 = 30 }\nresolution_minutes = { P1 = 240 }\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["--config", str(path), "run"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {path}: sla.tiers.Gold.calendar")
    assert "working hours overlap: 09:00–12:00 and 11:00–13:00" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_trend_shows_every_computed_score(sqlite_url: str, tmp_path: Path) -> None:
    store = Store.open(sqlite_url)
    store.save_engagements([engagement("D1")], NOW)
    store.save_facts("tickets", [slow_ticket("D1")], "file", NOW)
    score(store, HealthSection(), clock=lambda: NOW)
    late = Milestone(
        external_id="D1-M1",
        engagement_id="D1",
        name="Go-live",
        planned_date=date(2026, 11, 20),
        planned_value=Decimal(10000),
        percent_complete=0,
    )
    store.save_facts("milestones", [late], "file", NOW)
    score(store, HealthSection(), clock=lambda: NOW + timedelta(days=1))
    history = store.health_history("D1")
    store.close()
    assert len(history) == 2 and history[1][1] > history[0][1]
    config = tmp_path / "engage.toml"
    config.write_text(
        f'[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        f'[store]\nurl = "{sqlite_url}"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["--config", str(config), "trend", "D1"])
    assert result.exit_code == 0, result.output
    assert f"+{history[1][1] - history[0][1]}" in result.output
    assert f"trend: rising ({history[0][1]} → {history[1][1]} over 2 computations)" in result.output
    # Then every driver of the latest score, not only the CRM field's three.
    listed = result.output.split("drivers (", 1)[1].splitlines()
    count = int(listed[0].split(")")[0])
    assert count == len(listed) - 1
    assert any(
        line.endswith(
            "Go-live is 4 days late (planned Nov 20, 2026) — agree a new date with the client"
        )
        for line in listed[1:]
    )
    chinese = CliRunner().invoke(main, ["--config", str(config), "trend", "D1", "--lang", "zh"])
    assert "Go-live 已延期 4 天（计划 2026年11月20日）— 请与客户商定新日期" in chinese.output


def test_worker_processes_score_exactly_as_one_process_does(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large portfolios are scored in chunks by worker processes: same health, same frozen
    measures, every engagement once — on SQLite and on PostgreSQL."""
    monkeypatch.setattr("jobs.score.CHUNK_SIZE", 3)  # 11 engagements: 4 chunks
    alone = Store.open(f"sqlite:///{tmp_path / 'alone.db'}")
    for target in (store, alone):
        target.save_engagements([engagement(f"D{i:02d}") for i in range(11)], NOW)
        target.save_facts(
            "tickets",
            [slow_ticket(f"D{i:02d}") for i in range(0, 11, 2)]
            + [
                Ticket(
                    external_id="D05-open",
                    engagement_id="D05",
                    priority="P1",
                    # Friday 13:00 UTC: 5 working hours by Monday 09:00, past P1's 30 minutes.
                    opened_at=NOW - timedelta(days=2, hours=20),
                )
            ],
            "file",
            NOW,
        )
    parallel = score(store, HealthSection(), clock=lambda: NOW, workers=2)
    inline = score(alone, HealthSection(), clock=lambda: NOW, workers=0)
    assert (parallel.scored, parallel.changed) == (11, 11)
    assert parallel == inline
    assert store.health() == alone.health()
    assert store.frozen_measures() == alone.frozen_measures()
    assert store.health()["D05"].sla_status is SlaStatus.BREACHED
    again = score(store, HealthSection(), clock=lambda: NOW, workers=2)
    assert again.skipped_unchanged == 11
    alone.close()


def test_the_communication_factor_holds_each_tier_to_its_own_report_cadence(store: Store) -> None:
    """One cadence setting: the SLA tier's ``status_report_every_days`` (Gold 7 days, Bronze 14
    by default) is also what the risk score's communication factor measures against."""
    gold, bronze = engagement("D1"), engagement("D2").model_copy(update={"sla_tier": "Bronze"})
    store.save_engagements([gold, bronze], NOW)
    store.save_facts(
        "touchpoints",
        [
            Touchpoint(
                external_id=f"{eid}-R1",
                engagement_id=eid,
                kind="status_report",
                at=NOW - timedelta(days=14),
            )
            for eid in ("D1", "D2")
        ],
        "file",
        NOW,
    )
    score(store, HealthSection(), clock=lambda: NOW)
    health = store.health()
    gold_late = [d.en for d in health["D1"].drivers if d.code == "report_overdue"]
    # 14 days since the last report, due every 7: 7 days overdue.
    assert gold_late == [
        "Weekly status report 7 days overdue (goal: every 7 days) — send this week's report"
    ]
    # 14 days after the last report is on time for Bronze: no such driver.
    assert [d for d in health["D2"].drivers if d.code == "report_overdue"] == []


def test_a_late_status_report_counts_in_the_communication_factor_only(store: Store) -> None:
    """The SLA's status-report rule and the communication factor read the same fact; it counts
    once, as the communication factor's driver. The deal's SLA status still says Breached."""
    store.save_engagements([engagement("D1")], NOW)  # Gold: a report every 7 days
    store.save_facts(
        "touchpoints",
        [
            Touchpoint(
                external_id="D1-R1",
                engagement_id="D1",
                kind="status_report",
                at=NOW - timedelta(days=20),
            )
        ],
        "file",
        NOW,
    )
    score(store, HealthSection(), clock=lambda: NOW)
    health = store.health()["D1"]
    assert health.sla_status is SlaStatus.BREACHED  # the SLA's own status is unchanged
    codes = [d.code for d in health.drivers]
    assert codes.count("report_overdue") == 1
    assert [c for c in codes if c.startswith("sla_")] == []
    (late,) = [d for d in health.drivers if d.code == "report_overdue"]
    assert late.en == (
        "Weekly status report 13 days overdue (goal: every 7 days) — send this week's report"
    )
    assert late.zh == "周报已逾期 13 天（约定每 7 天一次）— 请本周发送周报"
