"""Sandbox Jira Cloud: a local HTTP imitation of the read side of Jira's REST API (v3, and v2
for the same resources), for the demo, tests and benchmarks. NOT a real Jira.

Faithful to the documentation (research/fxiaoke_and_tools.md Part B) where it matters to a
client: ``/rest/api/3/search/jql`` (GET and POST) pages with ``nextPageToken`` / ``isLast``
and gives no ``total``; without ``fields`` only ids come back; ``maxResults`` is cut to 100
when fields are asked for and to 5,000 for ids/keys only; unbounded JQL is refused; JQL dates
are read in the account's time zone, to the minute. Versions and changelogs page as
``PageBean``s (``startAt``, ``maxResults``, ``isLast``, ``values``). Basic auth (e-mail + API
token) and OAuth bearers; 401 for anything else. ``Retry-After`` on 429. Errors are
``{"errorMessages": [...], "errors": {...}}``.
"""

from __future__ import annotations

import base64
import functools
import json
import operator
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from ..serving import DispatchingHandler, QuietHandler, ServedOnThread
from .state import JiraIssue, JiraState

#: Histories sent inline with ``expand=changelog`` (more: the changelog endpoint).
INLINE_HISTORIES = 40
#: Worklogs sent inline in the ``worklog`` field, as Jira does.
INLINE_WORKLOGS = 20
SEARCH_PAGE_WITH_FIELDS = 100
SEARCH_PAGE_IDS_ONLY = 5000
VERSIONS_PAGE_MAX = 50


class Reply:
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


def jira_error(status: int, *messages: str, **errors: str) -> Reply:
    return Reply(status, {"errorMessages": list(messages), "errors": errors})


def jira_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class SandboxJira(ServedOnThread):
    """A Jira Cloud site over real HTTP; ``state`` holds its data (see state.py)."""

    thread_name = "sandbox-jira"

    def __init__(self, state: JiraState | None = None) -> None:
        self.state = state or JiraState()

    def _handler(self) -> type[QuietHandler]:
        sandbox = self

        class Handler(DispatchingHandler):
            def _dispatch(self, method: str) -> None:
                body = self.read_body()
                reply = sandbox.handle(method, self.path, self.headers, body)
                data = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    # --- dispatch --------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Any, body: bytes) -> Reply:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        path = parts.path
        state = self.state
        with state.lock:
            state.calls[(method, path)] += 1
            if state.throttle:
                wait = state.throttle.pop(0)
                return Reply(
                    429,
                    {"errorMessages": ["Rate limit exceeded."], "errors": {}},
                    {"Retry-After": str(wait), "X-RateLimit-Reason": "jira-burst-based"},
                )
        match = re.fullmatch(r"/rest/api/(2|3)/(.+)", path)
        if not match:
            return jira_error(404, "Not found")
        account = self._account(headers)
        if account is None:
            # Jira answers 401 to a wrong e-mail/token pair or an unknown bearer.
            return jira_error(401, "Client must be authenticated to access this resource.")
        route = match.group(2)
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return jira_error(400, "Invalid request payload. Refer to the REST API documentation.")
        with state.lock:
            return self._route(method, route, query, payload, account)

    def _account(self, headers: Any) -> tuple[str, str, str] | None:
        """(e-mail, account id, time zone) of the caller, or None."""
        given = headers.get("Authorization") or ""
        scheme, _, value = given.partition(" ")
        state = self.state
        if scheme.lower() == "basic":
            try:
                email, _, token = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            known = state.accounts.get(email)
            if known and known[0] == token:
                return email, known[1], known[2]
        if scheme.lower() == "bearer" and value in state.oauth_tokens:
            email = state.oauth_tokens[value]
            known = state.accounts[email]
            return email, known[1], known[2]
        return None

    def _route(
        self,
        method: str,
        route: str,
        query: dict[str, list[str]],
        payload: Any,
        account: tuple[str, str, str],
    ) -> Reply:
        state = self.state
        one = {k: v[-1] for k, v in query.items()}
        if method == "GET" and route == "myself":
            email, account_id, zone = account
            return Reply(
                200,
                {"accountId": account_id, "emailAddress": email, "timeZone": zone, "active": True},
            )
        if method == "GET" and route == "serverInfo":
            return Reply(
                200,
                {
                    "baseUrl": "http://sandbox.invalid",
                    "deploymentType": "Cloud",
                    "version": "1001.0.0-SNAPSHOT",
                    "versionNumbers": [1001, 0, 0],
                    "buildNumber": 100286,
                    "serverTitle": "Sandbox Jira (not a real Jira)",
                },
            )
        if method == "GET" and route == "status":
            return Reply(200, [self._status(s) for s in state.statuses])
        if method == "GET" and route == "issuetype":
            return Reply(200, [{"id": str(i + 1), "name": n} for i, n in enumerate(state.types)])
        if method == "GET" and route == "priority/search":
            values = [{"id": str(i + 1), "name": n} for i, n in enumerate(state.priorities)]
            return self._page(values, one, 50)
        if method == "GET" and route == "priority":
            return Reply(
                200, [{"id": str(i + 1), "name": n} for i, n in enumerate(state.priorities)]
            )
        if method == "GET" and route == "field":
            return Reply(200, [])
        if route == "search/jql" and method in ("GET", "POST"):
            return self._search(payload if method == "POST" else self._query_body(query), account)
        m = re.fullmatch(r"project/([^/]+)(/version|/versions)?", route)
        if m and method == "GET":
            project = state.projects.get(m.group(1))
            if project is None:
                return jira_error(404, f"No project could be found with key '{m.group(1)}'.")
            if m.group(2) == "/versions":  # every version, unpaged (the older resource)
                return Reply(200, self._versions(project.key, one))
            if m.group(2):
                return self._page(self._versions(project.key, one), one, VERSIONS_PAGE_MAX)
            return Reply(200, {"id": project.id, "key": project.key, "name": project.name})
        m = re.fullmatch(r"issue/([^/]+)(/changelog|/worklog)?", route)
        if m:
            return self._issue_route(method, m.group(1), m.group(2), one, payload)
        if method == "POST" and route == "issue":
            return self._create(payload)
        return jira_error(404, f"No resource for {method} /{route} in the sandbox.")

    # --- resources -------------------------------------------------------------------------------
    def _status(self, name: str) -> dict[str, Any]:
        category = (
            "done"
            if name in ("Done", "Resolved", "Rejected", "Approved")
            else ("new" if name == "To Do" else "indeterminate")
        )
        return {
            "id": str(self.state.statuses.index(name) + 1),
            "name": name,
            "statusCategory": {"key": category},
        }

    def _page(self, values: list[Any], one: dict[str, str], limit: int) -> Reply:
        try:
            start = int(one.get("startAt", 0))
            size = min(int(one.get("maxResults", limit)), limit)
        except ValueError:
            return jira_error(400, "startAt and maxResults must be numbers.")
        chunk = values[start : start + size]
        return Reply(
            200,
            {
                "startAt": start,
                "maxResults": size,
                "total": len(values),
                "isLast": start + size >= len(values),
                "values": chunk,
            },
        )

    def _versions(self, project: str, one: dict[str, str]) -> list[dict[str, Any]]:
        expand = "issuesstatus" in (one.get("expand") or "")
        today = self.state.clock().date()
        out = []
        for v in self.state.versions.values():
            if v.project != project:
                continue
            item: dict[str, Any] = {
                "id": v.id,
                "name": v.name,
                "archived": v.archived,
                "released": v.released,
                "projectId": int(self.state.projects[project].id),
            }
            if v.release_date:
                item["releaseDate"] = v.release_date.isoformat()
                item["overdue"] = not v.released and v.release_date < today
            if expand:
                counts = {"unmapped": 0, "toDo": 0, "inProgress": 0, "done": 0}
                for issue in self.state.issues.values():
                    if v.id in issue.fix_versions:
                        counts[self._category_count(issue.status)] += 1
                item["issuesStatusForFixVersion"] = counts
            out.append(item)
        return out

    def _category_count(self, status: str) -> str:
        key = self._status(status)["statusCategory"]["key"] if status in self.state.statuses else ""
        return {"new": "toDo", "indeterminate": "inProgress", "done": "done"}.get(key, "unmapped")

    def _issue_route(
        self, method: str, key: str, sub: str | None, one: dict[str, str], payload: Any
    ) -> Reply:
        state = self.state
        issue = state.issues.get(key)
        if issue is None:
            return jira_error(404, "Issue does not exist or you do not have permission to see it.")
        if method == "DELETE" and sub is None:
            state.writes += 1
            del state.issues[key]
            return Reply(204, None)
        if method == "PUT" and sub is None:
            state.writes += 1
            fields = (payload or {}).get("fields") or {}
            if "summary" in fields:
                issue.summary = str(fields["summary"])
            issue.updated = state.clock()
            return Reply(204, None)
        if method != "GET":
            return jira_error(405, "Method not allowed.")
        if sub == "/changelog":
            return self._page(self._histories(issue), one, 100)
        if sub == "/worklog":
            logs = [self._worklog(w, issue) for w in issue.worklogs]
            start = int(one.get("startAt", 0))
            size = min(int(one.get("maxResults", 5000)), 5000)
            return Reply(
                200,
                {
                    "startAt": start,
                    "maxResults": size,
                    "total": len(logs),
                    "worklogs": logs[start : start + size],
                },
            )
        return Reply(
            200,
            self._render(issue, None, expand_changelog="changelog" in (one.get("expand") or "")),
        )

    def _create(self, payload: Any) -> Reply:
        fields = (payload or {}).get("fields") or {}
        project = (fields.get("project") or {}).get("key")
        if project not in self.state.projects:
            return jira_error(400, project="valid project is required")
        self.state.writes += 1
        issue = self.state.add_issue(
            project,
            type=str((fields.get("issuetype") or {}).get("name") or "Task"),
            priority=(fields.get("priority") or {}).get("name") or "Medium",
            summary=str(fields.get("summary") or ""),
        )
        return Reply(
            201, {"id": issue.id, "key": issue.key, "self": f"/rest/api/3/issue/{issue.id}"}
        )

    def _histories(self, issue: JiraIssue) -> list[dict[str, Any]]:
        return [
            {
                "id": str(n + 1),
                "created": jira_time(at),
                "items": [
                    {
                        "field": "status",
                        "fieldtype": "jira",
                        "fromString": before,
                        "toString": after,
                    }
                ],
            }
            for n, (at, before, after) in enumerate(issue.history)
        ]

    def _worklog(self, w: tuple[str, datetime, int, str], issue: JiraIssue) -> dict[str, Any]:
        worklog_id, started, seconds, account = w
        return {
            "id": worklog_id,
            "issueId": issue.id,
            "started": jira_time(started),
            "timeSpentSeconds": seconds,
            "author": {"accountId": account},
        }

    def _render(
        self, issue: JiraIssue, fields: list[str] | None, *, expand_changelog: bool
    ) -> dict[str, Any]:
        all_fields: dict[str, Any] = {
            "summary": issue.summary,
            "issuetype": {"name": issue.type},
            "status": self._status(issue.status)
            if issue.status in self.state.statuses
            else {"name": issue.status},
            "priority": {"name": issue.priority} if issue.priority else None,
            "created": jira_time(issue.created),
            "updated": jira_time(issue.updated),
            "resolutiondate": jira_time(issue.resolved),
            "project": {"key": issue.project},
            "fixVersions": [
                {"id": v, "name": self.state.versions[v].name}
                for v in issue.fix_versions
                if v in self.state.versions
            ],
            "worklog": {
                "startAt": 0,
                "maxResults": INLINE_WORKLOGS,
                "total": len(issue.worklogs),
                "worklogs": [self._worklog(w, issue) for w in issue.worklogs[:INLINE_WORKLOGS]],
            },
            **issue.custom,
        }
        wanted = (
            all_fields
            if fields is None or "*all" in fields
            else {f: all_fields.get(f) for f in fields if f not in ("id", "key")}
        )
        out: dict[str, Any] = {
            "id": issue.id,
            "key": issue.key,
            "self": f"/rest/api/3/issue/{issue.id}",
        }
        if wanted:
            out["fields"] = wanted
        if expand_changelog:
            histories = self._histories(issue)
            out["changelog"] = {
                "startAt": 0,
                "maxResults": min(len(histories), INLINE_HISTORIES),
                "total": len(histories),
                "histories": histories[:INLINE_HISTORIES],
            }
        return out

    # --- search ----------------------------------------------------------------------------------
    @staticmethod
    def _query_body(query: dict[str, list[str]]) -> dict[str, Any]:
        """GET's parameters as POST's body: ``fields`` repeated or comma-separated."""
        body: dict[str, Any] = {k: v[-1] for k, v in query.items()}
        if "fields" in query:
            body["fields"] = [f for value in query["fields"] for f in value.split(",") if f]
        if "maxResults" in body:
            body["maxResults"] = int(body["maxResults"])
        return body

    def _search(self, body: Any, account: tuple[str, str, str]) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("jql"), str):
            return jira_error(400, "Invalid request payload. Refer to the REST API documentation.")
        fields = body.get("fields")
        if isinstance(fields, str):
            fields = [f for f in fields.split(",") if f]
        fields = list(fields or [])
        expand = body.get("expand") or ""
        expand = ",".join(expand) if isinstance(expand, list) else str(expand)
        try:
            wanted = int(body.get("maxResults") or 50)
        except (TypeError, ValueError):
            return jira_error(400, "maxResults must be a number.")
        ids_only = all(f in ("id", "key") for f in fields) and not expand
        size = max(1, min(wanted, SEARCH_PAGE_IDS_ONLY if ids_only else SEARCH_PAGE_WITH_FIELDS))
        try:
            matches = run_jql(self.state, body["jql"], ZoneInfo(account[2]))
        except JqlError as exc:
            return jira_error(400, str(exc))
        offset = 0
        token = body.get("nextPageToken")
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                offset = int(decoded["o"])
                if decoded["q"] != body["jql"]:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                return jira_error(400, "The provided next page token is invalid or expired.")
        chunk = matches[offset : offset + size]
        answer: dict[str, Any] = {
            "issues": [
                self._render(i, fields or ["id"], expand_changelog="changelog" in expand)
                for i in chunk
            ],
            "isLast": offset + size >= len(matches),
        }
        if not answer["isLast"]:
            answer["nextPageToken"] = base64.urlsafe_b64encode(
                json.dumps({"o": offset + size, "q": body["jql"]}).encode()
            ).decode()
        return Reply(200, answer)


class JqlError(Exception):
    pass


_CLAUSE = re.compile(
    r"""\s*(?P<field>project|updated|created|key|issuetype|status)\s*
        (?P<op>>=|<=|=|>|<|\bin\b)\s*
        (?P<value>\((?:[^()]*)\)|"[^"]*"|'[^']*'|[^\s()]+)\s*""",
    re.IGNORECASE | re.VERBOSE,
)


def run_jql(state: JiraState, jql: str, zone: ZoneInfo) -> list[JiraIssue]:
    """The issues a (small subset of) JQL selects, in its ORDER BY. Refuses what it does not
    know, and unbounded queries, as the new search endpoint does."""
    text, _, order = _split_order(jql)
    clauses = [c for c in re.split(r"\band\b", text, flags=re.IGNORECASE) if c.strip()]
    if not clauses:
        raise JqlError(
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
        )
    tests = []
    for clause in clauses:
        m = _CLAUSE.fullmatch(clause)
        if not m:
            raise JqlError(f"Error in the JQL Query: cannot read {clause.strip()!r}.")
        tests.append(
            _test(state, m.group("field").lower(), m.group("op").lower(), m.group("value"), zone)
        )
    found = [i for i in state.issues.values() if all(t(i) for t in tests)]
    for name, direction in reversed(_order(order)):
        found.sort(key=functools.partial(_sort_key, name=name), reverse=direction == "desc")
    return found


def _split_order(jql: str) -> tuple[str, str, str]:
    parts = re.split(r"\border\s+by\b", jql, maxsplit=1, flags=re.IGNORECASE)
    return parts[0], "", parts[1] if len(parts) > 1 else "key asc"


def _order(order: str) -> list[tuple[str, str]]:
    out = []
    for part in order.split(","):
        words = part.split()
        if not words:
            continue
        name = words[0].lower()
        if name not in ("updated", "created", "key"):
            raise JqlError(f"Error in the JQL Query: cannot order by {name!r}.")
        out.append((name, words[1].lower() if len(words) > 1 else "asc"))
    return out


def _sort_key(issue: JiraIssue, *, name: str) -> Any:
    if name == "key":
        project, _, number = issue.key.rpartition("-")
        return (project, int(number) if number.isdigit() else 0)
    return getattr(issue, name)


def _values(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.startswith("("):
        return [v.strip().strip("\"'") for v in raw[1:-1].split(",") if v.strip()]
    return [raw.strip("\"'")]


def _test(state: JiraState, field: str, op: str, raw: str, zone: ZoneInfo) -> Any:
    values = _values(raw)
    if field == "project":
        for v in values:
            if v not in state.projects:
                raise JqlError(f"The value '{v}' does not exist for the field 'project'.")
        return lambda i: i.project in values
    if field in ("updated", "created"):
        moment = _jql_time(values[0], zone)
        compare = {
            ">=": operator.ge,
            ">": operator.gt,
            "<=": operator.le,
            "<": operator.lt,
            "=": operator.eq,
        }.get(op)
        if compare is None:
            raise JqlError(f"Error in the JQL Query: operator {op!r} for {field}.")
        return lambda i: compare(getattr(i, field), moment)
    if field == "key":
        return lambda i: i.key in values
    if field == "issuetype":
        return lambda i: i.type in values
    return lambda i: i.status in values


def _jql_time(value: str, zone: ZoneInfo) -> datetime:
    """``yyyy/MM/dd HH:mm``, ``yyyy-MM-dd HH:mm`` or a date, in the account's time zone."""
    for pattern in ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=zone)
        except ValueError:
            continue
    raise JqlError(f"Date value '{value}' for field 'updated' is invalid.")
