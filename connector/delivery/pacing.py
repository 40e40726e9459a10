"""Keeping a delivery tool's client under the tool's documented request rate.

Trello allows 100 requests per 10 s per token; Worktile and Graph throttle too. Rather than run
into their 429s, a client's session waits, before each request it sends (each retry included),
until the last ``limit`` requests fit in ``window``: the same sliding window the tools count
in. The clock and the sleep are injected, so tests count calls without waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests


class CallPacer:
    """At most ``limit`` calls in any ``window``; ``wait_for_slot`` sleeps until one is free."""

    def __init__(
        self,
        limit: int,
        window: timedelta,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("a pacer needs a limit of at least one call")
        self.limit = limit
        self.window = window
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sleep = sleep
        self._sent: deque[datetime] = deque()
        self._closed_until: datetime | None = None
        self._lock = threading.Lock()
        #: Seconds slept in all, for benchmarks and `-v` output.
        self.waited_seconds = 0.0

    def wait_for_slot(self) -> None:
        with self._lock:
            while True:
                now = self.clock()
                if self._closed_until is not None and now < self._closed_until:
                    pause = (self._closed_until - now).total_seconds()
                    self.waited_seconds += pause
                    self.sleep(pause)
                    continue
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                pause = (self._sent[0] + self.window - now).total_seconds()
                self.waited_seconds += pause
                self.sleep(pause)

    def refused(self) -> None:
        """The tool answered 429 without a Retry-After (Trello: another app on the same key,
        or a count we cannot see): no call until a whole window has passed."""
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
