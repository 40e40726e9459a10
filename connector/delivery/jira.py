"""Jira Cloud (REST v3), read only: projects, versions, issues with their status history and
worklogs (research/fxiaoke_and_tools.md Part B).

- Auth: Basic with the account's e-mail and an API token (scripts), or an OAuth 2.0 (3LO)
  bearer token; for the latter the base URL is ``https://api.atlassian.com/ex/jira/<cloudId>``.
- Issues: ``POST /rest/api/3/search/jql`` with ``nextPageToken`` paging (no ``total``; the old
  ``/search`` is gone) and the ``fields`` named explicitly (without them only ids come back).
  Jira may return fewer than ``maxResults`` (100 with fields; 5,000 for ids/keys only): we
  follow ``nextPageToken`` / ``isLast``, never our own count.
- Incremental by JQL ``updated >= "yyyy/MM/dd HH:mm"``: minute precision, in the *user's*
  time zone (``GET /rest/api/3/myself`` ``timeZone``), so each run re-reads the cursor's minute.
- Status history from ``expand=changelog`` (the rest from ``/issue/{key}/changelog`` when an
  issue has more than came inline); worklogs from the ``worklog`` field (20 inline, the rest
  from ``/issue/{key}/worklog``).
- 429 with ``Retry-After`` is obeyed by the one retry policy (connector/retry.py).
- Errors come as ``{"errorMessages": [...], "errors": {field: message}}``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from connector.delivery.base import (
    DeliveryProject,
    Release,
    StatusChange,
    TimeLog,
    Vocabulary,
    WorkItem,
    WorkItemPage,
)
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    RecordError,
    UnavailableError,
    trim_body,
)
from connector.http import HttpTransport
from connector.redact import register_secret

#: Issues per search page when fields are asked for (Jira caps it there; it may send fewer).
PAGE_SIZE = 100
#: Keys per page when only keys are asked for (Jira's documented greatest page).
KEYS_PAGE_SIZE = 5000
#: Versions per page of ``/project/{key}/version`` (its maximum is 50).
VERSIONS_PAGE_SIZE = 50
#: What a search asks for: exactly what the mapping reads.
ISSUE_FIELDS = (
    "issuetype",
    "status",
    "priority",
    "created",
    "updated",
    "resolutiondate",
    "fixVersions",
    "worklog",
)
JQL_TIME_FORMAT = "%Y/%m/%d %H:%M"


class JiraAuth:
    """The Authorization header: Basic (e-mail + API token) or Bearer (OAuth 2.0 3LO)."""

    def __init__(
        self,
        *,
        email: str | None = None,
        api_token: str | None = None,
        access_token: str | None = None,
    ) -> None:
        if access_token:
            register_secret(access_token)
            self._header = f"Bearer {access_token}"
            self.kind = "oauth"
        elif email and api_token:
            register_secret(api_token)
            pair = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
            register_secret(pair)
            self._header = f"Basic {pair}"
            self.kind = "basic"
        else:
            raise ValueError("Jira needs an e-mail and an API token, or an OAuth access token")

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._header, "Accept": "application/json"}


def parse_jira_time(value: str | None) -> datetime | None:
    """Jira's ``2026-11-23T09:00:00.000+0800`` (also with ``+08:00`` or ``Z``), as UTC."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


class JiraClient:
    """A Jira Cloud site, read through REST v3 (implements `DeliverySource`)."""

    tool = "jira"

    def __init__(
        self,
        base_url: str,
        auth: JiraAuth,
        transport: HttpTransport,
        *,
        extra_fields: Sequence[str] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.transport = transport
        self.extra_fields = tuple(extra_fields)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._zone: ZoneInfo | None = None
        self._vocabulary: Vocabulary | None = None

    # --- the request path ------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        field: str | None = None,
    ) -> Any:
        response = self.transport.request(
            method,
            f"{self.base_url}{path}",
            idempotent=True,  # every call here reads (a search is a POST, and a read)
            headers=self.auth.headers,
            params=params,
            json=json,
        )
        if response.status_code >= 400:
            raise self._error(method, path, response, field)
        try:
            return response.json()
        except ValueError:
            raise UnavailableError(
                f"{method} {path}: Jira answered {response.status_code} without JSON",
                http_status=response.status_code,
                body_excerpt=trim_body(response.content),
            ) from None

    def _error(
        self, method: str, path: str, response: requests.Response, field: str | None
    ) -> Exception:
        status = response.status_code
        said = describe_jira_error(response)
        body = trim_body(response.content)
        if status == 401:
            return AuthenticationError(
                "Jira refused the credentials (wrong e-mail or API token, revoked OAuth token)"
                + (f": {said}" if said else ""),
                http_status=status,
                body_excerpt=body,
            )
        if status in (400, 403, 404):
            what = {403: "not allowed", 404: "not found", 400: "refused"}[status]
            return ConfigurationError(
                f"{method} {path} {what}" + (f": {said}" if said else ""),
                field=field,
                http_status=status,
                body_excerpt=body,
            )
        return RecordError(
            f"{method} {path} failed" + (f": {said}" if said else ""),
            http_status=status,
            body_excerpt=body,
        )

    # --- DeliverySource --------------------------------------------------------------------------
    def check(self) -> None:
        """``GET /myself``: the credentials work; remembers the user's time zone (JQL's)."""
        me = self._call("GET", "/rest/api/3/myself")
        try:
            self._zone = ZoneInfo(str(me.get("timeZone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            self._zone = ZoneInfo("UTC")

    def project(self, key: str) -> DeliveryProject:
        body = self._call("GET", f"/rest/api/3/project/{key}", field=key)
        return DeliveryProject(key=str(body["key"]), id=str(body["id"]), name=str(body["name"]))

    def vocabulary(self, project: DeliveryProject) -> Vocabulary:
        """Every status, priority and issue type of the site (read once per client)."""
        if self._vocabulary is None:
            statuses = self._call("GET", "/rest/api/3/status")
            types = self._call("GET", "/rest/api/3/issuetype")
            priorities = [
                p["name"] for p in self._paged("/rest/api/3/priority/search", VERSIONS_PAGE_SIZE)
            ]
            self._vocabulary = Vocabulary(
                statuses=frozenset(s["name"] for s in statuses),
                priorities=frozenset(priorities),
                types=frozenset(t["name"] for t in types),
            )
        return self._vocabulary

    def releases(self, project: DeliveryProject) -> Iterator[Release]:
        path = f"/rest/api/3/project/{project.key}/version"
        for v in self._paged(path, VERSIONS_PAGE_SIZE, {"expand": "issuesstatus"}, project.key):
            counts = v.get("issuesStatusForFixVersion") or {}
            total = sum(int(counts.get(k) or 0) for k in ("unmapped", "toDo", "inProgress", "done"))
            released = bool(v.get("released"))
            due = _day(v.get("releaseDate"))
            yield Release(
                project_key=project.key,
                id=str(v["id"]),
                name=str(v["name"]),
                due=due,
                released=released,
                released_on=due if released else None,
                percent_complete=(100.0 * int(counts.get("done") or 0) / total) if total else None,
                stage="released" if released else ("overdue" if v.get("overdue") else "unreleased"),
                archived=bool(v.get("archived")),
            )

    def _paged(
        self,
        path: str,
        size: int,
        params: Mapping[str, Any] | None = None,
        field: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """A ``PageBean`` (``startAt``, ``maxResults``, ``isLast``, ``values``), page by page."""
        start = 0
        while True:
            body = self._call(
                "GET",
                path,
                params={**(params or {}), "startAt": start, "maxResults": size},
                field=field,
            )
            values = body.get("values") or []
            yield from values
            start += len(values)
            if body.get("isLast", True) or not values:
                return

    def work_item_pages(
        self, project: DeliveryProject, cursor: str | None
    ) -> Iterator[WorkItemPage]:
        """Issues updated since ``cursor`` (an ISO UTC time), oldest update first."""
        jql = f'project = "{project.key}"'
        since = datetime.fromisoformat(cursor) if cursor else None
        if since is not None:
            local = since.astimezone(self._user_zone())
            jql += f' AND updated >= "{local.strftime(JQL_TIME_FORMAT)}"'
        jql += " ORDER BY updated ASC, key ASC"
        fields = [*ISSUE_FIELDS, *self.extra_fields]
        token: str | None = None
        newest = since
        while True:
            body: dict[str, Any] = {
                "jql": jql,
                "fields": fields,
                "maxResults": PAGE_SIZE,
                "expand": "changelog",
            }
            if token:
                body["nextPageToken"] = token
            answer = self._call("POST", "/rest/api/3/search/jql", json=body, field=project.key)
            items = tuple(self._work_item(project, raw) for raw in answer.get("issues") or [])
            for item in items:
                newest = item.updated if newest is None or item.updated > newest else newest
            token = answer.get("nextPageToken")
            last = bool(answer.get("isLast", not token)) or not token
            yield WorkItemPage(items, newest.isoformat() if newest else None)
            if last:
                return

    def work_item_keys(self, project: DeliveryProject) -> set[str] | None:
        """Every issue key of the project now: pages of keys only (up to 5,000 a page)."""
        keys: set[str] = set()
        token: str | None = None
        while True:
            body: dict[str, Any] = {
                "jql": f'project = "{project.key}"',
                "fields": ["key"],
                "maxResults": KEYS_PAGE_SIZE,
            }
            if token:
                body["nextPageToken"] = token
            answer = self._call("POST", "/rest/api/3/search/jql", json=body, field=project.key)
            for issue in answer.get("issues") or []:
                if "key" not in issue:
                    # UNCONFIRMED whether a keys-only search returns "key" at the top level
                    # (the docs show "id"); without keys, deletions are not looked for.
                    return None
                keys.add(str(issue["key"]))
            token = answer.get("nextPageToken")
            if answer.get("isLast", not token) or not token:
                return keys

    # --- one issue -------------------------------------------------------------------------------
    def _user_zone(self) -> ZoneInfo:
        if self._zone is None:
            self.check()
        assert self._zone is not None
        return self._zone

    def _work_item(self, project: DeliveryProject, raw: Mapping[str, Any]) -> WorkItem:
        fields = raw.get("fields") or {}
        key = str(raw.get("key") or raw.get("id"))
        created = parse_jira_time(fields.get("created"))
        updated = parse_jira_time(fields.get("updated")) or created
        if created is None or updated is None:
            raise RecordError(f"issue {key} has no created time", field="created")
        return WorkItem(
            project_key=project.key,
            id=str(raw.get("id")),
            key=key,
            type=str((fields.get("issuetype") or {}).get("name") or ""),
            status=str((fields.get("status") or {}).get("name") or ""),
            priority=(fields.get("priority") or {}).get("name"),
            created=created,
            updated=updated,
            resolved=parse_jira_time(fields.get("resolutiondate")),
            history=self._history(key, raw.get("changelog") or {}),
            time_logs=self._time_logs(key, fields.get("worklog") or {}),
            release_ids=tuple(str(v.get("id")) for v in fields.get("fixVersions") or []),
            fields={f: fields.get(f) for f in self.extra_fields},
        )

    def _history(self, key: str, changelog: Mapping[str, Any]) -> tuple[StatusChange, ...]:
        histories = list(changelog.get("histories") or [])
        if int(changelog.get("total") or 0) > len(histories):
            histories = list(self._paged(f"/rest/api/3/issue/{key}/changelog", 100))
        changes = [
            StatusChange(at, item.get("fromString"), str(item.get("toString") or ""))
            for history in histories
            if (at := parse_jira_time(history.get("created"))) is not None
            for item in history.get("items") or []
            if item.get("field") == "status"
        ]
        return tuple(sorted(changes, key=lambda c: c.at))

    def _time_logs(self, key: str, worklog: Mapping[str, Any]) -> tuple[TimeLog, ...]:
        logs = list(worklog.get("worklogs") or [])
        if int(worklog.get("total") or 0) > len(logs):
            body = self._call(
                "GET", f"/rest/api/3/issue/{key}/worklog", params={"maxResults": KEYS_PAGE_SIZE}
            )
            logs = list(body.get("worklogs") or [])
        return tuple(
            TimeLog(
                id=str(w["id"]),
                started=started,
                seconds=int(w.get("timeSpentSeconds") or 0),
                author=(w.get("author") or {}).get("accountId"),
            )
            for w in logs
            if (started := parse_jira_time(w.get("started"))) is not None
        )


def describe_jira_error(response: requests.Response) -> str:
    """``{"errorMessages": [...], "errors": {field: message}}`` as one line."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    messages = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors") or {}
    if isinstance(errors, dict):
        messages += [f"{k}: {v}" for k, v in errors.items()]
    return "; ".join(messages)
