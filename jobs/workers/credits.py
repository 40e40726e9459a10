"""A run's credit meter on a worker: every credit is reserved from the org's shared budget
(jobs/store/org_limits.py) before the connection's own meter counts it.

Credits are reserved a block at a time (``[cluster] credit_block``) and spent from the block in
memory; what is left of it goes back to the org when the job ends (`close`). A block is spent
only in the window it was reserved in: once that window ends, its rest is void and the next
call reserves in the new window (else the new window's count would miss it). Near the end of the
budget, where a whole block no longer fits, only what the call needs is asked for, so the org
can spend its budget to the last credit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from connector.credits import CreditMeter
from connector.errors import CreditBudgetExceededError
from jobs.store.org_limits import OrgLimitTables


class OrgReservingMeter:
    """A ``connector.credits.CreditMeter``: the org's reservation, then ``inner``'s checks."""

    def __init__(
        self,
        inner: CreditMeter,
        limits: OrgLimitTables,
        org: str,
        block: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.inner = inner
        self.limits = limits
        self.org = org
        self.block = block
        self.clock = clock
        self._lock = threading.Lock()
        #: Reserved from the org and not spent yet, when it was reserved, and when the window
        #: it was reserved in ends (after which it is void: the window's credits are counted).
        self.held = 0
        self._reserved_at: datetime | None = None
        self._void_at: datetime | None = None
        #: Credits reserved from the org by this meter (the blocks), for tests and status.
        self.reserved = 0

    def charge(self, credits: int) -> None:
        with self._lock:
            if self._void_at is not None and self.clock() >= self._void_at:
                self.held = 0  # reserved in a window that has ended
            if self.held < credits:
                self._reserve(credits)
            self.held -= credits
        try:
            self.inner.charge(credits)
        except CreditBudgetExceededError:
            with self._lock:
                self.held += credits  # not spent: back into the block
            raise

    def refund(self, credits: int) -> None:
        self.inner.refund(credits)
        with self._lock:
            self.held += credits

    def crm_remaining(self, remaining: int) -> None:
        self.inner.crm_remaining(remaining)

    def close(self) -> None:
        """Give the unspent part of the block back to the org."""
        with self._lock:
            if self.held and self._reserved_at is not None:
                self.limits.give_back(self.org, self.held, self._reserved_at)
            self.held = 0

    def _reserve(self, credits: int) -> None:
        now = self.clock()
        for ask in dict.fromkeys((max(self.block, credits - self.held), credits - self.held)):
            ends = self.limits.reserve(self.org, ask, now)
            if ends is not None:
                if self._void_at is not None and ends != self._void_at:
                    self.held = 0  # a new window: what is left of the old one is void
                self.held += ask
                self.reserved += ask
                self._reserved_at, self._void_at = now, ends
                return
        raise CreditBudgetExceededError(
            f"the org {self.org}'s credit budget for this window is reserved by its workers; "
            "the job stopped before exceeding it (the next window frees it, or raise "
            "[cluster] org_credit_budget)"
        )
