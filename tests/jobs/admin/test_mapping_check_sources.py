"""`mappings check` tells a missing source field from a missing target field, and an optional
source from a required one (pure: metadata in, problems out)."""

from __future__ import annotations

from pathlib import Path

from connector.base import FieldMeta
from connector.sandbox.zoho.seed import make_standard_org, module_fields
from jobs.admin.mapping_check import check_mapping
from mappings.spec import MappingSpec, default_mapping_path, load_mapping


def standard_metadata() -> dict[str, dict[str, FieldMeta]]:
    modules = ("Accounts", "Contacts", "Deals", "Calls", "Events", "Notes")
    raw = {m: module_fields(m, plugin_fields=False) for m in modules}
    make_standard_org({m: {} for m in modules}, raw)
    return {
        module: {
            f["api_name"]: FieldMeta(f["api_name"], f["field_label"], f["data_type"])
            for f in fields
        }
        for module, fields in raw.items()
    }


def test_missing_optional_sources_and_uncreated_targets_are_warnings_with_their_own_hints() -> None:
    found = check_mapping(load_mapping(default_mapping_path("zoho")), standard_metadata())
    assert [p for p in found if not p.warning] == []
    by_key = {p.where: p.detail for p in found}
    assert "engage fields ensure --sources" in by_key["sources.engagements.fields.sla_tier"]
    assert "optional" in by_key["sources.engagements.fields.sla_tier"]
    assert "optional: the sync skips it" in by_key["sources.activities.calls.module"]
    target = by_key["targets.engagements.fields.risk_score"]
    assert "run `engage fields ensure` to create it" in target and "--sources" not in target


def load_mapping_text(tmp_path: Path, text: str) -> MappingSpec:
    path = tmp_path / "my-org.toml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path)


def test_a_required_source_field_missing_is_an_error_that_ensure_does_not_claim_to_fix(
    tmp_path: Path,
) -> None:
    text = default_mapping_path("zoho").read_text(encoding="utf-8")
    text = text.replace('name = "Deal_Name"', 'name = "Opportunity_Title"', 1)
    spec = load_mapping_text(tmp_path, text)
    errors = [p for p in check_mapping(spec, standard_metadata()) if not p.warning]
    assert [(p.where, p.field) for p in errors] == [
        ("sources.engagements.fields.name", "Opportunity_Title")
    ]
    assert "map it to one of your fields, or mark it `optional = true`" in errors[0].detail
    assert "run `engage fields ensure` to create it" not in errors[0].detail


def test_a_target_field_with_a_near_twin_is_taken_for_a_typo_an_error(tmp_path: Path) -> None:
    metadata = standard_metadata()
    metadata["Deals"]["Engagement_NPS"] = FieldMeta("Engagement_NPS", "Engagement NPS", "integer")
    text = default_mapping_path("zoho").read_text(encoding="utf-8")
    spec = load_mapping_text(
        tmp_path, text.replace('nps = "Engagement_NPS"', 'nps = "Engagement_NPSS"', 1)
    )
    errors = [p for p in check_mapping(spec, metadata) if not p.warning]
    assert [p.field for p in errors] == ["Engagement_NPSS"]
    assert "closest: Engagement_NPS" in errors[0].detail
