"""What the admin commands do: check a mapping, create its fields, plan a push with its cost,
and write a starter mapping. The CLI only prints what these return.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connector.base import CRMClient, FieldMeta, NewField, PricesRows
from jobs.admin.mapping_check import (
    ACCOUNT_OUTPUT_KINDS,
    CHOICES,
    OUTPUT_KINDS,
    Metadata,
    Problem,
    ValueKind,
    check_mapping,
)
from jobs.push.plan import Plan, plan
from jobs.store import Store
from mappings.engine import Mapper, format_target
from mappings.spec import DEFAULT_MAPPINGS, MappingSpec, TargetField, default_mapping_path

#: The CRM type each kind of output gets when `engage fields ensure` creates its field.
NEW_FIELD_TYPES = {
    ValueKind.INTEGER: ("integer", None),
    ValueKind.NUMBER: ("double", None),
    ValueKind.TEXT: ("textarea", 2000),
    ValueKind.CHOICE: ("picklist", None),
    ValueKind.DATE: ("date", None),
    ValueKind.DATETIME: ("datetime", None),
}


def mapped_modules(spec: MappingSpec) -> list[str]:
    modules = {source.module for _kind, source, _model in spec.source_specs()}
    modules.add(spec.targets.engagements.module)
    if spec.targets.accounts is not None:
        modules.add(spec.targets.accounts.module)
    return sorted(modules)


def fetch_metadata(client: CRMClient, modules: list[str]) -> dict[str, dict[str, FieldMeta]]:
    """One metadata call per module. A module the CRM refuses is left out (check reports it)."""
    from connector.errors import ConfigurationError

    metadata: dict[str, dict[str, FieldMeta]] = {}
    for module in modules:
        try:
            metadata[module] = {f.api_name: f for f in client.get_fields(module)}
        except ConfigurationError as exc:
            if exc.crm_code != "INVALID_MODULE":
                raise
    return metadata


def check(client: CRMClient, spec: MappingSpec) -> list[Problem]:
    return check_mapping(spec, fetch_metadata(client, mapped_modules(spec)))


def check_finding_labels(
    client: CRMClient, spec: MappingSpec
) -> tuple[list[Problem], dict[str, str]]:
    """`check`, and the target fields the mapping names wrongly but whose ``label`` the CRM
    has (Fxiaoke generates field_xxxxx__c names): mapping name -> the CRM's API name. Those
    are not reported as problems; the caller writes them into a copy of the mapping."""
    metadata = fetch_metadata(client, mapped_modules(spec))
    found = names_by_label(spec, metadata)
    problems = [p for p in check_mapping(spec, metadata) if p.field not in found]
    return problems, found


def names_by_label(spec: MappingSpec, metadata: Metadata) -> dict[str, str]:
    found: dict[str, str] = {}
    for target in (spec.targets.engagements, spec.targets.accounts):
        if target is None:
            continue
        fields = metadata.get(target.module, {})
        by_label = {meta.label: name for name, meta in fields.items()}
        for rule in target.fields.values():
            if rule.label and rule.field not in fields and rule.label in by_label:
                found[rule.field] = by_label[rule.label]
    return found


@dataclass
class PlanWithCost:
    plan: Plan
    #: module -> (write calls, CRM credits) a push of this plan costs.
    cost: dict[str, tuple[int, int]]
    #: Calls this plan itself made (field metadata, to find values the CRM would refuse).
    planning_calls: int

    @property
    def total_calls(self) -> int:
        return sum(calls for calls, _ in self.cost.values())

    @property
    def total_credits(self) -> int:
        return sum(credits for _, credits in self.cost.values())


def plan_with_cost(client: CRMClient, mapper: Mapper, store: Store) -> PlanWithCost:
    modules = mapper.target_modules()
    metadata = fetch_metadata(client, modules)
    planned = plan(mapper, store, metadata)
    cost = {module: client.write_cost(rows) for module, rows in planned.rows_by_module().items()}
    if isinstance(client, PricesRows):  # the cost follows the values (Odoo): price the rows
        for module in cost:
            rows = [{"id": w.record_id, **w.values()} for w in planned.writes if w.module == module]
            cost[module] = client.write_cost_of(module, rows)
    return PlanWithCost(planned, cost, planning_calls=len(modules))


@dataclass
class FieldAction:
    module: str
    output: str
    wanted_name: str
    label: str
    data_type: str
    created: bool = False
    api_name: str | None = None
    error: str | None = None
    #: A source field (read by the plugin, `--sources`) rather than a target it writes.
    source: bool = False
    #: The mapping has no line for it yet (a commented suggestion of `mappings init`).
    unmapped: bool = False
    picklist_values: tuple[str, ...] = ()


@dataclass
class EnsureResult:
    actions: list[FieldAction] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # mapping name -> CRM's api_name
    #: The mapping file that now holds the CRM's names (a copy when the shipped one was used).
    mapping_written: Path | None = None
    #: Recommended source fields the CRM lacks, not created (no `--sources`).
    missing_sources: list[FieldAction] = field(default_factory=list)


def missing_target_fields(spec: MappingSpec, metadata: Metadata) -> list[FieldAction]:
    """The target fields the CRM lacks, with the type each would be created with."""
    actions = []
    targets = [(spec.targets.engagements, OUTPUT_KINDS)]
    if spec.targets.accounts is not None:
        targets.append((spec.targets.accounts, ACCOUNT_OUTPUT_KINDS))  # type: ignore[arg-type]
    for target, kinds in targets:
        existing = metadata.get(target.module, {})
        for output, rule in target.fields.items():
            if rule.field in existing:
                continue
            kind, _longest = kinds[output]
            data_type, _length = NEW_FIELD_TYPES[ValueKind.TEXT if rule.template else kind]
            actions.append(
                FieldAction(
                    module=target.module,
                    output=str(output.value),
                    wanted_name=rule.field,
                    label=rule.label or rule.field.replace("_", " "),
                    data_type=data_type,
                )
            )
    return actions


def new_field(action: FieldAction, rule: TargetField) -> NewField:
    _type, length = next(v for v in NEW_FIELD_TYPES.values() if v[0] == action.data_type)
    values: tuple[str, ...] = ()
    if action.data_type == "picklist":
        values = tuple(str(format_target(rule, plain)) for plain in CHOICES.get(action.output, ()))
        if not values:  # account risk level: same choices as the engagement's
            values = tuple(str(format_target(rule, plain)) for plain in CHOICES["risk_level"])
    return NewField(
        label=action.label, data_type=action.data_type, length=length, picklist_values=values
    )


def missing_source_fields(spec: MappingSpec, metadata: Metadata) -> list[FieldAction]:
    """The recommended deal source fields (RECOMMENDED_SOURCES) the CRM lacks: the ones the
    mapping names under another API name are created under that name."""
    source = spec.sources.engagements
    existing = metadata.get(source.module, {})
    if not existing:
        return []
    actions = []
    for attribute, recommended in RECOMMENDED_SOURCES.items():
        rule = source.fields.get(attribute)
        if rule is not None and rule.path is None:
            continue  # a constant: nothing to read
        name = rule.path.split(".")[0] if rule is not None and rule.path else None
        if (name or recommended.api_name) in existing:
            continue
        actions.append(
            FieldAction(
                module=source.module,
                output=attribute,
                wanted_name=name or recommended.api_name,
                label=(name or recommended.api_name).replace("_", " "),
                data_type=recommended.data_type,
                source=True,
                unmapped=name is None,
                picklist_values=recommended.picklist_values,
            )
        )
    return actions


def ensure_fields(
    client: CRMClient,
    spec: MappingSpec,
    mapping_path: Path,
    *,
    dry_run: bool,
    sources: bool = False,
    copy_dir: Path | None = None,
) -> EnsureResult:
    """Create every missing target field, and with ``sources`` the recommended source fields
    the deals lack; record generated API names (and new source lines) in the mapping file."""
    metadata = fetch_metadata(client, mapped_modules(spec))
    result = EnsureResult(actions=missing_target_fields(spec, metadata))
    missing_sources = missing_source_fields(spec, metadata)
    if sources:
        result.actions += missing_sources
    else:
        result.missing_sources = missing_sources
    if dry_run or not result.actions:
        return result
    rules = {
        (t.module, r.field): r
        for t in (spec.targets.engagements, spec.targets.accounts)
        if t is not None
        for r in t.fields.values()
    }
    by_module: dict[str, list[FieldAction]] = {}
    for action in result.actions:
        by_module.setdefault(action.module, []).append(action)
    for module, actions in by_module.items():
        outcomes = client.create_fields(
            module,
            [
                new_source_field(a) if a.source else new_field(a, rules[(module, a.wanted_name)])
                for a in actions
            ],
        )
        for action, outcome in zip(actions, outcomes, strict=True):
            action.created = outcome.created
            action.api_name = outcome.api_name
            if not outcome.created:
                action.error = f"{outcome.crm_code or 'refused'}: {outcome.message}"
            elif outcome.api_name and outcome.api_name != action.wanted_name:
                result.renamed[action.wanted_name] = outcome.api_name
    written = mapping_path
    if result.renamed:
        written = result.mapping_written = rename_in_mapping(mapping_path, result.renamed, copy_dir)
    added = {a.output: a.api_name for a in result.actions if a.unmapped and a.created}
    if added:
        result.mapping_written = add_source_lines(written, added, copy_dir)  # type: ignore[arg-type]
    return result


def new_source_field(action: FieldAction) -> NewField:
    return NewField(
        label=action.label, data_type=action.data_type, picklist_values=action.picklist_values
    )


def add_source_lines(path: Path, added: Mapping[str, str], copy_dir: Path | None = None) -> Path:
    """Map each engagement attribute to its new field: the commented suggestion `mappings init`
    left becomes the line, else the line is added under `[sources.engagements.fields]`. The
    shipped default is never edited (a copy is written, as by `rename_in_mapping`)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for attribute, api_name in added.items():
        line = f'{attribute} = {{ path = "{api_name}", optional = true }}'
        suggestion = next(
            (i for i, text in enumerate(lines) if re.match(rf"^# {attribute} = ", text)), None
        )
        if suggestion is not None:
            lines[suggestion] = line
        else:
            header = lines.index("[sources.engagements.fields]")
            lines.insert(header + 1, line)
    target = path
    for crm in DEFAULT_MAPPINGS:
        if path.resolve() == default_mapping_path(crm).resolve():
            target = (copy_dir or Path.cwd()) / f"{crm}-mapping.toml"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def rename_in_mapping(path: Path, renamed: dict[str, str], copy_dir: Path | None = None) -> Path:
    """Replace quoted field names in the mapping file, keeping its comments and layout.

    The shipped default is never edited (it belongs to the installation): a copy with the
    CRM's names is written to ``copy_dir`` (default: the working directory) instead.
    """
    text = path.read_text(encoding="utf-8")
    for old, new in renamed.items():
        text = re.sub(rf'"{re.escape(old)}"', f'"{new}"', text)
    target = path
    for crm in DEFAULT_MAPPINGS:
        if path.resolve() == default_mapping_path(crm).resolve():
            target = (copy_dir or Path.cwd()) / f"{crm}-mapping.toml"
    target.write_text(text, encoding="utf-8")
    return target


@dataclass(frozen=True)
class RecommendedSource:
    """A source field worth having on the Deal layout, which `fields ensure --sources` creates."""

    api_name: str
    data_type: str
    picklist_values: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.api_name.replace("_", " ")


#: Engagement attribute -> the field `engage fields ensure --sources` creates for it (names as
#: in the shipped mapping; the billing models and SLA tiers are the ones docs/health.md uses).
RECOMMENDED_SOURCES = {
    "start_date": RecommendedSource("Engagement_Start", "date"),
    "end_date": RecommendedSource("Contract_End", "date"),
    "billing_model": RecommendedSource(
        "Billing_Model",
        "picklist",
        ("Fixed Price", "Time & Materials", "Dedicated Team", "Managed Service"),
    ),
    "sla_tier": RecommendedSource("SLA_Tier", "picklist", ("Gold", "Silver", "Bronze")),
}
