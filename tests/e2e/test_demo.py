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
    assert_a_whole_demo(output, db)
