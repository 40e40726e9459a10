"""Push: health -> CRM values -> diff against what was written -> update only the changes.

Per record and field, the target's write policy decides (``mappings.spec.WritePolicy``):

- ``always``: write when the wanted value differs from what the plugin last wrote, or from
  what the CRM held at the last sync.
- ``if_empty``: write only into an empty field; a value already there is never replaced.
- ``keep_human_edits``: when the CRM value differs from what the plugin last wrote, a person
  changed it: leave it, and list the conflict (``engage status``) until it is resolved.

A run with nothing new makes no call. Each write call's outcomes are stored before the next
call. A target field deleted in the CRM mid-way stops only that field's writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.base import CRMClient, FieldMeta, WriteOutcome, WriteStatus
from jobs.health import roll_up_accounts
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

    def counts(self) -> dict[str, int]:
        return {
            "to_update": len(self.plan.writes),
            "unchanged": self.plan.unchanged,
            "conflicts": len(self.plan.conflicts),
            "invalid": len(self.plan.invalid),
            "written": self.written,
            "refused": self.refused,
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
) -> PushReport:
    """Write the plan. ``missing_fields``: (module, field) pairs the sync found deleted."""
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
    by_module: dict[str, list[PlannedWrite]] = {}
    for item in planned.writes:
        by_module.setdefault(item.module, []).append(item)
    for module, items in by_module.items():
        # One call's worth at a time, recorded before the next: a stop or crash mid-push
        # leaves the store knowing exactly what was written.
        for start in range(0, len(items), client.max_write_batch):
            batch = items[start : start + client.max_write_batch]
            _push_batch(client, store, module, batch, report, clock=clock, run_id=run_id)
    return report


def _push_batch(
    client: CRMClient,
    store: Store,
    module: str,
    items: list[PlannedWrite],
    report: PushReport,
    *,
    clock: Callable[[], datetime],
    run_id: int | None,
) -> None:
    items = _without_missing_fields(items, module, report.missing_fields)
    if not items:
        return
    outcomes = client.update_records(module, [{"id": i.record_id, **i.values()} for i in items])
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
        _record(store, module, kept, report, clock=clock, run_id=run_id)
        _record_missing(store, module, retry, missing, clock=clock, run_id=run_id)
        _push_batch(client, store, module, retry, report, clock=clock, run_id=run_id)
        return
    _record(
        store, module, list(zip(items, outcomes, strict=True)), report, clock=clock, run_id=run_id
    )


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
    store: Store,
    module: str,
    pairs: list[tuple[PlannedWrite, WriteOutcome]],
    report: PushReport,
    *,
    clock: Callable[[], datetime],
    run_id: int | None,
) -> None:
    now = clock()
    written = {}
    ledger = []
    for item, outcome in pairs:
        if outcome.status is WriteStatus.WRITTEN:
            written[item.record_id] = item.values()
        else:
            log.warning(
                "%s %s refused: %s %s", module, item.record_id, outcome.crm_code, outcome.message
            )
        ledger.append(
            {
                "module": module,
                "record_id": item.record_id,
                "status": outcome.status.value,
                "crm_code": outcome.crm_code,
                "field": outcome.field,
                "message": outcome.message or None,
                "at": now,
            }
        )
    store.save_written(module, written, now)
    store.record_outcomes(run_id, ledger)
    report.written += len(written)
    report.refused += len(pairs) - len(written)


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
