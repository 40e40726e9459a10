"""Business-time arithmetic: how much working time lies between two instants, and the reverse.

A `WorkingCalendar` is a time zone, working hours per day (local wall-clock times), working
weekdays, explicit holidays and make-up working days, and optionally a region whose official
calendar is used: any country (or ``"US-CA"``-style subdivision) the `holidays` package knows, and
for ``"CN"`` first `chinese_calendar` (mainland China's holidays and 调休 make-up working days as
the State Council publishes them, for the years it covers), then `holidays`' CN tables.

Holiday data runs out (a package knows a range of years). A day of a year the region's data does
not cover is counted from the calendar's explicit lists when they name any day of that year, and
is otherwise refused (`RegionDataMissing`, naming the tier, region and year): never a silent
Monday–Friday, which would count Spring Festival as working time.

Each working interval of a day is turned into two aware instants (computed once per calendar and
day, then cached) and its length is measured between those instants, which makes it correct
across daylight-saving changes:

* a wall-clock time that does not exist (skipped by a spring-forward) stands for the moment the
  clocks jump, so 01:00–03:00 on the night Europe/Berlin springs forward is one hour long;
* a wall-clock time that occurs twice (fall-back) stands for its first occurrence (``fold=0``),
  so 01:00–04:00 on the night Europe/Berlin falls back is four hours long.

Measuring is a subtraction: the calendar keeps the working intervals of a range of days as POSIX
seconds, each with the working time before it, so the working time between two instants is the
difference of their two positions (a binary search each), whatever the number of days between
them. Scoring measures about a million ticket intervals at 10,000 engagements; walking the days
of each one, then per-day lookups on aware datetimes, were most of the time spent. Adding
working time (`add_business_seconds`) still walks the days.
"""

from __future__ import annotations

import bisect
import enum
import functools
import itertools
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
import holidays as holiday_tables

#: A span of time between two aware instants, start inclusive, end exclusive.
Interval = tuple[datetime, datetime]

DEFAULT_HOURS: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13), time(18)))
MONDAY_TO_FRIDAY = frozenset({0, 1, 2, 3, 4})
#: Country codes the `holidays` package has tables for ("CN", "IN", "PH", "VN", "US", "DE", ...).
REGIONS = frozenset(holiday_tables.list_supported_countries())
#: A calendar with no working day in this many consecutive days is treated as having none at all.
MAX_IDLE_DAYS = 370


class DataCoverage(enum.StrEnum):
    """How well a calendar's holiday data covers a year."""

    #: No region (the weekdays are the rule), the tier's lists name a day of it, or the
    #: region's data covers it.
    FULL = "full"
    #: China beyond the State Council notices `chinese_calendar` holds: statutory holidays
    #: only, no 调休 make-up working days.
    PARTIAL = "partial"
    #: No holiday data: SLA computations reaching the year are refused (`RegionDataMissing`).
    MISSING = "missing"


class CalendarError(ValueError):
    """A calendar that cannot be built, or a datetime it cannot measure."""


class RegionDataMissing(CalendarError):
    """A day of a year the region's holiday data does not cover, and the calendar's explicit
    lists do not name any day of that year either: the operator must list that year's days."""


def format_hours(start: time, end: time) -> str:
    """``09:00–12:00`` (seconds shown only when present)."""
    return f"{_clock(start)}–{_clock(end)}"


def _clock(moment: time) -> str:
    return moment.strftime("%H:%M:%S" if moment.second or moment.microsecond else "%H:%M")


@functools.lru_cache(maxsize=4096)
def _cn_is_workday(day: date) -> bool | None:
    """Mainland China's official answer, or None for a year `chinese_calendar` has no data for."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def _split_region(region: str) -> tuple[str, str | None]:
    country, _, subdivision = region.partition("-")
    return country, subdivision or None


@functools.lru_cache(maxsize=512)
def region_year(region: str, year: int) -> tuple[frozenset[date], frozenset[date]] | None:
    """The public holidays and the make-up working days of `region` in `year` from the
    `holidays` package, or None for a year outside the range its tables cover.

    Make-up working days: `holidays` lists a swapped day off as "substituted from <the worked
    day>" in its per-year ``special_public_holidays`` (month, day, from-month, from-day); the
    from-day is worked. Read defensively: a release that drops that table only loses them.
    """
    country, subdivision = _split_region(region)
    table = holiday_tables.country_holidays(country, subdiv=subdivision, years=year)
    start, end = getattr(table, "start_year", None), getattr(table, "end_year", None)
    if (start is not None and year < start) or (end is not None and year > end):
        return None
    days_off = frozenset(d for d in table if d.year == year)
    worked: set[date] = set()
    for entry in getattr(type(table), "special_public_holidays", {}).get(year, ()):
        entries = entry if entry and isinstance(entry[0], tuple) else (entry,)
        for item in entries:
            if len(item) == 4 and all(isinstance(x, int) for x in item):
                worked.add(date(year, item[2], item[3]))
    return days_off, frozenset(worked - days_off)


@dataclass(frozen=True)
class WorkingCalendar:
    """When the clock runs for an SLA: working hours on working days, in one time zone.

    A day is a working day when, in this order of precedence: it is not in `holidays`; it is in
    `makeup_workdays`; the `region`'s official calendar says so (for the years it covers);
    otherwise its weekday is in `weekdays`.
    """

    #: IANA zone name, e.g. "Asia/Shanghai" or "Europe/Berlin".
    timezone: str
    #: Working intervals of each working day, local wall-clock times, in order, not overlapping.
    hours: tuple[tuple[time, time], ...] = DEFAULT_HOURS
    #: Working weekdays, Monday=0 … Sunday=6.
    weekdays: frozenset[int] = MONDAY_TO_FRIDAY
    holidays: frozenset[date] = frozenset()
    #: Days that are worked although their weekday is not (e.g. a Saturday swapped for a holiday).
    makeup_workdays: frozenset[date] = frozenset()
    #: A country code (or "US-CA"-style subdivision) whose public holidays are days off; "CN"
    #: takes holidays and make-up working days from `chinese_calendar` where it has data.
    region: str | None = None
    #: Who uses the calendar (the SLA tier), for the messages that refuse a day.
    label: str = field(default="", compare=False)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    #: Per local date: None for a day off, else its working intervals as UTC instants and their
    #: total length. Filled lazily; a calendar is immutable, so entries never go stale.
    _days: dict[date, _Day | None] = field(init=False, repr=False, compare=False)
    #: The working intervals of a contiguous range of days as POSIX seconds, with the working
    #: time before each (see `position`); replaced by a larger one when an instant falls outside.
    _timeline: _Timeline = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)
    #: Years the explicit lists name a day of: they stand in for a region's missing data.
    _listed_years: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise CalendarError(f"unknown time zone {self.timezone!r}") from exc
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_days", {})
        object.__setattr__(self, "_timeline", _EMPTY_TIMELINE)
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "hours", tuple((s, e) for s, e in self.hours))
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "makeup_workdays", frozenset(self.makeup_workdays))
        self._check_hours()
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in self.weekdays):
            raise CalendarError(f"weekdays must be 0 (Monday) to 6 (Sunday), got {self.weekdays}")
        if both := sorted(self.holidays & self.makeup_workdays):
            raise CalendarError(f"{both[0]} is both a holiday and a make-up working day")
        if self.region is not None and _split_region(self.region)[0] not in REGIONS:
            raise CalendarError(
                f"unknown region {self.region!r}; known: {', '.join(sorted(REGIONS))}"
            )
        if self.region is not None and (subdivision := _split_region(self.region)[1]):
            try:
                region_year(self.region, 2000)
            except NotImplementedError as exc:
                raise CalendarError(
                    f"unknown subdivision {subdivision!r} of {self.region}"
                ) from exc
        listed = {d.year for d in self.holidays | self.makeup_workdays}
        object.__setattr__(self, "_listed_years", frozenset(listed))

    def _check_hours(self) -> None:
        if not self.hours:
            raise CalendarError("a working calendar needs at least one working-hours interval")
        for start, end in self.hours:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise CalendarError("working hours are local wall-clock times, without a zone")
            if not start < end:
                raise CalendarError(
                    f"working hours {format_hours(start, end)} end before they start"
                )
        ordered = sorted(self.hours)
        for (s1, e1), (s2, e2) in itertools.pairwise(ordered):
            if s2 < e1:
                raise CalendarError(
                    f"working hours overlap: {format_hours(s1, e1)} and {format_hours(s2, e2)}"
                )
        if list(self.hours) != ordered:
            listed = ", ".join(format_hours(s, e) for s, e in self.hours)
            raise CalendarError(f"working hours must be listed in order of the day: {listed}")

    # --- Days -------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Whether `day` (a date in the calendar's zone) has working hours."""
        if day in self.holidays:
            return False
        if day in self.makeup_workdays:
            return True
        if self.region is None:
            return day.weekday() in self.weekdays
        if self.region == "CN" and (official := _cn_is_workday(day)) is not None:
            return official
        known = region_year(self.region, day.year)
        if known is not None:
            days_off, worked = known
            if day in days_off:
                return False
            return day in worked or day.weekday() in self.weekdays
        if day.year in self._listed_years:
            return day.weekday() in self.weekdays  # the tier's lists cover this year
        tier = f"SLA tier {self.label!r}: " if self.label else ""
        raise RegionDataMissing(
            f"{tier}the holiday data for region {self.region} has no {day.year}; list that "
            f"year's days in the tier's calendar (holidays = [...], makeup_workdays = [...]) "
            "or upgrade the holidays package"
        )

    def data_coverage(self, year: int) -> DataCoverage:
        """How the region's holiday data, or the calendar's own lists, cover `year`."""
        if self.region is None or year in self._listed_years:
            return DataCoverage.FULL
        if self.region == "CN" and _cn_is_workday(date(year, 1, 1)) is not None:
            return DataCoverage.FULL
        known = region_year(self.region, year)
        if known is None:
            return DataCoverage.MISSING
        if self.region == "CN" and not known[1]:
            return DataCoverage.PARTIAL
        return DataCoverage.FULL

    def data_notes(self, year: int) -> list[str]:
        """What an operator should know about the region's holiday data for `year` (for
        `engage status`): none, statutory days only (China beyond the State Council notices
        the packages hold), or no data at all (SLA computations reaching it are refused)."""
        coverage = self.data_coverage(year)
        if coverage is DataCoverage.MISSING:
            missing = (
                f"region {self.region} has no holiday data for {year}: SLA computations "
                "reaching it are refused; list that year's holidays and makeup_workdays"
            )
            return [missing]
        if coverage is DataCoverage.PARTIAL:
            partial = (
                f"region CN {year}: statutory holidays only (holidays package); the State "
                "Council's 调休 arrangement is not in the data: list its extra days off and "
                "make-up working days (holidays, makeup_workdays) once published"
            )
            return [partial]
        return []

    # --- Arithmetic -------------------------------------------------------------------------

    def business_seconds(
        self, start: datetime, end: datetime, pauses: Sequence[Interval] = ()
    ) -> float:
        """Working time in seconds between two aware instants, leaving out the `pauses`.

        Pauses may overlap each other and non-working time: only working time that lies inside
        no pause counts. Returns 0 when `end` is not after `start`.

        Raises:
            CalendarError: a naive datetime among the arguments.
        """
        start_utc = _utc(start, "start")
        end_utc = _utc(end, "end")
        paused = merge_pauses(pauses)
        if end_utc <= start_utc:
            return 0.0
        return self.seconds_between(start_utc.timestamp(), end_utc.timestamp(), paused)

    def seconds_between(
        self,
        start: float,
        end: float,
        paused: Sequence[tuple[float, float]] = (),
        start_position: float | None = None,
    ) -> float:
        """`business_seconds` on POSIX instants, for callers measuring many intervals: `paused`
        must be sorted and disjoint (as `merge_pauses` leaves them); `start_position`, when the
        caller knows it, is ``position(start)`` (one ticket's start serves two measures)."""
        if end <= start:
            return 0.0
        position = self.position
        total = position(end) - (position(start) if start_position is None else start_position)
        # Disjoint pauses: the working time inside each can be taken away one by one.
        for pause_start, pause_end in paused:
            a, b = max(start, pause_start), min(end, pause_end)
            if a < b:
                total -= position(b) - position(a)
        return total

    def add_business_seconds(
        self, start: datetime, seconds: float, pauses: Sequence[Interval] = ()
    ) -> datetime:
        """The instant (in UTC) at which `seconds` of working time outside `pauses` have passed.

        When the time runs out exactly at the end of a working interval, that end is returned
        (Friday 17:00 plus one working hour is Friday 18:00, not Monday 09:00). Zero seconds
        returns `start` itself.

        Raises:
            CalendarError: a naive datetime, negative or non-finite `seconds`, or a calendar with
                no working day within `MAX_IDLE_DAYS` consecutive days.
        """
        start_utc = _utc(start, "start")
        paused = _merge(pauses)
        if not math.isfinite(seconds) or seconds < 0:
            raise CalendarError(f"cannot add {seconds} business seconds")
        remaining = timedelta(seconds=seconds)
        if not remaining:
            return start_utc
        if not paused:
            found = self._after_working_time(start_utc.timestamp(), seconds)
            if found is not None:
                return datetime.fromtimestamp(found, UTC)
        for a, b in _subtract(self._working_spans(start_utc, None), paused):
            if remaining <= b - a:
                return a + remaining
            remaining -= b - a
        raise AssertionError("the span generator is endless or raises")  # pragma: no cover

    # --- Internals --------------------------------------------------------------------------

    def _working_spans(self, start: datetime, end: datetime | None) -> Iterator[Interval]:
        """Working intervals clipped to [start, end), in order; endless when `end` is None."""
        day = start.astimezone(self._zone).date()
        last = end.astimezone(self._zone).date() if end is not None else None
        idle_days = 0
        while last is None or day <= last:
            if (working := self._day(day)) is not None:
                idle_days = 0
                for a, b in working.intervals:
                    a = max(a, start)
                    if end is not None:
                        b = min(b, end)
                    if a < b:
                        yield a, b
            else:
                idle_days += 1
                if end is None and idle_days > MAX_IDLE_DAYS:
                    raise CalendarError(
                        f"the calendar has no working day in the {MAX_IDLE_DAYS} days up to {day}"
                    )
            day += timedelta(days=1)

    def position(self, moment: float) -> float:
        """Working seconds from a fixed origin of this calendar up to the POSIX instant `moment`.

        Only differences of positions mean anything: ``position(b) - position(a)`` is the
        working time between the instants `a` <= `b`. A binary search over the working intervals
        (kept as POSIX seconds, see `_Timeline`); the timeline grows when `moment` lies outside
        the days it covers.
        """
        line = self._timeline
        if not line.low <= moment < line.high:
            line = self._cover(moment)
        starts = line.starts
        index = _bisect_right(starts, moment) - 1
        end = line.ends[index]
        # A conditional rather than min(): this line runs for every ticket measure.
        return line.before[index] + ((moment if moment < end else end) - starts[index])  # noqa: FURB136

    def _after_working_time(self, start: float, seconds: float) -> float | None:
        """`add_business_seconds` without pauses, on the timeline: the first instant whose
        position is `seconds` past `start`'s. None when that lies beyond the days the timeline
        covers (the caller then walks the days)."""
        target = self.position(start) + seconds  # position() grows the timeline to cover start
        line = self._timeline
        # The first interval whose end reaches the target: an end reached exactly is returned
        # as it is (Friday 18:00, not Monday 09:00). Index 0 is the sentinel.
        following = bisect.bisect_left(line.before, target, 1)
        index = following - 1
        if following == len(line.before) and target > line.before[index] + (
            line.ends[index] - line.starts[index]
        ):
            return None
        return line.starts[index] + (target - line.before[index])

    def _cover(self, moment: float) -> _Timeline:
        """Grow the timeline so that it covers `moment` with room to spare on either side."""
        day = datetime.fromtimestamp(moment, self._zone).date()
        with self._lock:
            line = self._timeline
            if line.low <= moment < line.high:
                return line  # another thread grew it meanwhile
            if not line.starts:
                first, last = day - _MARGIN, day + _MARGIN
            else:
                first = min(line.first, day - _MARGIN)
                last = max(line.last, day + _MARGIN)
            line = self._build_timeline(first, last, line)
            object.__setattr__(self, "_timeline", line)
            return line

    def _build_timeline(self, first: date, last: date, old: _Timeline) -> _Timeline:
        """The working intervals of the local days `first` to `last`, keeping the positions the
        days already covered by `old` had (the new days before them take negative ones)."""
        intervals: list[tuple[float, float]] = []
        added_in_front = 0.0  # working time of the days before those `old` covers
        day = first
        while day <= last:
            working = self._day(day)
            if working is not None:
                for a, b in working.intervals:
                    if a < b:
                        intervals.append((a.timestamp(), b.timestamp()))
                        if old.starts and day < old.first:
                            added_in_front += (b - a).total_seconds()
            day += _ONE_DAY
        # Positions `old` gave stay valid: its origin was the position at the start of its first
        # day, so the days added in front take the positions just below it.
        origin = old.before[0] - added_in_front if old.starts else 0.0
        # A sentinel interval of no length before all time: the search always finds one.
        starts, ends, before = [_BEFORE_ALL], [_BEFORE_ALL], [origin]
        position = origin
        for start, end in intervals:
            starts.append(start)
            ends.append(end)
            before.append(position)
            position += end - start
        # Instants on the first and last day are measured too, but a margin of a whole day
        # keeps `low`/`high` clear of any time-zone shift around midnight.
        low = datetime.combine(first + _ONE_DAY, time(), tzinfo=self._zone).timestamp()
        high = datetime.combine(last, time(), tzinfo=self._zone).timestamp()
        return _Timeline(first, last, low, high, starts, ends, before)

    def _day(self, day: date) -> _Day | None:
        """The day's working intervals as UTC instants, or None when it is not a working day."""
        try:
            return self._days[day]
        except KeyError:
            pass
        working: _Day | None = None
        if self.is_working_day(day):
            intervals = tuple(
                (self._instant(day, wall_start), self._instant(day, wall_end))
                for wall_start, wall_end in self.hours
            )
            # Only intervals of positive length count towards the total, as in _working_spans.
            total = sum((b - a for a, b in intervals if a < b), timedelta())
            working = _Day(intervals, total)
        self._days[day] = working
        return working

    def _instant(self, day: date, wall: time) -> datetime:
        """The UTC instant of a local wall-clock time (see the module docstring for DST)."""
        local = datetime.combine(day, wall, tzinfo=self._zone)  # fold=0: first occurrence
        instant = local.astimezone(UTC)
        if instant.astimezone(self._zone).replace(tzinfo=None) == local.replace(tzinfo=None):
            return instant
        # Skipped by a spring-forward: fold=1 reads it with the old offset (an instant before the
        # jump), fold=0 with the new one (after it); the jump lies between the two.
        return _transition(self._zone, local.replace(fold=1).astimezone(UTC), instant)


_ONE_DAY = timedelta(days=1)
#: Bound once: `position` runs for every ticket measure.
_bisect_right = bisect.bisect_right


#: Days a new or grown timeline covers beyond the instant that made it grow (a run measures
#: instants spread over months: growing in large steps rebuilds it only a few times).
_MARGIN = timedelta(days=200)
#: Earlier than any datetime's POSIX seconds, and finite (its interval's length must be 0, not NaN).
_BEFORE_ALL = -1e18


@dataclass(frozen=True, slots=True)
class _Timeline:
    """Working intervals of the local days `first` to `last` as POSIX seconds, in order, behind a
    sentinel before all time; `before[i]`: the position (see `WorkingCalendar.position`) at `starts[i]`.
    Instants in [`low`, `high`) are measured by it."""

    first: date
    last: date
    low: float
    high: float
    starts: list[float]
    ends: list[float]
    before: list[float]


_EMPTY_TIMELINE = _Timeline(date.min, date.min, math.inf, -math.inf, [], [], [0.0])


@dataclass(frozen=True, slots=True)
class _Day:
    """A working day of a calendar: its working intervals as UTC instants (in order, as in
    `WorkingCalendar.hours`), and the total length of those that are not empty."""

    intervals: tuple[Interval, ...]
    total: timedelta


def _transition(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first whole second at or before `after` that has `after`'s UTC offset."""
    new_offset = after.astimezone(zone).utcoffset()
    low = math.floor(before.timestamp())
    high = math.ceil(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == new_offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError(f"{name} {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


def _merge(pauses: Iterable[Interval]) -> list[Interval]:
    """Pauses in UTC, sorted, with overlapping or touching ones joined and empty ones dropped."""
    spans = sorted((_utc(s, "pause start"), _utc(e, "pause end")) for s, e in pauses)
    merged: list[Interval] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def merge_pauses(pauses: Iterable[Interval]) -> list[tuple[float, float]]:
    """`_merge`d pauses as POSIX seconds, as `WorkingCalendar.seconds_between` takes them.

    Raises:
        CalendarError: a naive datetime.
    """
    return [(start.timestamp(), end.timestamp()) for start, end in _merge(pauses)]


def _subtract(spans: Iterable[Interval], paused: list[Interval]) -> Iterator[Interval]:
    """The parts of `spans` (ordered, disjoint) outside `paused` (merged by `_merge`)."""
    first = 0  # pauses before `first` end before the current span, hence before all later ones
    for start, end in spans:
        while first < len(paused) and paused[first][1] <= start:
            first += 1
        cursor = start
        for index in range(first, len(paused)):
            pause_start, pause_end = paused[index]
            if pause_start >= end:
                break
            if pause_start > cursor:
                yield cursor, pause_start
            cursor = max(cursor, pause_end)
            if cursor >= end:
                break
        if cursor < end:
            yield cursor, end
