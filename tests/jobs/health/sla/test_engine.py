"""SLA evaluation of one engagement, with expected values worked out by hand.

The calendar is Asia/Shanghai (UTC+8), 09:00–12:00 and 13:00–18:00 on weekdays: 480 business
minutes a day. Dates are in March 2026 unless stated: Mon 2, Fri 6, Mon 9, Tue 10 (= NOW).
Goals (business minutes): P1 30 / 240, P2 60 / 480, P3 240 / 1440 (first response / resolution).
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from jobs.health.sla import CalendarSettings, SlaPolicy, SlaResult, TicketMeasure, evaluate
from jobs.health.sla.engine import NOTHING_TO_MEASURE
from jobs.messages.catalog import Words
from jobs.messages.config import MessagesSection
from jobs.messages.overrides import load_words
from mappings.domain import (
    Milestone,
    SlaStatus,
    Ticket,
    TicketPriority,
    Touchpoint,
    TouchpointKind,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sh(day: int, hour: int, minute: int = 0, month: int = 3, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


NOW = sh(10, 10)  # Tue 10 March 2026, 10:00


def policy(
    version: int = 1,
    report_days: int | None = None,
    p2_resolution: int = 480,
    on_time_pct: float = 90,
    tickets_met_pct: float | None = None,
) -> SlaPolicy:
    return SlaPolicy.model_validate(
        {
            "tier": "Gold",
            "version": version,
            "calendar": {"timezone": "Asia/Shanghai", "hours": ["09:00-12:00", "13:00-18:00"]},
            "goals": {
                "first_response_minutes": {"P1": 30, "P2": 60, "P3": 240},
                "resolution_minutes": {"P1": 240, "P2": p2_resolution, "P3": 1440},
                "on_time_milestones_pct": on_time_pct,
                "status_report_every_days": report_days,
                "tickets_met_pct": tickets_met_pct,
            },
        }
    )


def ticket(
    ticket_id: str,
    priority: str,
    opened: datetime,
    first: datetime | None = None,
    resolved: datetime | None = None,
    waits: tuple[tuple[datetime, datetime], ...] = (),
) -> Ticket:
    return Ticket(
        external_id=ticket_id,
        engagement_id="D1",
        priority=TicketPriority(priority),
        opened_at=opened,
        first_response_at=first,
        resolved_at=resolved,
        waiting_on_client=waits,
    )


def milestone(name: str, planned: date, delivered: date | None = None) -> Milestone:
    return Milestone(
        external_id=name,
        engagement_id="D1",
        name=name,
        planned_date=planned,
        planned_value=Decimal(1000),
        delivered_date=delivered,
    )


def touchpoint(kind: TouchpointKind, at: datetime) -> Touchpoint:
    return Touchpoint(external_id=f"{kind}-{at.isoformat()}", engagement_id="D1", kind=kind, at=at)


def run(
    tickets: list[Ticket] | None = None,
    milestones: list[Milestone] | None = None,
    touchpoints: list[Touchpoint] | None = None,
    sla: SlaPolicy | None = None,
    now: datetime = NOW,
    frozen: dict[tuple[str, str], TicketMeasure] | None = None,
) -> SlaResult:
    return evaluate(
        sla or policy(),
        tickets or [],
        milestones or [],
        touchpoints or [],
        now=now,
        frozen=frozen or {},
    )


# --- Finished tickets ------------------------------------------------------------------------

MET_BOTH = ticket("T1", "P2", sh(2, 10), first=sh(2, 10, 45), resolved=sh(2, 16))
MISSED_OVER_WEEKEND = ticket("T3", "P2", sh(6, 14), first=sh(6, 14, 30), resolved=sh(9, 15))


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        # First response 10:00 → 10:45 = 45 ≤ 60. Resolution 10–12 (120) + 13–16 (180) = 300 ≤ 480.
        pytest.param(MET_BOTH, [(45, True), (300, True)], id="both-met"),
        # 11:50 → 13:30 = 10 before lunch + 30 after = 40 > 30; resolved 15:50 = 10 + 170 = 180.
        pytest.param(
            ticket("T2", "P1", sh(2, 11, 50), first=sh(2, 13, 30), resolved=sh(2, 15, 50)),
            [(40, False), (180, True)],
            id="first-response-missed-over-lunch",
        ),
        # Fri 14:00 → 14:30 = 30. Fri 14–18 (240) + Mon 9–12 (180) + 13–15 (120) = 540 > 480.
        pytest.param(MISSED_OVER_WEEKEND, [(30, True), (540, False)], id="resolution-missed"),
        # Mon 09:00 → Tue 12:00 with the client holding it Mon 12:00 → Tue 09:00:
        # Mon 9–12 (180) + Tue 9–12 (180) = 360 ≤ 480.
        pytest.param(
            ticket(
                "T4",
                "P2",
                sh(2, 9),
                first=sh(2, 9, 30),
                resolved=sh(3, 12),
                waits=((sh(2, 12), sh(3, 9)),),
            ),
            [(30, True), (360, True)],
            id="waiting-on-client-stops-the-clock",
        ),
        # The same ticket without the wait: Mon 480 + Tue 9–12 (180) = 660 > 480.
        pytest.param(
            ticket("T4", "P2", sh(2, 9), first=sh(2, 9, 30), resolved=sh(3, 12)),
            [(30, True), (660, False)],
            id="same-ticket-without-the-wait",
        ),
        # Resolved 09:00 → 10:00 with no response recorded: the resolution answers it too.
        pytest.param(
            ticket("T5", "P3", sh(2, 9), resolved=sh(2, 10)),
            [(60, True), (60, True)],
            id="resolved-without-a-first-response",
        ),
        # 09:00 → 09:30 = 30, exactly the P1 goal: met.
        pytest.param(
            ticket("T6", "P1", sh(2, 9), first=sh(2, 9, 30), resolved=sh(2, 13, 0)),
            [(30, True), (180, True)],
            id="exactly-on-the-goal-is-met",
        ),
    ],
)
def test_finished_ticket_measures(subject: Ticket, expected: list[tuple[float, bool]]) -> None:
    result = run([subject])
    assert [(m.metric, m.used_minutes, m.met) for m in result.measures] == [
        ("first_response", *expected[0]),
        ("resolution", *expected[1]),
    ]
    assert all(m.policy_version == 1 for m in result.measures)


def test_compliance_counts_finished_tickets_and_due_milestones_in_the_window() -> None:
    # T-old: P2, Mon 3 Nov 2025 09:00 → Wed 5 Nov 09:00 = 960 min, both goals missed, but it
    # ended before the window (NOW − 90 days = 10 Dec 2025): neither counted nor measured.
    old = ticket(
        "T-old", "P2", sh(3, 9, month=11, year=2025), resolved=sh(5, 9, month=11, year=2025)
    )
    result = run(
        [MET_BOTH, MISSED_OVER_WEEKEND, old],
        milestones=[
            milestone("M1", date(2026, 3, 1), date(2026, 2, 28)),
            milestone("M2", date(2026, 3, 5), date(2026, 3, 5)),
        ],
    )
    assert [(m.ticket_id, m.met) for m in result.measures] == [
        (MET_BOTH.external_id, True),
        (MET_BOTH.external_id, True),
        (MISSED_OVER_WEEKEND.external_id, True),
        (MISSED_OVER_WEEKEND.external_id, False),
    ]
    # Tickets: 3 of 4 measures met; milestones: 2 of 2 on time → 5 of 6.
    assert result.compliance_pct == pytest.approx(100 * 5 / 6)
    # A missed finished ticket lowers the % but does not make the engagement breached.
    assert result.status is SlaStatus.COMPLIANT
    assert result.texts() == ("1 of 2 tickets missed their resolution goal",)


@pytest.mark.parametrize(
    ("goal", "status"),
    [
        # 3 of the 4 measures met = 75 %.
        pytest.param(80, SlaStatus.BREACHED, id="below-the-tier-goal"),
        pytest.param(75, SlaStatus.COMPLIANT, id="exactly-the-goal"),
        pytest.param(None, SlaStatus.COMPLIANT, id="no-goal-set"),
    ],
)
def test_a_tier_can_require_a_share_of_tickets_met(goal: float | None, status: SlaStatus) -> None:
    result = run([MET_BOTH, MISSED_OVER_WEEKEND], sla=policy(tickets_met_pct=goal))
    assert result.status is status
    if status is SlaStatus.BREACHED:
        assert (
            result.texts()[0] == "3 of 4 finished ticket measures met their goal; the goal is 80%"
        )


# --- Open tickets ----------------------------------------------------------------------------

#: P2 opened Mon 9 March 09:00, answered 09:10 (10 of 60: met), not resolved. Its resolution
#: goal of 480 runs out at the end of Monday, 18:00 Shanghai = 10:00Z.
OPEN = ticket("T7", "P2", sh(9, 9), first=sh(9, 9, 10))


@pytest.mark.parametrize(
    ("now", "used", "status", "next_breach", "reasons"),
    [
        # 9–12 (180) + 13–14 (60) = 240 = 50 %.
        pytest.param(sh(9, 14), 240, SlaStatus.COMPLIANT, sh(9, 18), (), id="half-way"),
        # 180 + 203 = 383 < 0.8 × 480 = 384.
        pytest.param(sh(9, 16, 23), 383, SlaStatus.COMPLIANT, sh(9, 18), (), id="just-below-80"),
        # 180 + 204 = 384 = 80 %.
        pytest.param(
            sh(9, 16, 24),
            384,
            SlaStatus.AT_RISK,
            sh(9, 18),
            ("Ticket T7 has used 80% of its resolution goal",),
            id="at-risk-at-80",
        ),
        # 480 = the goal itself: not past it yet.
        pytest.param(
            sh(9, 18),
            480,
            SlaStatus.AT_RISK,
            sh(9, 18),
            ("Ticket T7 has used 100% of its resolution goal",),
            id="on-the-goal",
        ),
        # Mon 480 + Tue 09:00–09:30 (30) = 510 > 480; nothing left to breach.
        pytest.param(
            sh(10, 9, 30),
            510,
            SlaStatus.BREACHED,
            None,
            ("Ticket T7 is past its resolution goal (510 of 480 business minutes)",),
            id="breached-past-goal",
        ),
    ],
)
def test_open_ticket(
    now: datetime,
    used: float,
    status: SlaStatus,
    next_breach: datetime | None,
    reasons: tuple[str, ...],
) -> None:
    result = run([OPEN], now=now)
    resolution = result.measures[1]
    assert (resolution.used_minutes, resolution.met, resolution.goal_minutes) == (used, None, 480)
    assert result.status is status
    assert result.next_breach_at == next_breach
    assert result.texts() == reasons
    assert result.compliance_pct == 100  # only the first response is finished, and it was met


def test_waiting_on_client_moves_the_breach() -> None:
    waiting = ticket("T8", "P2", sh(9, 9), first=sh(9, 9, 10), waits=((sh(9, 10), sh(9, 11)),))
    result = run([waiting], now=sh(9, 16, 24))
    # Used: 9–10 (60) + 11–12 (60) + 13–16:24 (204) = 324 = 67.5 %: compliant.
    assert result.measures[1].used_minutes == 324
    assert result.status is SlaStatus.COMPLIANT
    # Goal 480: 420 by Mon 18:00 (480 − the paused hour), the last 60 on Tuesday → Tue 10:00.
    assert result.next_breach_at == sh(10, 10)


def test_next_breach_is_the_earliest_upcoming_deadline() -> None:
    # T9 (P1) opened Tue 09:50, no response: first response at 09:50 + 30 = 10:20; resolution
    # 09:50 + 240 = 130 (to 12:00) + 110 after lunch → 14:50. Now it has used 10 of each.
    # T10 (P3) opened Mon 17:00, answered 17:30; resolution 1440 = Mon 60 + Tue 480 + Wed 480
    # + Thu 420 (9–12, 13–17) → Thu 12 March 17:00.
    # Status report last Fri 6 March 10:00 → due Fri 13 March 10:00.
    t9 = ticket("T9", "P1", sh(10, 9, 50))
    t10 = ticket("T10", "P3", sh(9, 17), first=sh(9, 17, 30))
    report = touchpoint(TouchpointKind.STATUS_REPORT, sh(6, 10))
    sla = policy(report_days=7)
    assert run([t9, t10], touchpoints=[report], sla=sla).next_breach_at == sh(10, 10, 20)
    answered = ticket("T9", "P1", sh(10, 9, 50), first=sh(10, 9, 55))
    assert run([answered, t10], touchpoints=[report], sla=sla).next_breach_at == sh(10, 14, 50)
    assert run([t10], touchpoints=[report], sla=sla).next_breach_at == sh(12, 17)
    assert run([], touchpoints=[report], sla=sla).next_breach_at == sh(13, 10)


# --- Policy versions -------------------------------------------------------------------------


def test_a_frozen_measure_keeps_the_goal_it_was_measured_with() -> None:
    # MISSED_OVER_WEEKEND used 540 of 480 under version 1; version 2 allows 600.
    v2 = policy(version=2, p2_resolution=600)
    recomputed = run([MISSED_OVER_WEEKEND], sla=v2)
    assert recomputed.measures[1] == TicketMeasure("T3", "resolution", 600, 540, True, 2)
    assert recomputed.compliance_pct == 100

    frozen_v1 = TicketMeasure("T3", "resolution", 480, 540, False, 1)
    kept = run([MISSED_OVER_WEEKEND], sla=v2, frozen={("T3", "resolution"): frozen_v1})
    assert kept.measures == (TicketMeasure("T3", "first_response", 60, 30, True, 2), frozen_v1)
    assert kept.compliance_pct == 50  # first response met, resolution missed
    assert kept.texts() == ("1 of 1 ticket missed their resolution goal",)


def test_a_ticket_corrected_after_it_was_measured_is_measured_again() -> None:
    v2 = policy(version=2, p2_resolution=600)
    frozen = {(m.ticket_id, m.metric): m for m in run([MISSED_OVER_WEEKEND], sla=policy()).measures}
    assert frozen[("T3", "resolution")].met is False  # 540 of 480 under version 1
    # The same ticket, unchanged: version 1's verdict stays under version 2.
    kept = run([MISSED_OVER_WEEKEND], sla=v2, frozen=frozen)
    assert kept.measures[1] == TicketMeasure("T3", "resolution", 480, 540, False, 1)
    # Re-imported with the real resolution time, Mon 9 March 11:00 (not 15:00): Fri 14:00–18:00
    # (240) + Mon 09:00–11:00 (120) = 360 business minutes, measured under version 2's goal.
    corrected = MISSED_OVER_WEEKEND.model_copy(update={"resolved_at": sh(9, 11)})
    again = run([corrected], sla=v2, frozen=frozen)
    assert again.measures[1] == TicketMeasure("T3", "resolution", 600, 360, True, 2)
    # Its first response did not change: that measure is still the frozen one.
    assert again.measures[0] == frozen[("T3", "first_response")]


def test_a_pause_recorded_after_measuring_makes_the_ticket_measured_again() -> None:
    v2 = policy(version=2, p2_resolution=600)
    frozen = {(m.ticket_id, m.metric): m for m in run([MISSED_OVER_WEEKEND], sla=policy()).measures}
    # Found later: the client was waited on from Friday 16:00 to Monday 10:00, which takes
    # Fri 16:00–18:00 (120) and Mon 09:00–10:00 (60) out of the 540 minutes: 360, under v2.
    paused = MISSED_OVER_WEEKEND.model_copy(update={"waiting_on_client": ((sh(6, 16), sh(9, 10)),)})
    again = run([paused], sla=v2, frozen=frozen)
    assert again.measures[1] == TicketMeasure("T3", "resolution", 600, 360, True, 2)
    # The same pause recorded again changes nothing: the new measure is kept when frozen.
    refrozen = {(m.ticket_id, m.metric): m for m in again.measures}
    assert run([paused], sla=policy(version=3), frozen=refrozen).measures[1].policy_version == 2


def test_a_measure_stored_by_an_earlier_version_is_still_recognised() -> None:
    """Stored measures carry a basis: CRC-32 of "priority|opened|end" (POSIX seconds as Python
    writes floats) plus "|start/end" per pause. A different text would re-measure every stored
    ticket under the current policy after an upgrade, rewriting history."""
    opened, resolved = sh(6, 14).timestamp(), sh(9, 15).timestamp()
    basis = f"{zlib.crc32(f'P2|{opened}|{resolved}'.encode()):08x}"
    stored = TicketMeasure("T3", "resolution", 480, 540, False, 1, basis)
    kept = run(
        [MISSED_OVER_WEEKEND],
        sla=policy(version=2, p2_resolution=600),
        frozen={("T3", "resolution"): stored},
    )
    assert kept.measures[1].goal_minutes == 480  # version 1's goal, not version 2's 600
    assert kept.measures[1].met is False


def test_a_corrected_ticket_whose_priority_has_no_goal_now_is_not_measured() -> None:
    # Measured as P2 once; re-imported as P4, for which the policy sets no goal.
    stale = TicketMeasure("T3", "resolution", 480, 540, False, 1, "0badba5e")
    as_p4 = MISSED_OVER_WEEKEND.model_copy(update={"priority": TicketPriority.P4})
    result = run([as_p4], frozen={("T3", "resolution"): stale})
    assert result.measures == ()


def test_an_open_measure_ignores_a_frozen_entry() -> None:
    stale = TicketMeasure("T7", "resolution", 10, 5, True, 1)
    result = run([OPEN], now=sh(9, 14), sla=policy(version=3), frozen={("T7", "resolution"): stale})
    # Mon 9–12 (180) + 13–14 (60) = 240, against the current goal.
    assert result.measures[1] == TicketMeasure("T7", "resolution", 480, 240, None, 3)


# --- Milestones ------------------------------------------------------------------------------

ON_TIME_EARLY = milestone("M1", date(2026, 3, 1), date(2026, 2, 28))
ON_TIME_SAME_DAY = milestone("M2", date(2026, 3, 5), date(2026, 3, 5))
LATE = milestone("M3", date(2026, 3, 6), date(2026, 3, 9))
OVERDUE = milestone("M4", date(2026, 3, 9))
DUE_TODAY = milestone("M5", date(2026, 3, 10))  # not over until tonight: not due yet
FUTURE = milestone("M6", date(2026, 3, 20))
BEFORE_WINDOW = milestone("M7", date(2025, 11, 1), date(2025, 11, 5))  # window: from 10 Dec 2025
FIRST_DAY_OF_WINDOW = milestone("M8", date(2025, 12, 10), date(2025, 12, 9))


@pytest.mark.parametrize(
    ("milestones", "on_time_pct", "status", "compliance", "reasons"),
    [
        # Due in the window: M1 ✓, M2 ✓, M3 ✗, M4 ✗, M8 ✓ → 3 of 5 = 60 % < 90 %.
        pytest.param(
            [ON_TIME_EARLY, ON_TIME_SAME_DAY, LATE, OVERDUE, DUE_TODAY, FUTURE]
            + [BEFORE_WINDOW, FIRST_DAY_OF_WINDOW],
            90,
            SlaStatus.BREACHED,
            60,
            ("3 of 5 due milestones delivered on time; the goal is 90%",),
            id="below-goal",
        ),
        # Same milestones against a 60 % goal: 60 % meets it.
        pytest.param(
            [ON_TIME_EARLY, ON_TIME_SAME_DAY, LATE, OVERDUE, FIRST_DAY_OF_WINDOW],
            60,
            SlaStatus.COMPLIANT,
            60,
            (),
            id="meets-a-lower-goal",
        ),
        pytest.param(
            [ON_TIME_EARLY, ON_TIME_SAME_DAY, FUTURE],
            90,
            SlaStatus.COMPLIANT,
            100,
            (),
            id="all-on-time",
        ),
        pytest.param(
            [DUE_TODAY, FUTURE, BEFORE_WINDOW],
            90,
            SlaStatus.NOT_MEASURED,
            None,
            ("Nothing to measure yet: no tickets, touchpoints or due milestones",),
            id="none-due-in-the-window",
        ),
    ],
)
def test_milestones_on_time(
    milestones: list[Milestone],
    on_time_pct: float,
    status: SlaStatus,
    compliance: float | None,
    reasons: tuple[str, ...],
) -> None:
    result = run(milestones=milestones, sla=policy(on_time_pct=on_time_pct, report_days=7))
    assert (result.status, result.compliance_pct, result.texts()) == (status, compliance, reasons)


# --- Status reports --------------------------------------------------------------------------


def report(at: datetime) -> Touchpoint:
    return touchpoint(TouchpointKind.STATUS_REPORT, at)


@pytest.mark.parametrize(
    ("touchpoints", "status", "next_breach", "reasons"),
    [
        # Fri 6 10:00 + 7 days = Fri 13 10:00.
        pytest.param([report(sh(6, 10))], SlaStatus.COMPLIANT, sh(13, 10), (), id="on-cadence"),
        # Wed 4 09:00 + 7 days = Wed 11 09:00: 23 hours from now.
        pytest.param(
            [report(sh(4, 9))],
            SlaStatus.AT_RISK,
            sh(11, 9),
            ("The next status report is due by 2026-03-11 09:00",),
            id="due-tomorrow",
        ),
        # Tue 3 10:00 + 7 days = now: due, not yet overdue.
        pytest.param(
            [report(sh(3, 10))],
            SlaStatus.AT_RISK,
            NOW,
            ("The next status report is due by 2026-03-10 10:00",),
            id="due-now",
        ),
        # Mon 2 09:00 + 7 days = Mon 9 09:00 < now; 8 days and 1 hour ago.
        pytest.param(
            [report(sh(2, 9)), touchpoint(TouchpointKind.CALL, sh(10, 9))],
            SlaStatus.BREACHED,
            None,
            ("The last status report was 8 days ago; one is due every 7 days",),
            id="overdue-a-call-is-no-report",
        ),
        # Never reported; first activity Sun 1 March 10:00 + 7 days = Sun 8 < now.
        pytest.param(
            [touchpoint(TouchpointKind.MEETING, sh(1, 10))],
            SlaStatus.BREACHED,
            None,
            (
                (
                    "No status report in the 9 days since the first recorded activity; "
                    "one is due every 7 days"
                ),
            ),
            id="never-reported",
        ),
    ],
)
def test_status_report_cadence(
    touchpoints: list[Touchpoint],
    status: SlaStatus,
    next_breach: datetime | None,
    reasons: tuple[str, ...],
) -> None:
    result = run(touchpoints=touchpoints, sla=policy(report_days=7))
    assert (result.status, result.next_breach_at, result.texts()) == (status, next_breach, reasons)
    assert result.compliance_pct is None  # reports are a status rule, not a counted measure


def test_the_reasons_read_in_chinese_and_in_a_company_s_own_words(tmp_path: Path) -> None:
    overdue = run(touchpoints=[report(sh(2, 9))], sla=policy(report_days=7))
    late = run(milestones=[LATE, OVERDUE], sla=policy(on_time_pct=90, report_days=7))
    assert overdue.texts(Words.shipped(), "zh_Hans") == (
        "上次状态报告是 8 天前；应每 7 天发送一次",
    )
    assert late.texts(Words.shipped(), "zh_Hans")[0] == "2 个到期里程碑中 0 个按时交付；目标为 90%"
    ours = tmp_path / "our-words.toml"
    ours.write_text(
        '[en]\n"sla.report_overdue" = "Weekly report {ago:days} late (every {cadence:days})"\n',
        encoding="utf-8",
    )
    words = load_words(MessagesSection(override_file=ours), tmp_path / "config.toml")
    assert overdue.texts(words, "en") == ("Weekly report 8 days late (every 7 days)",)


def test_a_ticket_alone_starts_the_report_clock() -> None:
    # No touchpoints; the ticket opened Mon 2 10:00 → a report was due Mon 9 10:00.
    result = run([MET_BOTH], sla=policy(report_days=7))
    assert result.status is SlaStatus.BREACHED
    assert result.compliance_pct == 100


# --- Nothing to measure ----------------------------------------------------------------------


def test_nothing_to_measure() -> None:
    assert run(sla=policy(report_days=7)) == SlaResult(
        SlaStatus.NOT_MEASURED, None, None, (), (NOTHING_TO_MEASURE,)
    )
    # A P4 ticket has no goals in this policy, and the tier has no report cadence.
    unmeasured = ticket("T11", "P4", sh(2, 9), resolved=sh(2, 10))
    assert run([unmeasured]).status is SlaStatus.NOT_MEASURED


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        run(now=datetime(2026, 3, 10, 10))


# --- Policy as configuration -----------------------------------------------------------------


def test_calendar_settings_build_the_working_calendar() -> None:
    settings = CalendarSettings(
        timezone="Asia/Shanghai", hours=("08:30-12:00", "13:00–17:30"), region="CN"
    )
    calendar = settings.working_calendar()
    assert calendar.hours == ((time(8, 30), time(12)), (time(13), time(17, 30)))
    assert calendar.region == "CN"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"hours": ["09:00-12:00", "11:00-13:00"]},
            "working hours overlap: 09:00–12:00 and 11:00–13:00",
            id="overlap",
        ),
        pytest.param({"hours": ["9 to 5"]}, "not of the form 09:00-12:00", id="format"),
        pytest.param({"hours": ["09:00-25:00"]}, "hour must be in 0..23", id="hour-25"),
        pytest.param({"timezone": "Asia/Nowhere"}, "unknown time zone", id="zone"),
        pytest.param({"region": "Atlantis"}, "unknown region", id="region"),
        pytest.param({"colour": "blue"}, "Extra inputs are not permitted", id="unknown-key"),
    ],
)
def test_invalid_calendar_settings(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CalendarSettings.model_validate({"timezone": "Asia/Shanghai", **changes})
