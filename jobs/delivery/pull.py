"""Pull delivery facts from the delivery tools into the store, one source at a time.

For each configured source: link its projects to engagements (``mappings/delivery.py``
`project_links`; an unlinked project is recorded, never guessed), then per linked project read
every release (milestones) and the work items changed since the project's cursor (tickets,
change requests, costs). Each page's facts are stored through the same upsert as
``engage import`` (``Store.fact_writer``), keyed by (source name, external id); the cursor
advances only after the page is stored. A fact ``engage import`` stored under "file" with the
same external id passes to the source: one fact (docs/delivery.md, "files and tools").

An item that cannot become a fact (a priority not in the map...) is skipped with its reason
(`engage status`); the rest load. Deleted items are noticed by listing each project's keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from connector.delivery.base import (
    DeliveryProject,
    DeliverySource,
    Release,
    Vocabulary,
    WorkItem,
)
from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    RetryLaterError,
)
from jobs.store import Store
from jobs.store.delivery import DeliveryTables, ProjectRow
from mappings.delivery import (
    DeliveryMapping,
    ItemSkipped,
    cost_id,
    is_change,
    is_ticket,
    milestone_id,
    named_for,
    project_links,
    split_project_field,
    to_change,
    to_costs,
    to_milestones,
    to_ticket,
)

log = logging.getLogger(__name__)

#: The source a file import stores facts under (jobs/facts_import.py `SOURCE`): a pulled fact
#: with the same external id takes that fact over.
FILE_SOURCE = "file"

FACT_KINDS = ("milestones", "tickets", "costs", "change_requests")


@dataclass
class SourceReport:
    """What one source's pull did; ``problems`` are one line each, naming source and key."""

    name: str
    tool: str
    projects: int = 0
    items_read: int = 0
    releases_read: int = 0
    #: Facts new or changed, by kind.
    changed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FACT_KINDS, 0))
    skipped: int = 0
    deleted: int = 0
    problems: list[str] = field(default_factory=list)
    #: What stopped this source (the others went on), one line; None: it ran to the end.
    error: str | None = None
    #: The error itself, for exit codes (a setup error is exit 2, retry-later 75).
    exception: ConnectorError | None = None
    #: HTTP requests sent to the tool (metadata and pages), when counted.
    calls: int = 0

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"delivery source {self.name}: {key}: {message}")


@dataclass
class DeliveryReport:
    sources: dict[str, SourceReport] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        reports = self.sources.values()
        return {
            "items_read": sum(r.items_read for r in reports),
            "changed": sum(sum(r.changed.values()) for r in reports),
            "skipped": sum(r.skipped for r in reports),
            "deleted": sum(r.deleted for r in reports),
            "problems": sum(len(r.problems) for r in reports),
            "failed": sum(r.error is not None for r in reports),
            "calls": sum(r.calls for r in reports),
        }

    def lines(self) -> list[str]:
        """Every problem and error of the pull, one line each."""
        out: list[str] = []
        for report in self.sources.values():
            out.extend(report.problems)
            if report.error:
                out.append(report.error)
        return out


@dataclass(frozen=True)
class ConfiguredSource:
    """A delivery source ready to pull: its name, client and mapping (jobs/delivery/connect.py)."""

    name: str
    client: DeliverySource
    mapping: DeliveryMapping
    deletions: bool = True


def skip_kind(name: str) -> str:
    """The kind under which a source's skipped items are recorded (`engage status`)."""
    return f"{name}:items"


def release_skip_kind(name: str) -> str:
    return f"{name}:releases"


def pull_sources(
    sources: Sequence[ConfiguredSource],
    store: Store,
    *,
    clock: Callable[[], datetime],
    run_id: int | None = None,
    full: bool = False,
) -> DeliveryReport:
    """Pull every source; one that fails is reported and the others still run."""
    report = DeliveryReport()
    for configured in sources:
        report.sources[configured.name] = pull_source(
            configured, store, clock=clock, run_id=run_id, full=full
        )
    return report


def pull_source(
    configured: ConfiguredSource,
    store: Store,
    *,
    clock: Callable[[], datetime],
    run_id: int | None = None,
    full: bool = False,
) -> SourceReport:
    """Pull one source; its errors end up in the report, never raised (but bugs are)."""
    name, client = configured.name, configured.client
    report = SourceReport(name=name, tool=client.tool)
    tables = DeliveryTables(store.engine)
    if full:
        tables.forget_cursors(name)
    try:
        _Pull(configured, store, tables, report, clock, run_id).run()
    except AuthenticationError as exc:
        report.error = f"delivery source {name}: {client.tool} refused the credentials: {exc}"
        report.exception = exc
    except RetryLaterError as exc:
        report.error = f"delivery source {name}: {exc} (the next run resumes)"
        report.exception = exc
    except ConnectorError as exc:
        report.error = f"delivery source {name}: {exc}"
        report.exception = exc
    for line in report.problems:
        log.warning("%s", line)
    if report.error:
        log.warning("%s", report.error)
    return report


class _Pull:
    """One source's pull: the links, then each linked project's releases and work items."""

    def __init__(
        self,
        configured: ConfiguredSource,
        store: Store,
        tables: DeliveryTables,
        report: SourceReport,
        clock: Callable[[], datetime],
        run_id: int | None,
    ) -> None:
        self.name, self.client, self.mapping = (
            configured.name,
            configured.client,
            configured.mapping,
        )
        self.deletions = configured.deletions
        self.store, self.tables, self.report = store, tables, report
        self.clock, self.run_id = clock, run_id
        #: What the store holds of this source now, by kind (kept up to date as we write).
        self.stored = {kind: store.fact_ids(kind, self.name) for kind in FACT_KINDS}
        #: Deleted items are looked for only when earlier runs stored some (a first pull has
        #: nothing to lose, and spends no call listing keys).
        self.scan_keys = self.deletions and any(
            self.stored[k] for k in ("tickets", "change_requests", "costs")
        )

    def run(self) -> None:
        self.client.check()
        deal_projects = {e: split_project_field(v) for e, v in self.tables.deal_projects().items()}
        links, problems = project_links(self.mapping, deal_projects, self.name)
        named = named_for(self.mapping, deal_projects, self.name)
        for line in problems:
            self.report.problems.append(f"delivery source {self.name}: link: {line}")
        contract_values = {
            e.crm_id: e.contract_value for e in self.store.engagements(ids=set(links.values()))
        }
        rows: list[ProjectRow] = []
        read_all = True  # every linked project was read: releases not seen are gone
        keys_complete = self.scan_keys  # ...and every item key listed: items not seen are gone
        seen_releases: set[str] = set()
        live_keys: set[str] = set()
        now = self.clock()
        for key, engagement_id in sorted(links.items()):
            try:
                project = self.client.project(key)
            except ConfigurationError as exc:
                why = f"project {key} does not exist in {self.client.tool} or cannot be seen"
                if key in named:
                    read_all = False
                    self.report.problem(f"link.projects.{key}", f"{why} ({exc.message})")
                else:  # a plain key in a deal's field: perhaps another tool's project
                    why += f" (named by deal {engagement_id}'s field)"
                rows.append(ProjectRow(self.name, key, None, None, why, now))
                continue
            rows.append(ProjectRow(self.name, key, project.name, engagement_id, None, now))
            self.report.projects += 1
            self._check_vocabulary(project)
            releases = list(self.client.releases(project))
            self.report.releases_read += len(releases)
            seen_releases |= {milestone_id(r) for r in releases}
            self._store_milestones(releases, engagement_id, contract_values.get(engagement_id))
            self._pull_items(project, engagement_id)
            if keys_complete:
                keys = self.client.work_item_keys(project)
                if keys is None:
                    keys_complete = False
                else:
                    live_keys |= keys
        self.tables.save_projects(self.name, rows)
        if read_all and self.mapping.milestones.enabled:
            self._delete("milestones", self.stored["milestones"] - seen_releases)
        if read_all and keys_complete:
            self._forget_items(self._stored_item_keys() - live_keys)

    def _check_vocabulary(self, project: DeliveryProject) -> None:
        """A status or type the mapping names that the tool does not have: one line each
        (the pull goes on: such a word simply never matches)."""
        words = self.client.vocabulary(project)
        for problem in vocabulary_problems(self.mapping, words, self.client.tool):
            if problem not in self.report.problems:
                self.report.problems.append(f"delivery source {self.name}: {problem}")

    # --- writing ---------------------------------------------------------------------------------
    def _save(self, kind: str, facts: Sequence[BaseModel]) -> None:
        if not facts:
            return
        changed = self.store.save_facts(
            kind, facts, self.name, self.clock(), adopt_from=FILE_SOURCE
        )
        self.report.changed[kind] += changed
        self.stored[kind] |= {f.external_id for f in facts}  # type: ignore[attr-defined]

    def _delete(self, kind: str, external_ids: Iterable[str]) -> None:
        ids = sorted(set(external_ids) & self.stored[kind])
        if ids:
            # Exact ids: `delete_facts_of` also takes "<id>@..." (none of ours contain "@").
            self.report.deleted += self.store.delete_facts_of(kind, self.name, ids)
            self.stored[kind] -= set(ids)

    def _store_milestones(
        self, releases: list[Release], engagement_id: str, contract_value: Decimal | None
    ) -> None:
        if not self.mapping.milestones.enabled:
            return
        milestones, skipped = to_milestones(self.mapping, releases, engagement_id, contract_value)
        self._save("milestones", milestones)
        kind = release_skip_kind(self.name)
        now = self.clock()
        for release, why in skipped:
            self.report.skipped += 1
            self.store.record_skip(kind, release.name[:64], why.reason, why.key, self.run_id, now)
        self.store.clear_skips(kind, [m.name[:64] for m in milestones])

    def _pull_items(self, project: DeliveryProject, engagement_id: str) -> None:
        stream = f"items:{project.key}"
        cursor = self.tables.cursor(self.name, stream)
        for page in self.client.work_item_pages(project, cursor):
            self._store_items(page.items, engagement_id)
            if page.deleted:
                self._forget_items(set(page.deleted))
            if page.cursor is not None and page.cursor != cursor:
                # After the page's facts are committed: a crash before this re-reads the page.
                self.tables.set_cursor(self.name, stream, page.cursor, self.clock())
                cursor = page.cursor

    def _store_items(self, items: Sequence[WorkItem], engagement_id: str) -> None:
        """One page: tickets, change requests and costs stored; bad items skipped with why."""
        now = self.clock()
        tickets: list[BaseModel] = []
        changes: list[BaseModel] = []
        costs: list[BaseModel] = []
        stale_costs: set[str] = set()
        fine: list[str] = []
        kind = skip_kind(self.name)
        for item in items:
            self.report.items_read += 1
            try:
                if is_change(self.mapping, item):
                    changes.append(to_change(self.mapping, item, engagement_id))
                elif is_ticket(self.mapping, item):
                    tickets.append(to_ticket(self.mapping, item, engagement_id, now))
                item_costs = to_costs(self.mapping, item, engagement_id)
            except (ItemSkipped, ValueError) as exc:
                key, reason = (
                    (exc.key, exc.reason) if isinstance(exc, ItemSkipped) else (None, str(exc))
                )
                self.report.skipped += 1
                self.store.record_skip(kind, item.key[:64], reason, key, self.run_id, now)
                continue
            fine.append(item.key[:64])
            costs.extend(item_costs)
            if item.time_logs_complete:
                prefix = cost_id(item.key, "")
                kept = {c.external_id for c in item_costs}
                stale_costs |= {x for x in self.stored["costs"] if x.startswith(prefix)} - kept
        self._save("tickets", tickets)
        self._save("change_requests", changes)
        self._save("costs", costs)
        # An item whose type changed (a ticket became a change request) leaves the other kind.
        self._delete("tickets", (c.external_id for c in changes))  # type: ignore[attr-defined]
        self._delete("change_requests", (t.external_id for t in tickets))  # type: ignore[attr-defined]
        self._delete("costs", stale_costs)
        self.store.clear_skips(kind, fine)

    def _stored_item_keys(self) -> set[str]:
        costs = {x.split("/worklog/")[0] for x in self.stored["costs"]}
        return self.stored["tickets"] | self.stored["change_requests"] | costs

    def _forget_items(self, keys: set[str]) -> None:
        """Items the tool no longer has: their tickets, change requests and costs leave."""
        if not keys:
            return
        self._delete("tickets", keys)
        self._delete("change_requests", keys)
        self._delete("costs", {x for x in self.stored["costs"] if x.split("/worklog/")[0] in keys})


#: What a tool calls the places its items' statuses are (Trello's lists, Planner's buckets).
STATUS_WORDS = {"trello": "list", "planner": "bucket"}


def vocabulary_problems(mapping: DeliveryMapping, words: Vocabulary, tool: str) -> list[str]:
    """Statuses, priorities and types the mapping names that the tool does not have, one
    line each naming the mapping key (a tool that does not list a kind of word: not checked)."""
    statuses, priorities, types = words.statuses, words.priorities, words.types
    word = STATUS_WORDS.get(tool, "status")
    problems = [
        f"{key}: {word} {status!r} does not exist in {tool}"
        for key, named in mapping.statuses_named().items()
        for status in named
        if statuses and status not in statuses
    ]
    problems += [
        f"{key}: item type {kind!r} does not exist in {tool}"
        for key, named in mapping.types_named().items()
        for kind in named
        if types and kind not in types
    ]
    problems += [
        f"tickets.priority: priority {priority!r} does not exist in {tool}"
        for priority in mapping.tickets.priority
        if priorities and priority not in priorities
    ]
    return problems
