"""A local imitation of Microsoft Graph's Planner API and the Entra ID token endpoint.

It follows research/fxiaoke_and_tools.md Part B and Microsoft Learn, not our client:

- ``POST /{tenant}/oauth2/v2.0/token`` (client credentials, form-encoded, ``scope`` ending in
  ``/.default``) answers ``{"token_type": "Bearer", "expires_in": 3599, "access_token": …}``;
  errors as Entra ID writes them: ``invalid_client`` (AADSTS7000215, a wrong secret, 401),
  ``unauthorized_client`` (AADSTS700016, an unknown app), ``invalid_request`` (AADSTS90002, an
  unknown tenant), ``invalid_scope``;
- ``GET /v1.0/planner/plans/{id}``, ``/details`` (the labels' names, ``categoryDescriptions``),
  ``/buckets``, ``/tasks`` (``@odata.nextLink`` with a
  ``$skiptoken``, ``$select``, ``$top``), ``/v1.0/planner/tasks/{id}``; tasks carry
  ``percentComplete``, ``dueDateTime``, ``completedDateTime``, ``bucketId``, ``priority``;
- Graph's errors ``{"error": {"code", "message", "innerError"}}``: 401
  ``InvalidAuthenticationToken``, 404 for an unknown plan, 429 ``TooManyRequests`` with a
  ``Retry-After`` in seconds.

Not served: delta queries. Graph offers ``plannerTask: delta`` only under ``/beta``, which
Microsoft does not support in production, so the client reads each plan's tasks in full.
How many requests Planner allows is not published (UNCONFIRMED); the sandbox throttles at
``requests_per_window`` per app (default 100 per 10 s) and can be told to throttle the next
calls outright (``throttle_next``). Its page size (``page_size``, default 100) is its own
choice too: clients follow ``@odata.nextLink`` and never count on a size. Time is injected.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from ..delivery_http import (
    BoardSandbox,
    Call,
    Reply,
    Request,
    SlidingWindow,
    iso_z,
    make_json_handler,
)
from ..serving import QuietHandler

PLANNER_SANDBOX_BANNER = (
    "SANDBOX MICROSOFT GRAPH (Planner) — a local imitation for demos and tests; not Microsoft"
)
TOKEN_LIFE = timedelta(seconds=3599)
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class PlannerSandbox(BoardSandbox):
    thread_name = "planner-sandbox"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        page_size: int = 100,
        requests_per_window: int = 100,
        window: timedelta = timedelta(seconds=10),
        tenant: str = "0a1b2c3d-sandbox-tenant",
        client_id: str = "5e6f7a8b-sandbox-app",
        client_secret: str = "sandbox-entra-secret~9x",
    ) -> None:
        super().__init__(clock)
        self.page_size = page_size
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.window = SlidingWindow(requests_per_window, window, self._clock)
        self.plans: dict[str, dict[str, Any]] = {}
        self.buckets: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.details: dict[str, dict[str, Any]] = {}
        #: Requests that would change something (refused: the sandbox is read-only).
        self.writes = 0
        self.tokens_issued = 0

    # --- what a test or a person does in Planner ---------------------------------------------
    def add_plan(
        self,
        title: str,
        buckets: tuple[str, ...],
        *,
        labels: tuple[str, ...] = (),
        plan_id: str | None = None,
    ) -> str:
        """A plan with ``buckets``; ``labels`` name its categories (category1, category2…)."""
        with self._lock:
            plan_id = plan_id or self._new_id()
            self.details[plan_id] = {
                "id": plan_id,
                "sharedWith": {},
                "categoryDescriptions": {
                    f"category{n}": (labels[n - 1] if n <= len(labels) else None)
                    for n in range(1, 26)
                },
            }
            group = self._new_id()
            self.plans[plan_id] = {
                "id": plan_id,
                "title": title,
                "owner": group,
                "createdDateTime": iso_z(self.clock()),
                "container": {"containerId": group, "type": "group", "url": ""},
            }
            for pos, name in enumerate(buckets):
                bucket_id = self._new_id()
                self.buckets[bucket_id] = {
                    "id": bucket_id,
                    "name": name,
                    "planId": plan_id,
                    "orderHint": f"858{pos:04d}",
                }
            return plan_id

    def bucket_id(self, plan_id: str, name: str) -> str:
        return next(
            b for b, row in self.buckets.items() if row["planId"] == plan_id and row["name"] == name
        )

    def add_task(
        self,
        plan_id: str,
        bucket: str,
        title: str,
        *,
        due: datetime | None = None,
        start: datetime | None = None,
        percent: int = 0,
        completed: datetime | None = None,
        priority: int = 5,
        labels: tuple[str, ...] = (),
        at: datetime | None = None,
    ) -> str:
        with self._lock:
            task_id = self._new_id()
            names = self.details[plan_id]["categoryDescriptions"]
            categories = {c: True for c, name in names.items() if name in labels}
            self.tasks[task_id] = {
                "id": task_id,
                "planId": plan_id,
                "bucketId": self.bucket_id(plan_id, bucket),
                "title": title,
                "orderHint": "8585",
                "assigneePriority": "",
                "percentComplete": percent,
                "priority": priority,
                "startDateTime": iso_z(start) if start else None,
                "createdDateTime": iso_z(at or self.clock()),
                "dueDateTime": iso_z(due) if due else None,
                "completedDateTime": iso_z(completed) if completed else None,
                "completedBy": {"user": {"id": "sandbox-user"}} if completed else None,
                "hasDescription": False,
                "previewType": "automatic",
                "referenceCount": 0,
                "checklistItemCount": 0,
                "activeChecklistItemCount": 0,
                "conversationThreadId": None,
                "appliedCategories": categories,
                "assignments": {},
                "createdBy": {"user": {"id": "sandbox-user", "displayName": None}},
            }
            return task_id

    def update_task(self, task_id: str, **fields: Any) -> None:
        with self._lock:
            row = self.tasks[task_id]
            for name, value in fields.items():
                row[name] = iso_z(value) if isinstance(value, datetime) else value

    def delete_task(self, task_id: str) -> None:
        with self._lock:
            del self.tasks[task_id]

    def delete_bucket(self, plan_id: str, name: str) -> None:
        with self._lock:
            del self.buckets[self.bucket_id(plan_id, name)]

    def graph_calls(self) -> int:
        return sum(1 for c in self.calls if c.path.startswith("/v1.0/"))

    def _id_of(self, serial: int, at: datetime) -> str:
        return f"sbx{serial:025d}"  # 28 characters, as Planner's ids are

    # --- serving -----------------------------------------------------------------------------
    def _handler(self) -> type[QuietHandler]:
        return make_json_handler(self.answer, server_version="SandboxGraph/1.0")

    def answer(self, request: Request) -> Reply:
        with self._lock:
            self.calls.append(Call(self.clock(), request.method, request.path, self.client_id))
            if request.path == "/":
                return Reply(200, PLANNER_SANDBOX_BANNER + "\n")
            if request.path.endswith("/oauth2/v2.0/token") and request.method == "POST":
                return self._token(request.path.split("/")[1], request.body or {})
            if request.path.startswith("/v1.0/"):
                return self._graph(request)
            return _graph_error(404, "BadRequest", "Invalid version.")

    def _token(self, tenant: str, form: dict[str, str]) -> Reply:
        if tenant != self.tenant:
            return _entra_error(
                400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.", 90002
            )
        if form.get("grant_type") != "client_credentials":
            return _entra_error(400, "unsupported_grant_type", "AADSTS70003", 70003)
        if form.get("client_id") != self.client_id:
            return _entra_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not "
                "found in the directory.",
                700016,
            )
        if form.get("client_secret") != self.client_secret:
            return _entra_error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                "the request is the client secret value, not the client secret ID.",
                7000215,
            )
        if not str(form.get("scope", "")).endswith("/.default"):
            return _entra_error(
                400, "invalid_scope", "AADSTS1002012: scope must be /.default", 1002012
            )
        token = "sbx." + secrets.token_urlsafe(24)
        self._tokens[token] = self.clock() + TOKEN_LIFE
        self.tokens_issued += 1
        body = {
            "token_type": "Bearer",
            "expires_in": int(TOKEN_LIFE.total_seconds()),
            "ext_expires_in": int(TOKEN_LIFE.total_seconds()),
            "access_token": token,
        }
        return Reply(200, body)

    def _graph(self, request: Request) -> Reply:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if not token:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        expires = self._tokens.get(token)
        if expires is None or expires <= self.clock():
            return _graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        if self._throttle:
            return self._too_many(self._throttle.pop(0))
        wait = self.window.admit(self.client_id)
        if wait is not None:
            return self._too_many(max(1, math.ceil(wait)))
        if request.method != "GET":
            self.writes += 1
            return _graph_error(405, "MethodNotAllowed", "The sandbox is read-only.")
        return self._route(request)

    def _too_many(self, seconds: int) -> Reply:
        self.refused_429 += 1
        reply = _graph_error(429, "TooManyRequests", "Too many requests. Please try again later.")
        reply.headers["Retry-After"] = str(seconds)
        return reply

    def _route(self, request: Request) -> Reply:
        parts = request.path.split("/")[2:]  # after "v1.0"
        if parts[:2] == ["planner", "tasks"] and len(parts) == 3:
            task = self.tasks.get(parts[2])
            if task is None:
                return _graph_error(404, "", "The requested item is not found.")
            return Reply(200, _entity(task, request.query.get("$select")))
        if parts[:2] != ["planner", "plans"] or len(parts) < 3:
            return _graph_error(
                400, "BadRequest", f"Resource not found for the segment '{parts[0]}'."
            )
        plan = self.plans.get(parts[2])
        if plan is None:
            return _graph_error(404, "", "The requested item is not found.")
        rest = parts[3:]
        if not rest:
            return Reply(200, _entity(plan, request.query.get("$select")))
        if rest == ["details"]:
            return Reply(200, _entity(self.details[plan["id"]], request.query.get("$select")))
        if rest == ["buckets"]:
            rows = [b for b in self.buckets.values() if b["planId"] == plan["id"]]
            return Reply(200, {"@odata.context": _CONTEXT + "buckets", "value": rows})
        if rest == ["tasks"]:
            return Reply(200, self._task_page(plan["id"], request))
        return _graph_error(400, "BadRequest", f"Resource not found for the segment '{rest[0]}'.")

    def _task_page(self, plan_id: str, request: Request) -> dict[str, Any]:
        rows = [t for t in self.tasks.values() if t["planId"] == plan_id]
        size = self.page_size
        if request.query.get("$top"):
            size = min(size, int(request.query["$top"]))
        offset = int(request.query.get("$skiptoken", "0") or 0)
        chunk = rows[offset : offset + size]
        select = request.query.get("$select")
        page: dict[str, Any] = {
            "@odata.context": _CONTEXT + "planner/plans/tasks",
            "value": [_entity(t, select) for t in chunk],
        }
        if offset + size < len(rows):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(offset + size)
            host = request.headers.get("host", "127.0.0.1")
            page["@odata.nextLink"] = (
                f"http://{host}/v1.0/planner/plans/{plan_id}/tasks?{urlencode(query)}"
            )
        return page


_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"


def _entity(row: dict[str, Any], select: str | None) -> dict[str, Any]:
    body = {"@odata.etag": 'W/"JzEtVGFzayAgQEBAQEBAQEBAQEBAQEBAQCc="', **row}
    if not select:
        return body
    names = {"id", *select.split(",")}
    return {k: v for k, v in body.items() if k in names or k.startswith("@odata")}


def _graph_error(status: int, code: str, message: str) -> Reply:
    return Reply(
        status,
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {"request-id": "sandbox", "date": "", "client-request-id": ""},
            }
        },
    )


def _entra_error(status: int, error: str, description: str, code: int) -> Reply:
    return Reply(
        status,
        {"error": error, "error_description": description, "error_codes": [code]},
    )
