"""The one retry policy of the connector.

Every HTTP call of every client goes through ``RetryPolicy``. It decides, per attempt, whether to
try again and how long to wait; sleeping and randomness are injected so tests control them.

- Connection errors, timeouts and 5xx: retried with exponential backoff and full jitter.
- 429: retried a bounded number of times (Zoho sends no Retry-After and does not say whether the
  daily credits or the concurrency ran out, see research/zoho.md §6), then ``RateLimitedError``
  so the job stops cleanly and the next scheduled run resumes.
- ``Retry-After`` is obeyed where a CRM sends one, capped at ``max_delay_seconds``.
- Non-idempotent writes (a plain insert) are never retried after the request may have reached
  the server: the caller says so with ``idempotent=False``.
- Rows a CRM refuses inside a partial batch (207) are not retried within the call: they are
  tried again on later runs after ``row_retry_delay_seconds`` and quarantined after
  ``row_max_attempts`` (the row ledger, jobs/ledger.py, keeps the count).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
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
