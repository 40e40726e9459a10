"""The Jira Cloud sandbox's data: projects, versions, issues with history and worklogs, the
site's statuses, priorities and issue types, accounts, and what tests read back (calls, writes).

NOT a real Jira. Changes made through the methods here (``edit``, ``move``, ``delete``) stamp
``updated`` with the sandbox's clock, as Jira does, so incremental reads see them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

DEFAULT_STATUSES = (
    "To Do",
    "In Progress",
    "Waiting for customer",
    "In Review",
    "Done",
    "Resolved",
    "Approved",
    "Rejected",
)
DEFAULT_PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
DEFAULT_TYPES = ("Bug", "Task", "Story", "Service Request", "Change Request")


@dataclass
class JiraVersion:
    id: str
    project: str
    name: str
    release_date: date | None
    released: bool = False
    archived: bool = False


@dataclass
class JiraIssue:
    id: str
    key: str
    project: str
    type: str
    status: str
    priority: str | None
    created: datetime
    updated: datetime
    resolved: datetime | None = None
    summary: str = ""
    fix_versions: list[str] = field(default_factory=list)
    #: (at, from status, to status), oldest first.
    history: list[tuple[datetime, str | None, str]] = field(default_factory=list)
    #: (id, started, seconds, account id)
    worklogs: list[tuple[str, datetime, int, str]] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass
class JiraProject:
    id: str
    key: str
    name: str


class JiraState:
    """Everything the sandbox serves, behind one lock."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.projects: dict[str, JiraProject] = {}
        self.versions: dict[str, JiraVersion] = {}
        self.issues: dict[str, JiraIssue] = {}  # by key
        self.statuses: list[str] = list(DEFAULT_STATUSES)
        self.priorities: list[str] = list(DEFAULT_PRIORITIES)
        self.types: list[str] = list(DEFAULT_TYPES)
        #: e-mail -> (API token, account id, time zone)
        self.accounts: dict[str, tuple[str, str, str]] = {}
        #: OAuth 2.0 (3LO) access tokens -> the account's e-mail.
        self.oauth_tokens: dict[str, str] = {}
        #: Every API call: (method, path without query).
        self.calls: Counter[tuple[str, str]] = Counter()
        #: Calls that change something (create, edit, delete, transition).
        self.writes = 0
        #: Retry-After values of the next calls to refuse with 429 (first first).
        self.throttle: list[int] = []
        self._next_id = 10000
        #: The last issue number of each project (keys are never reused, as in Jira).
        self._numbers: Counter[str] = Counter()

    # --- setting up ------------------------------------------------------------------------------
    def new_id(self) -> str:
        with self.lock:
            self._next_id += 1
            return str(self._next_id)

    def add_account(
        self, email: str, api_token: str, *, time_zone: str = "UTC", oauth_token: str | None = None
    ) -> None:
        with self.lock:
            self.accounts[email] = (api_token, f"acc-{len(self.accounts) + 1}", time_zone)
            if oauth_token:
                self.oauth_tokens[oauth_token] = email

    def add_project(self, key: str, name: str) -> JiraProject:
        with self.lock:
            project = JiraProject(self.new_id(), key, name)
            self.projects[key] = project
            return project

    def add_version(
        self,
        project: str,
        name: str,
        release_date: date | None,
        *,
        released: bool = False,
        archived: bool = False,
    ) -> JiraVersion:
        with self.lock:
            version = JiraVersion(self.new_id(), project, name, release_date, released, archived)
            self.versions[version.id] = version
            return version

    def add_issue(
        self,
        project: str,
        *,
        type: str = "Service Request",
        status: str = "To Do",
        priority: str | None = "Medium",
        created: datetime | None = None,
        updated: datetime | None = None,
        **extra: Any,
    ) -> JiraIssue:
        with self.lock:
            self._numbers[project] += 1
            key = f"{project}-{self._numbers[project]}"
            at = created or self.clock()
            issue = JiraIssue(
                self.new_id(), key, project, type, status, priority, at, updated or at, **extra
            )
            self.issues[key] = issue
            return issue

    # --- changes, as a person makes them in Jira (updated := now) --------------------------------
    def move(self, key: str, status: str, at: datetime | None = None) -> None:
        """A transition: the history gains a status change; resolved statuses set resolution."""
        with self.lock:
            issue = self.issues[key]
            when = at or self.clock()
            issue.history.append((when, issue.status, status))
            issue.status = status
            issue.resolved = when if status in ("Done", "Resolved") else None
            issue.updated = when

    def edit(self, key: str, at: datetime | None = None, **changes: Any) -> None:
        with self.lock:
            issue = self.issues[key]
            for name, value in changes.items():
                setattr(issue, name, value)
            issue.updated = at or self.clock()

    def log_work(self, key: str, started: datetime, seconds: int) -> str:
        with self.lock:
            issue = self.issues[key]
            worklog_id = self.new_id()
            issue.worklogs.append((worklog_id, started, seconds, "acc-1"))
            issue.updated = self.clock()
            return worklog_id

    def delete(self, key: str) -> None:
        with self.lock:
            del self.issues[key]

    def throttle_next(self, calls: int, retry_after: int) -> None:
        """The next ``calls`` API calls are refused with 429 and ``Retry-After: retry_after``."""
        with self.lock:
            self.throttle.extend([retry_after] * calls)

    def search_calls(self) -> int:
        return sum(n for (m, p), n in self.calls.items() if p.endswith("/search/jql"))
