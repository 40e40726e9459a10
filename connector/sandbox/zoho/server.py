"""Sandbox CRM: a local HTTP imitation of a subset of the Zoho CRM v8 REST API.

Used by the demo, end-to-end tests and benchmarks. It is NOT a real CRM and never talks to Zoho.
Behaviour follows /work/shared/research/zoho.md; section numbers (§n) below refer to that file.
Where the docs are silent the sandbox picks something plausible and says UNCONFIRMED.

Only the standard library is used so the sandbox can run anywhere the project runs.

The endpoints live in records.py, writes.py and metadata.py; the state they share in state.py.
"""

from __future__ import annotations

import json
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..serving import DispatchingHandler, QuietHandler
from . import coql
from .common import (
    _FLAT_CREDITS,
    _NOT_FOUND,
    _TOO_MANY,
    SANDBOX_BANNER,
    SANDBOX_CLOCK_PATH,
    _classify,
    _DropConnection,
    _error,
    _Reply,
    _select_query,
)
from .metadata import Metadata
from .records import RecordReads
from .writes import RecordWrites


class SandboxCRM(RecordReads, RecordWrites, Metadata):
    """A local Zoho CRM v8 lookalike (see module docstring). Thread-safe; one lock guards state."""

    def _handler(self) -> type[QuietHandler]:
        return _make_handler(self)

    # ---- API dispatch

    def _handle_api(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> _Reply:
        parts = [p for p in path.split("/") if p][2:]  # drop "crm", "v8"
        kind, detail = _classify(method, parts, query)
        if kind == "coql":
            detail = coql.module_of(_select_query(body) or "")
        self._record_call(kind, detail)
        if kind == "unknown":
            return _Reply(404, dict(_NOT_FOUND))
        if kind == "bad_method":
            return _Reply(
                400,  # UNCONFIRMED status; Zoho documents the INVALID_REQUEST_METHOD code
                _error("INVALID_REQUEST_METHOD", "The http request method type is not a valid one"),
            )
        with self._lock:
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight + 1)
            if self._in_flight >= self.concurrency_limit:
                return _Reply(429, dict(_TOO_MANY))  # §6
            self._in_flight += 1
        started = self.monotonic()
        try:
            denied = self._check_auth(headers.get("Authorization"))
            if denied is not None:
                return denied
            if self._out_of_credits():
                # §6: 429 also means the daily credits ran out (UNCONFIRMED: Zoho's exact body).
                return _Reply(429, dict(_TOO_MANY), self._credit_headers())
            if kind != "update":  # updates cost by record count, charged in _update()
                self._charge(_FLAT_CREDITS[kind])
            reply = self._dispatch_api(kind, parts, query, headers, body)
            reply.headers.update(self._credit_headers())
            if self.latency_seconds > 0:
                # The latency is the time the CRM takes to answer, its own work included, as
                # a real CRM's response time is: what is left of it after the work. (Sleeping
                # it before the work added the sandbox's processing on top, a few ms per write
                # call, queued behind one another on this process's GIL.)
                left = self.latency_seconds - (self.monotonic() - started)
                if left > 0:
                    self.sleep(left)
            return reply
        finally:
            with self._lock:
                self._in_flight -= 1

    def _dispatch_api(
        self, kind: str, parts: list[str], query: dict[str, str], headers: Any, body: bytes
    ) -> _Reply:
        if kind == "fields":
            return self._get_fields(query)
        if kind == "field":
            return self._get_field(parts[2], query)
        if kind == "create_fields":
            return self._create_fields(query, body)
        if kind == "get_records":
            return self._get_records(parts[0], query, headers.get("If-Modified-Since"))
        if kind == "get_record":
            return self._get_record(parts[0], parts[1], query)
        if kind == "users":
            return self._get_users(parts[1:], query)
        if kind == "org":
            return self._get_org()
        if kind == "modules":
            return self._get_modules()
        if kind == "deleted":
            return self._get_deleted(parts[0], query, headers.get("If-Modified-Since"))
        if kind == "create_tasks":
            return self._create_tasks(body)
        if kind == "coql":
            return self._coql(body)
        return self._update(parts[0], body, parts[1] if len(parts) == 2 else None)


def _make_handler(crm: SandboxCRM) -> type[QuietHandler]:
    """The request handler class bound to ``crm``.

    Long only as a class body is: each of its methods is short, and the class must close over
    ``crm`` because ``http.server`` builds one handler per request from the class alone.
    """

    class Handler(DispatchingHandler):
        server_version = "SandboxCRM/1.0"

        def _dispatch(self, method: str) -> None:
            body = self.read_body()
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            path = split.path.rstrip("/") or "/"
            try:
                reply = self._route(method, path, query, body)
            except _DropConnection:
                # An injected reset or timeout: no answer at all, the socket just closes.
                self.close_connection = True
                try:
                    self.connection.shutdown(2)  # socket.SHUT_RDWR
                except OSError:
                    pass
                return
            except Exception as exc:  # noqa: BLE001 - keep serving; surface the bug to the client
                reply = _Reply(500, _error("INTERNAL_ERROR", f"sandbox error: {exc!r}"))
            self._send(reply)

        def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> _Reply:
            if path == "/" and method == "GET":
                crm._record_call("index", "")
                return _Reply(200, SANDBOX_BANNER + "\n")
            if path == "/oauth/v2/token" and method == "POST":
                params = dict(query)
                content_type = self.headers.get("Content-Type", "")
                if body and "json" not in content_type:
                    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                    params.update({k: v[-1] for k, v in form.items()})
                return crm._token(params)
            if path == SANDBOX_CLOCK_PATH:
                return crm._clock_endpoint(method, body)
            if path.startswith("/crm/v8/"):
                parts = [p for p in path.split("/") if p][2:]
                call = _classify(method, parts, query)
                fault = crm._next_fault(call[0])
                if fault is not None and not fault.after:
                    # Refused before it ran, but received: it is in the call log all the same.
                    crm._record_call(*call)
                    return crm._fault_reply(fault)
                reply = crm._handle_api(method, path, query, self.headers, body)
                if fault is not None:
                    return crm._fault_reply(fault)
                crm._note_served(path, reply)
                return reply
            crm._record_call("unknown", path)
            return _Reply(404, dict(_NOT_FOUND))

        def date_time_string(self, timestamp: float | None = None) -> str:
            # The Date header, from the sandbox's clock (injected in tests) as Zoho's servers
            # send theirs: the client judges how old a Modified_Time is by it.
            return format_datetime(crm._now(), usegmt=True)

        def _send(self, reply: _Reply) -> None:
            self.send_response(reply.status)
            self.send_header("X-Sandbox-CRM", "not-a-real-CRM")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status in (204, 304):
                self.end_headers()  # no body and no Content-Length (RFC 9110)
                return
            if isinstance(reply.body, str):
                payload = reply.body.encode("utf-8")
                self.send_header("Content-Type", "text/plain; charset=utf-8")
            else:
                payload = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
                self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
