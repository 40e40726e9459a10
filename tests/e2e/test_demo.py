"""`engage demo`: the newcomer's first command ends with health read back from the CRM API."""

from __future__ import annotations

import re
from pathlib import Path

from tests.demo_checks import assert_a_whole_demo, run_demo


def test_demo_shows_health_and_reads_it_back_from_the_crm(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    output = run_demo(db, "--deals", "120")
    assert "SANDBOX CRM" in output
    # The demo upgrades its (new) store on its own, and says so.
    assert "store demo.db upgraded from none (a new store) to schema" in output
    assert "engagements and their health" in output
    assert "read back from the CRM API" in output
    # Delivery facts drive the drivers read back from the CRM field, in both languages.
    read_back = output.split("read back from the CRM API", 1)[1]
    assert re.search(r"milestones\s+overdue", read_back) and "个里程碑逾期" in read_back
    # A delivery fact pulled from a tool (not a file) is named in a deal's drivers in the CRM.
    from_tools = output.split("from the delivery tools, read back from the CRM", 1)[1]
    assert "Release 2.1 is 9 days late" in from_tools  # Jira's version
    assert "版本 2.1 已延期 9 天" in from_tools  # PingCode's
    assert_a_whole_demo(output, db)
