"""API credits: what a Zoho edition allows per rolling 24 hours, and the hook that counts them.

Zoho charges every call in credits (research/zoho.md §6) against a per-org allowance that
depends on the edition and the number of user licences. A client given a ``CreditMeter``
charges each logical call's cost to it *before* sending; the meter refuses (raising
``CreditBudgetExceededError``) when the call would take the connection over its budget.
Where the count is kept (the job store) is the meter's business, not the client's.
"""

from __future__ import annotations

from typing import Literal, Protocol

Edition = Literal["free", "standard", "professional", "enterprise", "ultimate"]

#: §6 [LIM]: (base credits, credits per user licence, maximum or None) per rolling 24 hours.
EDITION_DAILY_CREDITS: dict[str, tuple[int, int, int | None]] = {
    "free": (5_000, 0, 5_000),
    "standard": (50_000, 250, 100_000),
    "professional": (50_000, 500, 3_000_000),
    "enterprise": (50_000, 1_000, 5_000_000),
    "ultimate": (50_000, 2_000, None),
}

#: §6: concurrent calls per org and app, by edition (writes are further held to 10).
EDITION_CONCURRENCY: dict[str, int] = {
    "free": 5,
    "standard": 10,
    "professional": 15,
    "enterprise": 20,
    "ultimate": 25,
}


def daily_credit_allowance(edition: str, users: int) -> int:
    """Credits the org may spend per rolling 24 hours (every integration of the org shares it)."""
    base, per_user, maximum = EDITION_DAILY_CREDITS[edition]
    total = base + per_user * max(0, users)
    return total if maximum is None else min(total, maximum)


class CreditMeter(Protocol):
    """Counts credits; refuses a call that would exceed the budget."""

    def charge(self, credits: int) -> None:
        """Record ``credits`` for a call about to be sent.

        Raises ``CreditBudgetExceededError`` (and records nothing) if they would exceed the budget.
        """
        ...

    def refund(self, credits: int) -> None:
        """Take back ``credits`` charged for a call the CRM refused before running it (a 429
        after the retries, a 401): Zoho charges calls that ran (research/zoho.md §6; that a
        refused call costs nothing is UNCONFIRMED, the sandbox charges it nothing)."""
        ...

    def crm_remaining(self, remaining: int) -> None:
        """The CRM says the org has ``remaining`` credits left (after the call just answered).

        Every integration of the org spends the same credits, so this may be fewer than the
        meter's own count implies; the meter must not let calls go past it.
        """
        ...
