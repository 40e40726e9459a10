"""The connection's credit budget, kept in the store so that every job and process shares it.

Each call's credits are counted before the call is sent, in memory, and added to per-minute
rows of ``credit_usage`` every ``SAVE_USAGE_EVERY`` and at the end of the job (``save``). A call
that would take the rolling 24-hour total over the budget is refused with
``CreditBudgetExceededError`` (a ``RetryLaterError``): the job stops cleanly ("stopped") and a
later run resumes once older usage has rolled out of the window.

Only one job of a connection runs at a time (the runner's lock), so the total is read from the
store once and then kept in memory, re-read every few minutes for long-lived daemons. Storing
each call's credits as it went out cost a commit (an fsync) per call, taken under the meter's
lock by every write thread: the push's calls queued behind it and behind the planner's
transactions. A process killed outright loses at most ``SAVE_USAGE_EVERY`` of its count (the
next job starts that much low; Zoho's own count of the org's credits, below, still binds).

Zoho also says how many credits the whole org has left (``X-API-CREDITS-REMAINING``, once half
its daily allowance is used). Other integrations of the org spend the same credits, so when Zoho
says fewer remain than the budget leaves, Zoho is believed: a call that would spend more than
Zoho's figure minus what this connection charged since is refused like one over the budget. The
latest figure is kept in the store (``store_meta``), for `engage status` and the next job, with
the credits already counted in its minute (usage is kept per minute): what the figure leaves
later is the figure less the usage since, the one formula of ``crm_credits_left`` that both the
budget check and `engage status` use (issue 16: a run said 0 left where status said 17).
Calls already in flight when the figure was sent may not be counted in it (at most
``write_concurrency`` calls, 100 credits): the stop comes that much late at worst.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.errors import CreditBudgetExceededError
from jobs.store import Store, credit_usage

WINDOW = timedelta(hours=24)
#: How long the in-memory total is trusted before the store is read again.
RELOAD_AFTER = timedelta(minutes=5)
#: store_meta key of the CRM's latest count of the org's remaining credits.
CRM_REMAINING_KEY = "crm_credits_remaining"
#: The CRM's count is stored at most this often (it comes with every answer).
SAVE_REMAINING_EVERY = timedelta(minutes=1)
#: Credits counted in memory are added to the store at least this often during a job.
SAVE_USAGE_EVERY = timedelta(seconds=2)


@dataclass(frozen=True)
class CrmRemaining:
    """What the CRM last said the org had left, and when."""

    remaining: int
    at: datetime
    #: Credits already counted in the minute of ``at`` when the CRM's count came: they are in
    #: the CRM's figure, so they are not taken off it again (the usage is kept per minute).
    before_in_minute: int = 0


def crm_remaining(store: Store) -> CrmRemaining | None:
    """The CRM's latest count of the org's remaining credits, if it sent one (§6)."""
    text = store.meta(CRM_REMAINING_KEY)
    if not text:
        return None
    try:
        data = json.loads(text)
        return CrmRemaining(
            int(data["remaining"]),
            datetime.fromisoformat(data["at"]),
            int(data.get("before_in_minute", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class CrmLeft:
    """The CRM's latest count of the org's credits, and what it leaves now: the one figure the
    budget check (``StoreCreditMeter``) and `engage status` both use."""

    reported: CrmRemaining
    #: Credits this connection charged after the report.
    spent_since: int

    @property
    def left(self) -> int:
        return max(0, self.reported.remaining - self.spent_since)


def crm_credits_left(store: Store, now: datetime) -> CrmLeft | None:
    """What the CRM's latest count (within the 24-hour window) leaves now, or None."""
    reported = crm_remaining(store)
    if reported is None or now - reported.at > WINDOW:
        return None
    return CrmLeft(reported, _charged_since(store, reported.at) - reported.before_in_minute)


def first_credits_back_at(store: Store, now: datetime) -> datetime | None:
    """When this connection's oldest credits of the rolling 24 hours leave the window (the org's
    come back as theirs do; other integrations' usage is not known here)."""
    oldest = credit_usage.oldest_charged_minute(store, _minute(now - WINDOW))
    if oldest is None:
        return None
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return oldest + WINDOW + timedelta(minutes=1)


def credits_used(store: Store, now: datetime) -> int:
    """Credits charged in the 24 hours before ``now`` (whole minutes, so slightly generous)."""
    return _charged_since(store, now - WINDOW)


class StoreCreditMeter:
    """A ``connector.credits.CreditMeter`` backed by the store. Thread-safe."""

    def __init__(self, store: Store, budget: int, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.budget = budget
        self.clock = clock
        self._lock = threading.Lock()
        self._used: int | None = None
        self._loaded_at: datetime | None = None
        #: The CRM's latest count, and the credits charged since it was sent.
        self._crm: CrmRemaining | None = None
        self._crm_loaded = False
        self._charged_since_crm = 0
        self._saved_crm_at: datetime | None = None
        self._crm_unsaved = False
        #: Minute -> (credits, calls) counted and not stored yet.
        self._unsaved: dict[datetime, tuple[int, int]] = {}
        self._saved_usage_at: datetime | None = None
        #: Credits this meter charged (net of refunds) since it was made: a run's own figure.
        self.charged = 0
        #: Minute -> credits this meter charged in it (stored or not), net of refunds.
        self._minute_charged: dict[datetime, int] = {}

    def used(self) -> int:
        with self._lock:
            return self._current(self.clock())

    def charge(self, credits: int) -> None:
        with self._lock:
            now = self.clock()
            used = self._current(now)
            if used + credits > self.budget:
                raise CreditBudgetExceededError(
                    f"the daily credit budget of {self.budget} would be exceeded: {used} used in "
                    f"the last 24 hours and the next call costs {credits}; the job stopped before "
                    "exceeding it (raise [crm] daily_credit_budget, or wait)"
                )
            left = self._crm_left(now)
            if left is not None and credits > left:
                raise CreditBudgetExceededError(
                    f"the CRM reports {max(0, left)} API credits left for the whole org (other "
                    f"integrations spend them too) and the next call costs {credits}; the job "
                    "stopped before exceeding them (the org's credits refill over 24 hours)"
                )
            minute = _minute(now)
            before, calls = self._unsaved.get(minute, (0, 0))
            self._unsaved[minute] = (before + credits, calls + 1)
            self._used = used + credits
            self._charged_since_crm += credits
            self.charged += credits
            self._minute_charged = {minute: self._minute_charged.get(minute, 0) + credits}
            if self._saved_usage_at is None:
                self._saved_usage_at = now
            elif now - self._saved_usage_at >= SAVE_USAGE_EVERY:
                self._save_usage(now)

    def refund(self, credits: int) -> None:
        with self._lock:
            now = self.clock()
            minute = _minute(now)
            before, calls = self._unsaved.get(minute, (0, 0))
            self._unsaved[minute] = (before - credits, calls)
            if self._used is not None:
                self._used -= credits
            self._charged_since_crm -= credits
            self.charged -= credits
            self._minute_charged = {minute: self._minute_charged.get(minute, 0) - credits}

    def crm_remaining(self, remaining: int) -> None:
        with self._lock:
            now = self.clock()
            self._crm_loaded = True
            minute = _minute(now)
            self._crm = CrmRemaining(remaining, now, self._minute_charged.get(minute, 0))
            self._charged_since_crm = 0
            self._crm_unsaved = True
            if self._saved_crm_at is None or now - self._saved_crm_at >= SAVE_REMAINING_EVERY:
                self._save_crm()

    def save(self) -> None:
        """Store the credits counted and the CRM's latest count (at the end of a job)."""
        with self._lock:
            self._save_usage(self.clock())
            if self._crm_unsaved:
                self._save_crm()

    def _save_crm(self) -> None:
        assert self._crm is not None
        self._saved_crm_at = self._crm.at
        self._crm_unsaved = False
        value = {
            "remaining": self._crm.remaining,
            "at": self._crm.at.isoformat(),
            "before_in_minute": self._crm.before_in_minute,
        }
        self.store.set_meta(CRM_REMAINING_KEY, json.dumps(value))

    def _crm_left(self, now: datetime) -> int | None:
        """Credits the CRM's latest count leaves, or None without a count in the last 24 h."""
        if not self._crm_loaded:
            # A count left by an earlier job: what this connection charged since is taken off
            # (whole minutes, so the count errs on the low side).
            self._crm_loaded = True
            self._crm = crm_remaining(self.store)
            if self._crm is not None:
                self._charged_since_crm = (
                    self._counted_since(self._crm.at) - self._crm.before_in_minute
                )
        if self._crm is None or now - self._crm.at > WINDOW:
            return None
        return self._crm.remaining - self._charged_since_crm

    def _current(self, now: datetime) -> int:
        if self._used is None or self._loaded_at is None or now - self._loaded_at > RELOAD_AFTER:
            self._used = self._counted_since(now - WINDOW)
            self._loaded_at = now
        return self._used

    def _counted_since(self, at: datetime) -> int:
        """Credits charged from the minute of ``at`` on: those stored and those not yet."""
        since = _minute(at)
        unsaved = sum(n for minute, (n, _) in self._unsaved.items() if minute >= since)
        return _charged_since(self.store, at) + unsaved

    def _save_usage(self, now: datetime) -> None:
        self._saved_usage_at = now
        if not self._unsaved:
            return
        credit_usage.add_usage(
            self.store,
            ((minute, n, calls) for minute, (n, calls) in sorted(self._unsaved.items())),
            forget_before=_minute(now - 2 * WINDOW),
        )
        self._unsaved.clear()


def _charged_since(store: Store, at: datetime) -> int:
    return credit_usage.charged_since(store, _minute(at))


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)
