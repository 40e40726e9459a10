"""SLA calendars per tier region: public holidays of many countries (the `holidays` package),
China's 调休 from `chinese_calendar`, explicit lists for years a package does not know, and a
refusal naming tier, region and year instead of a silent Monday–Friday."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.health.sla.calendar import CalendarError, RegionDataMissing, WorkingCalendar
from jobs.health.sla.engine import evaluate
from jobs.health.sla.policy import SlaPolicy
from mappings.domain import Ticket

HOUR = 3600.0
SHANGHAI = ZoneInfo("Asia/Shanghai")
KOLKATA = ZoneInfo("Asia/Kolkata")
MANILA = ZoneInfo("Asia/Manila")


def _policy(tier: str, calendar: dict[str, object]) -> SlaPolicy:
    return SlaPolicy.model_validate(
        {
            "tier": tier,
            "calendar": calendar,
            "goals": {"first_response_minutes": {}, "resolution_minutes": {}},
        }
    )


# --- China, Spring Festival 2027 -------------------------------------------------------------
# Chinese New Year 2027 is Saturday 6 February (lunar new year). The Regulations on National
# Holidays (State Council, 2024 revision, art. 2) make New Year's Eve and days 1–3 public
# holidays: Fri 5, Sat 6, Sun 7, Mon 8 Feb; the two falling on the weekend are made up on the
# following working days (the `holidays` package's rule for years whose State Council notice it
# does not hold yet): Tue 9 and Wed 10 Feb. `chinese_calendar` 1.11 stops at 2026.


def test_spring_festival_2027_is_not_working_time_in_shanghai() -> None:
    gold = _policy("Gold", {"timezone": "Asia/Shanghai", "region": "CN"}).working_calendar()
    assert gold.is_working_day(date(2027, 2, 10)) is False
    # Thu 4 Feb 17:00 → Thu 11 Feb 10:00: 1 h on the 4th, 1 h on the 11th. Monday–Friday would
    # have counted 34 h (the 5th, 8th, 9th and 10th at 8 h each, plus the two hours).
    start = datetime(2027, 2, 4, 17, tzinfo=SHANGHAI)
    end = datetime(2027, 2, 11, 10, tzinfo=SHANGHAI)
    assert gold.business_seconds(start, end) == 2 * HOUR


def test_a_year_no_package_covers_is_refused_naming_tier_region_and_year() -> None:
    # The `holidays` tables end in 2100; chinese_calendar much earlier.
    gold = _policy("Gold", {"timezone": "Asia/Shanghai", "region": "CN"}).working_calendar()
    with pytest.raises(RegionDataMissing, match=r"SLA tier 'Gold'.*region CN.*2101"):
        gold.is_working_day(date(2101, 2, 10))
    monday = datetime(2101, 2, 7, 9, tzinfo=SHANGHAI)
    with pytest.raises(RegionDataMissing, match="2101"):
        gold.business_seconds(monday, monday + timedelta(days=3))


def test_the_tiers_explicit_list_covers_a_year_the_package_does_not() -> None:
    listed = _policy(
        "Gold",
        {
            "timezone": "Asia/Shanghai",
            "region": "CN",
            "holidays": ["2101-02-10"],
            "makeup_workdays": ["2101-02-12"],  # a Saturday
        },
    ).working_calendar()
    assert listed.is_working_day(date(2101, 2, 10)) is False  # Thursday, listed
    assert listed.is_working_day(date(2101, 2, 11)) is True  # Friday, by weekday
    assert listed.is_working_day(date(2101, 2, 12)) is True  # Saturday, listed as worked
    assert listed.is_working_day(date(2101, 2, 13)) is False  # Sunday


# --- India and the Philippines ----------------------------------------------------------------
# India: the three national holidays of the Government of India's list of holidays for central
# government offices (Ministry of Personnel, DoPT, O.M. of 2025 for 2026): Republic Day 26 Jan,
# Independence Day 15 Aug, Mahatma Gandhi's Birthday 2 Oct.
# Philippines: Republic Act No. 9492 and Proclamation No. 1006 (2025), regular holidays of 2026:
# Labor Day 1 May, Independence Day 12 June, Bonifacio Day 30 Nov, Rizal Day 30 Dec.
@pytest.mark.parametrize(
    ("region", "day", "working"),
    [
        pytest.param("IN", date(2026, 1, 26), False, id="IN-republic-day-monday"),
        pytest.param("IN", date(2026, 1, 27), True, id="IN-ordinary-tuesday"),
        pytest.param("IN", date(2026, 10, 2), False, id="IN-gandhi-jayanti-friday"),
        pytest.param("IN", date(2027, 1, 26), False, id="IN-republic-day-2027-tuesday"),
        pytest.param("PH", date(2026, 5, 1), False, id="PH-labor-day-friday"),
        pytest.param("PH", date(2026, 6, 12), False, id="PH-independence-day-friday"),
        pytest.param("PH", date(2026, 6, 11), True, id="PH-ordinary-thursday"),
        pytest.param("PH", date(2026, 11, 30), False, id="PH-bonifacio-day-monday"),
        pytest.param("PH", date(2026, 12, 30), False, id="PH-rizal-day-wednesday"),
    ],
)
def test_public_holidays_of_the_tiers_region(region: str, day: date, working: bool) -> None:
    calendar = WorkingCalendar("UTC", region=region)
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize(
    ("region", "zone", "start", "end", "hours"),
    [
        # Mon 26 Jan 09:00 → Wed 28 Jan 09:00: Republic Day off, Tuesday's 8 h.
        pytest.param("IN", KOLKATA, (2026, 1, 26, 9), (2026, 1, 28, 9), 8, id="IN-week"),
        # Thu 11 Jun 09:00 → Mon 15 Jun 18:00: Thursday and Monday (Friday is Independence Day).
        pytest.param("PH", MANILA, (2026, 6, 11, 9), (2026, 6, 15, 18), 16, id="PH-week"),
    ],
)
def test_business_time_skips_the_regions_holidays(
    region: str,
    zone: ZoneInfo,
    start: tuple[int, int, int, int],
    end: tuple[int, int, int, int],
    hours: int,
) -> None:
    calendar = WorkingCalendar(str(zone), region=region)
    assert (
        calendar.business_seconds(datetime(*start, tzinfo=zone), datetime(*end, tzinfo=zone))
        == hours * HOUR
    )


def test_an_unknown_region_is_refused_at_configuration() -> None:
    with pytest.raises(CalendarError, match="unknown region 'XX'"):
        WorkingCalendar("UTC", region="XX")
    with pytest.raises(ValueError, match="unknown region"):
        _policy("Gold", {"timezone": "UTC", "region": "Atlantis"})


# --- What an operator is told ahead -----------------------------------------------------------


def test_the_calendar_says_which_years_its_data_does_not_fully_cover() -> None:
    china = WorkingCalendar("Asia/Shanghai", region="CN")
    assert china.data_notes(2026) == []  # chinese_calendar holds the 2026 State Council notice
    (note,) = china.data_notes(2027)
    assert "statutory holidays only" in note and "调休" in note
    (missing,) = china.data_notes(2101)
    assert "no holiday data for 2101" in missing and "refused" in missing
    listed = WorkingCalendar("Asia/Shanghai", region="CN", makeup_workdays={date(2027, 2, 20)})
    assert listed.data_notes(2027) == []  # the tier's own list covers 2027
    assert WorkingCalendar("UTC", region="IN").data_notes(2027) == []
    assert WorkingCalendar("UTC").data_notes(2101) == []  # no region: weekdays are the rule


# --- Through the SLA engine -------------------------------------------------------------------


def _ticket(opened: datetime, resolved: datetime) -> Ticket:
    return Ticket(
        external_id="T1",
        engagement_id="D1",
        priority="P2",
        opened_at=opened,
        first_response_at=opened + timedelta(minutes=30),
        resolved_at=resolved,
    )


def _gold(extra: dict[str, object] | None = None) -> SlaPolicy:
    return SlaPolicy.model_validate(
        {
            "tier": "Gold",
            "calendar": {"timezone": "Asia/Shanghai", "region": "CN", **(extra or {})},
            "goals": {"first_response_minutes": {"P2": 60}, "resolution_minutes": {"P2": 240}},
        }
    )


def test_a_ticket_over_spring_festival_2027_meets_its_goal() -> None:
    # Thu 4 Feb 17:00 → Thu 11 Feb 10:00 Shanghai: 2 working hours (see above), within the 4 h
    # goal. Counted Monday–Friday it would be 34 h: a false breach.
    ticket = _ticket(
        datetime(2027, 2, 4, 17, tzinfo=SHANGHAI), datetime(2027, 2, 11, 10, tzinfo=SHANGHAI)
    )
    result = evaluate(_gold(), [ticket], [], [], datetime(2027, 2, 12, 9, tzinfo=SHANGHAI))
    (resolution,) = [m for m in result.measures if m.metric == "resolution"]
    assert resolution.used_minutes == 120
    assert resolution.met is True


def test_the_engine_refuses_a_window_in_a_year_without_data_naming_tier_region_year() -> None:
    ticket = _ticket(
        datetime(2101, 2, 7, 17, tzinfo=SHANGHAI), datetime(2101, 2, 9, 10, tzinfo=SHANGHAI)
    )
    with pytest.raises(RegionDataMissing, match=r"SLA tier 'Gold'.*region CN.*2101"):
        evaluate(_gold(), [ticket], [], [], datetime(2101, 2, 10, 9, tzinfo=SHANGHAI))
    listed = _gold({"holidays": ["2101-02-08"]})  # the tier lists 2101: computed from its list
    result = evaluate(listed, [ticket], [], [], datetime(2101, 2, 10, 9, tzinfo=SHANGHAI))
    (resolution,) = [m for m in result.measures if m.metric == "resolution"]
    # Mon 7 Feb 2101 17:00–18:00, Tue 8 Feb listed off, Wed 9 Feb 09:00–10:00: 2 h.
    assert resolution.used_minutes == 120
