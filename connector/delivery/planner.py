"""Microsoft Planner through Microsoft Graph v1.0, read only (research/fxiaoke_and_tools.md
Part B; learn.microsoft.com ``plannerplan-list-tasks``).

- Auth: an Entra ID app's client credentials at
  ``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` with the scope
  ``https://graph.microsoft.com/.default``; the app needs the application permission
  ``Tasks.Read.All`` (admin consent). The token lives about an hour and is kept in memory.
- A plan is a project (its key: the plan id). Buckets are the stages: a task's status is its
  bucket's name. Tasks in the mapping's milestone buckets are milestones: due
  ``dueDateTime``, ``percentComplete``, delivered when 100 % on ``completedDateTime``'s day.
  The others are work items; Planner's ``priority`` (0-10) reads as its four words: 0-1
  urgent, 2-4 important, 5-7 medium, 8-10 low. A task's type is the name of its first label
  (``appliedCategories``, named in the plan's ``details``), "Task" without one.
- ``GET /planner/plans/{id}/tasks`` pages by ``@odata.nextLink``, followed as given.
- No delta: Graph offers ``plannerTask: delta`` only under ``/beta``, which Microsoft does not
  support in production, and v1.0 tasks carry no modification time. So each run reads each
  linked plan's tasks in full (a plan holds at most a few thousand); the listing also tells
  which tasks were deleted. Planner keeps no bucket history: no waiting intervals.
- Throttling: 429 (and 503) with ``Retry-After`` in seconds, obeyed by the one retry policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
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

GRAPH_URL = "https://graph.microsoft.com"
LOGIN_URL = "https://login.microsoftonline.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TASK_FIELDS = (
    "id,title,bucketId,percentComplete,priority,createdDateTime,startDateTime,dueDateTime,"
    "completedDateTime,appliedCategories"
)
#: A task's type is its first label (Planner's categories, named per plan); without one:
NO_LABEL = "Task"
PRIORITY_WORDS = ("urgent", "urgent", "important", "important", "important") + ("medium",) * 3


def priority_word(value: int | None) -> str | None:
    """Planner's 0-10 priority as the word its UI shows."""
    if value is None:
        return None
    return PRIORITY_WORDS[value] if 0 <= value < len(PRIORITY_WORDS) else "low"


def parse_graph_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


class PlannerClient(ReadInFullClient):
    """Planner plans of one tenant, read with an app's token (implements `DeliverySource`)."""

    tool = "planner"
    token_vendor = "Microsoft"
    default_token_seconds = 3599.0

    def __init__(
        self,
        tenant: str,
        client_id: str,
        client_secret: str,
        transport: HttpTransport,
        *,
        graph_url: str = GRAPH_URL,
        login_url: str = LOGIN_URL,
        milestone_buckets: tuple[str, ...] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(client_id, client_secret, transport, clock)
        self.tenant = tenant
        self.graph_url = graph_url.rstrip("/")
        self.login_url = login_url.rstrip("/")
        self.milestone_buckets = frozenset(milestone_buckets)

    # --- the request path ------------------------------------------------------------------
    def _token_request(self) -> tuple[str, dict[str, Any]]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": GRAPH_SCOPE,
        }
        return f"{self.login_url}/{self.tenant}/oauth2/v2.0/token", {"data": form}

    def _token_in(self, body: dict[str, Any]) -> str | None:
        return str(body["access_token"]) if "access_token" in body else None

    def _refusal(self, body: dict[str, Any]) -> tuple[str, str]:
        said = str(body.get("error_description") or body.get("error") or "").split("\r")[0]
        whose = f"tenant {self.tenant}, client_id {self.client_id}"
        message = f"Entra ID refused the app's credentials ({whose}): {said[:160]}"
        return message, str(body.get("error") or "")

    def _get(
        self, url: str, params: Mapping[str, Any] | None = None, field: str | None = None
    ) -> Any:
        for attempt in (1, 2):
            token = self.token.value()
            response = self.transport.request(
                "GET",
                url if url.startswith("http") else f"{self.graph_url}/v1.0{url}",
                idempotent=True,
                headers=bearer_headers(token),
                params=params,
            )
            if response.status_code == 401 and attempt == 1:
                self.token.refused()  # expired early or revoked: one new token, once
                continue
            break
        if response.status_code >= 400:
            raise _error(url, response, field)
        return json_object(response, "Microsoft")

    def _pages(self, url: str, params: Mapping[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Each page of a Graph collection, following ``@odata.nextLink`` as it is given."""
        next_url: str | None = url
        query: Mapping[str, Any] | None = params
        while next_url:
            body = self._get(next_url, query)
            yield list(body.get("value", []))
            next_url, query = body.get("@odata.nextLink"), None  # the link carries the query

    # --- DeliverySource ----------------------------------------------------------------------
    def project(self, key: str) -> DeliveryProject:
        body = self._get(f"/planner/plans/{key}", {"$select": "id,title"}, field=key)
        return DeliveryProject(key=key, id=str(body["id"]), name=str(body.get("title") or key))

    def vocabulary(self, project: DeliveryProject) -> Vocabulary:
        return Vocabulary(
            statuses=frozenset(self._buckets(project).values()),
            priorities=frozenset(PRIORITY_WORDS) | {"low"},
            types=frozenset(set(self._labels(project).values()) | {NO_LABEL}),
        )

    def releases(self, project: DeliveryProject) -> Iterator[Release]:
        """The milestone tasks. The plan's tasks read here serve ``work_item_pages`` right
        after (the pull asks for both in turn): one reading of the plan per pull, not two."""
        buckets = self._buckets(project)
        pages = self._read_for_pages(project)
        for page in pages:
            for task in page:
                if buckets.get(task.get("bucketId", "")) in self.milestone_buckets:
                    yield _release(project, task, buckets)

    def work_item_pages(
        self, project: DeliveryProject, cursor: str | None
    ) -> Iterator[WorkItemPage]:
        """Every work item of the plan, page by page (no delta in v1.0: see the module)."""
        buckets = self._buckets(project)
        labels = self._labels(project)
        listed: set[str] = set()
        pages = self._pages_read(project)
        for number, page in enumerate(pages, start=1):
            items = tuple(
                _work_item(project, task, buckets, labels)
                for task in page
                if buckets.get(task.get("bucketId", "")) not in self.milestone_buckets
            )
            listed.update(item.key for item in items)
            last = number == len(pages)
            yield WorkItemPage(items=items, cursor=self.clock().isoformat() if last else None)
        self._listed[project.id] = listed

    def work_item_keys(self, project: DeliveryProject) -> set[str] | None:
        listed = self._listed_keys(project)
        if listed is not None:
            return listed  # read in full moments ago by work_item_pages
        buckets = self._buckets(project)
        return {
            str(task["id"])
            for page in self._task_pages(project, fields="id,bucketId")
            for task in page
            if buckets.get(task.get("bucketId", "")) not in self.milestone_buckets
        }

    def _buckets(self, project: DeliveryProject) -> dict[str, str]:
        body = self._get(f"/planner/plans/{project.id}/buckets", {"$select": "id,name"})
        return {str(row["id"]): str(row["name"]) for row in body.get("value", [])}

    def _labels(self, project: DeliveryProject) -> dict[str, str]:
        """category1..category25 -> the label's name in this plan (the ones named)."""
        body = self._get(
            f"/planner/plans/{project.id}/details", {"$select": "categoryDescriptions"}
        )
        names = body.get("categoryDescriptions") or {}
        return {str(k): str(v) for k, v in names.items() if v and not str(k).startswith("@")}

    def _task_pages(
        self, project: DeliveryProject, fields: str = TASK_FIELDS
    ) -> Iterator[list[dict[str, Any]]]:
        return self._pages(f"/planner/plans/{project.id}/tasks", {"$select": fields})


def _release(project: DeliveryProject, task: dict[str, Any], buckets: dict[str, str]) -> Release:
    due = parse_graph_time(task.get("dueDateTime"))
    done = parse_graph_time(task.get("completedDateTime"))
    percent = float(task.get("percentComplete") or 0)
    return Release(
        project_key=project.key,
        id=str(task["id"]),
        name=str(task.get("title") or task["id"]),
        due=due.date() if due else None,
        released=percent >= 100,
        released_on=done.date() if done and percent >= 100 else None,
        percent_complete=percent,
        stage=buckets.get(task.get("bucketId", "")),
    )


def _work_item(
    project: DeliveryProject, task: dict[str, Any], buckets: dict[str, str], labels: dict[str, str]
) -> WorkItem:
    applied = sorted(
        (c for c, on in (task.get("appliedCategories") or {}).items() if on and c in labels),
        key=lambda c: int(c.removeprefix("category") or 0),
    )
    created = parse_graph_time(task.get("createdDateTime")) or datetime.now(UTC)
    completed = parse_graph_time(task.get("completedDateTime"))
    return WorkItem(
        project_key=project.key,
        id=str(task["id"]),
        key=str(task["id"]),
        type=labels[applied[0]] if applied else NO_LABEL,
        status=buckets.get(task.get("bucketId", ""), str(task.get("bucketId"))),
        priority=priority_word(task.get("priority")),
        created=created,
        # v1.0 tasks carry no modification time: the latest instant they do carry.
        updated=max(d for d in (created, completed) if d is not None),
        resolved=completed,
        fields={
            "title": task.get("title"),
            "percentComplete": task.get("percentComplete"),
            "dueDateTime": task.get("dueDateTime"),
            "startDateTime": task.get("startDateTime"),
        },
    )


def _error(url: str, response: requests.Response, field: str | None) -> Exception:
    status = response.status_code
    error = json_object(response, "Microsoft").get("error") or {}
    said = str(error.get("message") or "")[:160] if isinstance(error, dict) else ""
    code = str(error.get("code") or "") if isinstance(error, dict) else ""
    body = trim_body(response.content)
    if status == 401:
        return AuthenticationError(
            f"Microsoft Graph refused the app's token: {said}",
            crm_code=code,
            http_status=status,
            body_excerpt=body,
        )
    if status in (403, 404) and field is not None:
        what = (
            "does not exist"
            if status == 404
            else "is not readable by the app (grant Tasks.Read.All)"
        )
        return ConfigurationError(
            f"Planner plan {field} {what}",
            field=field,
            crm_code=code,
            http_status=status,
            body_excerpt=body,
        )
    if status == 403:
        return ConfigurationError(
            f"Microsoft Graph: the app lacks a permission (Tasks.Read.All): {said}",
            crm_code=code,
            http_status=status,
            body_excerpt=body,
        )
    return RecordError(
        f"GET {url.split('?')[0]} failed: {said}",
        crm_code=code,
        http_status=status,
        body_excerpt=body,
    )
