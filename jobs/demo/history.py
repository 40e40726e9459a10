"""A score history for the demo: the portfolio scored as of each of the last weeks.

A real store builds its history run by run; a demo starts today. So that `engage report` has
weeks to draw, the demo scores its engagements as of each of the last `weeks` weeks, from the
facts as known today (milestones fall due, contracts near their end, reports age), before its
first real run. Said on the console; a real store never gets this.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from jobs.runner import Connection
from jobs.score import score

DEMO_WEEKS = 12


def backfill_history(conn: Connection, now: datetime, weeks: int = DEMO_WEEKS) -> int:
    """Score as of `weeks` … 1 weeks before `now`; returns the history rows added."""
    config = conn.settings.config
    added = 0
    for back in range(weeks, 0, -1):
        as_of = now - timedelta(weeks=back)
        report = score(
            conn.store,
            config.health,
            clock=functools.partial(_fixed, as_of),
            risk=config.risk,
            sla=config.sla,
            words=conn.settings.words,
            workers=0,
        )
        added += report.changed
    return added


def _fixed(moment: datetime) -> datetime:
    return moment
