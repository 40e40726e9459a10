"""An engagement's SLA status, computed from its delivery facts and its tier's policy.

What is measured:

* **Tickets.** Each ticket has two measures, first response and resolution, in business minutes
  on the policy calendar from `opened_at`, leaving out its `waiting_on_client` pauses. A ticket
  resolved without a recorded first response counts the resolution as its first response. A
  measure whose end is known is *finished* (met = used ≤ goal); otherwise it is *open* and runs
  until `now`. A priority without a goal for a metric is not measured for it.
* **Frozen measures.** A finished measure found in `frozen` (keyed by ticket id and metric) is
  taken as it is: it keeps the goal, result and policy version it was measured with, so raising
  or lowering a goal does not rewrite history. Recomputing is explicit: pass no `frozen`. A
  ticket corrected since (another priority, other times or pauses) is measured again.
* **Milestones.** A milestone is due once its planned date is over (in the calendar's zone); it
  was on time when delivered on or before that date.
* **Status reports.** When the tier has a report cadence and the engagement has any tickets or
  touchpoints, a STATUS_REPORT touchpoint is due `status_report_every_days` calendar days after
  the last one (or after the first recorded activity, when there has been no report yet).

Compliance % = met / counted, over finished ticket measures that ended, and due milestones whose
planned date falls, within the last `window_days`; None when that is nothing. Measures that
ended before the window are not taken (nor returned): nothing reads them any more.

Status, first rule that applies:

1. NOT_MEASURED: no ticket measures, no due milestones and no report cadence to check.
2. BREACHED: an open ticket measure has used more than its goal; or the on-time share of due
   milestones in the window is below `on_time_milestones_pct`; or the share of finished ticket
   measures in the window that met their goal is below `tickets_met_pct` (when the tier sets
   one); or the status report is overdue.
3. AT_RISK: an open ticket measure has used at least `at_risk_share` of its goal; or the next
   status report is due within a day.
4. COMPLIANT.

Without `tickets_met_pct`, finished tickets that missed their goal lower the compliance % and are
listed in the reasons, but do not by themselves make the status breached: the breach was in the
past and is what the compliance % reports.

`next_breach_at` is the earliest future instant an open ticket measure would pass its goal (the
clock only runs in working time outside pauses) or the status report would become overdue.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from jobs.health.sla.calendar import CalendarError, merge_pauses
from jobs.health.sla.policy import SlaPolicy
from jobs.messages.catalog import Words
from mappings.domain import (
    MilestoneFact,
    SlaStatus,
    TicketPriority,
    TouchpointFact,
    TouchpointKind,
)

Metric = Literal["first_response", "resolution"]
METRICS: tuple[Metric, ...] = ("first_response", "resolution")
#: A status report due within this time makes the engagement at risk.
REPORT_DUE_SOON = timedelta(days=1)


class SlaReason(NamedTuple):
    """Why the status is what it is: the message `sla.<key>` of the catalogs and its fields.
    Kept as the message, not its text: scoring computes a status for every engagement and
    reads no reason, so one is rendered only when it is shown (`SlaResult.texts`)."""

    key: str
    params: tuple[tuple[str, Any], ...] = ()

    def text(self, words: Words, locale: str) -> str:
        return words.text(f"sla.{self.key}", locale, **dict(self.params))


NOTHING_TO_MEASURE = SlaReason("nothing_to_measure")
_NOTHING_FROZEN: Mapping[tuple[str, str], TicketMeasure] = MappingProxyType({})


class MeasuredTicket(Protocol):
    """What the engine reads of a ticket: a `mappings.domain.Ticket`, or the lighter tuple
    scoring reads from the store (`jobs.store.store.TicketTimes`)."""

    @property
    def external_id(self) -> str: ...
    @property
    def priority(self) -> TicketPriority: ...
    @property
    def opened_at(self) -> datetime: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def waiting_on_client(self) -> tuple[tuple[datetime, datetime], ...]: ...


@dataclass(slots=True)
class TicketMeasure:
    """One ticket against one goal. Not changed once made (not frozen only because a frozen
    dataclass takes five times as long to build, and scoring builds a million of them)."""

    ticket_id: str
    metric: Metric
    goal_minutes: int
    #: Business minutes used so far (open) or in total (finished), pauses left out.
    used_minutes: float
    #: None while the measure is open.
    met: bool | None
    policy_version: int
    #: What a finished measure was taken from (the ticket's priority, times and pauses, hashed):
    #: a frozen measure whose ticket has changed since is measured again. An int (CRC-32 of the
    #: values' bytes); a str of 8 hex digits from versions that hashed their text (still
    #: recognised, see `_legacy_basis`); None: not recorded.
    basis: int | str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SlaResult:
    status: SlaStatus
    #: % of the measures counted in the window that were met; None when there were none.
    compliance_pct: float | None
    next_breach_at: datetime | None
    #: Every open ticket measure and every one finished within the window, in ticket order.
    measures: tuple[TicketMeasure, ...]
    #: Why the status is what it is, worst first (`texts` for the sentences).
    reasons: tuple[SlaReason, ...]
    #: The status without the status-report rule: what the risk model's SLA factor reads, as
    #: a late report counts in the communication factor only (docs/health.md, §2.1).
    factor_status: SlaStatus | None = None

    def texts(self, words: Words | None = None, locale: str = "en") -> tuple[str, ...]:
        """The reasons as sentences in `locale` (`sla.*`; the shipped words by default)."""
        words = words or Words.shipped()
        return tuple(reason.text(words, locale) for reason in self.reasons)


@dataclass(frozen=True)
class _ReportClock:
    due_at: datetime
    since: datetime
    had_report: bool


def evaluate(
    policy: SlaPolicy,
    tickets: Sequence[MeasuredTicket],
    milestones: Sequence[MilestoneFact],
    touchpoints: Sequence[TouchpointFact],
    now: datetime,
    frozen: Mapping[tuple[str, str], TicketMeasure] = _NOTHING_FROZEN,
    first_ticket_opened_at: datetime | None = None,
) -> SlaResult:
    """Measure one engagement's facts against its policy at `now` (see the module docstring).

    `tickets` may leave out tickets finished before the window (they are not measured); a
    caller that does so passes the earliest `opened_at` of all the engagement's tickets as
    `first_ticket_opened_at`, which the status-report clock starts from when there has been no
    report yet (`Store.tickets_since` and `Store.first_tickets_opened` give both; with a
    STATUS_REPORT among `touchpoints`, it is not read).

    Long because it applies the status rules in their documented order (docs/health.md §3.5,
    first that applies), which reads best as one sequence.

    Raises:
        CalendarError: `now` or a ticket time without a time zone.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise CalendarError(f"now {now.isoformat()} has no time zone")
    now = now.astimezone(UTC)
    calendar = policy.working_calendar()
    zone = ZoneInfo(calendar.timezone)
    window_start = now - timedelta(days=policy.window_days)

    measures: list[TicketMeasure] = []
    counted: list[TicketMeasure] = []  # finished in the window
    past_goal: list[TicketMeasure] = []
    near_goal: list[TicketMeasure] = []
    deadlines: list[datetime] = []
    now_seconds = now.timestamp()
    window_seconds = window_start.timestamp()
    position = calendar.position
    version = policy.version
    at_risk_share = policy.at_risk_share
    first_response_goals = policy.goals.first_response_minutes
    resolution_goals = policy.goals.resolution_minutes
    crc32, pack = zlib.crc32, _pack_opening
    # This loop runs for every ticket of every engagement (a million measures at 10,000
    # engagements), hence its plainness: times are POSIX seconds, each ticket's start is placed
    # on the calendar once for its two measures, the bytes a basis hashes are packed once, and
    # helpers are inlined (a call costs as much as the work of most of these lines).
    for ticket in tickets:
        opened_at = ticket.opened_at
        resolved_at = ticket.resolved_at
        first_at = ticket.first_response_at
        if (
            opened_at.tzinfo is None
            or (resolved_at is not None and resolved_at.tzinfo is None)
            or (first_at is not None and first_at.tzinfo is None)
        ):
            raise _naive_time(ticket)
        opened = opened_at.timestamp()
        resolved = None if resolved_at is None else resolved_at.timestamp()
        # A ticket resolved without a recorded first response: the resolution answered it.
        responded = resolved if first_at is None else first_at.timestamp()
        priority = ticket.priority
        pauses = ticket.waiting_on_client
        opened_position: float | None = None
        paused: list[tuple[float, float]] = []
        prefix: int | None = None
        for metric, goals, end in (
            ("first_response", first_response_goals, responded),
            ("resolution", resolution_goals, resolved),
        ):
            if end is not None and end < window_seconds:
                # Finished before the window: it can never count again (the window only moves
                # forward), so it is neither measured nor kept.
                continue
            goal = goals.get(priority)
            previous = None
            if end is not None and frozen:
                previous = frozen.get((ticket.external_id, metric))
            if previous is None and goal is None:
                continue  # a priority without a goal for this metric is not measured
            basis: int | None = None
            if end is not None:
                # The basis (see `_basis`): priority and opening hashed once for both measures.
                if prefix is None:
                    prefix = crc32(pack(opened), _priority_crc(priority))
                basis = _basis(prefix, end, pauses) if pauses else crc32(pack(end), prefix)
                if previous is not None and previous.basis is not None:
                    then = previous.basis
                    if isinstance(then, str):
                        now_basis: int | str = _legacy_basis(ticket, opened, end)
                    else:
                        now_basis = basis
                    if then != now_basis:
                        previous = None  # the ticket was corrected since it was measured
            if previous is not None:
                measure = previous
            elif goal is None:
                continue  # was frozen, but the ticket changed and its priority has no goal now
            else:
                if opened_position is None:
                    opened_position = position(opened)
                    if pauses:
                        paused = merge_pauses(pauses)
                until = now_seconds if end is None else end
                if paused:
                    seconds = calendar.seconds_between(opened, until, paused, opened_position)
                else:
                    seconds = position(until) - opened_position if until > opened else 0.0
                used = seconds / 60
                measure = TicketMeasure(
                    ticket.external_id,
                    metric,  # type: ignore[arg-type]  # one of METRICS, spelt out above
                    goal,
                    used,
                    None if end is None else used <= goal,
                    version,
                    basis,
                )
            measures.append(measure)
            if end is not None:
                counted.append(measure)  # ended in the window (checked above)
            elif measure.used_minutes > measure.goal_minutes:
                past_goal.append(measure)
            else:
                deadlines.append(
                    calendar.add_business_seconds(opened_at, measure.goal_minutes * 60, pauses)
                )
                if measure.used_minutes >= at_risk_share * measure.goal_minutes:
                    near_goal.append(measure)

    today = now.astimezone(zone).date()
    first_day = window_start.astimezone(zone).date()
    due = [m for m in milestones if first_day <= m.planned_date < today]
    on_time = sum(
        1 for m in due if m.delivered_date is not None and m.delivered_date <= m.planned_date
    )

    report = _report_clock(policy, zone, tickets, touchpoints, first_ticket_opened_at)
    if not measures and not due and report is None:
        return SlaResult(SlaStatus.NOT_MEASURED, None, None, (), (NOTHING_TO_MEASURE,))

    breached: list[SlaReason] = [
        _reason(
            f"past_goal.{m.metric}",
            ticket=m.ticket_id,
            used=round(m.used_minutes),
            goal=m.goal_minutes,
        )
        for m in past_goal
    ]
    if due and 100 * on_time / len(due) < policy.goals.on_time_milestones_pct:
        breached.append(
            _reason(
                "milestones_late",
                on_time=on_time,
                due=len(due),
                goal=policy.goals.on_time_milestones_pct,
            )
        )
    finished_by_metric: dict[Metric, int] = dict.fromkeys(METRICS, 0)
    missed_by_metric: dict[Metric, int] = dict.fromkeys(METRICS, 0)
    for m in counted:
        finished_by_metric[m.metric] += 1
        if not m.met:
            missed_by_metric[m.metric] += 1
    met_count = len(counted) - sum(missed_by_metric.values())
    goal_pct = policy.goals.tickets_met_pct
    if goal_pct is not None and counted and 100 * met_count / len(counted) < goal_pct:
        breached.append(
            _reason("tickets_below_goal", met=met_count, counted=len(counted), goal=goal_pct)
        )
    at_risk: list[SlaReason] = [
        _reason(
            f"near_goal.{m.metric}",
            ticket=m.ticket_id,
            share=100 * m.used_minutes / m.goal_minutes,
        )
        for m in near_goal
    ]
    others_breached, others_at_risk = bool(breached), bool(at_risk)
    if report is not None:
        cadence = policy.goals.status_report_every_days or 0
        if now > report.due_at:
            breached.append(
                _reason(
                    "report_overdue" if report.had_report else "report_never",
                    ago=(now - report.since).days,
                    cadence=cadence,
                )
            )
        else:
            deadlines.append(report.due_at)
            if report.due_at - now <= REPORT_DUE_SOON:
                local = report.due_at.astimezone(zone)
                at_risk.append(_reason("report_due_soon", due=f"{local:%Y-%m-%d %H:%M}"))
    missed: list[SlaReason] = []
    for metric in METRICS:
        if misses := missed_by_metric[metric]:
            finished = finished_by_metric[metric]
            missed.append(_reason(f"missed.{metric}", missed=misses, finished=finished))

    total = len(counted) + len(due)
    compliance = 100 * (met_count + on_time) / total if total else None
    if breached:
        status = SlaStatus.BREACHED
    elif at_risk:
        status = SlaStatus.AT_RISK
    else:
        status = SlaStatus.COMPLIANT
    return SlaResult(
        status=status,
        compliance_pct=compliance,
        next_breach_at=min(deadlines, default=None),
        measures=tuple(measures),
        reasons=(*breached, *at_risk, *missed),
        factor_status=SlaStatus.BREACHED
        if others_breached
        else SlaStatus.AT_RISK
        if others_at_risk
        else SlaStatus.COMPLIANT,
    )


def _basis(prefix: int, end: float, pauses: tuple[tuple[datetime, datetime], ...]) -> int:
    """CRC-32 of the bytes of what a finished measure is taken from: priority, opening (hashed
    into `prefix` by `evaluate`), end (IEEE doubles of POSIX seconds) and pauses. Runs for every
    finished measure, so it hashes bytes: formatting the floats as text took three times as
    long as all the rest. Without pauses `evaluate` hashes the end itself, as this would."""
    times = [end]
    for start, stop in pauses:
        times += (start.timestamp(), stop.timestamp())
    return zlib.crc32(struct.pack(f"<{len(times)}d", *times), prefix)


_pack_opening = struct.Struct("<d").pack


@functools.cache
def _priority_crc(priority: str) -> int:
    """CRC-32 of a priority's text: the start of every basis."""
    return zlib.crc32(str(priority).encode())


def _legacy_basis(ticket: MeasuredTicket, opened: float, end: float) -> str:
    """The basis as versions before the byte hash stored it (CRC-32 of "priority|opened|end"
    plus "|start/end" per pause, floats as Python writes them), to compare with a measure they
    froze. Computed only for such a measure."""
    text = f"{ticket.priority.value}|{opened}|{end}"
    for start, stop in ticket.waiting_on_client:
        text += f"|{start.timestamp()}/{stop.timestamp()}"
    return f"{zlib.crc32(text.encode()):08x}"


def _naive_time(ticket: MeasuredTicket) -> CalendarError:
    """The error for a ticket with a time without a time zone (a naive one would be read as
    the machine's time), naming the first of its times that is naive."""
    for moment in (ticket.opened_at, ticket.resolved_at, ticket.first_response_at):
        if moment is not None and moment.tzinfo is None:
            return CalendarError(f"{moment.isoformat()} has no time zone")
    raise AssertionError("called for a ticket with a naive time")  # pragma: no cover


def _report_clock(
    policy: SlaPolicy,
    zone: ZoneInfo,
    tickets: Sequence[MeasuredTicket],
    touchpoints: Sequence[TouchpointFact],
    first_ticket_opened_at: datetime | None,
) -> _ReportClock | None:
    """When the next status report is due: calendar days in the calendar's zone."""
    every = policy.goals.status_report_every_days
    if every is None or not (tickets or touchpoints or first_ticket_opened_at):
        return None
    reports = [t.at for t in touchpoints if t.kind is TouchpointKind.STATUS_REPORT]
    if reports:
        since, had_report = max(reports), True
    else:
        activity = [t.at for t in touchpoints] + [t.opened_at for t in tickets]
        if first_ticket_opened_at is not None:
            activity.append(first_ticket_opened_at)
        since, had_report = min(activity), False
    if since.tzinfo is None or since.utcoffset() is None:
        raise CalendarError(f"{since.isoformat()} has no time zone")
    local = since.astimezone(zone)
    due_at = (local + timedelta(days=every)).astimezone(UTC)  # same wall-clock time, DST-proof
    return _ReportClock(due_at, since.astimezone(UTC), had_report)


def _reason(key: str, **params: Any) -> SlaReason:
    return SlaReason(key, tuple(params.items()))
