"""Check a mapping against the CRM's live field metadata. Pure: metadata in, problems out.

Every problem is reported at once, each with where it is in the mapping file, the CRM field,
what is wrong and what to do, so an admin can fix the file in one pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from connector.base import FieldMeta
from mappings.spec import AccountOutput, EngagementOutput, MappingSpec, TargetField


class ProblemKind(StrEnum):
    UNKNOWN_FIELD = "unknown field"
    TYPE_MISMATCH = "type mismatch"
    TOO_LONG = "too long"
    PICKLIST_VALUE_MISSING = "picklist value missing"
    READ_ONLY_TARGET = "read-only target"
    MANDATORY_MISSING = "mandatory field missing"
    UNKNOWN_MODULE = "unknown module"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    where: str  # the key in the mapping file
    module: str
    field: str
    detail: str
    #: A missing optional source is a warning: the sync reads on without it.
    warning: bool = False

    def as_dict(self) -> dict[str, Any]:
        found = {**asdict(self), "kind": self.kind.value}
        del found["warning"]
        return found


class ValueKind(StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    TEXT = "text"
    CHOICE = "choice"  # one of a few values: a picklist or text
    DATE = "date"
    DATETIME = "datetime"


#: What each output is, and the longest text it can produce (for length checks).
OUTPUT_KINDS: dict[str, tuple[ValueKind, int]] = {
    EngagementOutput.RISK_SCORE: (ValueKind.INTEGER, 3),
    EngagementOutput.RISK_LEVEL: (ValueKind.CHOICE, 8),
    # Three bilingual lines of fact, goal and next step (~250 characters each with a short
    # milestone name; the catalogs' longest fact and step are about 100 and 55).
    EngagementOutput.RISK_DRIVERS: (ValueKind.TEXT, 900),
    EngagementOutput.SLA_STATUS: (ValueKind.CHOICE, 12),
    EngagementOutput.SLA_COMPLIANCE: (ValueKind.NUMBER, 6),
    EngagementOutput.NEXT_SLA_DEADLINE: (ValueKind.DATETIME, 25),
    EngagementOutput.NPS: (ValueKind.INTEGER, 4),
    EngagementOutput.CSAT: (ValueKind.NUMBER, 4),
    EngagementOutput.LAST_SURVEY_DATE: (ValueKind.DATE, 10),
    EngagementOutput.HEALTH_UPDATED_AT: (ValueKind.DATETIME, 25),
}
ACCOUNT_OUTPUT_KINDS: dict[str, tuple[ValueKind, int]] = {
    AccountOutput.RISK_LEVEL: (ValueKind.CHOICE, 8),
    AccountOutput.HEALTH_SUMMARY: (ValueKind.TEXT, 400),
}
#: The plain values of the choice outputs, before the mapping's `map`.
CHOICES: dict[str, tuple[str, ...]] = {
    EngagementOutput.RISK_LEVEL: ("low", "medium", "high", "critical"),
    EngagementOutput.SLA_STATUS: ("compliant", "at_risk", "breached", "not_measured"),
}

#: CRM data types (Zoho's names) each kind of value may be written to.
_ACCEPTS: dict[ValueKind, set[str]] = {
    ValueKind.INTEGER: {"integer", "bigint", "double", "decimal", "currency", "percent"},
    ValueKind.NUMBER: {"double", "decimal", "currency", "percent"},
    ValueKind.TEXT: {"text", "textarea"},
    ValueKind.CHOICE: {"picklist", "text", "textarea"},
    ValueKind.DATE: {"date"},
    ValueKind.DATETIME: {"datetime"},
}
_TEXT_TYPES = {"text", "textarea"}
#: Domain attributes without which a record cannot be used.
MANDATORY = {
    "accounts": ("crm_id", "name"),
    "contacts": ("crm_id",),
    "engagements": ("crm_id", "name", "account_id", "stage"),
    "activities": ("crm_id", "at", "related_module", "related_id"),
}

Metadata = Mapping[str, Mapping[str, FieldMeta]]  # module -> api_name -> meta


def check_mapping(spec: MappingSpec, metadata: Metadata) -> list[Problem]:
    """Every problem of ``spec`` against the CRM's fields, sources first.

    Long because it is one checklist read top to bottom (the order of the problems is the order
    a person fixes them in); each check is a few lines."""
    problems: list[Problem] = []
    for kind, source, _model in spec.source_specs():
        where = f"sources.{kind}"
        fields = metadata.get(source.module)
        if fields is None:
            problems.append(_unknown_module(where, source.module, optional=source.optional))
            continue
        problems.extend(
            Problem(
                ProblemKind.MANDATORY_MISSING,
                f"{where}.fields.{name}",
                source.module,
                "",
                f"`{name}` is needed to use a record; map it to a CRM field",
            )
            for name in MANDATORY.get(kind.partition(".")[0], ())
            if name not in source.fields
        )
        for path, allowed in source.where.items():
            top = path.split(".")[0]
            meta = fields.get(top)
            key = f"{where}.where.{path}"
            if meta is None:
                problems.append(_unknown_field(key, source.module, top, fields))
            elif meta.picklist_values:
                problems.extend(
                    Problem(
                        ProblemKind.PICKLIST_VALUE_MISSING,
                        key,
                        source.module,
                        top,
                        f"the filter names {value!r}, which is not a value of this picklist",
                    )
                    for value in allowed
                    if str(value) not in meta.picklist_values
                )
        for name, rule in source.fields.items():
            # "$se_module" is no field: Zoho sends it beside an activity's What_Id (§7).
            if rule.path is None or rule.path.split(".")[0] == "id" or rule.path.startswith("$"):
                continue
            top = rule.path.split(".")[0]
            meta = fields.get(top)
            key = f"{where}.fields.{name}"
            if meta is None:
                problems.append(
                    _unknown_field(
                        key,
                        source.module,
                        top,
                        fields,
                        side="optional" if rule.optional else "source",
                    )
                )
            elif rule.map and meta.picklist_values:
                problems.extend(
                    Problem(
                        ProblemKind.PICKLIST_VALUE_MISSING,
                        key,
                        source.module,
                        top,
                        f"map names {raw!r}, which is not a value of this picklist",
                    )
                    for raw in rule.map
                    if raw not in meta.picklist_values
                )
    targets = [("engagements", spec.targets.engagements, OUTPUT_KINDS)]
    if spec.targets.accounts is not None:
        targets.append(("accounts", spec.targets.accounts, ACCOUNT_OUTPUT_KINDS))  # type: ignore[arg-type]
    for kind, target, kinds in targets:
        fields = metadata.get(target.module)
        if fields is None:
            problems.append(_unknown_module(f"targets.{kind}", target.module))
            continue
        for output, target_rule in target.fields.items():
            key = f"targets.{kind}.fields.{output.value}"
            problems.extend(
                _target_problems(key, target.module, output, target_rule, kinds, fields)
            )
    return problems


def _target_problems(
    key: str,
    module: str,
    output: str,
    rule: TargetField,
    kinds: Mapping[str, tuple[ValueKind, int]],
    fields: Mapping[str, FieldMeta],
) -> list[Problem]:
    meta = fields.get(rule.field)
    if meta is None:
        # A target field not created yet (a new org) is what `engage fields ensure` is for: a
        # warning. One with a near twin in the CRM is more likely a typo: an error.
        typo = difflib.get_close_matches(rule.field, list(fields), n=1, cutoff=_TYPO_CUTOFF)
        return [_unknown_field(key, module, rule.field, fields, side="target" if typo else "new")]
    if meta.read_only:
        return [
            Problem(
                ProblemKind.READ_ONLY_TARGET,
                key,
                module,
                rule.field,
                f"{rule.field} is read-only or a formula ({meta.data_type}); choose a writable field",
            )
        ]
    value_kind, longest = kinds[output]
    if rule.template:
        value_kind, longest = ValueKind.TEXT, longest + len(rule.template)
    if meta.data_type not in _ACCEPTS[value_kind]:
        return [
            Problem(
                ProblemKind.TYPE_MISMATCH,
                key,
                module,
                rule.field,
                f"the {output} output is {value_kind.value}; {rule.field} is {meta.data_type} "
                f"(use a {' or '.join(sorted(_ACCEPTS[value_kind]))} field)",
            )
        ]
    problems = []
    if meta.data_type in _TEXT_TYPES and meta.length:
        if rule.truncate:
            longest = min(longest, rule.truncate)
        if longest > meta.length:
            problems.append(
                Problem(
                    ProblemKind.TOO_LONG,
                    key,
                    module,
                    rule.field,
                    f"values can reach {longest} characters; {rule.field} holds {meta.length} "
                    f"(set truncate = {meta.length} or use a longer field)",
                )
            )
    if meta.data_type == "picklist" and output in CHOICES:
        problems.extend(
            Problem(
                ProblemKind.PICKLIST_VALUE_MISSING,
                key,
                module,
                rule.field,
                f"{plain!r} is written as {shown!r}, which {rule.field} does not offer "
                f"(it has: {', '.join(meta.picklist_values)})",
            )
            for plain in CHOICES[output]
            if (shown := str(rule.map.get(plain, plain))) not in meta.picklist_values
        )
    return problems


def value_problem(meta: FieldMeta | None, value: Any) -> str | None:
    """Why the CRM would refuse ``value`` in this field, or None. Used by `engage plan`."""
    if meta is None:
        return "the field does not exist in the CRM"
    if value is None:
        return None
    if meta.read_only:
        return "the field is read-only"
    if (
        meta.data_type == "picklist"
        and meta.picklist_values
        and str(value) not in meta.picklist_values
    ):
        return f"{value!r} is not one of the picklist's values"
    if meta.data_type in _TEXT_TYPES and meta.length and len(str(value)) > meta.length:
        return f"{len(str(value))} characters; the field holds {meta.length}"
    if meta.data_type in {"integer", "bigint"} and not (
        isinstance(value, int) and not isinstance(value, bool)
    ):
        return f"{value!r} is not a whole number"
    return None


#: How close a missing target field's name must be to an existing one to be taken for a typo.
_TYPO_CUTOFF = 0.85
#: What to do about a missing field, by the side of the mapping it is on.
_MISSING_FIELD_HINTS = {
    # The plugin creates the fields it writes.
    "target": "run `engage fields ensure` to create it",
    "new": "not created yet: run `engage fields ensure` to create it",
    # It never creates a field it reads without being asked: the data is the org's.
    "source": "map it to one of your fields, or mark it `optional = true`; "
    "`engage fields ensure --sources` creates the recommended ones",
    "optional": "optional: read as empty until it exists; "
    "`engage fields ensure --sources` creates it",
}


def _unknown_field(
    key: str,
    module: str,
    name: str,
    fields: Mapping[str, FieldMeta],
    *,
    side: str = "target",
) -> Problem:
    close = difflib.get_close_matches(name, list(fields), n=3, cutoff=0.6)
    hint = _MISSING_FIELD_HINTS[side]
    if close:
        hint = f"closest: {', '.join(close)}; or {hint}"
    return Problem(
        ProblemKind.UNKNOWN_FIELD,
        key,
        module,
        name,
        f"{module} has no field {name} ({hint})",
        warning=side in ("optional", "new"),
    )


def _unknown_module(where: str, module: str, *, optional: bool = False) -> Problem:
    detail = f"the CRM has no module {module} (or the API user cannot see it)"
    if optional:
        detail += "; optional: the sync skips it"
    return Problem(
        ProblemKind.UNKNOWN_MODULE, f"{where}.module", module, "", detail, warning=optional
    )
