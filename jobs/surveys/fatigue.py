"""Fatigue rules: who must not be asked now, and which rule says so (pure).

- ``open_invitation``: never two open invitations for one person.
- ``contact_min_days``: at least N days between two invitations to one person.
- ``account_cap``: at most N invitations per account within a rolling period, across all of
  the account's engagements (survey tools throttle per person; clients feel it per company).
- ``quiet_day``: nothing is planned on a quiet day; the wave is planned on the next day.

A person is a contact **and** an address: the same mailbox entered as contacts in several
accounts is one person for ``open_invitation`` and ``contact_min_days``. Addresses are compared
by ``address_key``: trimmed and lowercased, nothing more. Dots and ``+tags`` are kept: ignoring
them is one provider's rule (Gmail), while on a company's own mail server ``j.doe`` and ``jdoe``
or ``ops+billing`` and ``ops`` may well be different people or teams.
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
    #: The address it went (or goes) to.
    email: str | None = None


def address_key(email: str | None) -> str | None:
    """The address as fatigue compares it: trimmed, lowercased (see the module docstring)."""
    key = (email or "").strip().lower()
    return key or None


def _people(contact_id: str, email: str | None) -> list[str]:
    key = address_key(email)
    return [f"contact:{contact_id}"] + ([f"address:{key}"] if key else [])


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
            self._note(past.contact_id, past.email, past.account_id, past.at, past.open)

    def check(
        self, contact_id: str, account_id: str, now: datetime, email: str | None = None
    ) -> Stop | None:
        cfg = self._config
        if cfg.is_quiet(now.date()):
            return Stop("quiet_day", f"{now.date().isoformat()} is a quiet day; planned later")
        for person in _people(contact_id, email):
            who = "the contact" if person.startswith("contact:") else "the address"
            if person in self._open:
                return Stop("open_invitation", f"{who} has an open invitation")
            last = self._last.get(person)
            if last is not None and now - last < timedelta(days=cfg.contact_min_days):
                days = (now - last).days
                return Stop(
                    "contact_min_days",
                    f"{'' if who == 'the contact' else 'the address was '}surveyed {days} days "
                    f"ago ({last.date().isoformat()}); the minimum is {cfg.contact_min_days} days",
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

    def record(
        self, contact_id: str, account_id: str, now: datetime, email: str | None = None
    ) -> None:
        """Count an invitation planned now."""
        self._note(contact_id, email, account_id, now, True)

    def _note(
        self, contact_id: str, email: str | None, account_id: str, at: datetime, is_open: bool
    ) -> None:
        for person in _people(contact_id, email):
            if person not in self._last or self._last[person] < at:
                self._last[person] = at
            if is_open:
                self._open.add(person)
        self._account_times[account_id].append(at)
