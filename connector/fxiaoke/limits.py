"""Fxiaoke's per-endpoint rate limit, counted before each call rather than refused after."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

#: 100 calls per 20 s per endpoint (research/fxiaoke_and_tools.md A7 [2nd]).
CALLS_PER_WINDOW = 100
WINDOW = timedelta(seconds=20)


@dataclass
class EndpointLimiter:
    """At most ``CALLS_PER_WINDOW`` calls per ``WINDOW`` on each path; waits instead of being
    refused (30004). Time and sleep are injected."""

    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    #: Other tools' limits (PingCode: 200 per minute, connector/delivery/pingcode.py).
    calls_per_window: int = CALLS_PER_WINDOW
    window: timedelta = WINDOW
    #: Named in the log line when the limiter waits.
    tool: str = "Fxiaoke"
    _calls: dict[str, deque[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, path: str) -> None:
        with self._lock:
            calls = self._calls.setdefault(path, deque())
            now = self.clock()
            while calls and now - calls[0] >= self.window:
                calls.popleft()
            if len(calls) >= self.calls_per_window:
                delay = (calls[0] + self.window - now).total_seconds()
                log.info(
                    "%s allows %d calls per %d s on %s: waiting %.1f s",
                    self.tool,
                    self.calls_per_window,
                    self.window.total_seconds(),
                    path,
                    delay,
                )
                self.sleep(delay)
                now = self.clock()
                while calls and now - calls[0] >= self.window:
                    calls.popleft()
            calls.append(now)
