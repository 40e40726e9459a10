"""`engage demo --crm fxiaoke` runs the whole path against the Fxiaoke sandbox."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from jobs.cli import main


def test_demo_against_fxiaoke_reads_the_written_values_back_and_writes_nothing_twice(
    tmp_path: Path,
) -> None:
    db = tmp_path / "demo.db"
    result = CliRunner(env={"COLUMNS": "300"}).invoke(
        main, ["demo", "--crm", "fxiaoke", "--db", str(db), "--deals", "60"]
    )
    assert result.exit_code == 0, result.output
    assert "SANDBOX FXIAOKE" in result.output
    # The sandbox's fields have generated names; the demo found them by label first.
    assert (tmp_path / "fxiaoke-mapping.toml").exists()
    assert "field_" in (tmp_path / "fxiaoke-mapping.toml").read_text(encoding="utf-8")
    first = re.search(r"first run: ok;.*?records\s+written\s+(\d+)", result.output, re.DOTALL)
    assert first is not None and int(first.group(1)) > 0
    matched = re.search(
        r"(\d+)\s+of\s+(\d+)\s+scored\s+deals\s+in\s+the\s+CRM\s+hold", result.output
    )
    assert matched is not None, result.output
    assert matched.group(1) == matched.group(2) and int(matched.group(2)) > 0
    second = re.search(
        r"second run, nothing changed in the CRM: ok;.*?records\s+written\s+(\d+)",
        result.output,
        re.DOTALL,
    )
    assert second is not None and second.group(1) == "0"
    status = CliRunner().invoke(main, ["--config", str(db.with_suffix(".toml")), "status"])
    assert status.exit_code == 0, status.output
    assert "last runs" in status.output
