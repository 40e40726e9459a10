"""`engage demo`: the newcomer's first command ends with health read back from the CRM API."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from jobs.cli import main


def test_demo_shows_health_and_reads_it_back_from_the_crm(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    # Wide enough that no table cell wraps the sentences checked below.
    result = CliRunner(env={"COLUMNS": "300"}).invoke(
        main, ["demo", "--db", str(db), "--deals", "120"]
    )
    assert result.exit_code == 0, result.output
    assert "SANDBOX CRM" in result.output
    # The demo upgrades its (new) store on its own, and says so.
    assert "store demo.db upgraded from none (a new store) to schema" in result.output
    assert "engagements and their health" in result.output
    assert "read back from the CRM API" in result.output
    # Delivery facts drive the drivers read back from the CRM field, in both languages.
    read_back = result.output.split("read back from the CRM API", 1)[1]
    assert re.search(r"milestones\s+overdue", read_back) and "个里程碑逾期" in read_back
    # A delivery fact pulled from a tool (not a file) is named in a deal's drivers in the CRM.
    from_tools = result.output.split("from the delivery tools, read back from the CRM", 1)[1]
    assert "Release 2.1 is 9 days late" in from_tools  # Jira's version
    assert "版本 2.1 已延期 9 天" in from_tools  # PingCode's
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
