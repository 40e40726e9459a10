"""`engage fields ensure` renaming fields in a copy of the mapping, never in the shipped one."""

from __future__ import annotations

from pathlib import Path

from jobs.admin.fields import rename_in_mapping
from mappings.spec import default_mapping_path


def test_renamed_fields_never_edit_the_shipped_mapping(tmp_path: Path) -> None:
    shipped = default_mapping_path("zoho")
    before = shipped.read_text(encoding="utf-8")
    written = rename_in_mapping(shipped, {"Engagement_NPS": "Engagement_NPS1"}, copy_dir=tmp_path)
    assert shipped.read_text(encoding="utf-8") == before
    assert written == tmp_path / "zoho-mapping.toml"
    assert 'nps = "Engagement_NPS1"' in written.read_text(encoding="utf-8")
