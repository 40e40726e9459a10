"""The delivery mapping: what a delivery tool's projects, releases and work items become.

One TOML file per delivery source (``[sources.delivery.NAME] mapping = ...`` in the config;
the reference is ``docs/delivery.md``). It says, in the tool's own words:

- **link**: which project belongs to which engagement: a static table (``[link.projects]``,
  project key -> deal id) and/or the deal's own field (the engagement's ``delivery_projects``,
  mapped from a CRM field such as ``Jira_Project`` in the CRM mapping);
- **milestones**: releases/versions/sprints; each one's share of the contract value;
- **tickets**: which item types are tickets, the priority map, and which statuses mean a first
  response, waiting on the client, resolved (the SLA times are read from the status history);
- **costs**: time logs, hours x ``hourly_rate``;
- **change_requests**: which item types are change requests, their value field and status words.

Pure: no I/O beyond reading the file; each item that cannot become a fact raises
:class:`ItemSkipped` with the key of the mapping (or the field) and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mappings.domain import (
    ChangeRequest,
    ChangeStatus,
    CostEntry,
    Milestone,
    Ticket,
    TicketPriority,
)
from mappings.tomlfile import load_toml_model

# --- what the mapping reads of a tool's items ------------------------------------------------
# The clients' neutral items (connector/delivery/base.py) satisfy these; mappings/ imports no
# connector, as with the CRM records.


class StatusChange(Protocol):
    @property
    def at(self) -> datetime: ...
    @property
    def to_status(self) -> str: ...


class TimeLog(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def started(self) -> datetime: ...
    @property
    def seconds(self) -> int: ...


class WorkItem(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def priority(self) -> str | None: ...
    @property
    def created(self) -> datetime: ...
    @property
    def updated(self) -> datetime: ...
    @property
    def resolved(self) -> datetime | None: ...
    @property
    def history(self) -> Sequence[StatusChange]: ...
    @property
    def time_logs(self) -> Sequence[TimeLog]: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...


class Release(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def due(self) -> date | None: ...
    @property
    def released(self) -> bool: ...
    @property
    def released_on(self) -> date | None: ...
    @property
    def percent_complete(self) -> float | None: ...
    @property
    def archived(self) -> bool: ...


#: Hours are booked in seconds by the tools; a cost is hours x rate.
SECONDS_PER_HOUR = Decimal(3600)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkSpec(_Spec):
    #: Read the deal's own field (the engagement's ``delivery_projects``) for project keys.
    deal_field: bool = True
    #: project key -> engagement (deal) id: for projects the deal's field does not name.
    projects: dict[str, str] = Field(default_factory=dict)


class MilestonesSpec(_Spec):
    enabled: bool = True
    #: Release name -> its share (0-1) of the engagement's contract value; releases not named
    #: here share what is left equally (the planned value, for earned value).
    value_share: dict[str, float] = Field(default_factory=dict)
    #: Archived releases (Jira) are usually abandoned plans: left out unless set.
    include_archived: bool = False
    #: Tools without releases (Trello, Planner, Worktile): their items of these types (Trello
    #: labels, Worktile task types) or in these statuses (Trello lists, Planner buckets) are
    #: the milestones; the client reads them as releases, not as work items.
    item_types: list[str] = Field(default_factory=list)
    item_statuses: list[str] = Field(default_factory=list)


class TicketsSpec(_Spec):
    enabled: bool = True
    #: Item types that are tickets; empty: every type that is not a change request.
    types: list[str] = Field(default_factory=list)
    #: The tool's priority -> P1..P4. An item whose priority is not here is skipped, with why.
    priority: dict[str, TicketPriority] = Field(default_factory=dict)
    #: Priority for items with none (some tools allow it); None: such items are skipped.
    no_priority: TicketPriority | None = None
    #: Moving into one of these is the first response; empty: any status change is.
    first_response_statuses: list[str] = Field(default_factory=list)
    #: Time in these statuses is waiting on the client: paused in the SLA clocks.
    waiting_statuses: list[str] = Field(default_factory=list)
    #: An item in one of these is resolved (when it moved there last); empty: the tool's own
    #: resolution date decides.
    resolved_statuses: list[str] = Field(default_factory=list)


class CostsSpec(_Spec):
    enabled: bool = True
    hourly_rate: Decimal = Field(default=Decimal(0), ge=0)
    category: str = "labour"


class ChangeRequestsSpec(_Spec):
    #: Item types that are change requests (not tickets).
    types: list[str] = Field(default_factory=list)
    #: The item field holding the change's value (e.g. "customfield_10050"); none: 0.
    value_field: str | None = None
    approved_statuses: list[str] = Field(default_factory=list)
    rejected_statuses: list[str] = Field(default_factory=list)


class DeliveryMapping(_Spec):
    #: The tool this mapping is written for ("jira", "pingcode"...): a mapping written for one
    #: tool's words is refused for another.
    tool: str
    link: LinkSpec = LinkSpec()
    milestones: MilestonesSpec = MilestonesSpec()
    tickets: TicketsSpec = TicketsSpec()
    costs: CostsSpec = CostsSpec()
    change_requests: ChangeRequestsSpec = ChangeRequestsSpec()

    @model_validator(mode="after")
    def _shares_add_up(self) -> DeliveryMapping:
        if sum(self.milestones.value_share.values()) > 1.0 + 1e-9:
            raise ValueError("milestones.value_share adds up to more than 1 (the whole value)")
        return self

    def statuses_named(self) -> dict[str, list[str]]:
        """Mapping key -> the statuses it names (what `engage sources check` compares with
        the tool's statuses)."""
        return {
            "tickets.first_response_statuses": self.tickets.first_response_statuses,
            "tickets.waiting_statuses": self.tickets.waiting_statuses,
            "tickets.resolved_statuses": self.tickets.resolved_statuses,
            "change_requests.approved_statuses": self.change_requests.approved_statuses,
            "change_requests.rejected_statuses": self.change_requests.rejected_statuses,
            "milestones.item_statuses": self.milestones.item_statuses,
        }

    def types_named(self) -> dict[str, list[str]]:
        return {
            "tickets.types": self.tickets.types,
            "change_requests.types": self.change_requests.types,
            "milestones.item_types": self.milestones.item_types,
        }


def load_delivery_mapping(path: Path | str) -> DeliveryMapping:
    """The mapping file, validated; ``ConfigFileError`` names the file and the key."""
    return load_toml_model(path, DeliveryMapping)


class ItemSkipped(Exception):
    """An item that cannot become a fact: ``key`` names the mapping key or the item's field."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


# --- linking ---------------------------------------------------------------------------------


def project_links(
    mapping: DeliveryMapping,
    deal_projects: Mapping[str, Sequence[str]],
    source: str,
) -> tuple[dict[str, str], list[str]]:
    """project key -> engagement id, and the problems (one line each) of projects named twice.

    ``deal_projects``: engagement id -> the project keys its deal field holds. A key may be
    written ``SOURCE:KEY`` to name the delivery source when several hold that key; a plain key
    belongs to every source. A project linked to two engagements is not guessed: it is left
    unlinked, with a problem naming both.
    """
    found: dict[str, set[str]] = {}
    for key, engagement_id in mapping.link.projects.items():
        found.setdefault(key, set()).add(engagement_id)
    if mapping.link.deal_field:
        for engagement_id, keys in deal_projects.items():
            for written in keys:
                named, sep, key = written.partition(":")
                if sep and named != source:
                    continue
                found.setdefault(key if sep else written, set()).add(engagement_id)
    links: dict[str, str] = {}
    problems: list[str] = []
    for key, engagements in sorted(found.items()):
        if len(engagements) == 1:
            links[key] = next(iter(engagements))
        else:
            problems.append(
                f"project {key} is linked to several engagements ({', '.join(sorted(engagements))}); "
                "link it to one (link.projects or the deal field)"
            )
    return links, problems


def named_for(
    mapping: DeliveryMapping, deal_projects: Mapping[str, Sequence[str]], source: str
) -> set[str]:
    """The project keys linked to this source by name: the static table's, and the deal
    fields' written ``SOURCE:KEY``. A plain key in a deal field may belong to another source
    (one field can list a Jira and a PingCode project): its absence here is no problem."""
    named = set(mapping.link.projects)
    if mapping.link.deal_field:
        for keys in deal_projects.values():
            named |= {
                k.partition(":")[2] for k in keys if k.partition(":")[0] == source and ":" in k
            }
    return named


def split_project_field(value: str | None) -> tuple[str, ...]:
    """The keys a deal's project field holds: one, or several separated by commas or spaces."""
    if not value:
        return ()
    return tuple(k for k in value.replace(",", " ").replace(";", " ").split() if k)


# --- work items -> tickets, change requests, costs -------------------------------------------


def is_change(mapping: DeliveryMapping, item: WorkItem) -> bool:
    return item.type in mapping.change_requests.types


def is_ticket(mapping: DeliveryMapping, item: WorkItem) -> bool:
    if is_change(mapping, item) or not mapping.tickets.enabled:
        return False
    return not mapping.tickets.types or item.type in mapping.tickets.types


def to_ticket(
    mapping: DeliveryMapping, item: WorkItem, engagement_id: str, now: datetime
) -> Ticket:
    """The ticket an item is. ``now`` ends a wait on the client that is still going on."""
    spec = mapping.tickets
    if item.priority is None:
        if spec.no_priority is None:
            raise ItemSkipped(
                "priority", "the item has no priority and tickets.no_priority is unset"
            )
        priority = spec.no_priority
    elif item.priority in spec.priority:
        priority = spec.priority[item.priority]
    else:
        raise ItemSkipped(
            "tickets.priority",
            f"priority {item.priority!r} is not in the priority map; add it to [tickets.priority]",
        )
    resolved = resolved_at(spec, item)
    return Ticket(
        external_id=item.key,
        engagement_id=engagement_id,
        priority=priority,
        opened_at=item.created,
        first_response_at=first_response_at(spec, item),
        resolved_at=resolved,
        waiting_on_client=waiting_intervals(spec, item, resolved or now),
    )


def first_response_at(spec: TicketsSpec, item: WorkItem) -> datetime | None:
    """The first move into a first-response status (any move, when none are listed)."""
    for change in item.history:
        if not spec.first_response_statuses or change.to_status in spec.first_response_statuses:
            return max(change.at, item.created)
    return None


def resolved_at(spec: TicketsSpec, item: WorkItem) -> datetime | None:
    """When the item was resolved: its last move into a resolved status while it is in one
    now; without resolved statuses in the mapping, the tool's resolution date."""
    if not spec.resolved_statuses:
        return item.resolved
    if item.status not in spec.resolved_statuses:
        return None
    moves = [c.at for c in item.history if c.to_status in spec.resolved_statuses]
    if moves:
        return max(moves[-1], item.created)
    # Created resolved, or the history does not go back far enough.
    return max(item.resolved or item.updated, item.created)


def waiting_intervals(
    spec: TicketsSpec, item: WorkItem, until: datetime
) -> tuple[tuple[datetime, datetime], ...]:
    """The intervals the item spent in a waiting status; one still going on ends at
    ``until`` (its resolution, or the pull's time)."""
    waiting = set(spec.waiting_statuses)
    if not waiting:
        return ()
    intervals: list[tuple[datetime, datetime]] = []
    started: datetime | None = None
    for change in item.history:
        if change.to_status in waiting and started is None:
            started = change.at
        elif change.to_status not in waiting and started is not None:
            intervals.append((started, change.at))
            started = None
    if started is not None and until > started:
        intervals.append((started, until))
    return tuple((max(s, item.created), e) for s, e in intervals if e > s)


def to_change(mapping: DeliveryMapping, item: WorkItem, engagement_id: str) -> ChangeRequest:
    spec = mapping.change_requests
    value = Decimal(0)
    if spec.value_field:
        raw = item.fields.get(spec.value_field)
        if raw not in (None, ""):
            try:
                value = Decimal(str(raw))
            except InvalidOperation:
                raise ItemSkipped(spec.value_field, f"value {raw!r} is not a number") from None
            if value < 0:
                raise ItemSkipped(spec.value_field, f"value {raw!r} is negative")
    status = ChangeStatus.PENDING
    if item.status in spec.approved_statuses:
        status = ChangeStatus.APPROVED
    elif item.status in spec.rejected_statuses:
        status = ChangeStatus.REJECTED
    return ChangeRequest(
        external_id=item.key,
        engagement_id=engagement_id,
        raised_on=item.created.date(),
        value=value,
        status=status,
    )


def cost_id(item_key: str, log_id: str) -> str:
    """A time log's external id: its item's key, so the costs of one item can be listed."""
    return f"{item_key}/worklog/{log_id}"


def to_costs(mapping: DeliveryMapping, item: WorkItem, engagement_id: str) -> list[CostEntry]:
    spec = mapping.costs
    if not spec.enabled:
        return []
    return [
        CostEntry(
            external_id=cost_id(item.key, log.id),
            engagement_id=engagement_id,
            spent_on=log.started.date(),
            amount=(Decimal(log.seconds) / SECONDS_PER_HOUR * spec.hourly_rate).quantize(
                Decimal("0.01")
            ),
            category=spec.category,
        )
        for log in item.time_logs
        if log.seconds > 0
    ]


# --- releases -> milestones ------------------------------------------------------------------


def milestone_id(release: Release) -> str:
    """A release's external id: the tool's id, named as a release (ids are only numbers)."""
    return f"release/{release.id}"


def to_milestones(
    mapping: DeliveryMapping,
    releases: Iterable[Release],
    engagement_id: str,
    contract_value: Decimal | None,
) -> tuple[list[Milestone], list[tuple[Release, ItemSkipped]]]:
    """The milestones of one engagement's releases, each with its share of the contract value;
    releases that cannot be milestones come back with why (no due date)."""
    spec = mapping.milestones
    kept = [r for r in releases if spec.include_archived or not r.archived]
    skipped = [
        (r, ItemSkipped("due", "the release has no due date (set its release date)"))
        for r in kept
        if r.due is None
    ]
    planned = [r for r in kept if r.due is not None]
    named = sum(spec.value_share.get(r.name, 0.0) for r in planned)
    unnamed = [r for r in planned if r.name not in spec.value_share]
    rest_each = (1.0 - named) / len(unnamed) if unnamed else 0.0
    value = contract_value or Decimal(0)
    milestones = []
    for release in planned:
        assert release.due is not None
        share = spec.value_share.get(release.name, rest_each)
        percent = release.percent_complete
        if percent is None:
            percent = 100.0 if release.released else 0.0
        milestones.append(
            Milestone(
                external_id=milestone_id(release),
                engagement_id=engagement_id,
                name=release.name,
                planned_date=release.due,
                planned_value=(value * Decimal(str(share))).quantize(Decimal("0.01")),
                percent_complete=max(0.0, min(100.0, percent)),
                delivered_date=(release.released_on or release.due) if release.released else None,
            )
        )
    return milestones, skipped
