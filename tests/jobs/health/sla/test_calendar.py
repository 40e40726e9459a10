"""Business-time arithmetic, every expected value worked out by hand in the comments.

Calendar weeks used (2026): Mon 2 March … Fri 6 March, Mon 9 March. Default hours are
09:00–12:00 and 13:00–18:00, i.e. 8 working hours (480 minutes) a day.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.health.sla import CalendarError, WorkingCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
MINUTE = 60

OFFICE = WorkingCalendar("Asia/Shanghai")
#: Wednesday 4 March 2026 given as an explicit public holiday.
WITH_HOLIDAY = WorkingCalendar("Asia/Shanghai", holidays=frozenset({date(2026, 3, 4)}))
CHINA = WorkingCalendar("Asia/Shanghai", region="CN")
#: Every day of the week, 01:00–04:00 Berlin time: the hours DST changes happen in.
NIGHT_SHIFT = WorkingCalendar(
    "Europe/Berlin", hours=((time(1), time(4)),), weekdays=frozenset(range(7))
)


def sh(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """A Shanghai wall-clock time in 2026 (UTC+8, no DST)."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("calendar", "start", "end", "seconds"),
    [
        # Mon 10:00 → 15:00 = 10–12 (2h) + 13–15 (2h) = 4h.
        pytest.param(OFFICE, sh(2, 10), sh(2, 15), 4 * HOUR, id="same-day-over-lunch"),
        # Both inside the lunch break.
        pytest.param(OFFICE, sh(2, 12, 10), sh(2, 12, 50), 0, id="inside-lunch"),
        # Mon 17:00 → Tue 10:00 = 1h Mon + 1h Tue.
        pytest.param(OFFICE, sh(2, 17), sh(3, 10), 2 * HOUR, id="across-a-night"),
        # Fri 17:00 → Mon 10:00 = 1h Fri + 1h Mon = 120 min.
        pytest.param(OFFICE, sh(6, 17), sh(9, 10), 2 * HOUR, id="across-a-weekend"),
        # Sat 08:00 → Mon 09:30 = 30 min on Monday only.
        pytest.param(OFFICE, sh(7, 8), sh(9, 9, 30), 30 * MINUTE, id="starts-on-a-weekend"),
        # Tue 17:00 → Thu 10:00 = 1h Tue + 0 (Wed holiday) + 1h Thu.
        pytest.param(WITH_HOLIDAY, sh(3, 17), sh(5, 10), 2 * HOUR, id="explicit-holiday"),
        # Same span without the holiday: 1h Tue + 8h Wed + 1h Thu.
        pytest.param(OFFICE, sh(3, 17), sh(5, 10), 10 * HOUR, id="same-span-no-holiday"),
        # Mon 01:00Z = 09:00 Shanghai → 05:00Z = 13:00 Shanghai: 09–12 = 3h.
        pytest.param(OFFICE, utc(3, 2, 1), utc(3, 2, 5), 3 * HOUR, id="utc-input"),
        pytest.param(OFFICE, sh(2, 15), sh(2, 10), 0, id="end-before-start"),
        pytest.param(OFFICE, sh(2, 15), sh(2, 15), 0, id="empty-span"),
        # A full working week Mon 00:00 → Sat 00:00 = 5 × 8h.
        pytest.param(OFFICE, sh(2, 0), sh(7, 0), 40 * HOUR, id="full-week"),
        # Fri 27 Feb 17:00 → Mon 2 Mar 10:00 = 1h Fri + 8h Sat 28 Feb (调休 make-up working
        # day) + 0 Sun + 1h Mon = 10h.
        pytest.param(CHINA, sh(27, 17, month=2), sh(2, 10), 10 * HOUR, id="cn-make-up-saturday"),
        # Plain weekdays over the same span: 1h Fri + 1h Mon.
        pytest.param(OFFICE, sh(27, 17, month=2), sh(2, 10), 2 * HOUR, id="make-up-needs-cn"),
        # Wed 30 Sep 17:00 → Thu 8 Oct 10:00 = 1h Wed + 0 (1–7 Oct National Day) + 1h Thu.
        pytest.param(
            CHINA, sh(30, 17, month=9), sh(8, 10, month=10), 2 * HOUR, id="cn-national-day"
        ),
    ],
)
def test_business_seconds(
    calendar: WorkingCalendar, start: datetime, end: datetime, seconds: float
) -> None:
    assert calendar.business_seconds(start, end) == seconds


@pytest.mark.parametrize(
    ("day", "working"),
    [
        pytest.param(date(2026, 2, 28), True, id="2026-02-28-make-up-saturday"),
        pytest.param(date(2026, 3, 1), False, id="2026-03-01-ordinary-sunday"),
        pytest.param(date(2026, 3, 2), True, id="2026-03-02-ordinary-monday"),
        pytest.param(date(2026, 10, 1), False, id="2026-10-01-national-day"),
        pytest.param(date(2026, 10, 7), False, id="2026-10-07-national-day-wednesday"),
        # chinese_calendar has no data for 2030: the `holidays` package's CN tables decide, not
        # plain weekdays. 1 Oct 2030 (a Tuesday) is National Day; 8 Oct 2030 an ordinary Tuesday.
        pytest.param(date(2030, 10, 1), False, id="2030-national-day-from-holidays"),
        pytest.param(date(2030, 10, 8), True, id="2030-ordinary-tuesday"),
        pytest.param(date(2030, 10, 5), False, id="2030-beyond-the-data-saturday"),
    ],
)
def test_chinese_working_days(day: date, working: bool) -> None:
    assert CHINA.is_working_day(day) is working


def test_explicit_days_win_over_the_region() -> None:
    calendar = WorkingCalendar(
        "Asia/Shanghai",
        region="CN",
        holidays=frozenset({date(2026, 2, 28), date(2030, 10, 1)}),
        makeup_workdays=frozenset({date(2026, 10, 2)}),
    )
    assert not calendar.is_working_day(date(2026, 2, 28))
    assert not calendar.is_working_day(date(2030, 10, 1))
    assert calendar.is_working_day(date(2026, 10, 2))


# --- Daylight saving time (Europe/Berlin, 2026) ---------------------------------------------
# Spring forward Sun 29 March: 02:00 CET (01:00Z) jumps to 03:00 CEST.
# Fall back Sun 25 October: 03:00 CEST (01:00Z) goes back to 02:00 CET.


def night(*hours: tuple[time, time]) -> WorkingCalendar:
    return WorkingCalendar("Europe/Berlin", hours=hours, weekdays=frozenset(range(7)))


@pytest.mark.parametrize(
    ("calendar", "start", "end", "seconds"),
    [
        # Sat 28 Mar, an ordinary night: 01:00–04:00 CET = 3h.
        pytest.param(NIGHT_SHIFT, utc(3, 27, 20), utc(3, 28, 12), 3 * HOUR, id="ordinary-night"),
        # 01:00 CET = 00:00Z, 04:00 CEST = 02:00Z: 2h (the hour 02:00–03:00 does not exist).
        pytest.param(NIGHT_SHIFT, utc(3, 28, 20), utc(3, 29, 12), 2 * HOUR, id="spring-forward"),
        # 01:00 CET = 00:00Z, 03:00 CEST = 01:00Z: 1h.
        pytest.param(
            night((time(1), time(3))), utc(3, 28, 20), utc(3, 29, 12), HOUR, id="spring-1-to-3"
        ),
        # 02:30 does not exist, so the interval starts at the jump, 03:00 CEST = 01:00Z, and
        # ends at 05:00 CEST = 03:00Z: 2h.
        pytest.param(
            night((time(2, 30), time(5))), utc(3, 28, 20), utc(3, 29, 12), 2 * HOUR, id="gap-start"
        ),
        # Neither 02:00 nor 02:30 exists that night: nothing to work.
        pytest.param(
            night((time(2), time(2, 30))), utc(3, 28, 20), utc(3, 29, 12), 0, id="inside-the-gap"
        ),
        # 01:00 CEST = 23:00Z (24 Oct), 04:00 CET = 03:00Z: 4h (02:00–03:00 happens twice).
        pytest.param(NIGHT_SHIFT, utc(10, 24, 20), utc(10, 25, 12), 4 * HOUR, id="fall-back"),
        # From 02:00Z (= 03:00 CET) to the end of the interval, 04:00 CET = 03:00Z: 1h.
        pytest.param(NIGHT_SHIFT, utc(10, 25, 2), utc(10, 25, 12), HOUR, id="fall-back-late"),
        # Local input: 03:30 CEST on 29 Mar (01:30Z) → 04:00 CEST (02:00Z) = 30 min.
        pytest.param(
            NIGHT_SHIFT,
            datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN),
            datetime(2026, 3, 29, 12, tzinfo=BERLIN),
            30 * MINUTE,
            id="spring-local-input",
        ),
    ],
)
def test_dst_nights_in_berlin(
    calendar: WorkingCalendar, start: datetime, end: datetime, seconds: float
) -> None:
    assert calendar.business_seconds(start, end) == seconds


def test_ambiguous_local_times_follow_their_fold() -> None:
    end = utc(10, 25, 12)
    # 02:30 first occurrence = 02:30 CEST = 00:30Z → 04:00 CET = 03:00Z: 2h30.
    first = datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN)
    assert NIGHT_SHIFT.business_seconds(first, end) == 2.5 * HOUR
    # 02:30 second occurrence = 02:30 CET = 01:30Z → 03:00Z: 1h30.
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    assert NIGHT_SHIFT.business_seconds(second, end) == 1.5 * HOUR


@pytest.mark.parametrize(
    ("calendar", "start", "seconds", "expected"),
    [
        # Fri 17:00 + 2h = 1h Fri + 1h Mon → Mon 10:00.
        pytest.param(OFFICE, sh(6, 17), 2 * HOUR, sh(9, 10), id="over-a-weekend"),
        # Exactly used up at the end of Friday: Fri 18:00, not Mon 09:00.
        pytest.param(OFFICE, sh(6, 17), 1 * HOUR, sh(6, 18), id="ends-at-close"),
        # Starts in the lunch break: the clock starts at 13:00 → 13:30.
        pytest.param(OFFICE, sh(2, 12, 30), 30 * MINUTE, sh(2, 13, 30), id="from-lunch"),
        # Sat 10:00 + 1h → Mon 10:00.
        pytest.param(OFFICE, sh(7, 10), 1 * HOUR, sh(9, 10), id="from-a-saturday"),
        # Mon 11:00 + 8h = 1h (11–12) + 5h (13–18) + 2h Tue (9–11) → Tue 11:00.
        pytest.param(OFFICE, sh(2, 11), 8 * HOUR, sh(3, 11), id="a-full-day"),
        # Tue 17:00 + 2h = 1h Tue + (Wed holiday) 1h Thu → Thu 10:00.
        pytest.param(WITH_HOLIDAY, sh(3, 17), 2 * HOUR, sh(5, 10), id="over-a-holiday"),
        # Wed 30 Sep 17:00 + 2h = 1h Wed + (1–7 Oct) 1h Thu 8 Oct → 10:00.
        pytest.param(
            CHINA, sh(30, 17, month=9), 2 * HOUR, sh(8, 10, month=10), id="cn-national-day"
        ),
        # Fri 27 Feb 17:00 + 3h = 1h Fri + 2h on the make-up Saturday 28 Feb → Sat 11:00.
        pytest.param(
            CHINA, sh(27, 17, month=2), 3 * HOUR, sh(28, 11, month=2), id="cn-make-up-saturday"
        ),
        # Spring forward: 01:00 CET (00:00Z) + 1h30 = 1h until the jump, 30 min after 03:00
        # CEST → 03:30 CEST = 01:30Z.
        pytest.param(NIGHT_SHIFT, utc(3, 29, 0), 1.5 * HOUR, utc(3, 29, 1, 30), id="spring"),
        # Fall back: 01:00 CEST (23:00Z on 24 Oct) + 3h → 02:00Z = 03:00 CET.
        pytest.param(NIGHT_SHIFT, utc(10, 24, 23), 3 * HOUR, utc(10, 25, 2), id="fall-back"),
        pytest.param(OFFICE, sh(7, 10), 0, sh(7, 10), id="zero-is-start"),
    ],
)
def test_add_business_seconds(
    calendar: WorkingCalendar, start: datetime, seconds: float, expected: datetime
) -> None:
    result = calendar.add_business_seconds(start, seconds)
    assert result == expected
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    "calendar",
    [
        pytest.param(OFFICE, id="office"),
        pytest.param(WITH_HOLIDAY, id="with-holiday"),
        pytest.param(CHINA, id="china"),
        pytest.param(NIGHT_SHIFT, id="berlin-night-shift"),
    ],
)
def test_add_is_the_inverse_of_business_seconds(calendar: WorkingCalendar) -> None:
    starts = [
        utc(2, 27, 9, 17),
        utc(3, 6, 8, 30),
        utc(3, 28, 23, 59),
        utc(9, 30, 4),
        utc(10, 24, 22),
    ]
    amounts = [1, 59 * MINUTE, 3 * HOUR, 8 * HOUR + 1, 5 * 8 * HOUR, 23 * 8 * HOUR + 7]
    for start in starts:
        for seconds in amounts:
            end = calendar.add_business_seconds(start, seconds)
            assert calendar.business_seconds(start, end) == seconds, (start, seconds)
            # Nothing is left over: one microsecond less is not enough.
            assert calendar.business_seconds(start, end - timedelta(microseconds=1)) < seconds


def _minute_by_minute(
    calendar: WorkingCalendar,
    start: datetime,
    end: datetime,
    pauses: list[tuple[datetime, datetime]],
) -> float:
    """The reference: look at every UTC minute between two minute-aligned instants and count it
    when its local wall-clock time is inside working hours on a working day and in no pause."""
    zone = ZoneInfo(calendar.timezone)
    counted = 0
    moment = start
    while moment < end:
        local = moment.astimezone(zone)
        wall = local.time().replace(tzinfo=None)
        working = calendar.is_working_day(local.date()) and any(
            a <= wall < b for a, b in calendar.hours
        )
        paused = any(a <= moment < b for a, b in pauses)
        counted += working and not paused
        moment += timedelta(minutes=1)
    return counted * 60.0


@pytest.mark.parametrize(
    ("calendar", "around"),
    [
        pytest.param(OFFICE, utc(3, 4, 0), id="office"),
        pytest.param(CHINA, utc(10, 1, 0), id="china-national-day"),
        pytest.param(CHINA, utc(2, 20, 0), id="china-spring-festival-make-up-days"),
        pytest.param(NIGHT_SHIFT, utc(3, 29, 0), id="berlin-spring-forward"),
        pytest.param(NIGHT_SHIFT, utc(10, 25, 0), id="berlin-fall-back"),
    ],
)
def test_measuring_agrees_with_counting_minutes(
    calendar: WorkingCalendar, around: datetime
) -> None:
    """Random spans and pauses within ±3 days, asked in random order (the calendar's per-day
    index grows both ways), measured against a plain count of working minutes."""
    rng = random.Random(f"{calendar.timezone}-{around.isoformat()}")

    def instant() -> datetime:
        return around + timedelta(minutes=rng.randint(-3 * 24 * 60, 3 * 24 * 60))

    fresh = WorkingCalendar(
        calendar.timezone,
        hours=calendar.hours,
        weekdays=calendar.weekdays,
        holidays=calendar.holidays,
        makeup_workdays=calendar.makeup_workdays,
        region=calendar.region,
    )
    for _ in range(40):
        start, end = sorted((instant(), instant()))
        pauses = [tuple(sorted((instant(), instant()))) for _ in range(rng.randint(0, 3))]
        expected = _minute_by_minute(fresh, start, end, pauses)  # type: ignore[arg-type]
        assert fresh.business_seconds(start, end, pauses) == expected, (start, end, pauses)


def _add_minute_by_minute(calendar: WorkingCalendar, start: datetime, minutes: int) -> datetime:
    """The reference for adding: walk UTC minutes from a minute-aligned start, and return the end
    of the working minute in which the time runs out."""
    zone = ZoneInfo(calendar.timezone)
    moment = start
    while minutes:
        local = moment.astimezone(zone)
        wall = local.time().replace(tzinfo=None)
        if calendar.is_working_day(local.date()) and any(a <= wall < b for a, b in calendar.hours):
            minutes -= 1
        moment += timedelta(minutes=1)
    return moment


@pytest.mark.parametrize(
    ("calendar", "around"),
    [
        pytest.param(OFFICE, utc(3, 4, 0), id="office"),
        pytest.param(CHINA, utc(10, 1, 0), id="china-national-day"),
        pytest.param(CHINA, utc(2, 20, 0), id="china-spring-festival-make-up-days"),
        pytest.param(NIGHT_SHIFT, utc(3, 29, 0), id="berlin-spring-forward"),
        pytest.param(NIGHT_SHIFT, utc(10, 25, 0), id="berlin-fall-back"),
    ],
)
def test_adding_agrees_with_counting_minutes(calendar: WorkingCalendar, around: datetime) -> None:
    """Random starts within ±3 days plus up to three days of working time, against a plain walk
    over the minutes (starts asked in random order: the calendar grows both ways)."""
    rng = random.Random(f"add-{calendar.timezone}-{around.isoformat()}")
    fresh = WorkingCalendar(
        calendar.timezone,
        hours=calendar.hours,
        weekdays=calendar.weekdays,
        holidays=calendar.holidays,
        makeup_workdays=calendar.makeup_workdays,
        region=calendar.region,
    )
    for _ in range(30):
        start = around + timedelta(minutes=rng.randint(-3 * 24 * 60, 3 * 24 * 60))
        minutes = rng.randint(1, 3 * 8 * 60)
        expected = _add_minute_by_minute(fresh, start, minutes)
        assert fresh.add_business_seconds(start, minutes * 60) == expected, (start, minutes)


# --- Pauses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "pauses", "seconds"),
    [
        # Mon 10:00 → 15:00 is 4h; minus 10:30–11:00 = 3h30.
        pytest.param(sh(2, 10), sh(2, 15), [(sh(2, 10, 30), sh(2, 11))], 3.5 * HOUR, id="inside"),
        # Mon 09:00 → Tue 18:00 is 16h; paused Mon 11:00 → Tue 10:00 (over lunch and night):
        # Mon 09–11 (2h) + Tue 10–12 (2h) + 13–18 (5h) = 9h.
        pytest.param(
            sh(2, 9), sh(3, 18), [(sh(2, 11), sh(3, 10))], 9 * HOUR, id="over-lunch-and-night"
        ),
        # Mon 09–18 is 8h; pauses 10:00–11:00, 10:30–11:30, 11:15–14:00 overlap into
        # 10:00–14:00, of which 10–12 and 13–14 (3h) are working: 8h − 3h = 5h.
        pytest.param(
            sh(2, 9),
            sh(2, 18),
            [(sh(2, 10, 30), sh(2, 11, 30)), (sh(2, 10), sh(2, 11)), (sh(2, 11, 15), sh(2, 14))],
            5 * HOUR,
            id="overlapping-pauses",
        ),
        # Fri 17:00 → Mon 10:00 with the whole weekend paused: still 1h + 1h.
        pytest.param(
            sh(6, 17), sh(9, 10), [(sh(7, 0), sh(8, 23))], 2 * HOUR, id="pause-in-the-weekend"
        ),
        # Paused Fri 17:30 → Mon 09:30: Fri 17:00–17:30 + Mon 09:30–10:00 = 1h.
        pytest.param(
            sh(6, 17), sh(9, 10), [(sh(6, 17, 30), sh(9, 9, 30))], 1 * HOUR, id="over-weekend"
        ),
        # A pause that starts before the span and ends after it: nothing counts.
        pytest.param(sh(2, 10), sh(2, 11), [(sh(1, 0), sh(3, 0))], 0, id="covers-everything"),
        # An empty pause changes nothing.
        pytest.param(sh(2, 10), sh(2, 11), [(sh(2, 10, 30), sh(2, 10, 30))], HOUR, id="empty"),
    ],
)
def test_pauses_stop_the_clock(
    start: datetime, end: datetime, pauses: list[tuple[datetime, datetime]], seconds: float
) -> None:
    assert OFFICE.business_seconds(start, end, pauses) == seconds


@pytest.mark.parametrize(
    ("start", "seconds", "pauses", "expected"),
    [
        # Mon 09:00 + 2h, paused 09:30–10:30: 09:00–09:30 + 10:30–12:00 → 12:00.
        pytest.param(sh(2, 9), 2 * HOUR, [(sh(2, 9, 30), sh(2, 10, 30))], sh(2, 12), id="morning"),
        # Fri 17:00 + 2h, paused Mon 09:00–09:30: 1h Fri + Mon 09:30–10:30 → 10:30.
        pytest.param(
            sh(6, 17), 2 * HOUR, [(sh(9, 9), sh(9, 9, 30))], sh(9, 10, 30), id="after-weekend"
        ),
        # Starts inside a pause that ends Tue 15:00: Tue 15:00 + 1h → 16:00.
        pytest.param(sh(2, 10), HOUR, [(sh(2, 9), sh(3, 15))], sh(3, 16), id="starts-paused"),
    ],
)
def test_add_business_seconds_skips_pauses(
    start: datetime, seconds: float, pauses: list[tuple[datetime, datetime]], expected: datetime
) -> None:
    assert OFFICE.add_business_seconds(start, seconds, pauses) == expected


# --- Invalid calendars and inputs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"hours": ((time(9), time(12)), (time(11), time(13)))},
            "working hours overlap: 09:00–12:00 and 11:00–13:00",
            id="overlapping-hours",
        ),
        pytest.param(
            {"hours": ((time(13), time(18)), (time(9), time(12)))},
            "must be listed in order",
            id="hours-out-of-order",
        ),
        pytest.param(
            {"hours": ((time(18), time(9)),)}, "18:00–09:00 end before they start", id="reversed"
        ),
        pytest.param({"hours": ()}, "at least one", id="no-hours"),
        pytest.param({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'", id="zone"),
        pytest.param({"region": "XX"}, "unknown region 'XX'", id="region"),
        pytest.param({"weekdays": frozenset({7})}, "weekdays must be", id="weekday-7"),
    ],
)
def test_invalid_calendars_are_refused(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"timezone": "Asia/Shanghai", **changes}
    with pytest.raises(CalendarError, match=message):
        WorkingCalendar(**values)  # type: ignore[arg-type]


def test_touching_intervals_are_allowed() -> None:
    calendar = WorkingCalendar("Asia/Shanghai", hours=((time(9), time(12)), (time(12), time(13))))
    # 09:00 → 13:00 without a break = 4h.
    assert calendar.business_seconds(sh(2, 0), sh(2, 23)) == 4 * HOUR


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 2, 10)
    with pytest.raises(CalendarError, match="has no time zone"):
        OFFICE.business_seconds(naive, sh(2, 15))
    with pytest.raises(CalendarError, match="has no time zone"):
        OFFICE.business_seconds(sh(2, 10), sh(2, 15), [(naive, sh(2, 11))])
    with pytest.raises(CalendarError, match="has no time zone"):
        OFFICE.add_business_seconds(naive, HOUR)


def test_a_calendar_without_working_days_never_ends_a_count() -> None:
    never = WorkingCalendar("Asia/Shanghai", weekdays=frozenset())
    assert never.business_seconds(sh(2, 0), sh(2, 0) + timedelta(days=800)) == 0
    with pytest.raises(CalendarError, match="no working day"):
        never.add_business_seconds(sh(2, 0), HOUR)
    with pytest.raises(CalendarError, match="cannot add -1"):
        OFFICE.add_business_seconds(sh(2, 0), -1)


def test_long_spans_are_counted_by_days() -> None:
    # 2027-01-04 (Mon) → 2031-01-06 (Mon) is 1463 days = 209 weeks exactly:
    # 209 × 5 days × 8h. Outside chinese_calendar's years, plain weekdays apply.
    start = datetime(2027, 1, 4, tzinfo=SHANGHAI)
    end = datetime(2031, 1, 6, tzinfo=SHANGHAI)
    assert OFFICE.business_seconds(start, end) == 209 * 5 * 8 * HOUR


def test_measuring_years_back_after_recent_times_keeps_every_count() -> None:
    """The calendar first measures 2026, then is asked about 2020 to 2026: the days added in
    front must not shift what it says about the days it already knew."""
    calendar = WorkingCalendar("UTC")  # Mon–Fri 09–12 and 13–18: 8 h a day
    monday_2026 = datetime(2026, 1, 5, tzinfo=UTC)
    week = (monday_2026, monday_2026 + timedelta(days=7))
    assert calendar.business_seconds(*week) == 5 * 8 * HOUR
    # 2020-01-06 and 2026-01-05 are both Mondays, 2,191 days = 313 weeks apart.
    years = calendar.business_seconds(datetime(2020, 1, 6, tzinfo=UTC), monday_2026)
    assert years == 313 * 5 * 8 * HOUR
    assert calendar.business_seconds(*week) == 5 * 8 * HOUR
    # And forward again, far past what was covered: 2030-01-07 is a Monday, 209 weeks on.
    later = calendar.business_seconds(monday_2026, datetime(2030, 1, 7, tzinfo=UTC))
    assert later == 209 * 5 * 8 * HOUR
