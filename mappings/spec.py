"""The mapping spec: which CRM fields feed the domain and which receive the outputs.

One TOML file per CRM connection; defaults ship next to this module (``zoho.toml``). The
admin-facing reference, with every transform, policy and error, is ``docs/mappings.md``.

A source field is either a dotted CRM path (``"Account_Name.id"``) or a table with a transform::

    contract_value = { path = "Contract_Value_Text", transform = "number" }
    stage = { path = "Stage", map = { "赢单" = "Closed Won" } }

A target field is either a CRM field name or a table with a write policy and formatting::

    risk_drivers = { field = "Engagement_Risk_Drivers", truncate = 2000, policy = "keep_human_edits" }
"""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mappings.domain import Account, Activity, Contact, Engagement, EngagementStatus, TouchpointKind
from mappings.tomlfile import ConfigFileError, load_toml_model

Scalar = str | int | float | bool


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transform(StrEnum):
    """How a raw CRM value becomes a domain value (after `map` and `default`)."""

    NUMBER = "number"  # "1,200.50 USD", "¥3,000", "12万" -> Decimal
    DATE = "date"  # ISO date, or `format` (strptime); a datetime becomes its date in `timezone`
    DATETIME = "datetime"  # ISO with offset, or `format`; no offset -> `timezone` (default UTC)
    TEXT = "text"  # anything -> trimmed text
    BOOLEAN = "boolean"  # true/false, yes/no, 是/否, 1/0


class WritePolicy(StrEnum):
    """When the plugin may write a target field."""

    ALWAYS = "always"  # keep the CRM equal to the computed value
    IF_EMPTY = "if_empty"  # fill an empty field once; never overwrite a value
    KEEP_HUMAN_EDITS = "keep_human_edits"  # a value a person changed stays; the conflict is listed


class EngagementOutput(StrEnum):
    """Everything the plugin can write on a deal."""

    RISK_SCORE = "risk_score"
    RISK_LEVEL = "risk_level"
    RISK_DRIVERS = "risk_drivers"
    SLA_STATUS = "sla_status"
    SLA_COMPLIANCE = "sla_compliance"
    NEXT_SLA_DEADLINE = "next_sla_deadline"
    NPS = "nps"
    CSAT = "csat"
    LAST_SURVEY_DATE = "last_survey_date"
    HEALTH_UPDATED_AT = "health_updated_at"


class AccountOutput(StrEnum):
    """Everything the plugin can write on an account."""

    RISK_LEVEL = "risk_level"
    HEALTH_SUMMARY = "health_summary"


def _one_of(name: str, value: Any, choices: type[StrEnum]) -> Any:
    """Turn pydantic's enum message into one that lists the valid names for the admin."""
    valid = [c.value for c in choices]
    if isinstance(value, str) and value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    return value


class SourceField(_Spec):
    """Where one domain attribute comes from, and how its value is cleaned."""

    path: str | None = Field(default=None, min_length=1)
    const: Scalar | None = None
    #: Raw value -> value, applied first (picklist labels in any language).
    map: dict[str, Scalar] | None = None
    #: Used when the CRM value is empty.
    default: Scalar | None = None
    transform: Transform | None = None
    #: strptime format for `date`/`datetime`, e.g. "%d/%m/%Y".
    format: str | None = None
    #: IANA zone for datetimes without an offset and for dates taken from datetimes.
    timezone: str | None = None
    #: The CRM may lack this field (a custom field a standard org does not have): then the
    #: value is empty, `mappings check` warns and the sync reads on without it.
    optional: bool = False

    @field_validator("transform", mode="before")
    @classmethod
    def _known_transform(cls, value: Any) -> Any:
        return _one_of("transform", value, Transform)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
                ) from None
        return value

    @model_validator(mode="after")
    def _path_or_const(self) -> SourceField:
        if (self.path is None) == (self.const is None):
            raise ValueError("give exactly one of `path` or `const`")
        return self


class TargetField(_Spec):
    """Where one output goes, how it is shown, and when it may be written."""

    field: str = Field(min_length=1)
    #: The field's label in the CRM: what `engage fields ensure` creates it with, or finds it by
    #: where the CRM generates API names (Fxiaoke's field_xxxxx__c).
    label: str | None = None
    policy: WritePolicy = WritePolicy.ALWAYS
    #: Output value -> CRM value (e.g. risk level "high" -> the org's picklist label "高").
    map: dict[str, Scalar] = Field(default_factory=dict)
    #: Python format string with {value}, e.g. "{value}/100".
    template: str | None = None
    #: Cut text longer than this many characters (ending with "…").
    truncate: int | None = Field(default=None, ge=1)

    @field_validator("policy", mode="before")
    @classmethod
    def _known_policy(cls, value: Any) -> Any:
        return _one_of("write policy", value, WritePolicy)

    @field_validator("template")
    @classmethod
    def _template_has_value(cls, value: str | None) -> str | None:
        if value is not None and "{value}" not in value:
            raise ValueError("a template must contain {value}")
        return value


def _tables(value: Any, key: str) -> Any:
    """Accept the short form: a plain string means {key = string}."""
    if isinstance(value, dict):
        return {name: {key: v} if isinstance(v, str) else v for name, v in value.items()}
    return value


class SourceSpec(_Spec):
    """One CRM module read into one domain type: domain attribute -> source field."""

    module: str = Field(min_length=1)
    fields: dict[str, SourceField]
    #: Only records whose CRM value at each path is one of the listed values (e.g. deal type,
    #: pipeline or stage) are read into the domain; the others are left out, not skipped.
    where: dict[str, list[Scalar]] = Field(default_factory=dict)
    #: The CRM may lack this module, or the API user may not read it (an activity module):
    #: then it is skipped with a warning, never a failed run.
    optional: bool = False

    @field_validator("fields", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return _tables(value, "path")


class EngagementSourceSpec(SourceSpec):
    #: Which CRM stage means what for delivery. Stages not listed are still in the pipeline.
    status_by_stage: dict[str, EngagementStatus] = Field(default_factory=dict)
    #: CRM path -> value -> status, looked at before the stage: for CRMs where a deal's
    #: outcome is not a stage (Odoo archives a lost opportunity: `active = False`).
    status_by_field: dict[str, dict[str, EngagementStatus]] = Field(default_factory=dict)


class ActivitySourceSpec(SourceSpec):
    """A CRM activity module (calls, meetings, tasks, notes) read as touchpoints."""

    #: The touchpoint kind its records count as, unless `kind_by_field` says otherwise.
    kind: TouchpointKind
    #: CRM path -> value -> kind, e.g. meetings titled "Weekly status meeting" are status reports.
    kind_by_field: dict[str, dict[str, TouchpointKind]] = Field(default_factory=dict)

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, value: Any) -> Any:
        return _one_of("touchpoint kind", value, TouchpointKind)


class CloseAction(StrEnum):
    """What the plugin does to its fields on a deal that closed without delivery."""

    CLEAR = "clear"  # empty every field the plugin writes
    FINAL = "final"  # keep the last values; the drivers say the deal is closed
    KEEP = "keep"  # leave the last values as they are


class OnClose(_Spec):
    #: A lost deal (its stage's meaning in the CRM, `status_by_stage` or `status_by_field`).
    lost: CloseAction = CloseAction.CLEAR

    @field_validator("lost", mode="before")
    @classmethod
    def _known_action(cls, value: Any) -> Any:
        return _one_of("close action", value, CloseAction)


class EngagementTargetSpec(_Spec):
    module: str = Field(min_length=1)
    fields: dict[EngagementOutput, TargetField]
    #: "both" writes "English / 中文" per driver line.
    drivers_language: Literal["en", "zh", "both"] = "both"
    #: What the plugin's fields get once a deal is lost, written at the next push.
    on_close: OnClose = Field(default_factory=OnClose)

    @field_validator("fields", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return _tables(value, "field")


class AccountTargetSpec(_Spec):
    module: str = Field(min_length=1)
    fields: dict[AccountOutput, TargetField]
    summary_language: Literal["en", "zh", "both"] = "both"

    @field_validator("fields", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return _tables(value, "field")


class Sources(_Spec):
    accounts: SourceSpec
    contacts: SourceSpec | None = None
    engagements: EngagementSourceSpec
    #: Activity modules pulled as touchpoints, by a name of the admin's choosing.
    activities: dict[str, ActivitySourceSpec] = Field(default_factory=dict)


class Targets(_Spec):
    engagements: EngagementTargetSpec
    accounts: AccountTargetSpec | None = None


class MappingSpec(_Spec):
    crm: Literal["zoho", "odoo", "fxiaoke"]
    sources: Sources
    targets: Targets

    def source_specs(self) -> list[tuple[str, SourceSpec, type[BaseModel]]]:
        """(kind, spec, domain type) for every mapped source."""
        pairs: list[tuple[str, SourceSpec, type[BaseModel]]] = [
            ("accounts", self.sources.accounts, Account),
            ("engagements", self.sources.engagements, Engagement),
        ]
        if self.sources.contacts:
            pairs.insert(1, ("contacts", self.sources.contacts, Contact))
        pairs += [
            (f"activities.{name}", source, Activity)
            for name, source in self.sources.activities.items()
        ]
        return pairs

    def check_domain_names(self) -> list[str]:
        """Domain attributes named in the spec that do not exist (typos an admin can make)."""
        return [
            f"sources.{kind}.fields.{name}: not an attribute of {model.__name__}"
            for kind, source, model in self.source_specs()
            for name in source.fields
            if name not in model.model_fields
        ]


DEFAULT_MAPPINGS = {"zoho": "zoho.toml", "odoo": "odoo.toml", "fxiaoke": "fxiaoke.toml"}


def default_mapping_path(crm: str) -> Path:
    return Path(str(resources.files("mappings").joinpath(DEFAULT_MAPPINGS[crm])))


def load_mapping(path: Path | str) -> MappingSpec:
    """Load and validate a mapping file; raises ``ConfigFileError`` naming the file and key."""
    spec = load_toml_model(path, MappingSpec)
    problems = spec.check_domain_names()
    if problems:
        key, _, message = problems[0].partition(": ")
        raise ConfigFileError(path, key, message)
    return spec
