"""A local imitation of Worktile's current open API (``https://<team>.worktile.com/open-api/…``).

Worktile's public documentation of this API is thin (research/fxiaoke_and_tools.md Part B);
much of what follows comes from public code that calls it, so most of it is UNCONFIRMED and
the sandbox can answer in either reading, for the client to be tested against both:

- ``POST /open-api/tenant-access-token`` with ``client_id``/``client_secret`` (in a JSON body,
  a form or the query: UNCONFIRMED) answers the token under ``tenant_access_token`` or under
  ``access_token`` (``token_field``), with ``expires_in`` (seconds; 7,200 here, UNCONFIRMED);
- calls carry the token as ``Authorization: Bearer`` or ``?access_token=`` (both documented);
- ``GET /open-api/mission/get-projects-by-page`` and
  ``/open-api/mission/get-project-tasks-by-page?project_id=`` page with ``page_index`` (from 0)
  and ``page_size`` (at most 100 here, UNCONFIRMED), answering ``items`` or ``value``
  (``list_field``) with ``total`` and ``has_more``;
- a task has ``_id``, ``identifier``, ``title``, ``project_id``, ``created_at``/``updated_at``
  (10-digit seconds), a ``task_state`` ``{name, type}``, a ``priority`` ``{name}``, a
  ``task_type`` ``{name}`` ("任务", "里程碑"…: UNCONFIRMED field), and its due
  date either as ``due: {date, with_time}`` or flat ``due_at`` (``due_shape``);
- errors: ``{"ok": false, "error_code", "error_message"}``, in an HTTP 200 or with a 4xx status
  (``errors_in_200``). 1103 is an invalid or expired token (seen in public code); the sandbox's
  own codes, where none is known, are in ``SANDBOX_CODES``;
- a rate limit of ``calls_per_minute`` per token (200 here; Worktile publishes none,
  UNCONFIRMED), answered 429 with a ``Retry-After`` in seconds.

The legacy ``api.worktile.com/v1`` API is not imitated: the current API has the projects and
tasks the connector reads. Time is injected.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..delivery_http import BoardSandbox, Call, Reply, Request, SlidingWindow, make_json_handler
from ..serving import QuietHandler

WORKTILE_SANDBOX_BANNER = (
    "SANDBOX WORKTILE — a local imitation of Worktile's open API; not Worktile"
)
MAX_PAGE_SIZE = 100
TOKEN_LIFE = timedelta(seconds=7200)
INVALID_TOKEN = 1103
SANDBOX_CODES = {"bad_client": 1101, "no_project": 2001, "bad_request": 1000, "rate": 1429}


class WorktileSandbox(BoardSandbox):
    thread_name = "worktile-sandbox"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        token_field: str = "tenant_access_token",
        list_field: str = "items",
        due_shape: str = "nested",
        errors_in_200: bool = True,
        calls_per_minute: int = 200,
        client_id: str = "sandbox-worktile-app",
        client_secret: str = "sandbox-worktile-secret-77",
    ) -> None:
        super().__init__(clock)
        self.token_field = token_field
        self.list_field = list_field
        self.due_shape = due_shape
        self.errors_in_200 = errors_in_200
        self.client_id = client_id
        self.client_secret = client_secret
        self.window = SlidingWindow(calls_per_minute, timedelta(minutes=1), self._clock)
        self.projects: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.tokens_issued = 0

    # --- what a test or a person does in Worktile --------------------------------------------
    def add_project(self, name: str, identifier: str) -> str:
        with self._lock:
            project_id = self._new_id()
            self.projects[project_id] = {
                "_id": project_id,
                "name": name,
                "identifier": identifier,
                "created_at": self._seconds(),
            }
            return project_id

    def add_task(
        self,
        project_id: str,
        title: str,
        *,
        state: str = "未开始",
        priority: str = "普通",
        kind: str = "任务",
        due: datetime | None = None,
        at: datetime | None = None,
    ) -> str:
        with self._lock:
            task_id = self._new_id()
            project = self.projects[project_id]
            number = sum(1 for t in self.tasks.values() if t["project_id"] == project_id) + 1
            moment = int((at or self.clock()).timestamp())
            self.tasks[task_id] = {
                "_id": task_id,
                "identifier": f"{project['identifier']}-{number}",
                "title": title,
                "project_id": project_id,
                "created_at": moment,
                "updated_at": moment,
                "task_state": {"name": state, "type": _STATE_TYPES.get(state, 1)},
                "priority": {"name": priority},
                "task_type": {"name": kind},
                "due": int(due.timestamp()) if due else None,
            }
            return task_id

    def update_task(self, task_id: str, at: datetime | None = None, **fields: Any) -> None:
        """Change ``state=``, ``priority=``, ``due=``, ``title=``; ``updated_at`` moves on."""
        with self._lock:
            row = self.tasks[task_id]
            if "state" in fields:
                state = fields.pop("state")
                row["task_state"] = {"name": state, "type": _STATE_TYPES.get(state, 1)}
            if "priority" in fields:
                row["priority"] = {"name": fields.pop("priority")}
            if "due" in fields:
                due = fields.pop("due")
                row["due"] = int(due.timestamp()) if due else None
            row.update(fields)
            row["updated_at"] = int((at or self.clock()).timestamp())

    def delete_task(self, task_id: str) -> None:
        with self._lock:
            del self.tasks[task_id]

    def api_calls(self) -> int:
        return sum(1 for c in self.calls if c.path.startswith("/open-api/mission/"))

    def _id_of(self, serial: int, at: datetime) -> str:
        return f"5f{serial:022x}"

    def _seconds(self) -> int:
        return int(self.clock().timestamp())

    # --- serving -----------------------------------------------------------------------------
    def _handler(self) -> type[QuietHandler]:
        return make_json_handler(self.answer, server_version="SandboxWorktile/1.0")

    def answer(self, request: Request) -> Reply:
        with self._lock:
            self.calls.append(Call(self.clock(), request.method, request.path))
            if request.path == "/":
                return Reply(200, WORKTILE_SANDBOX_BANNER + "\n")
            if request.path == "/open-api/tenant-access-token":
                params = dict(request.query)
                if isinstance(request.body, dict):
                    params.update(request.body)
                return self._token(params)
            if request.path.startswith("/open-api/"):
                return self._api(request)
            return self._error(404, SANDBOX_CODES["bad_request"], "not found")

    def _token(self, params: dict[str, Any]) -> Reply:
        if params.get("client_id") != self.client_id or params.get("client_secret") != (
            self.client_secret
        ):
            return self._error(
                401, SANDBOX_CODES["bad_client"], "invalid client_id or client_secret"
            )
        token = "wt." + secrets.token_urlsafe(20)
        self._tokens[token] = self.clock() + TOKEN_LIFE
        self.tokens_issued += 1
        return Reply(200, {self.token_field: token, "expires_in": int(TOKEN_LIFE.total_seconds())})

    def _api(self, request: Request) -> Reply:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        token = token or request.query.get("access_token", "")
        expires = self._tokens.get(token)
        if expires is None or expires <= self.clock():
            return self._error(401, INVALID_TOKEN, "invalid access token")
        wait = self._throttle.pop(0) if self._throttle else self.window.admit(token)
        if wait is not None:
            self.refused_429 += 1
            reply = self._error(429, SANDBOX_CODES["rate"], "too many requests")
            reply.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return reply
        try:
            index = int(request.query.get("page_index", 0) or 0)
            size = min(int(request.query.get("page_size", 20) or 20), MAX_PAGE_SIZE)
        except ValueError:
            return self._error(400, SANDBOX_CODES["bad_request"], "page_index/page_size")
        if request.path == "/open-api/mission/get-projects-by-page":
            return self._page(list(self.projects.values()), index, size)
        if request.path == "/open-api/mission/get-project-tasks-by-page":
            project_id = request.query.get("project_id", "")
            if project_id not in self.projects:
                return self._error(
                    404, SANDBOX_CODES["no_project"], f"project {project_id} not found"
                )
            rows = [
                self._task_json(t) for t in self.tasks.values() if t["project_id"] == project_id
            ]
            return self._page(rows, index, size)
        return self._error(404, SANDBOX_CODES["bad_request"], "no such API")

    def _task_json(self, task: dict[str, Any]) -> dict[str, Any]:
        body = dict(task)
        due = body.pop("due")
        if self.due_shape == "flat":
            body["due_at"] = due
        else:
            body["due"] = {"date": due, "with_time": 0} if due else None
        return body

    def _page(self, rows: list[dict[str, Any]], index: int, size: int) -> Reply:
        chunk = rows[index * size : (index + 1) * size]
        return Reply(
            200,
            {
                self.list_field: chunk,
                "total": len(rows),
                "has_more": (index + 1) * size < len(rows),
                "page_index": index,
                "page_size": size,
            },
        )

    def _error(self, status: int, code: int, message: str) -> Reply:
        body = {"ok": False, "error_code": code, "error_message": message}
        return Reply(200 if self.errors_in_200 and status != 429 else status, body)


#: State names Worktile shows (public code lists them) and a type per group, UNCONFIRMED.
_STATE_TYPES = {"未开始": 1, "进行中": 2, "待确认": 2, "挂起": 2, "已完成": 3}
