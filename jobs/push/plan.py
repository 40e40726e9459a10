"""Plan: health -> the values the plugin wants in the CRM -> what to write, a chunk at a time.

Per record and field, the target's write policy decides (``mappings.spec.WritePolicy``):

- ``always``: write when the wanted value differs from what the plugin last wrote, or from
  what the CRM held at the last sync.
- ``if_empty``: write only into an empty field; a value already there is never replaced.
- ``keep_human_edits``: when the CRM value differs from what the plugin last wrote, a person
  changed it: leave it, and list the conflict (``engage status``) until it is resolved.

Records are planned in chunks of ``CHUNK_SIZE`` engagements (or accounts), each read from the
store, computed and compared on its own: memory stays flat at any portfolio size, and the push
writes one chunk while the next is planned. ``plan`` gathers every chunk into one plan (what
`engage plan` shows); the push plans only the records that changed (jobs/push/due.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from connector.base import FieldMeta
from jobs.admin.mapping_check import value_problem
from jobs.health.engagement import Riskiest, account_health
from jobs.push.due import DueRecords
from jobs.store import Connection, FieldState, Store
from jobs.store.bulk import id_slices
from jobs.store.field_states import stored_fields
from jobs.store.health import decode_health
from jobs.store.plan_inputs import health_value_columns, health_values, rollup_rows
from jobs.store.records import RecordKind, live_ids_in
from mappings.domain import AccountHealth, EngagementStatus, RiskLevel
from mappings.engine import FieldWords, Mapper
from mappings.spec import TargetField, WritePolicy

#: Records per chunk, engagements or accounts (an account's roll-up is one row from SQL, so a
#: chunk of accounts costs about what a chunk of engagements does; each chunk is a commit).
CHUNK_SIZE = 2000


@dataclass(frozen=True)
class PlannedWrite:
    """One record's changed fields: field -> (old, new)."""

    module: str
    record_id: str
    changes: dict[str, tuple[Any, Any]]
    #: Field -> new value, from ``changes`` unless given. Writes planned alike may share one
    #: dictionary (and one ``changes``): the store then encodes it once for all of them.
    new: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.new and self.changes:
            values = {name: new for name, (_old, new) in self.changes.items()}
            object.__setattr__(self, "new", values)

    def values(self) -> dict[str, Any]:
        """Field -> new value (the same dictionary each time: do not change it)."""
        return self.new


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
    #: (module, record id) of every record planned, whatever the outcome (a record with no
    #: values to want, say a lost deal, is planned too: it was looked at).
    planned: list[tuple[str, str]] = field(default_factory=list)

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

    def extend(self, other: Plan) -> None:
        self.writes += other.writes
        self.unchanged += other.unchanged
        self.unchanged_rows += other.unchanged_rows
        self.conflicts += other.conflicts
        self.invalid += other.invalid
        self.planned += other.planned


def plan(
    mapper: Mapper,
    store: Store,
    metadata: Mapping[str, Mapping[str, FieldMeta]] | None = None,
) -> Plan:
    """What a push would write now, every record considered. With ``metadata``, values the CRM
    would refuse are set apart."""
    result = Plan()
    for chunk in plan_chunks(mapper, store, metadata):
        result.extend(chunk)
    return result


def plan_chunks(
    mapper: Mapper,
    store: Store,
    metadata: Mapping[str, Mapping[str, FieldMeta]] | None = None,
    due: DueRecords | None = None,
    *,
    chunk_size: int | None = None,
) -> Iterator[Plan]:
    """The plan, one chunk of one module at a time: engagements first, then accounts. Only the
    records of ``due`` when given, else every one. ``chunk_size``: ``CHUNK_SIZE``."""
    for module, record_ids, wanted in wanted_chunks(mapper, store, due, chunk_size=chunk_size):
        with store.engine.connect() as conn:
            states = stored_fields(conn, module, list(wanted))
        fields_meta = metadata.get(module) if metadata is not None else None
        yield compare_chunk(mapper, module, record_ids, wanted, states, fields_meta)


def wanted_chunks(
    mapper: Mapper,
    store: Store,
    due: DueRecords | None = None,
    *,
    chunk_size: int | None = None,
) -> Iterator[tuple[str, list[str], dict[str, dict[str, Any]]]]:
    """(module, record ids looked at, record id -> CRM field -> the value wanted there now),
    a chunk at a time, for the records of ``due`` (all when None). A record looked at may
    want nothing (an engagement without health, an account without engagements)."""
    chunk_size = chunk_size or CHUNK_SIZE
    if due is None:
        due = everything(store, mapper)
    target = mapper.spec.targets.engagements
    values = _EngagementValues(mapper)
    for ids in id_slices(due.engagements, chunk_size):
        with store.engine.connect() as conn:
            wanted = values.of(conn, ids)
        yield target.module, ids, wanted
    accounts = mapper.spec.targets.accounts
    if accounts is None:
        return
    for ids in id_slices(due.accounts, chunk_size):
        with store.engine.connect() as conn:
            rollups = rollups_of(conn, ids, mapper.words)
        yield accounts.module, ids, {aid: mapper.account_values(r) for aid, r in rollups.items()}


def everything(store: Store, mapper: Mapper) -> DueRecords:
    """Every live engagement and account, as if all had changed."""
    with store.engine.connect() as conn:
        engagements = live_ids_in(conn, RecordKind.ENGAGEMENTS)
        accounts = (
            live_ids_in(conn, RecordKind.ACCOUNTS)
            if mapper.spec.targets.accounts is not None
            else []
        )
    return DueRecords(engagements, accounts, full=True)


class FieldDecision(StrEnum):
    """What planning does with one target field of one record (`RowDecision`, in the ledger,
    is what the push does with a planned row)."""

    WRITE = "write"
    #: The CRM holds what the plugin wants: nothing to do.
    SAME = "same"
    #: The write policy says leave the CRM's value (``if_empty`` and the field is filled).
    KEEP = "keep"
    #: A person changed the field to something else (``keep_human_edits``): listed, not written.
    CONFLICT = "conflict"


def decide(rule: TargetField, state: FieldState | None, wanted: Any) -> FieldDecision:
    """What to do with one field, given what was written, what the CRM holds and its policy."""
    if state is None:
        return FieldDecision.WRITE if wanted is not None else FieldDecision.SAME
    crm = state.crm_value if state.crm_seen else state.written_value
    if rule.policy is WritePolicy.IF_EMPTY:
        if not _empty(crm):
            return FieldDecision.SAME if same_value(crm, wanted) else FieldDecision.KEEP
        return FieldDecision.WRITE if wanted is not None else FieldDecision.SAME
    if rule.policy is WritePolicy.KEEP_HUMAN_EDITS and state.crm_seen:
        edited = not same_value(state.crm_value, state.written_value)
        if edited and not same_value(state.crm_value, wanted):
            return FieldDecision.CONFLICT
        if edited:
            return FieldDecision.SAME  # the person set what the plugin wants: nothing to do
    if not same_value(state.written_value, wanted):
        return FieldDecision.WRITE
    if state.crm_seen and not same_value(state.crm_value, wanted):
        return FieldDecision.WRITE
    return FieldDecision.SAME


def same_value(a: Any, b: Any) -> bool:
    """Equal as the CRM would show them: 5 == 5.0, and one instant in two offsets is one instant."""
    if type(a) is type(b) and a == b:
        return True
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


def compare_chunk(
    mapper: Mapper,
    module: str,
    record_ids: Sequence[str],
    wanted: Mapping[str, Mapping[str, Any]],
    states: Mapping[str, Mapping[str, list[Any]]],
    fields_meta: Mapping[str, FieldMeta] | None,
) -> Plan:
    """One chunk's plan: the wanted values against what was written and what the CRM holds."""
    result = Plan(planned=[(module, record_id) for record_id in record_ids])
    rules = mapper.target_rules(module)
    #: id of a wanted-values dictionary (alive in ``wanted`` meanwhile) -> what a record with
    #: no state yet writes from it, shared by those records.
    firsts: dict[int, tuple[dict[str, tuple[Any, Any]], dict[str, Any]]] = {}
    for record_id in sorted(wanted):
        changes: dict[str, tuple[Any, Any]] = {}
        new: dict[str, Any] = {}
        held = states.get(record_id)
        if not held:
            # Nothing written or seen yet (a first push): every value there is to write.
            values = wanted[record_id]
            first = firsts.get(id(values))
            if first is None:
                new = {name: v for name, v in values.items() if v is not None}
                first = firsts[id(values)] = ({name: (None, v) for name, v in new.items()}, new)
            changes, new = first
        else:
            for name, value in wanted[record_id].items():
                stored = held.get(name)
                if stored is not None and _in_sync(stored, value):
                    continue
                state = FieldState(stored[0], stored[1], bool(stored[2])) if stored else None
                decision = decide(rules[name], state, value)
                if decision is FieldDecision.CONFLICT and state is not None:
                    result.conflicts.append(
                        Conflict(
                            module, record_id, name, state.crm_value, state.written_value, value
                        )
                    )
                elif decision is FieldDecision.WRITE:
                    changes[name] = (_old(state), value)
        if fields_meta is not None:
            problems = {
                name: problem
                for name, (_, value) in changes.items()
                if (problem := value_problem(fields_meta.get(name), value))
            }
            for name, problem in problems.items():
                value = changes[name][1]
                result.invalid.append(InvalidValue(module, record_id, name, value, problem))
            if problems:  # a new dictionary: ``changes`` may be shared
                changes = {k: v for k, v in changes.items() if k not in problems}
                new = {}
        if changes:
            result.writes.append(PlannedWrite(module, record_id, changes, new))
        else:
            result.unchanged += 1
            result.unchanged_rows.append((module, record_id))
    return result


class _EngagementValues:
    """The values wanted on engagements, from their health as stored.

    Engagements with the same health values want the same CRM values, and a portfolio has far
    fewer distinct health values than engagements (10,000 deals: about 2,600, all scored at
    the same time); each distinct one is validated and mapped once, up to ``REMEMBERED``.
    """

    REMEMBERED = 20_000

    def __init__(self, mapper: Mapper) -> None:
        self.mapper = mapper
        self._known: dict[tuple[Any, ...], dict[str, Any]] = {}

    def of(self, conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Engagement id -> CRM field -> wanted value, for those of ``ids`` that are live
        engagements with health."""
        # Every value column (the ones the push's basis copies), JSON as its text: a key.
        names, json_columns = health_value_columns()
        wanted = {}
        lost = EngagementStatus.CLOSED_LOST.value
        for engagement_id, status, *row in health_values(conn, ids):
            # A lost deal keeps the health it had while open (it is no longer scored); what
            # the CRM gets then is the mapping's `on_close.lost`.
            closed = status == lost
            key = (closed, *row)
            values = self._known.get(key)
            if values is None:
                if len(self._known) >= self.REMEMBERED:
                    self._known.clear()
                fields = dict(zip(names, row, strict=True))
                for name in json_columns:
                    fields[name] = json.loads(fields[name]) if fields[name] is not None else None
                health = decode_health(engagement_id, fields)
                values = self._known[key] = (
                    self.mapper.closed_values(health)
                    if closed
                    else self.mapper.engagement_values(health)
                )
            wanted[engagement_id] = values
        return wanted


def rollups_of(
    conn: Connection, account_ids: Sequence[str], words: FieldWords
) -> dict[str, AccountHealth]:
    """The roll-up of each of ``account_ids`` that is a live account with live engagements
    (`jobs.health.engagement.account_health`), its summary in the mapping's ``words``: none for
    an account with an active engagement not scored. Counted and ranked in SQL
    (`jobs.store.plan_inputs.rollup_rows`)."""
    rollups = {}
    for account_id, name, score, level, count in rollup_rows(conn, account_ids):
        riskiest = Riskiest(name, score, RiskLevel(level)) if count else None
        summary = words.account_summary(count, riskiest)
        rollups[account_id] = account_health(account_id, count, riskiest, summary)
    return rollups


def _in_sync(stored: list[Any], wanted: Any) -> bool:
    """The field's stored [written, crm, seen] says the plugin wrote ``wanted`` and the CRM
    held it at the last sync: `decide` answers "same" under every policy (not for an empty
    value, which "if_empty" writes). Checked first because most fields of most records are so,
    and it skips building a state and the policy's comparisons."""
    written, crm, seen = stored
    return (
        seen
        and wanted is not None
        and wanted != ""
        and type(written) is type(wanted)
        and written == wanted
        and type(crm) is type(wanted)
        and crm == wanted
    )


def _old(state: FieldState | None) -> Any:
    if state is None:
        return None
    return state.crm_value if state.crm_seen else state.written_value


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _instant(text: str) -> datetime | None:
    if len(text) < 19 or text[4] != "-" or "T" not in text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None
