"""Fault injection for the sandbox CRM: seeded, so a failing test fails the same way every time.

The sandbox consults a ``FaultInjector`` (``SandboxCRM.faults``) at two points:

- ``on_api_call`` once per ``/crm/v8/...`` request, before it is handled. It may answer in the
  CRM's place (429, 5xx), drop the connection (a reset) or hold the answer past the client's
  timeout, either *before* the request runs or *after* it ran (the write landed, the answer
  was lost: the case that makes non-idempotent retries write twice) — at random rates, or
  for the next N calls of a kind (``lose_answer_after``, e.g. the first Task insert). It also
  expires every access token every ``token_expiry_every`` calls.
- ``ims_exclusive``: whether ``If-Modified-Since`` leaves out records modified at the given
  second (the docs do not say; both readings are tested).
- ``refuse_item`` once per row of an update call: a row can be refused as Zoho does in a 207
  (``INVALID_DATA`` naming a field), either persistently (``refuse_rows``, e.g. a validation
  rule in the org) or at random (``partial_rate``, a transient refusal).

Token calls (``/oauth/v2/token``) are never faulted: Zoho's own refresh limit is modelled by
the sandbox itself. Randomness comes from one ``random.Random(seed)`` behind a lock; with
concurrent clients the order of draws, and so which call fails, can vary between runs.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    RATE_LIMITED = "429"
    SERVER_ERROR = "5xx"
    RESET = "reset"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Fault:
    """What to do to one call. ``after``: let the request run, then lose the answer."""

    kind: FaultKind
    after: bool = False
    status: int = 0


@dataclass(frozen=True)
class FaultPlan:
    """Rates are per API call (0.0–1.0); their sum is the share of calls that fail."""

    seed: int = 0
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_reset: float = 0.0
    rate_timeout: float = 0.0
    #: How long a "timeout" holds the answer before dropping the connection. Keep it just above
    #: the client's (injected, short) timeout; tests never wait on long sleeps.
    timeout_hold_seconds: float = 0.3
    #: Share of 5xx, resets and timeouts that strike after the request ran (writes landed).
    after_share: float = 0.5
    #: How long every API call takes to answer, the sandbox's own work included (e.g. 0.05
    #: for the benchmark's 50 ms): a real CRM's response time holds its processing.
    latency_seconds: float = 0.0
    #: Expire every access token every N API calls (0: never).
    token_expiry_every: int = 0
    #: Chance that an update row is refused (transiently) inside a 207.
    partial_rate: float = 0.0
    #: record id -> field: rows the CRM always refuses, with INVALID_DATA on that field.
    refuse_rows: dict[str, str] = field(default_factory=dict)
    #: Call kind (as in the sandbox's call log: "update", "create_tasks", ...) -> how many of
    #: its next calls run to the end, records changed, and then lose their answer
    #: (``lost_answer``): the connection cut after the CRM committed, the case where a client
    #: cannot tell whether its write landed. Deterministic, beside the random rates.
    lose_answer_after: dict[str, int] = field(default_factory=dict)
    lost_answer: FaultKind = FaultKind.RESET
    #: How ``If-Modified-Since`` reads its second: Zoho's docs say "modified since" without
    #: saying whether a record modified AT that second comes back (research/zoho.md §2,
    #: UNCONFIRMED; Airbyte filters inclusively). False: inclusive (>=); True: exclusive (>).
    ims_exclusive: bool = False

    def __post_init__(self) -> None:
        rates = (self.rate_429, self.rate_5xx, self.rate_reset, self.rate_timeout)
        if any(r < 0 for r in rates) or sum(rates) > 1:
            raise ValueError("fault rates must be >= 0 and sum to at most 1")
        if not 0 <= self.partial_rate <= 1 or not 0 <= self.after_share <= 1:
            raise ValueError("partial_rate and after_share must be between 0 and 1")
        if self.lost_answer is FaultKind.RATE_LIMITED:
            raise ValueError("a 429 is refused before the call runs; it cannot lose an answer")
        if any(n < 0 for n in self.lose_answer_after.values()):
            raise ValueError("lose_answer_after counts must be >= 0")


@dataclass
class FaultCounts:
    """What was injected, for tests and benchmark output."""

    by_kind: dict[str, int] = field(default_factory=dict)
    tokens_expired: int = 0
    rows_refused: int = 0
    #: Calls applied whose answer was then lost on purpose (``lose_answer_after``).
    answers_lost: int = 0
    #: record id -> update rows received for it (a record written twice shows 2).
    rows_received: Counter[str] = field(default_factory=Counter)

    def total(self) -> int:
        return sum(self.by_kind.values())


class FaultInjector:
    """Decides, call by call, whether and how the sandbox misbehaves. Thread-safe."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.counts = FaultCounts()
        self._random = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._calls = 0
        self._answers_to_lose = dict(plan.lose_answer_after)

    def on_api_call(self, expire_tokens: Callable[[], None], kind: str = "") -> Fault | None:
        """Called before each API request of ``kind`` (the call log's name for it);
        ``expire_tokens`` invalidates every access token."""
        plan = self.plan
        with self._lock:
            if self._answers_to_lose.get(kind, 0) > 0:
                self._answers_to_lose[kind] -= 1
                lost = plan.lost_answer
                self.counts.by_kind[lost.value] = self.counts.by_kind.get(lost.value, 0) + 1
                self.counts.answers_lost += 1
                return Fault(lost, after=True, status=503 if lost is FaultKind.SERVER_ERROR else 0)
        with self._lock:
            self._calls += 1
            expire = bool(plan.token_expiry_every) and self._calls % plan.token_expiry_every == 0
            if expire:
                self.counts.tokens_expired += 1
        if expire:
            # Outside our lock: the sandbox takes its own lock, and refuse_item nests the other way.
            expire_tokens()
        with self._lock:
            draw = self._random.random()
            after = self._random.random() < plan.after_share
            fault = self._pick(draw, after)
            if fault is not None:
                self.counts.by_kind[fault.kind.value] = (
                    self.counts.by_kind.get(fault.kind.value, 0) + 1
                )
            return fault

    def _pick(self, draw: float, after: bool) -> Fault | None:
        plan = self.plan
        edge = plan.rate_429
        if draw < edge:
            # Zoho refuses a 429 before running the request (research/zoho.md §6).
            return Fault(FaultKind.RATE_LIMITED, status=429)
        edge += plan.rate_5xx
        if draw < edge:
            return Fault(FaultKind.SERVER_ERROR, after=after, status=503 if after else 502)
        edge += plan.rate_reset
        if draw < edge:
            return Fault(FaultKind.RESET, after=after)
        edge += plan.rate_timeout
        if draw < edge:
            return Fault(FaultKind.TIMEOUT, after=after)
        return None

    def refuse_item(self, record_id: str, item: dict[str, Any]) -> str | None:
        """The field to refuse this update row on, or ``None`` to let it through."""
        with self._lock:
            self.counts.rows_received[record_id] += 1
        fixed = self.plan.refuse_rows.get(record_id)
        if fixed is not None:
            with self._lock:
                self.counts.rows_refused += 1
            return fixed
        if not self.plan.partial_rate:
            return None
        with self._lock:
            if self._random.random() >= self.plan.partial_rate:
                return None
            self.counts.rows_refused += 1
        names = [k for k in item if k != "id"]
        return names[0] if names else "id"
