"""SLA policies as configuration: goals per ticket priority, milestones, report cadence, calendar.

Everything here is plain data (pydantic, frozen, unknown keys refused) so a policy can be read
from the TOML config later; `SlaPolicy.working_calendar()` builds the arithmetic object.
"""

from __future__ import annotations

import re
from datetime import date, time

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr, model_validator

from jobs.health.sla.calendar import DEFAULT_HOURS, MONDAY_TO_FRIDAY, WorkingCalendar, format_hours
from mappings.domain import TicketPriority

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def parse_hours(text: str) -> tuple[time, time]:
    """``"09:00-12:00"`` (a hyphen or an en dash) → ``(time(9), time(12))``.

    Raises:
        ValueError: not of that form, or not a valid time of day.
    """
    match = _HOURS.match(text)
    if match is None:
        raise ValueError(f"working hours {text!r} are not of the form 09:00-12:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        return time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise ValueError(f"working hours {text!r}: {exc}") from exc


class CalendarSettings(_Policy):
    """The config form of a `WorkingCalendar`; invalid combinations fail at validation time."""

    #: IANA zone name, e.g. "Asia/Shanghai".
    timezone: str
    #: Local working intervals of a working day, in order: "09:00-12:00".
    hours: tuple[str, ...] = tuple(format_hours(s, e) for s, e in DEFAULT_HOURS)
    #: Monday=0 … Sunday=6.
    weekdays: frozenset[int] = MONDAY_TO_FRIDAY
    holidays: frozenset[date] = frozenset()
    makeup_workdays: frozenset[date] = frozenset()
    #: A country code ("CN", "IN", "PH", "VN", "US", "DE", ... or "US-CA"): its public holidays
    #: are days off (the `holidays` package; "CN" first from `chinese_calendar`, with 调休).
    #: A year the data does not cover is refused unless `holidays`/`makeup_workdays` name a day
    #: of it.
    region: str | None = None

    @model_validator(mode="after")
    def _builds(self) -> CalendarSettings:
        self.working_calendar()  # CalendarError is a ValueError: pydantic reports it
        return self

    def working_calendar(self, label: str = "") -> WorkingCalendar:
        return WorkingCalendar(
            timezone=self.timezone,
            hours=tuple(parse_hours(h) for h in self.hours),
            weekdays=self.weekdays,
            holidays=self.holidays,
            makeup_workdays=self.makeup_workdays,
            region=self.region,
            label=label,
        )


class SlaGoals(_Policy):
    #: Business minutes from opening to the first response, per priority. A priority without a
    #: goal is not measured for this metric.
    first_response_minutes: dict[TicketPriority, PositiveInt]
    #: Business minutes from opening to resolution, per priority.
    resolution_minutes: dict[TicketPriority, PositiveInt]
    #: Share (%) of due milestones that must be delivered by their planned date.
    on_time_milestones_pct: float = Field(default=90, ge=0, le=100)
    #: Share (%) of ticket measures finished in the window that must have met their goal; below
    #: it the engagement is breached. None: missed tickets only lower the compliance %.
    tickets_met_pct: float | None = Field(default=None, ge=0, le=100)
    #: Calendar days allowed between status reports; None: no report cadence in this tier.
    status_report_every_days: PositiveInt | None = 7


class SlaPolicy(_Policy):
    tier: str = Field(min_length=1)
    #: Stored on each measure, so a finished ticket shows which version's goal it was held to.
    version: PositiveInt = 1
    calendar: CalendarSettings
    goals: SlaGoals
    #: An open item that has used at least this share of its goal is at risk.
    at_risk_share: float = Field(default=0.8, gt=0, le=1)
    #: Compliance % counts what finished (tickets) or fell due (milestones) in this many days.
    window_days: PositiveInt = 90
    _working_calendar: WorkingCalendar | None = PrivateAttr(default=None)

    def working_calendar(self) -> WorkingCalendar:
        # Built once per policy: building validates the hours and loads the region's data.
        if self._working_calendar is None:
            self._working_calendar = self.calendar.working_calendar(self.tier)
        return self._working_calendar
