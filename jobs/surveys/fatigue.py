"""Fatigue rules: who must not be asked now, and which rule says so (pure).

- ``open_invitation``: never two open invitations for one person.
- ``contact_min_days``: at least N days between two invitations to one person.
- ``account_cap``: at most N invitations per account within a rolling period, across all of
  the account's engagements (survey tools throttle per person; clients feel it per company).
- ``quiet_day``: nothing is planned on a quiet day; the wave is planned on the next day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobs.surveys.config import FatigueSection


@dataclass(frozen=True)
class PastInvitation:
    contact_id: str
    account_id: str
    #: When it was sent (or planned, if not sent yet).
    at: datetime
    #: Sent or about to be, not answered and not expired.
    open: bool


@dataclass(frozen=True)
class Stop:
    rule: str
    reason: str


class FatigueGuard:
    """The fatigue state of every contact and account; updated as invitations are planned."""

    def __init__(self, config: FatigueSection, history: Iterable[PastInvitation]) -> None:
        self._config = config
        self._last: dict[str, datetime] = {}
        self._open: set[str] = set()
        self._account_times: dict[str, list[datetime]] = defaultdict(list)
        for past in history:
            self._note(past.contact_id, past.account_id, past.at, past.open)

    def check(self, contact_id: str, account_id: str, now: datetime) -> Stop | None:
        cfg = self._config
        if cfg.is_quiet(now.date()):
            return Stop("quiet_day", f"{now.date().isoformat()} is a quiet day; planned later")
        if contact_id in self._open:
            return Stop("open_invitation", "the contact has an open invitation")
        last = self._last.get(contact_id)
        if last is not None and now - last < timedelta(days=cfg.contact_min_days):
            days = (now - last).days
            return Stop(
                "contact_min_days",
                f"surveyed {days} days ago ({last.date().isoformat()}); "
                f"the minimum is {cfg.contact_min_days} days",
            )
        if cfg.account_cap:
            since = now - timedelta(days=cfg.account_period_days)
            recent = [t for t in self._account_times[account_id] if t > since]
            if len(recent) >= cfg.account_cap:
                return Stop(
                    "account_cap",
                    f"the account had {len(recent)} invitations in the last "
                    f"{cfg.account_period_days} days; the cap is {cfg.account_cap}",
                )
        return None

    def record(self, contact_id: str, account_id: str, now: datetime) -> None:
        """Count an invitation planned now."""
        self._note(contact_id, account_id, now, True)

    def _note(self, contact_id: str, account_id: str, at: datetime, is_open: bool) -> None:
        if contact_id not in self._last or self._last[contact_id] < at:
            self._last[contact_id] = at
        if is_open:
            self._open.add(contact_id)
        self._account_times[account_id].append(at)
