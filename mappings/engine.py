"""Interpret a mapping spec: raw CRM records in, domain objects out; health in, CRM values out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mappings.domain import (
    Account,
    AccountHealth,
    Activity,
    Contact,
    Engagement,
    EngagementHealth,
    EngagementStatus,
)
from mappings.spec import (
    AccountOutput,
    ActivitySourceSpec,
    CloseAction,
    EngagementOutput,
    EngagementSourceSpec,
    MappingSpec,
    SourceSpec,
    TargetField,
)
from mappings.transforms import TransformError, apply_source_rule

M = TypeVar("M", bound=BaseModel)


class RecordRejected(Exception):
    """A CRM record cannot become a domain object. Skip it and keep ``reason`` for people."""

    def __init__(self, record_id: str | None, reason: str, field: str | None = None) -> None:
        self.record_id = record_id
        self.reason = reason
        self.field = field
        super().__init__(reason)


def read_path(record: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path into nested lookups; a missing or null step gives ``None``."""
    value: Any = record
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


@dataclass(frozen=True)
class FieldWords:
    """The sentences the mapping writes itself (not a driver's), each as (English, Chinese):
    from the message catalogs (`field.*`, docs/messages.md), rendered by whoever builds the
    Mapper (`jobs.messages.fields.field_words`), as this package does no I/O."""

    #: The drivers field of an engagement without drivers.
    no_drivers: tuple[str, str]
    #: The drivers field of a lost deal under `on_close.lost = "final"`.
    deal_lost: tuple[str, str]
    #: An account roll-up's summary from its count of active engagements and its riskiest one
    #: (`jobs.health.engagement.Riskiest`; None when it has none), built by the caller's words.
    account_summary: Callable[[int, Any], tuple[str, str]]
    #: The messages behind `account_summary` as written (`account.*`, `level.*`): part of the
    #: push fingerprint, so a changed one has every account planned again.
    account_messages: str


class Mapper:
    """The one place where CRM field names meet the domain."""

    def __init__(self, spec: MappingSpec, words: FieldWords) -> None:
        self.spec = spec
        self.words = words
        #: Stage value -> status, from the CRM's own stage metadata (jobs/pull/source_probe.py);
        #: the mapping's `status_by_stage` overrides it.
        self.stage_statuses: dict[str, EngagementStatus] = {}

    def use_stage_outcomes(self, outcomes: Mapping[str, str]) -> None:
        """Take what each stage means from the CRM: won is delivery, lost is closed."""
        status = {
            "won": EngagementStatus.ACTIVE,
            "lost": EngagementStatus.CLOSED_LOST,
            "open": EngagementStatus.PIPELINE,
        }
        self.stage_statuses = {
            stage: status[str(outcome)] for stage, outcome in outcomes.items() if outcome in status
        }

    def fingerprint(self) -> str:
        """Changes whenever the mapping's meaning changes (not its comments or layout)."""
        return hashlib.sha256(self.spec.model_dump_json().encode()).hexdigest()

    def push_fingerprint(self) -> str:
        """Changes whenever the values the mapping writes would: its meaning or its own words
        (a changed `field.*` message has every record planned once, its sync left alone)."""
        words = json.dumps(
            [self.words.no_drivers, self.words.deal_lost, self.words.account_messages],
            ensure_ascii=False,
        )
        return hashlib.sha256(f"{self.fingerprint()}{words}".encode()).hexdigest()

    # --- reading -------------------------------------------------------------------------------
    def read_fields(self, kind: str) -> list[str]:
        """Top-level CRM fields to request for ``kind``: sources, plus targets (current values)."""
        source = self._source(kind)
        names = {rule.path.split(".")[0] for rule in source.fields.values() if rule.path}
        names.update(path.split(".")[0] for path in source.where)
        if isinstance(source, EngagementSourceSpec):
            names.update(path.split(".")[0] for path in source.status_by_field)
        if isinstance(source, ActivitySourceSpec):
            names.update(path.split(".")[0] for path in source.kind_by_field)
        names.update(self.target_fields(kind))
        names.discard("id")  # Zoho always returns the id; asking for it wastes one of 50 slots
        # "$se_module" comes with the What_Id lookup of an activity (§7); it is no field to ask.
        names.difference_update([n for n in names if n.startswith("$")])
        return sorted(names)

    def target_fields(self, kind: str) -> list[str]:
        targets = self.spec.targets
        target = targets.engagements if kind == "engagements" else getattr(targets, kind, None)
        if target is None or target.module != self._source(kind).module:
            return []
        return sorted(rule.field for rule in target.fields.values())

    def selects(self, kind: str, raw: Mapping[str, Any]) -> bool:
        """Whether the mapping's `where` filter takes this record into the domain."""
        return all(
            str(read_path(raw, path)) in {str(v) for v in allowed}
            for path, allowed in self._source(kind).where.items()
        )

    def to_account(self, raw: Mapping[str, Any]) -> Account:
        return self._build(Account, self.spec.sources.accounts, raw)

    def to_contact(self, raw: Mapping[str, Any]) -> Contact:
        if self.spec.sources.contacts is None:
            raise RecordRejected(str(raw.get("id")), "contacts are not mapped")
        return self._build(Contact, self.spec.sources.contacts, raw)

    def to_engagement(self, raw: Mapping[str, Any]) -> Engagement:
        source = self.spec.sources.engagements
        values = self._values(source, raw)
        status = self.stage_status(raw, values.get("stage"))
        for path, statuses in source.status_by_field.items():
            by_field = statuses.get(str(read_path(raw, path)))
            if by_field is not None:
                status = by_field
                break
        return self._validate(Engagement, source, raw, {**values, "status": status})

    def stage_status(self, raw: Mapping[str, Any], stage: Any) -> EngagementStatus:
        """The mapping's `status_by_stage` (after `map`) first, then the CRM's meaning of the
        raw stage value (or of the mapped one), else pipeline."""
        source = self.spec.sources.engagements
        listed = source.status_by_stage.get(str(stage))
        if listed is not None:
            return listed
        rule = source.fields.get("stage")
        raw_stage = read_path(raw, rule.path) if rule is not None and rule.path else None
        for value in (raw_stage, stage):
            found = self.stage_statuses.get(str(value)) if value is not None else None
            if found is not None:
                return found
        return EngagementStatus.PIPELINE

    def to_activity(self, kind: str, raw: Mapping[str, Any]) -> Activity:
        """``kind`` is "activities.<name>", as in `MappingSpec.source_specs`."""
        source = self._source(kind)
        assert isinstance(source, ActivitySourceSpec), kind
        kind = source.kind
        for path, kinds in source.kind_by_field.items():
            by_field = kinds.get(str(read_path(raw, path)))
            if by_field is not None:
                kind = by_field
                break
        values = {**self._values(source, raw), "kind": kind}
        return self._validate(Activity, source, raw, values)

    def current_values(self, kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """What the CRM holds today in the fields the plugin writes for ``kind``."""
        return {name: raw.get(name) for name in self.target_fields(kind) if name in raw}

    def source(self, kind: str) -> SourceSpec:
        """The source spec of a sync kind ("engagements", "activities.calls", …)."""
        return self._source(kind)

    def _source(self, kind: str) -> SourceSpec:
        group, _, name = kind.partition(".")
        if group == "activities" and name:
            return self.spec.sources.activities[name]
        source = getattr(self.spec.sources, kind, None)
        if source is None:
            raise KeyError(f"no source named {kind!r} in the mapping")
        return source  # type: ignore[no-any-return]

    def _build(self, model: type[M], source: SourceSpec, raw: Mapping[str, Any]) -> M:
        return self._validate(model, source, raw, self._values(source, raw))

    def _values(self, source: SourceSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Domain attribute -> cleaned value; a value a transform cannot read rejects the record."""
        values: dict[str, Any] = {}
        for name, rule in source.fields.items():
            crm_value = read_path(raw, rule.path) if rule.path else None
            try:
                value = apply_source_rule(rule, crm_value)
            except TransformError as exc:
                raise RecordRejected(
                    _record_id(raw), f"{rule.path} = {_shown(crm_value)}: {exc}", rule.path
                ) from None
            if value is not None:
                values[name] = value
        return values

    def _validate(
        self, model: type[M], source: SourceSpec, raw: Mapping[str, Any], values: dict[str, Any]
    ) -> M:
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            attribute = str(first["loc"][0]) if first["loc"] else ""
            rule = source.fields.get(attribute)
            crm_field = (rule.path or "constant") if rule else attribute
            if first["type"] == "missing":
                reason = f"{crm_field} is empty"
            else:
                shown = _shown(
                    read_path(raw, rule.path) if rule and rule.path else values.get(attribute)
                )
                message = str(first["msg"]).removeprefix("Value error, ")
                reason = f"{crm_field} = {shown}: {message}"
            raise RecordRejected(_record_id(raw), reason, crm_field) from None

    # --- writing -------------------------------------------------------------------------------
    def engagement_outputs(self, health: EngagementHealth) -> dict[EngagementOutput, Any]:
        """Every output's plain value, before the mapping's per-field formatting."""
        target = self.spec.targets.engagements
        return {
            EngagementOutput.RISK_SCORE: health.risk_score,
            EngagementOutput.RISK_LEVEL: health.risk_level.value,
            EngagementOutput.RISK_DRIVERS: drivers_text(
                health,
                target.drivers_language,
                _drivers_length(target.fields),
                none=self.words.no_drivers,
            ),
            EngagementOutput.SLA_STATUS: health.sla_status.value,
            EngagementOutput.SLA_COMPLIANCE: health.sla_compliance,
            EngagementOutput.NEXT_SLA_DEADLINE: _optional_datetime(health.next_sla_deadline),
            EngagementOutput.NPS: health.nps,
            EngagementOutput.CSAT: health.csat,
            EngagementOutput.LAST_SURVEY_DATE: _optional_date(health.last_survey_date),
            EngagementOutput.HEALTH_UPDATED_AT: format_datetime(health.updated_at),
        }

    def engagement_values(self, health: EngagementHealth) -> dict[str, Any]:
        """CRM field -> value for one deal, formatted as the mapping says."""
        outputs = self.engagement_outputs(health)
        target = self.spec.targets.engagements
        return {
            rule.field: format_target(rule, outputs[name]) for name, rule in target.fields.items()
        }

    def closed_values(self, health: EngagementHealth) -> dict[str, Any]:
        """CRM field -> value for a lost deal whose health was computed while it was open, as
        `on_close.lost` says (clear, final, or keep the last values)."""
        target = self.spec.targets.engagements
        action = target.on_close.lost
        if action is CloseAction.KEEP:
            return self.engagement_values(health)
        if action is CloseAction.CLEAR:
            return {rule.field: None for rule in target.fields.values()}
        outputs = self.engagement_outputs(health)
        outputs[EngagementOutput.RISK_DRIVERS] = _bilingual(
            *self.words.deal_lost, target.drivers_language
        )
        return {
            rule.field: format_target(rule, outputs[name]) for name, rule in target.fields.items()
        }

    def account_values(self, health: AccountHealth) -> dict[str, Any]:
        target = self.spec.targets.accounts
        if target is None:
            return {}
        outputs: dict[AccountOutput, Any] = {
            AccountOutput.RISK_LEVEL: health.risk_level.value if health.risk_level else None,
            AccountOutput.HEALTH_SUMMARY: _bilingual(
                health.summary_en, health.summary_zh, target.summary_language
            ),
        }
        return {
            rule.field: format_target(rule, outputs[name]) for name, rule in target.fields.items()
        }

    def target_modules(self) -> list[str]:
        targets = self.spec.targets
        return sorted({t.module for t in (targets.engagements, targets.accounts) if t is not None})

    def target_rules(self, module: str) -> dict[str, TargetField]:
        """CRM field -> its target rule, for every field the plugin writes in ``module``."""
        rules: dict[str, TargetField] = {}
        targets = self.spec.targets
        for target in (targets.engagements, targets.accounts):
            if target is not None and target.module == module:
                rules.update({rule.field: rule for rule in target.fields.values()})
        return rules


def format_target(rule: TargetField, value: Any) -> Any:
    """Apply `map`, `template` and `truncate` to one output value."""
    if value is None:
        return None
    if rule.map:
        value = rule.map.get(str(value), value)
    if rule.template:
        value = rule.template.format(value=value)
    if rule.truncate and isinstance(value, str) and len(value) > rule.truncate:
        value = value[: rule.truncate - 1] + "…"
    return value


def _optional_datetime(value: datetime | None) -> str | None:
    return format_datetime(value) if value else None


def _optional_date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _record_id(raw: Mapping[str, Any]) -> str | None:
    return str(raw["id"]) if raw.get("id") is not None else None


#: How many drivers the CRM field holds; the store keeps them all (`engage trend`, the report).
FIELD_DRIVERS = 3


def drivers_text(
    health: EngagementHealth,
    language: str,
    length: int | None = None,
    *,
    none: tuple[str, str],
) -> str:
    """The top `FIELD_DRIVERS` drivers, one a line, as many whole ones as fit in `length`
    characters (the field's `truncate`); a first one longer than that is cut by `truncate`.
    `none`: the (English, Chinese) text when there are no drivers (`FieldWords.no_drivers`)."""
    if not health.drivers:
        return _bilingual(*none, language)
    lines = [_bilingual(d.en, d.zh, language) for d in health.drivers[:FIELD_DRIVERS]]
    while length is not None and len(lines) > 1 and len("\n".join(lines)) > length:
        lines.pop()
    return "\n".join(lines)


def _drivers_length(fields: Mapping[Any, TargetField]) -> int | None:
    rule = fields.get(EngagementOutput.RISK_DRIVERS)
    return rule.truncate if rule is not None else None


def _bilingual(en: str, zh: str, language: str) -> str:
    if language == "en":
        return en
    if language == "zh":
        return zh
    return f"{en} / {zh}"


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…'"
