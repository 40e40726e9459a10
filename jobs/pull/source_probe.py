"""Which of the mapping's sources the CRM has, and what its deal stages mean, cached in the store.

A mapping may name sources an org lacks: an activity module (a standard Zoho org may have no
Calls or Events, or the API user may not read them) or a custom source field marked
`optional = true` (Contract_End, SLA_Tier… are not standard fields). Reading those would fail
the whole sync, so the sync first asks the CRM's field metadata which exist, reads without the
missing ones and says so (a warning, never a failed run).

The same metadata says what each deal stage means: Zoho's Stage picklist carries each stage's
forecast type (connector/zoho/stages.py); Odoo's stages say `is_won` (connector/odoo/client.py).

What was found is kept in the store (`store_meta`) with the mapping's fingerprint, and asked
again only once a day, on a full sync, after the mapping changed or after `engage fields
ensure --sources` created fields: a quiet run spends no metadata call, and a module known
missing costs no call at all until the next look.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from connector.base import CRMClient, FieldMeta, KnowsStageOutcomes
from connector.errors import ConfigurationError
from jobs.store import Store
from mappings.engine import Mapper
from mappings.spec import SourceSpec

log = logging.getLogger(__name__)

#: store_meta key of the cached probe.
PROBE_KEY = "source_probe"
#: How long what was found stands before the metadata is asked again.
PROBE_EVERY = timedelta(days=1)
#: CRM codes meaning "this module is not there for this user" (Zoho, and Odoo's client).
MODULE_MISSING_CODES = {"INVALID_MODULE", "NO_PERMISSION", "OAUTH_SCOPE_MISMATCH"}


@dataclass
class SourceProbe:
    checked_at: datetime
    #: The mapping fingerprint it was made for.
    fingerprint: str
    #: sync kind -> module, for optional modules the CRM does not let the user read.
    missing_modules: dict[str, str] = field(default_factory=dict)
    #: sync kind -> top-level CRM fields of optional source fields the CRM lacks.
    missing_fields: dict[str, list[str]] = field(default_factory=dict)
    #: stage value -> "open" | "won" | "lost", as the CRM's metadata says.
    stage_outcomes: dict[str, str] = field(default_factory=dict)

    def warnings(self, mapper: Mapper) -> list[str]:
        """One line per optional source the CRM lacks, saying what the sync does instead."""
        lines = [
            f"sources.{kind}: the CRM has no module {module} (or the API user cannot read "
            "it); skipped (optional)"
            for kind, module in sorted(self.missing_modules.items())
        ]
        if not self.stage_outcomes and not mapper.spec.sources.engagements.status_by_stage:
            lines.append(
                "sources.engagements.fields.stage: the CRM's metadata does not say what its "
                "stages mean, and status_by_stage lists none: every deal counts as pipeline "
                "(list the won and lost stages under [sources.engagements.status_by_stage])"
            )
        for kind, names in sorted(self.missing_fields.items()):
            source = mapper.source(kind)
            for name, rule in source.fields.items():
                top = (rule.path or "").split(".")[0]
                if top in names:
                    lines.append(
                        f"sources.{kind}.fields.{name}: {source.module} has no field {top}; "
                        f"read as empty (optional; `engage fields ensure --sources` creates it)"
                    )
        return lines

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "checked_at": self.checked_at.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> SourceProbe | None:
        try:
            raw = json.loads(text)
            raw["checked_at"] = datetime.fromisoformat(raw["checked_at"])
            return cls(**raw)
        except (ValueError, TypeError, KeyError):
            return None  # an older or damaged entry: look again


def cached_probe(store: Store) -> SourceProbe | None:
    text = store.meta(PROBE_KEY)
    return SourceProbe.from_json(text) if text else None


def forget_probe(store: Store) -> None:
    """Have the next sync look at the CRM's metadata again (fields were just created)."""
    store.set_meta(PROBE_KEY, "")


def probe_sources(
    client: CRMClient,
    mapper: Mapper,
    store: Store,
    *,
    clock: Callable[[], datetime],
    force: bool = False,
) -> SourceProbe:
    """What the CRM has of the mapping's optional sources and what its stages mean; the cached
    answer when it is recent and for this mapping, else one metadata call per module that has
    optional parts (and the deals' module, for the stages)."""
    now = clock()
    fingerprint = mapper.fingerprint()
    cached = cached_probe(store)
    if (
        cached is not None
        and not force
        and cached.fingerprint == fingerprint
        and now - cached.checked_at < PROBE_EVERY
    ):
        return cached
    probe = SourceProbe(checked_at=now, fingerprint=fingerprint)
    for kind, source, _model in mapper.spec.source_specs():
        optional_fields = [r for r in source.fields.values() if r.optional and r.path]
        if kind != "engagements" and not source.optional and not optional_fields:
            continue
        try:
            fields = {f.api_name: f for f in client.get_fields(source.module)}
        except ConfigurationError as exc:
            if not source.optional or exc.crm_code not in MODULE_MISSING_CODES:
                raise
            log.warning("optional module %s cannot be read: %s", source.module, exc)
            probe.missing_modules[kind] = source.module
            continue
        missing = sorted(
            {
                top
                for rule in optional_fields
                if (top := str(rule.path).split(".")[0]) not in fields and not top.startswith("$")
            }
        )
        if missing and fields:  # no metadata at all (Zoho's 204) proves nothing missing
            probe.missing_fields[kind] = missing
        if kind == "engagements":
            probe.stage_outcomes = _stage_outcomes(client, source, fields)
    store.set_meta(PROBE_KEY, probe.to_json())
    return probe


def _stage_outcomes(
    client: CRMClient, source: SourceSpec, fields: Mapping[str, FieldMeta]
) -> dict[str, str]:
    rule = source.fields.get("stage")
    if rule is None or not rule.path:
        return {}
    meta = fields.get(rule.path.split(".")[0])
    if meta is not None and meta.outcomes:
        return {value: outcome.value for value, outcome in meta.outcomes}
    if isinstance(client, KnowsStageOutcomes):
        found = client.stage_outcomes(source.module, rule.path)
        return {value: outcome.value for value, outcome in found.items()}
    return {}
