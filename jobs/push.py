"""Push: health -> CRM values -> diff against what was written -> update only the changes.

Per record and field, the target's write policy decides (``mappings.spec.WritePolicy``):

- ``always``: write when the wanted value differs from what the plugin last wrote, or from
  what the CRM held at the last sync.
- ``if_empty``: write only into an empty field; a value already there is never replaced.
- ``keep_human_edits``: when the CRM value differs from what the plugin last wrote, a person
  changed it: leave it, and list the conflict (``engage status``) until it is resolved.

A run with nothing new makes no call. Each write call's outcomes are stored as soon as it
returns, and every row to send is journaled (``pending`` in the row ledger, jobs/ledger.py)
before the first call goes out, so a crash never makes the next run write the same values
twice. Rows the CRM refused wait for their next retry; quarantined rows wait for `engage
retry`. Write calls run on up to ``concurrency`` threads; every store write stays on the
calling thread. A target field deleted in the CRM mid-way stops only that field's writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.base import CRMClient, FieldMeta, WriteOutcome, WriteStatus
from connector.retry import RetryPolicy
from jobs.health import roll_up_accounts
from jobs.ledger import Decision, Ledger, LedgerRow, decide_row
from jobs.mapping_check import value_problem
from jobs.store import FieldState, Store
from mappings.engine import Mapper
from mappings.spec import TargetField, WritePolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedWrite:
    """One record's changed fields: field -> (old, new)."""

    module: str
    record_id: str
    changes: dict[str, tuple[Any, Any]]

    def values(self) -> dict[str, Any]:
        return {name: new for name, (_old, new) in self.changes.items()}


@dataclass(frozen=True)
class Conflict:
    """A field a person changed in the CRM since the plugin wrote it; left alone."""

    module: str
    record_id: str
    field: str
    crm_value: Any
    written_value: Any
    wanted_value: Any


@dataclass(frozen=True)
class InvalidValue:
    """A value the CRM would refuse, found before writing (needs field metadata)."""

    module: str
    record_id: str
    field: str
    value: Any
    reason: str


@dataclass
class Plan:
    writes: list[PlannedWrite] = field(default_factory=list)
    unchanged: int = 0
    #: (module, record id) of each unchanged record, for the row ledger.
    unchanged_rows: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    invalid: list[InvalidValue] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "update": len(self.writes),
            "unchanged": self.unchanged,
            "conflict": len(self.conflicts),
            "invalid": len(self.invalid),
        }

    def rows_by_module(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        for write in self.writes:
            rows[write.module] = rows.get(write.module, 0) + 1
        return rows


@dataclass
class PushReport:
    plan: Plan
    written: int = 0
    refused: int = 0
    dry_run: bool = False
    #: (module, field) pairs the CRM no longer has; their writes stopped this run.
    missing_fields: set[tuple[str, str]] = field(default_factory=set)
    #: Refused earlier and not due for another attempt yet (row ledger).
    deferred: int = 0
    #: Quarantined rows left alone until `engage retry`.
    quarantined: int = 0
    #: Writes of an interrupted run found in the CRM and recorded without a second call.
    landed: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "to_update": len(self.plan.writes),
            "unchanged": self.plan.unchanged,
            "conflicts": len(self.plan.conflicts),
            "invalid": len(self.plan.invalid),
            "written": self.written,
            "refused": self.refused,
            "deferred": self.deferred,
            "quarantined": self.quarantined,
            "landed": self.landed,
        }


def wanted_values(mapper: Mapper, store: Store) -> dict[str, dict[str, dict[str, Any]]]:
    """module -> record id -> CRM field -> the value the plugin wants there now."""
    engagements = store.engagements()
    health = store.health()
    target = mapper.spec.targets.engagements
    wanted: dict[str, dict[str, dict[str, Any]]] = {
        target.module: {
            e.crm_id: mapper.engagement_values(health[e.crm_id])
            for e in engagements
            if e.crm_id in health
        }
    }
    if mapper.spec.targets.accounts is not None:
        known_accounts = {a.crm_id for a in store.accounts()}
        module = mapper.spec.targets.accounts.module
        wanted.setdefault(module, {}).update(
            {
                account_id: mapper.account_values(rollup)
                for account_id, rollup in roll_up_accounts(engagements, health).items()
                if account_id in known_accounts
            }
        )
    return wanted


def plan(
    mapper: Mapper,
    store: Store,
    metadata: Mapping[str, Mapping[str, FieldMeta]] | None = None,
) -> Plan:
    """What a push would write now. With ``metadata``, values the CRM would refuse are set apart."""
    result = Plan()
    for module, records in wanted_values(mapper, store).items():
        rules = mapper.target_rules(module)
        states = store.field_states(module)
        fields_meta = metadata.get(module) if metadata is not None else None
        for record_id in sorted(records):
            changes: dict[str, tuple[Any, Any]] = {}
            for name, value in records[record_id].items():
                state = states.get((record_id, name))
                decision = decide(rules[name], state, value)
                if decision == "conflict" and state is not None:
                    result.conflicts.append(
                        Conflict(
                            module, record_id, name, state.crm_value, state.written_value, value
                        )
                    )
                elif decision == "write":
                    problem = (
                        value_problem(fields_meta.get(name), value)
                        if fields_meta is not None
                        else None
                    )
                    if problem:
                        result.invalid.append(InvalidValue(module, record_id, name, value, problem))
                    else:
                        changes[name] = (_old(state), value)
            if changes:
                result.writes.append(PlannedWrite(module, record_id, changes))
            else:
                result.unchanged += 1
                result.unchanged_rows.append((module, record_id))
    return result


def decide(rule: TargetField, state: FieldState | None, wanted: Any) -> str:
    """'write', 'same' (nothing to do), 'keep' (policy says leave it) or 'conflict'."""
    if state is None:
        return "write" if wanted is not None else "same"
    crm = state.crm_value if state.crm_seen else state.written_value
    if rule.policy is WritePolicy.IF_EMPTY:
        if not _empty(crm):
            return "same" if same_value(crm, wanted) else "keep"
        return "write" if wanted is not None else "same"
    if rule.policy is WritePolicy.KEEP_HUMAN_EDITS and state.crm_seen:
        edited = not same_value(state.crm_value, state.written_value)
        if edited and not same_value(state.crm_value, wanted):
            return "conflict"
        if edited:
            return "same"  # the person set what the plugin wants: nothing to do
    if not same_value(state.written_value, wanted):
        return "write"
    if state.crm_seen and not same_value(state.crm_value, wanted):
        return "write"
    return "same"


def push(
    client: CRMClient,
    mapper: Mapper,
    store: Store,
    *,
    clock: Callable[[], datetime],
    run_id: int | None = None,
    dry_run: bool = False,
    metadata: Mapping[str, Mapping[str, FieldMeta]] | None = None,
    missing_fields: set[tuple[str, str]] | None = None,
    policy: RetryPolicy | None = None,
    concurrency: int = 1,
) -> PushReport:
    """Write the plan. ``missing_fields``: (module, field) pairs the sync found deleted.

    ``policy`` decides when refused rows are due again and when they are quarantined;
    ``concurrency`` is how many write calls may be in flight at once.
    """
    planned = plan(mapper, store, metadata)
    report = PushReport(plan=planned, dry_run=dry_run, missing_fields=set(missing_fields or ()))
    if dry_run:
        return report
    now = clock()
    store.record_outcomes(
        run_id,
        [
            {
                "module": module,
                "record_id": "(all records)",
                "status": WriteStatus.INVALID.value,
                "crm_code": "FIELD_MISSING",
                "field": name,
                "message": _missing_message(module, name),
                "at": now,
            }
            for module, name in sorted(report.missing_fields)
        ],
    )
    for module in mapper.target_modules():
        store.replace_conflicts(
            module,
            [
                {
                    "record_id": c.record_id,
                    "field": c.field,
                    "crm_value": c.crm_value,
                    "written_value": c.written_value,
                    "wanted_value": c.wanted_value,
                    "seen_at": now,
                }
                for c in planned.conflicts
                if c.module == module
            ],
        )
    ledger = Ledger(store, policy)
    by_module: dict[str, list[PlannedWrite]] = {}
    for item in planned.writes:
        by_module.setdefault(item.module, []).append(item)
    batches: list[tuple[str, list[PlannedWrite]]] = []
    previous: dict[str, dict[str, LedgerRow]] = {}
    for module in dict.fromkeys([*mapper.target_modules(), *by_module]):
        previous[module] = ledger.rows(module)
        due = _settle_ledger(
            store,
            ledger,
            module,
            planned,
            by_module.get(module, []),
            previous[module],
            report,
            now=now,
            run_id=run_id,
        )
        # One call's worth per batch, recorded when it returns: a stop or crash mid-push
        # leaves the store knowing exactly what was written.
        size = client.max_write_batch
        batches.extend((module, due[start : start + size]) for start in range(0, len(due), size))
    context = _BatchContext(client, store, ledger, previous, report, clock, run_id)
    # Every row about to be sent is journaled first, in one commit per module (see ledger.py).
    for module in by_module:
        due_rows = [i for m, batch in batches if m == module for i in batch]
        if due_rows:
            _journal(context, module, due_rows)
    if concurrency <= 1:
        for module, batch in batches:
            _push_batch(context, module, batch)
    else:
        _push_concurrently(context, batches, concurrency)
    return report


@dataclass
class _BatchContext:
    """What every write batch of one push needs."""

    client: CRMClient
    store: Store
    ledger: Ledger
    previous: dict[str, dict[str, LedgerRow]]
    report: PushReport
    clock: Callable[[], datetime]
    run_id: int | None


def _settle_ledger(
    store: Store,
    ledger: Ledger,
    module: str,
    planned: Plan,
    writes: list[PlannedWrite],
    previous: dict[str, LedgerRow],
    report: PushReport,
    *,
    now: datetime,
    run_id: int | None,
) -> list[PlannedWrite]:
    """Record this run's unchanged and conflicting rows; return the writes due now."""
    conflicts: dict[str, tuple[str, str]] = {}
    for c in planned.conflicts:
        if c.module == module:
            conflicts.setdefault(
                c.record_id, (c.field, "changed in the CRM by a person; left alone")
            )
    unchanged = [rid for m, rid in planned.unchanged_rows if m == module]
    ledger.settle(module, unchanged, conflicts, previous, run_id, now)
    due, landed = [], []
    for item in writes:
        values = item.values()
        crm_holds = all(same_value(old, new) for old, new in item.changes.values())
        decision = decide_row(previous.get(item.record_id), values, crm_holds, now)
        if decision is Decision.SEND:
            due.append(item)
        elif decision is Decision.LANDED:
            landed.append((item.record_id, values))
        elif decision is Decision.WAIT:
            report.deferred += 1
        else:
            report.quarantined += 1
    if landed:
        store.save_written(module, dict(landed), now)
        ledger.mark_landed(module, landed, run_id, now)
        report.landed += len(landed)
    return due


def _push_concurrently(
    context: _BatchContext, batches: list[tuple[str, list[PlannedWrite]]], concurrency: int
) -> None:
    """Up to ``concurrency`` write calls in flight; outcomes stored here, as each returns.

    After a call fails as a whole (e.g. still rate limited), no new call starts; the ones in
    flight finish and are recorded, then the error stops the push.
    """
    queue = iter(batches)
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="push") as pool:
        in_flight: dict[Future[list[WriteOutcome]], tuple[str, list[PlannedWrite]]] = {}

        def start_next() -> None:
            for module, planned in queue:
                items = _without_missing_fields(planned, module, context.report.missing_fields)
                if not items:
                    continue
                if items is not planned:  # trimmed: journal the values really sent
                    _journal(context, module, items)
                rows = [{"id": i.record_id, **i.values()} for i in items]
                in_flight[pool.submit(context.client.update_records, module, rows)] = (
                    module,
                    items,
                )
                return

        for _ in range(concurrency):
            start_next()
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                module, items = in_flight.pop(future)
                try:
                    outcomes = future.result()
                except Exception as exc:  # noqa: BLE001 - re-raised once the others are stored
                    error = error or exc
                    continue
                _handle_outcomes(context, module, items, outcomes)
                if error is None:
                    start_next()
    if error is not None:
        raise error


def _journal(context: _BatchContext, module: str, items: list[PlannedWrite]) -> None:
    """Mark the rows pending before their call goes out (see jobs/ledger.py)."""
    context.ledger.journal(
        module, [(i.record_id, i.values()) for i in items], context.run_id, context.clock()
    )


def _push_batch(context: _BatchContext, module: str, planned: list[PlannedWrite]) -> None:
    items = _without_missing_fields(planned, module, context.report.missing_fields)
    if not items:
        return
    if items is not planned:  # trimmed, or a resend without a deleted field: journal it
        _journal(context, module, items)
    rows = [{"id": i.record_id, **i.values()} for i in items]
    _handle_outcomes(context, module, items, context.client.update_records(module, rows))


def _handle_outcomes(
    context: _BatchContext, module: str, items: list[PlannedWrite], outcomes: list[WriteOutcome]
) -> None:
    client, store, report = context.client, context.store, context.report
    clock, run_id = context.clock, context.run_id
    missing = _fields_gone_from_crm(client, module, items, outcomes, report.missing_fields)
    if missing:
        # Only that field stops: the rows it spoiled are sent again without it.
        log.error("%s: field(s) %s no longer exist in the CRM", module, ", ".join(sorted(missing)))
        retry = [
            i
            for i, o in zip(items, outcomes, strict=True)
            if o.status is not WriteStatus.WRITTEN and o.field in missing
        ]
        refused_ids = {i.record_id for i in retry}
        kept = [
            (i, o) for i, o in zip(items, outcomes, strict=True) if i.record_id not in refused_ids
        ]
        _record(context, module, kept)
        _record_missing(store, module, retry, missing, clock=clock, run_id=run_id)
        _push_batch(context, module, retry)
        return
    _record(context, module, list(zip(items, outcomes, strict=True)))


def _without_missing_fields(
    items: list[PlannedWrite], module: str, missing: set[tuple[str, str]]
) -> list[PlannedWrite]:
    gone = {f for m, f in missing if m == module}
    if not gone:
        return items
    trimmed = [
        PlannedWrite(i.module, i.record_id, {k: v for k, v in i.changes.items() if k not in gone})
        for i in items
    ]
    return [i for i in trimmed if i.changes]


def _fields_gone_from_crm(
    client: CRMClient,
    module: str,
    items: list[PlannedWrite],
    outcomes: list[WriteOutcome],
    known_missing: set[tuple[str, str]],
) -> set[str]:
    """Fields named by refusals that the CRM's metadata no longer lists (one metadata call)."""
    named = {
        o.field
        for i, o in zip(items, outcomes, strict=True)
        if o.status is not WriteStatus.WRITTEN and o.field and o.field in i.changes
    }
    if not named:
        return set()
    existing = {meta.api_name for meta in client.get_fields(module)}
    missing = {name for name in named if name not in existing}
    known_missing.update((module, name) for name in missing)
    return missing


def _record(
    context: _BatchContext, module: str, pairs: list[tuple[PlannedWrite, WriteOutcome]]
) -> None:
    report = context.report
    written = 0
    for item, outcome in pairs:
        if outcome.status is WriteStatus.WRITTEN:
            written += 1
        else:
            log.warning(
                "%s %s refused: %s %s", module, item.record_id, outcome.crm_code, outcome.message
            )
    # Field state, write history and ledger in one transaction (jobs/ledger.py).
    context.ledger.record_batch(
        module,
        [(item.record_id, item.values(), outcome) for item, outcome in pairs],
        context.previous.get(module, {}),
        context.run_id,
        context.clock(),
    )
    report.written += written
    report.refused += len(pairs) - written


def _record_missing(
    store: Store,
    module: str,
    items: list[PlannedWrite],
    missing: set[str],
    *,
    clock: Callable[[], datetime],
    run_id: int | None,
) -> None:
    now = clock()
    store.record_outcomes(
        run_id,
        [
            {
                "module": module,
                "record_id": item.record_id,
                "status": WriteStatus.INVALID.value,
                "crm_code": "FIELD_MISSING",
                "field": name,
                "message": _missing_message(module, name),
                "at": now,
            }
            for item in items
            for name in sorted(missing & set(item.changes))
        ],
    )


def _missing_message(module: str, name: str) -> str:
    return (
        f"{module}.{name} no longer exists in the CRM; its writes stopped "
        "(run `engage mappings check`, then `engage fields ensure`)"
    )


def _old(state: FieldState | None) -> Any:
    if state is None:
        return None
    return state.crm_value if state.crm_seen else state.written_value


def _empty(value: Any) -> bool:
    return value is None or value == ""


def same_value(a: Any, b: Any) -> bool:
    """Equal as the CRM would show them: 5 == 5.0, and one instant in two offsets is one instant."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a == b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-9
    if isinstance(a, str) and isinstance(b, str):
        if a == b:
            return True
        instant_a, instant_b = _instant(a), _instant(b)
        return instant_a is not None and instant_a == instant_b
    return bool(a == b)


def _instant(text: str) -> datetime | None:
    if len(text) < 19 or text[4] != "-" or "T" not in text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None
