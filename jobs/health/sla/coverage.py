"""Which SLA tiers' calendars lack holiday data for this year or the next (issue 20 item 5).

One answer for the three places that say so: `engage status` (a line per note), the daemon's
``/healthz`` (a ``calendar`` entry) and ``/metrics`` (``engage_calendar_data_missing``). The next
year is included because an SLA window reaches back from today, and tickets opened in December
are measured into January: an operator needs to know before the data runs out, not after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from jobs.health.sla.calendar import DataCoverage
from jobs.health.sla.policy import SlaPolicy


@dataclass(frozen=True)
class TierCalendarYear:
    """How one tier's region calendar covers one year."""

    tier: str
    region: str
    year: int
    coverage: DataCoverage
    #: What to tell the operator (empty when the coverage is full).
    notes: tuple[str, ...]


def years_to_cover(today: date) -> tuple[int, int]:
    """The years an SLA computed now may reach: this one and the next."""
    return today.year, today.year + 1


def calendar_years(tiers: Mapping[str, SlaPolicy], today: date) -> list[TierCalendarYear]:
    """Every tier with a region (a tier without one follows its weekdays: no data to run out),
    for this year and the next, in tier order."""
    rows: list[TierCalendarYear] = []
    for name, policy in sorted(tiers.items()):
        calendar = policy.working_calendar()
        if calendar.region is None:
            continue
        rows.extend(
            TierCalendarYear(
                tier=name,
                region=calendar.region,
                year=year,
                coverage=calendar.data_coverage(year),
                notes=tuple(calendar.data_notes(year)),
            )
            for year in years_to_cover(today)
        )
    return rows
