"""What the delivery-tool sandboxes (Trello, Worktile, Microsoft Graph) share: a JSON request
handler, a reply, a sliding rate window on an injected clock, the call log, and the state every
one of them keeps the same way (`BoardSandbox`).

Each sandbox implements ``answer(request) -> Reply``; the handler here parses the request
(path, query, form or JSON body, headers) and writes the reply. Rate windows count on the
sandbox's own clock, so a test advances time instead of sleeping.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .serving import DispatchingHandler, QuietHandler, ServedOnThread


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    #: Query parameters, the last value of each (Trello and Graph never repeat one).
    query: dict[str, str]
    #: Header names in lower case.
    headers: dict[str, str]
    #: A JSON body as decoded, or a form body as a dict; ``None`` when there was none.
    body: Any = None
    raw_query: str = ""


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One request as received: what the tests and benchmarks count."""

    at: datetime
    method: str
    path: str
    #: Whose budget the call spent (a token, a key, an app): the rate window's name.
    caller: str = ""


class SlidingWindow:
    """At most ``limit`` calls per ``window`` for each caller, on the sandbox's clock."""

    def __init__(self, limit: int, window: timedelta, clock: Callable[[], datetime]) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._calls: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()
        #: The most calls any caller had inside one window, this one included: a test asserts
        #: it never passed ``limit``.
        self.peak = 0

    def admit(self, caller: str) -> float | None:
        """Count a call; ``None`` if admitted, else the seconds until a slot frees up."""
        now = self.clock()
        with self._lock:
            calls = self._calls.setdefault(caller, deque())
            while calls and now - calls[0] >= self.window:
                calls.popleft()
            if len(calls) >= self.limit:
                return max(0.0, (calls[0] + self.window - now).total_seconds())
            calls.append(now)
            self.peak = max(self.peak, len(calls))
            return None


class BoardSandbox(ServedOnThread):
    """The state the board sandboxes keep alike: the injected clock, one lock for everything,
    the call log, the 429s answered, the tokens issued (Planner and Worktile issue them), the
    next calls to refuse (`throttle_next`), and ids from a serial in each tool's own form."""

    def __init__(self, clock: Callable[[], datetime] | None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._serial = 0
        #: Access token -> when it expires.
        self._tokens: dict[str, datetime] = {}
        self.calls: list[Call] = []
        self.refused_429 = 0
        #: Retry-After seconds of the next calls to refuse, one a call (a tool without the
        #: header ignores the value).
        self._throttle: list[int] = []

    def _clock(self) -> datetime:
        return self.clock()

    def throttle_next(self, calls: int, retry_after_seconds: int = 0) -> None:
        """The next ``calls`` API calls are answered 429 (with this Retry-After, where the tool
        sends one), as when another app spends the same budget."""
        with self._lock:
            self._throttle.extend([retry_after_seconds] * calls)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working, as at the end of its life."""
        with self._lock:
            self._tokens.clear()

    def _new_id(self, at: datetime | None = None) -> str:
        """A new id in the tool's form (`_id_of`); ``at``: when the thing was made."""
        self._serial += 1
        return self._id_of(self._serial, at or self.clock())

    def _id_of(self, serial: int, at: datetime) -> str:
        raise NotImplementedError


def make_json_handler(
    answer: Callable[[Request], Reply], *, server_version: str
) -> type[QuietHandler]:
    """A handler class that turns each request into a ``Request`` and sends ``answer``'s reply."""

    class Handler(DispatchingHandler):
        def _dispatch(self, method: str) -> None:
            raw = self.read_body()
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(
                method=method,
                path=split.path.rstrip("/") or "/",
                query=query,
                headers=headers,
                body=_decode_body(raw, headers.get("content-type", "")),
                raw_query=split.query,
            )
            try:
                reply = answer(request)
            except Exception as exc:  # noqa: BLE001 - keep serving; surface the bug to the client
                reply = Reply(500, {"error": "SANDBOX_BUG", "message": repr(exc)})
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("X-Sandbox", "not-a-real-service")
            for name, value in reply.headers.items():
                if name.lower() != "content-type":
                    self.send_header(name, value)
            if reply.status == 204:
                self.end_headers()
                return
            if isinstance(reply.body, str):
                payload = reply.body.encode("utf-8")
                content_type = "text/plain; charset=utf-8"
            else:
                payload = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
                content_type = "application/json; charset=utf-8"
            self.send_header("Content-Type", reply.headers.get("Content-Type", content_type))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    Handler.server_version = server_version
    return Handler


def _decode_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return None
    form = parse_qs(text, keep_blank_values=True)
    return {k: v[-1] for k, v in form.items()}


def iso_z(moment: datetime) -> str:
    """``2026-12-02T03:04:05.000Z``: how Trello and Graph write instants (milliseconds, UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
