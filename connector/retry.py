"""The one retry policy of the connector.

Every HTTP call of every client goes through ``RetryPolicy``. It decides, per attempt, whether to
try again and how long to wait; sleeping and randomness are injected so tests control them.

- Connection errors, timeouts and 5xx: retried with exponential backoff and full jitter.
- 429: retried a bounded number of times (Zoho sends no Retry-After and does not say whether the
  daily credits or the concurrency ran out, see research/zoho.md §6), then ``RateLimitedError``
  so the job stops cleanly and the next scheduled run resumes. Each 429 also halves the calls
  the connection keeps in flight (``AdaptiveConcurrency``, AIMD); a 429 that came while other
  calls of ours were in flight is the concurrency's doing and is retried without using up an
  attempt (the halving bounds those retries). A 429 whose ``X-API-CREDITS-REMAINING`` is 0 means
  the org's credits are used up: not retried at all (``CreditsExhaustedError``).
- ``Retry-After`` is obeyed where a CRM sends one, capped at ``max_delay_seconds``.
- Non-idempotent writes (a plain insert) are never retried after the request may have reached
  the server: the caller says so with ``idempotent=False``.
- Rows a CRM refuses inside a partial batch (207) are not retried within the call: they are
  tried again on later runs after ``row_retry_delay_seconds`` and quarantined after
  ``row_max_attempts`` (the row ledger, jobs/push/ledger.py, keeps the count).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http import HTTPStatus

RETRYABLE_STATUSES = frozenset(
    {
        HTTPStatus.TOO_MANY_REQUESTS,  # 429
        HTTPStatus.INTERNAL_SERVER_ERROR,
        HTTPStatus.BAD_GATEWAY,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.GATEWAY_TIMEOUT,
    }
)


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with full jitter."""

    #: Total attempts for one call, the first included.
    max_attempts: int = 4
    #: Attempts for a 429 before giving up until the next run.
    max_rate_limited_attempts: int = 3
    initial_delay_seconds: float = 0.5
    max_delay_seconds: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)
    #: A row the CRM refused is tried again on a later run after this delay, doubling per attempt.
    row_initial_delay_seconds: float = 900.0
    row_max_delay_seconds: float = 86_400.0
    #: Attempts of one row (same values) before it is quarantined until a person re-queues it.
    row_max_attempts: int = 5

    def should_retry_status(self, status: int, attempt: int, *, idempotent: bool) -> bool:
        """Whether a response with ``status`` on attempt number ``attempt`` (1-based) is retried."""
        if status not in RETRYABLE_STATUSES:
            return False
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            # A 429 means the request was refused before it ran, so even inserts are safe to resend.
            return attempt < self.max_rate_limited_attempts
        return idempotent and attempt < self.max_attempts

    def should_retry_connection_error(self, attempt: int, *, idempotent: bool) -> bool:
        return idempotent and attempt < self.max_attempts

    def delay_seconds(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        server_delay = parse_retry_after(retry_after)
        if server_delay is not None:
            return min(server_delay, self.max_delay_seconds)
        ceiling = min(self.max_delay_seconds, self.initial_delay_seconds * 2 ** (attempt - 1))
        return float(ceiling * self.random())

    def wait(self, attempt: int, retry_after: str | None = None) -> None:
        self.sleep(self.delay_seconds(attempt, retry_after))

    def row_retry_delay_seconds(self, attempts: int) -> float:
        """Seconds before a refused row is sent again, after ``attempts`` refusals (1-based).

        No jitter: rows wait for a later scheduled run anyway, and a fixed delay lets a person
        read "next retry at" and trust it.
        """
        return float(
            min(self.row_max_delay_seconds, self.row_initial_delay_seconds * 2 ** (attempts - 1))
        )

    def row_quarantined(self, attempts: int) -> bool:
        """Whether a row refused ``attempts`` times in a row is set aside until re-queued."""
        return attempts >= self.row_max_attempts


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date. ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


#: §6: Zoho's remaining-credits header. A 429 carrying ``0`` in it means the org's daily credits
#: are used up, not that too many calls were in flight (Zoho's 429 body does not say which, and
#: no distinct body for exhausted credits is documented: the header is the one reading).
CREDITS_REMAINING_HEADER = "X-API-CREDITS-REMAINING"


def credits_exhausted(headers: Mapping[str, str]) -> bool:
    """Whether a 429's headers say the org has no API credits left (§6)."""
    value = headers.get(CREDITS_REMAINING_HEADER)
    if value is None:
        return False
    try:
        return int(value.strip()) <= 0
    except ValueError:
        return False


class AdaptiveConcurrency:
    """How many calls of one connection may be in flight: additive increase, multiplicative
    decrease (AIMD), as TCP does with its window.

    A concurrency 429 (Zoho refuses calls past the org's concurrency, §6, and sends no
    Retry-After) halves the limit; each run of ``limit`` successes in a row grows it back by one,
    up to ``maximum``. Callers take a slot before sending and give it back with the outcome.
    Thread-safe; a caller waits for a slot, so threads beyond the limit queue instead of being
    refused by the CRM.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.in_flight = 0
        self._successes = 0
        self._cond = threading.Condition()
        #: Every change of the limit, for tests and `-v` logs: (old, new).
        self.changes: list[tuple[int, int]] = []

    def acquire(self) -> int:
        """Wait for a slot; return how many calls were in flight beside this one."""
        with self._cond:
            self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            return self.in_flight - 1

    def release(self, *, outcome: bool | None) -> None:
        """Give the slot back: ``True`` a call answered, ``False`` refused with 429, ``None``
        no answer (a connection error says nothing about the CRM's concurrency)."""
        with self._cond:
            self.in_flight -= 1
            if outcome is None:
                new = self.limit
            elif not outcome:
                self._successes = 0
                new = max(1, self.limit // 2)
            else:
                self._successes += 1
                new = self.limit
                if self._successes >= self.limit and self.limit < self.maximum:
                    self._successes = 0
                    new = self.limit + 1
            if new != self.limit:
                self.changes.append((self.limit, new))
                self.limit = new
            self._cond.notify_all()
