"""Worktile's current open API (``https://<team>.worktile.com/open-api/…``), read only
(research/fxiaoke_and_tools.md Part B).

Worktile documents this API thinly; what is not confirmed is read both ways, as noted:

- Auth: ``POST /open-api/tenant-access-token`` with the app's ``client_id``/``client_secret``
  (a JSON body; the parameters are UNCONFIRMED). The token comes back under
  ``tenant_access_token`` or ``access_token`` (UNCONFIRMED: both are read), with
  ``expires_in`` (7,200 s assumed when absent). Calls send it as ``Authorization: Bearer``.
- Errors come as ``{"ok": false, "error_code", "error_message"}``, in an HTTP 200 or with a
  4xx status (UNCONFIRMED: both are read); 1103 is an invalid or expired token: a new token is
  fetched once.
- Projects: ``/open-api/mission/get-projects-by-page``; tasks:
  ``/open-api/mission/get-project-tasks-by-page?project_id=``; both page with ``page_index``
  (from 0) and ``page_size`` (100, the largest assumed), and answer ``items`` or ``value``
  (UNCONFIRMED: both read) with ``has_more``/``total``.
- A task's due date is ``due: {date}`` or a flat ``due_at`` (UNCONFIRMED: both read), in
  10-digit seconds; its state is ``task_state.name`` (completed when ``type`` is 3,
  UNCONFIRMED), its priority ``priority.name``, its type ``task_type.name`` ("任务" when none).
- No "changed since" filter is documented: each run reads each linked project's tasks in full
  and hands on those whose ``updated_at`` is at or after the cursor; the same listing tells
  deletions. The legacy ``api.worktile.com/v1`` API is not used: the current one has what the
  connector reads.
- Worktile publishes no rate limit (UNCONFIRMED): the client paces itself (200 a minute by
  default) and obeys a 429's ``Retry-After`` through the one retry policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import requests

from connector.delivery.answers import json_object
from connector.delivery.base import (
    DeliveryProject,
    Release,
    Vocabulary,
    WorkItem,
    WorkItemPage,
)
from connector.delivery.read_in_full import ReadInFullClient
from connector.delivery.tokens import bearer_headers
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    RecordError,
    trim_body,
)
from connector.http import HttpTransport

PAGE_SIZE = 100
INVALID_TOKEN = 1103
COMPLETED_STATE_TYPE = 3
DEFAULT_TYPE = "任务"
DEFAULT_TOKEN_SECONDS = 7200.0


def seconds_to_time(value: Any) -> datetime | None:
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), UTC)


class WorktileClient(ReadInFullClient):
    """One Worktile team, read with an app's tenant token (implements `DeliverySource`)."""

    tool = "worktile"
    token_vendor = "Worktile"
    default_token_seconds = DEFAULT_TOKEN_SECONDS

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        transport: HttpTransport,
        *,
        milestone_types: tuple[str, ...] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(client_id, client_secret, transport, clock)
        self.base_url = base_url.rstrip("/")
        self.milestone_types = frozenset(milestone_types)

    # --- the request path ------------------------------------------------------------------
    def _token_request(self) -> tuple[str, dict[str, Any]]:
        body = {"client_id": self.client_id, "client_secret": self._secret}
        return f"{self.base_url}/open-api/tenant-access-token", {"json": body}

    def _token_in(self, body: dict[str, Any]) -> str | None:
        token = body.get("tenant_access_token") or body.get("access_token")
        return None if body.get("ok") is False or not token else str(token)

    def _refusal(self, body: dict[str, Any]) -> tuple[str, str]:
        said = body.get("error_message") or body.get("message") or "no token in the answer"
        return (
            f"Worktile refused the app's credentials (client_id {self.client_id}): {said}",
            str(body.get("error_code") or ""),
        )

    def _get(
        self, path: str, params: Mapping[str, Any], field: str | None = None
    ) -> dict[str, Any]:
        for attempt in (1, 2):
            token = self.token.value()
            response = self.transport.request(
                "GET",
                f"{self.base_url}/open-api{path}",
                idempotent=True,
                headers=bearer_headers(token),
                params=params,
            )
            body = json_object(response, "Worktile")
            refused = response.status_code >= 400 or body.get("ok") is False
            if refused and _code(body) == INVALID_TOKEN and attempt == 1:
                self.token.refused()
                continue
            if refused:
                raise _error(path, response, body, field)
            return body
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _pages(
        self, path: str, params: Mapping[str, Any], field: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        index = 0
        while True:
            body = self._get(path, {**params, "page_index": index, "page_size": PAGE_SIZE}, field)
            rows = body.get("items")
            if rows is None:
                rows = body.get("value") or []
            yield list(rows)
            total = body.get("total")
            more = body.get("has_more")
            if more is None:  # only a total: count it
                more = isinstance(total, int) and (index + 1) * PAGE_SIZE < total
            if not more or not rows:
                return
            index += 1

    # --- DeliverySource ----------------------------------------------------------------------
    def project(self, key: str) -> DeliveryProject:
        """The project whose identifier (e.g. "KF") or id is ``key``."""
        for page in self._pages("/mission/get-projects-by-page", {}):
            for row in page:
                if key in (row.get("identifier"), row.get("_id"), row.get("id")):
                    project_id = str(row.get("_id") or row.get("id"))
                    return DeliveryProject(key=key, id=project_id, name=str(row.get("name") or key))
        raise ConfigurationError(
            f"Worktile project {key} does not exist or the app cannot see it", field=key
        )

    def vocabulary(self, project: DeliveryProject) -> Vocabulary:
        # Worktile lists no states or priorities that we know of: nothing to check against.
        return Vocabulary()

    def releases(self, project: DeliveryProject) -> Iterator[Release]:
        """The milestone tasks. The pages read here serve ``work_item_pages`` right after
        (the pull asks for both in turn): one reading of the project per pull, not two."""
        pages = self._read_for_pages(project)
        for task in (t for page in pages for t in page):
            if _type(task) in self.milestone_types:
                yield _release(project, task)

    def work_item_pages(
        self, project: DeliveryProject, cursor: str | None
    ) -> Iterator[WorkItemPage]:
        since = int(cursor) if cursor and cursor.isdigit() else 0
        listed: set[str] = set()
        newest = since
        pages = []
        for page in self._pages_read(project):
            tasks = [t for t in page if _type(t) not in self.milestone_types]
            listed.update(_key(t) for t in tasks)
            newest = max([newest, *(int(t.get("updated_at") or 0) for t in tasks)])
            # At or after the cursor: a task updated in the cursor's second is read again.
            pages.append(
                tuple(
                    _work_item(project, t) for t in tasks if int(t.get("updated_at") or 0) >= since
                )
            )
        self._listed[project.id] = listed
        for number, items in enumerate(pages, start=1):
            yield WorkItemPage(items=items, cursor=str(newest) if number == len(pages) else None)

    def work_item_keys(self, project: DeliveryProject) -> set[str] | None:
        listed = self._listed_keys(project)
        if listed is not None:
            return listed
        return {_key(t) for t in self._tasks(project) if _type(t) not in self.milestone_types}

    def _tasks(self, project: DeliveryProject) -> Iterator[dict[str, Any]]:
        for page in self._task_pages(project):
            yield from page

    def _task_pages(self, project: DeliveryProject) -> Iterator[list[dict[str, Any]]]:
        return self._pages(
            "/mission/get-project-tasks-by-page", {"project_id": project.id}, project.key
        )


def _type(task: Mapping[str, Any]) -> str:
    kind = task.get("task_type")
    return str(kind.get("name")) if isinstance(kind, dict) and kind.get("name") else DEFAULT_TYPE


def _key(task: Mapping[str, Any]) -> str:
    return str(task.get("identifier") or task.get("_id"))


def _due(task: Mapping[str, Any]) -> date | None:
    due = task.get("due")
    raw = due.get("date") if isinstance(due, dict) else due
    moment = seconds_to_time(raw if raw not in (None, "") else task.get("due_at"))
    return moment.date() if moment else None


def _state(task: Mapping[str, Any]) -> tuple[str, int]:
    state = task.get("task_state")
    if isinstance(state, dict):
        return str(state.get("name") or ""), int(state.get("type") or 0)
    return str(state or ""), int(task.get("state_type") or 0)


def _release(project: DeliveryProject, task: Mapping[str, Any]) -> Release:
    name, kind = _state(task)
    done = kind == COMPLETED_STATE_TYPE
    finished = seconds_to_time(task.get("completed_at") or task.get("updated_at"))
    return Release(
        project_key=project.key,
        id=str(task.get("_id")),
        name=str(task.get("title") or _key(task)),
        due=_due(task),
        released=done,
        released_on=finished.date() if done and finished else None,
        percent_complete=100.0 if done else None,
        stage=name,
    )


def _work_item(project: DeliveryProject, task: Mapping[str, Any]) -> WorkItem:
    name, kind = _state(task)
    created = seconds_to_time(task.get("created_at")) or datetime.now(UTC)
    updated = seconds_to_time(task.get("updated_at")) or created
    priority = task.get("priority")
    return WorkItem(
        project_key=project.key,
        id=str(task.get("_id")),
        key=_key(task),
        type=_type(task),
        status=name,
        priority=str(priority.get("name"))
        if isinstance(priority, dict) and priority.get("name")
        else None,
        created=created,
        updated=updated,
        resolved=(seconds_to_time(task.get("completed_at")) or updated)
        if kind == COMPLETED_STATE_TYPE
        else None,
        fields={"title": task.get("title"), "due": _due(task)},
    )


def _code(body: Mapping[str, Any]) -> int | None:
    try:
        return int(body.get("error_code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _error(
    path: str, response: requests.Response, body: Mapping[str, Any], field: str | None
) -> Exception:
    code = _code(body)
    said = str(body.get("error_message") or body.get("message") or "")[:160]
    excerpt = trim_body(response.content)
    if code == INVALID_TOKEN or response.status_code == 401:
        return AuthenticationError(
            f"Worktile refused the tenant token: {said}",
            crm_code=str(code),
            http_status=response.status_code,
            body_excerpt=excerpt,
        )
    if response.status_code == 404 and field is not None:
        return ConfigurationError(
            f"Worktile project {field} does not exist",
            field=field,
            crm_code=str(code),
            http_status=response.status_code,
            body_excerpt=excerpt,
        )
    return RecordError(
        f"GET {path} failed: {said}",
        crm_code=str(code),
        http_status=response.status_code,
        body_excerpt=excerpt,
    )
