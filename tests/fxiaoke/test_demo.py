"""`engage demo --crm fxiaoke` runs the whole path against the Fxiaoke sandbox."""

from __future__ import annotations

from pathlib import Path

from tests.demo_checks import assert_a_whole_demo, run_demo, written_by


def test_demo_against_fxiaoke_reads_the_written_values_back_and_writes_nothing_twice(
    tmp_path: Path,
) -> None:
    db = tmp_path / "demo.db"
    output = run_demo(db, "--crm", "fxiaoke", "--deals", "60")
    assert "SANDBOX FXIAOKE" in output
    # The sandbox's fields have generated names; the demo found them by label first.
    assert (tmp_path / "fxiaoke-mapping.toml").exists()
    assert "field_" in (tmp_path / "fxiaoke-mapping.toml").read_text(encoding="utf-8")
    assert written_by(output, "first run") > 0
    assert_a_whole_demo(output, db)
