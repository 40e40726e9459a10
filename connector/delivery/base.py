"""What every delivery tool's client gives the pull: projects, releases and work items in one
neutral shape, page by page with a cursor, and the ids still there (for deletions).

A delivery tool (Jira, PingCode, Worktile, Trello, Planner...) is read, never written. Each
client turns its tool's ways (JQL and ``nextPageToken``, ``page_index``/``total``, second
timestamps, changelogs) into the items below and its errors into ``connector/errors.py``'s, so
the mapping (``mappings/delivery.py``) and the pull (``jobs/delivery/pull.py``) know no tool.

Cursors are opaque strings the client makes and reads back: the pull stores the cursor of a
page only after the page's facts are stored, and passes the stored one to the next run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class DeliveryProject:
    """A project (Jira project, PingCode project, Trello board, Planner plan)."""

    #: What people type and what links name: Jira's key "ACME", PingCode's identifier.
    key: str
    #: The tool's own id, when it differs from the key.
    id: str
    name: str


@dataclass(frozen=True)
class Release:
    """A version, release, sprint or milestone of a project: becomes a milestone."""

    project_key: str
    id: str
    name: str
    #: When it is due (Jira ``releaseDate``, PingCode ``end_at``); None: not planned yet.
    due: date | None
    released: bool = False
    #: The day it was released (Jira: ``releaseDate`` of a released version; PingCode: the
    #: day its stage became completed, when known).
    released_on: date | None = None
    #: 0-100 when the tool says (PingCode ``progress``, Jira done/total issues), else None.
    percent_complete: float | None = None
    #: The tool's stage or status words, as they are ("released", "已发布"...).
    stage: str | None = None
    archived: bool = False


@dataclass(frozen=True)
class StatusChange:
    """One move of a work item from a status to another, from its history."""

    at: datetime
    from_status: str | None
    to_status: str


@dataclass(frozen=True)
class TimeLog:
    """Time booked on a work item (a Jira worklog)."""

    id: str
    started: datetime
    seconds: int
    author: str | None = None


@dataclass(frozen=True)
class WorkItem:
    """An issue, work item, card or task: becomes a ticket or a change request, and its time
    logs become costs."""

    project_key: str
    #: The tool's id (stable) and its human key ("ACME-12"; the id where there is none).
    id: str
    key: str
    #: The item's type as the tool names it ("Bug", "Change Request", "需求").
    type: str
    status: str
    priority: str | None
    created: datetime
    updated: datetime
    resolved: datetime | None = None
    #: Status changes, oldest first (empty when the tool keeps none).
    history: tuple[StatusChange, ...] = ()
    #: Time logs: complete when ``time_logs_complete`` (else the pull does not delete costs).
    time_logs: tuple[TimeLog, ...] = ()
    time_logs_complete: bool = True
    #: Release ids the item belongs to.
    release_ids: tuple[str, ...] = ()
    #: Other fields the mapping may read by name (a change request's value field).
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkItemPage:
    """One page of work items changed since a cursor, oldest change first. ``cursor`` is where
    the next run starts once this page is stored; ``None`` keeps the one stored."""

    items: tuple[WorkItem, ...]
    cursor: str | None
    #: Keys of items the tool reports deleted since the cursor (tools that say so, such as
    #: PingCode's ``is_deleted``); the others are noticed by `work_item_keys`.
    deleted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """The words a project's items can carry, for checking a mapping against the tool: an
    empty set means the tool does not list them (then nothing is checked)."""

    statuses: frozenset[str] = frozenset()
    priorities: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()


@runtime_checkable
class DeliverySource(Protocol):
    """A delivery tool's read API, as the pull and `engage sources check` use it.

    Errors are ``connector/errors.py``'s: ``AuthenticationError`` (wrong token),
    ``ConfigurationError`` (a project that does not exist or cannot be seen: ``field`` names
    its key), ``RetryLaterError`` (rate limited past the retries, outage), ``RecordError``.
    """

    #: The tool, as configs name it ("jira", "pingcode").
    tool: str

    def check(self) -> None:
        """Authenticate and make one cheap call; raises what a wrong credential raises."""
        ...

    def project(self, key: str) -> DeliveryProject:
        """The project ``key``; ``ConfigurationError`` (field = key) when there is none."""
        ...

    def vocabulary(self, project: DeliveryProject) -> Vocabulary: ...

    def releases(self, project: DeliveryProject) -> Iterator[Release]:
        """Every release of the project (a short list: read whole at every run)."""
        ...

    def work_item_pages(
        self, project: DeliveryProject, cursor: str | None
    ) -> Iterator[WorkItemPage]:
        """The work items changed since ``cursor`` (all of them when None), page by page."""
        ...

    def work_item_keys(self, project: DeliveryProject) -> set[str] | None:
        """The keys of every work item the project has now (deleted ones are missing), or
        None when the tool cannot list them cheaply: then deletions are not noticed."""
        ...
