"""SLA measurement: business-time calendars, tier policies and the evaluation of an engagement.

Pure computation: no I/O, no wall clock; the caller passes `now`.
"""

from __future__ import annotations

from jobs.health.sla.calendar import CalendarError, WorkingCalendar
from jobs.health.sla.engine import SlaResult, TicketMeasure, evaluate
from jobs.health.sla.policy import CalendarSettings, SlaGoals, SlaPolicy

__all__ = [
    "CalendarError",
    "CalendarSettings",
    "SlaGoals",
    "SlaPolicy",
    "SlaResult",
    "TicketMeasure",
    "WorkingCalendar",
    "evaluate",
]
