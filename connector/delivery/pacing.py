"""Keeping a delivery tool's client under the tool's documented request rate.

Trello allows 100 requests per 10 s per token; Worktile throttles too. Rather than run into
their 429s, a client's session waits before each request it sends (each retry included) until
the last ``limit`` requests fit in ``window``: the sliding window the tools count in, which is
`connector/fxiaoke/limits.py` `EndpointLimiter` (one budget for the whole client here). A 429
without Retry-After (Trello: another app spending the same key) closes the pacer for a whole
window. The clock and the sleep are injected, so tests count calls without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connector.fxiaoke.limits import EndpointLimiter

#: The one "endpoint" a pacer counts: these tools count per token or per app, not per path.
EVERY_CALL = "*"


class CallPacer:
    """At most ``limit`` calls in any ``window``; ``wait_for_slot`` sleeps until one is free."""

    def __init__(
        self,
        limit: int,
        window: timedelta,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        tool: str = "the tool",
    ) -> None:
        if limit < 1:
            raise ValueError("a pacer needs a limit of at least one call")
        self.window = window
        self.clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        self._limiter = EndpointLimiter(
            clock=self.clock, sleep=self._slept, calls_per_window=limit, window=window, tool=tool
        )
        self._closed_until: datetime | None = None
        self._lock = threading.Lock()
        #: Seconds slept in all, for benchmarks and `-v` output.
        self.waited_seconds = 0.0

    def _slept(self, seconds: float) -> None:
        self.waited_seconds += seconds
        self._sleep(seconds)

    def wait_for_slot(self) -> None:
        with self._lock:
            closed = self._closed_until
        now = self.clock()
        if closed is not None and now < closed:
            self._slept((closed - now).total_seconds())
        self._limiter.wait(EVERY_CALL)

    def refused(self) -> None:
        """The tool answered 429 without a Retry-After: no call until a whole window has
        passed."""
        with self._lock:
            self._closed_until = self.clock() + self.window


class PacedSession(requests.Session):
    """A session whose every request first waits for the pacer (retries are paced too); a
    429 without Retry-After closes the pacer for a window, so the retry waits it out."""

    def __init__(self, pacer: CallPacer) -> None:
        super().__init__()
        self.pacer = pacer

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.pacer.wait_for_slot()
        response = super().request(method, url, *args, **kwargs)
        if response.status_code == 429 and "Retry-After" not in response.headers:
            self.pacer.refused()
        return response
