"""Sandbox PingCode: a local HTTP imitation of the read side of PingCode's open API v1 (auth,
projects, versions, work items and their types, states, priorities). NOT a real PingCode.

Faithful to PingCode's reference where a client feels it: the client-credentials "enterprise
token" (30 days), ``authorization: Bearer``; lists paged by ``page_size`` (default 30, at most
100) and ``page_index`` (0 first) with ``total`` and ``values``; 10-digit second timestamps;
``updated_between=a,b`` ranges; ``include_deleted``; 200 requests per minute per caller, over
it 429 with ``x-pc-retry-after`` and ``{"code": "100038", "message": "请求频率过高"}``. The
minute is counted on the sandbox's clock (``state.clock``), so tests move it without sleeping.
UNCONFIRMED details (error codes other than 100038, list order) are picked plausibly.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..serving import QuietHandler, ServedOnThread

CALLS_PER_MINUTE = 200
DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
TOKEN_DAYS = 30
#: Work item states by kind, as a PingCode project's default scheme names them.
DEFAULT_STATES = {
    "新建": "pending",
    "进行中": "in_progress",
    "等待客户": "in_progress",
    "已完成": "completed",
    "已关闭": "closed",
}
DEFAULT_PRIORITIES = ("最高", "较高", "普通", "较低", "最低")
DEFAULT_TYPES = {
    "requirement": "需求",
    "task": "任务",
    "bug": "缺陷",
    "issue": "事务",
    "change": "变更",
}


def ts(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


@dataclass
class PcVersion:
    id: str
    project_id: str
    name: str
    end_at: datetime | None
    stage: str = "pending"  # pending / in_progress / published
    progress: float = 0.0
    published_at: datetime | None = None


@dataclass
class PcWorkItem:
    id: str
    identifier: str
    project_id: str
    type: str
    state: str
    priority: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    version_id: str | None = None
    is_deleted: int = 0
    properties: dict[str, Any] = field(default_factory=dict)


class PingCodeState:
    """What the sandbox serves, behind one lock; the counters tests read."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.apps: dict[str, str] = {}  # client id -> secret
        self.tokens: dict[str, tuple[str, datetime]] = {}  # token -> (client id, expiry)
        self.projects: dict[str, dict[str, str]] = {}  # id -> {identifier, name}
        self.versions: dict[str, PcVersion] = {}
        self.items: dict[str, PcWorkItem] = {}
        #: API calls (not token calls) by path; tokens issued; 429s sent; writes (none exist).
        self.calls: Counter[str] = Counter()
        self.tokens_issued = 0
        self.refused_429 = 0
        self.writes = 0
        #: Per caller, the times of its calls in the last minute; the most ever in a minute.
        self._recent: dict[str, deque[datetime]] = {}
        self.busiest_minute = 0
        self._ids = 0

    def new_id(self) -> str:
        with self.lock:
            self._ids += 1
            return f"{self._ids:024x}"

    def add_app(self, client_id: str, secret: str) -> None:
        self.apps[client_id] = secret

    def add_project(self, identifier: str, name: str) -> str:
        with self.lock:
            project_id = self.new_id()
            self.projects[project_id] = {"identifier": identifier, "name": name}
            return project_id

    def project_id(self, identifier: str) -> str:
        return next(i for i, p in self.projects.items() if p["identifier"] == identifier)

    def add_version(
        self,
        identifier: str,
        name: str,
        end_at: datetime | None,
        *,
        stage: str = "pending",
        progress: float = 0.0,
    ) -> str:
        with self.lock:
            version = PcVersion(
                self.new_id(), self.project_id(identifier), name, end_at, stage, progress
            )
            if stage == "published":
                version.published_at = end_at
            self.versions[version.id] = version
            return version.id

    def add_item(
        self,
        identifier: str,
        *,
        type: str = "issue",
        state: str = "新建",
        priority: str | None = "普通",
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
        version_id: str | None = None,
    ) -> str:
        with self.lock:
            project_id = self.project_id(identifier)
            number = 1 + sum(1 for i in self.items.values() if i.project_id == project_id)
            at = created_at or self.clock()
            item = PcWorkItem(
                self.new_id(),
                f"{identifier}-{number}",
                project_id,
                type,
                state,
                priority,
                at,
                updated_at or at,
                version_id=version_id,
            )
            self.items[item.id] = item
            return item.identifier

    def item(self, identifier: str) -> PcWorkItem:
        return next(i for i in self.items.values() if i.identifier == identifier)

    def move(self, identifier: str, state: str, at: datetime | None = None) -> None:
        with self.lock:
            item = self.item(identifier)
            item.state = state
            item.updated_at = at or self.clock()
            kind = DEFAULT_STATES.get(state)
            item.completed_at = item.updated_at if kind in ("completed", "closed") else None

    def delete(self, identifier: str) -> None:
        """PingCode keeps deleted items (``is_deleted: 1``, ``include_deleted=true``)."""
        with self.lock:
            item = self.item(identifier)
            item.is_deleted = 1
            item.updated_at = self.clock()

    def count_call(self, caller: str) -> int | None:
        """Count a call of ``caller``; the seconds to wait when it is over the minute's limit."""
        with self.lock:
            now = self.clock()
            recent = self._recent.setdefault(caller, deque())
            while recent and now - recent[0] >= timedelta(minutes=1):
                recent.popleft()
            if len(recent) >= CALLS_PER_MINUTE:
                self.refused_429 += 1
                left = (recent[0] + timedelta(minutes=1) - now).total_seconds()
                return max(1, math.ceil(left))
            recent.append(now)
            self.busiest_minute = max(self.busiest_minute, len(recent))
            return None


class SandboxPingCode(ServedOnThread):
    """PingCode's open API over real HTTP; ``state`` holds its data."""

    thread_name = "sandbox-pingcode"

    def __init__(self, state: PingCodeState | None = None) -> None:
        self.state = state or PingCodeState()

    def _handler(self) -> type[QuietHandler]:
        sandbox = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                status, body, headers = sandbox.handle("GET", self.path, self.headers)
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                sandbox.state.writes += 1  # nothing here writes; a client that tries is seen
                data = b'{"code":"100404","message":"not in the sandbox"}'
                self.send_response(404)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_PUT = do_PATCH = do_DELETE = do_POST

        return Handler

    def handle(self, method: str, target: str, headers: Any) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        state = self.state
        if path == "/v1/auth/token":
            return self._token(query)
        given = (headers.get("authorization") or "").partition(" ")
        with state.lock:
            known = state.tokens.get(given[2]) if given[0].lower() == "bearer" else None
            if known is None or known[1] <= state.clock():
                return 401, {"code": "100001", "message": "invalid or expired access_token"}, {}
            wait = state.count_call(given[2])
            if wait is not None:
                return (
                    429,
                    {"code": "100038", "message": "请求频率过高"},
                    {"x-pc-retry-after": str(wait)},
                )
            state.calls[path] += 1
            return self._route(path, query)

    def _token(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        state = self.state
        with state.lock:
            if query.get("grant_type") != "client_credentials":
                return 400, {"code": "100002", "message": "unsupported grant_type"}, {}
            if state.apps.get(query.get("client_id", "")) != query.get("client_secret"):
                return 401, {"code": "100003", "message": "invalid client_id or client_secret"}, {}
            token = secrets.token_hex(16)
            expires = state.clock() + timedelta(days=TOKEN_DAYS)
            state.tokens[token] = (query["client_id"], expires)
            state.tokens_issued += 1
            return (
                200,
                {"access_token": token, "token_type": "Bearer", "expires_in": ts(expires)},
                {},
            )

    def _route(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        state = self.state
        if path == "/v1/project/projects":
            values = [
                {
                    "id": i,
                    "identifier": p["identifier"],
                    "name": p["name"],
                    "is_archived": 0,
                    "is_deleted": 0,
                }
                for i, p in state.projects.items()
                if "identifier" not in query or p["identifier"] == query["identifier"]
            ]
            return self._page(values, query)
        if path.startswith("/v1/project/projects/") and path.endswith("/versions"):
            project_id = path.split("/")[4]
            if project_id not in state.projects:
                return 404, {"code": "100404", "message": "project not found"}, {}
            values = [
                self._version(v) for v in state.versions.values() if v.project_id == project_id
            ]
            return self._page(values, query)
        if path == "/v1/project/work_item/types":
            values = [{"id": k, "name": v, "group": k} for k, v in DEFAULT_TYPES.items()]
            return self._page(values, query)
        if path == "/v1/project/work_item/states":
            values = [{"id": n, "name": n, "type": t} for n, t in DEFAULT_STATES.items()]
            return self._page(values, query)
        if path == "/v1/project/work_item/priorities":
            values = [{"id": f"p{n}", "name": p} for n, p in enumerate(DEFAULT_PRIORITIES)]
            return self._page(values, query)
        if path == "/v1/project/work_items":
            return self._work_items(query)
        return 404, {"code": "100404", "message": f"no resource {path} in the sandbox"}, {}

    def _page(
        self,
        values: list[Any],
        query: dict[str, str],
        render: Callable[[Any], Any] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            size = min(int(query.get("page_size", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
            index = int(query.get("page_index", 0))
        except ValueError:
            return 400, {"code": "100010", "message": "page_size and page_index are numbers"}, {}
        chunk = values[index * size : (index + 1) * size]
        if render is not None:
            chunk = [render(v) for v in chunk]
        return (
            200,
            {"page_size": size, "page_index": index, "total": len(values), "values": chunk},
            {},
        )

    def _version(self, v: PcVersion) -> dict[str, Any]:
        names = {"pending": "未开始", "in_progress": "进行中", "published": "已发布"}
        return {
            "id": v.id,
            "name": v.name,
            "end_at": ts(v.end_at),
            "stage": {"name": names[v.stage], "type": v.stage},
            "stages": [
                {"name": "未开始", "operate_at": None},
                {"name": "进行中", "operate_at": None},
                {"name": "已发布", "operate_at": ts(v.published_at)},
            ],
            "progress": v.progress,
        }

    def _work_items(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        state = self.state
        projects = [p for p in query.get("project_ids", "").split(",") if p]
        if len(projects) > 20:
            return 400, {"code": "100010", "message": "project_ids: at most 20"}, {}
        low, high = _between(query.get("updated_between"))
        deleted = query.get("include_deleted") == "true"
        found = [
            i
            for i in state.items.values()
            if (not projects or i.project_id in projects)
            and (deleted or not i.is_deleted)
            # "1580000000 表示...大于该时间": the lower bound is exclusive (UNCONFIRMED).
            and (low is None or ts(i.updated_at) > low)  # type: ignore[operator]
            and (high is None or ts(i.updated_at) <= high)  # type: ignore[operator]
        ]
        return self._page(found, query, self._item)

    def _item(self, i: PcWorkItem) -> dict[str, Any]:
        version = self.state.versions.get(i.version_id or "")
        return {
            "id": i.id,
            "identifier": i.identifier,
            "project": {
                "id": i.project_id,
                "identifier": self.state.projects[i.project_id]["identifier"],
            },
            "type": i.type,
            "state": {"name": i.state, "type": DEFAULT_STATES.get(i.state, "pending")},
            "priority": {"id": i.priority, "name": i.priority} if i.priority else None,
            "version": {"id": version.id, "name": version.name} if version else None,
            "created_at": ts(i.created_at),
            "updated_at": ts(i.updated_at),
            "completed_at": ts(i.completed_at),
            "properties": i.properties,
            "is_archived": 0,
            "is_deleted": i.is_deleted,
        }


def _between(value: str | None) -> tuple[int | None, int | None]:
    """``a,b`` / ``,b`` / ``a`` (PingCode's ranges of 10-digit seconds)."""
    if not value:
        return None, None
    low, _, high = value.partition(",")
    return (int(low) if low else None), (int(high) if high else None)
