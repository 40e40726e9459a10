"""`engage demo` links one engagement to each of Trello, Planner and Worktile, and the CRM's
risk drivers of each name a fact that came from that tool."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from jobs.cli import main


def test_each_tools_engagement_has_a_driver_from_that_tools_facts(tmp_path: Path) -> None:
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        main, ["demo", "--db", str(tmp_path / "demo.db"), "--deals", "120"]
    )

    assert result.exit_code == 0, result.output
    assert "pulled from the Trello, Planner and Worktile sandboxes" in result.output
    table = result.output.split("deals linked to a delivery tool", 1)[1]
    rows: dict[str, str] = {}  # tool -> its drivers cell, the cell's lines joined
    tool = ""
    for line in table.splitlines():
        cells = line.split("│")
        if len(cells) < 6:
            continue
        tool = cells[1].strip() or tool
        rows[tool] = (rows.get(tool, "") + " " + cells[4].strip()).strip()
    # Each tool's seed has one milestone overdue by a number of days of its own: Trello's
    # "Print-ready files" 12, Planner's "Knowledge base live" 15, Worktile's "培训完成" 16
    # (with "一期验收", 9 days, it is two there).
    # The schedule driver names the most overdue milestone, its days late and its planned date.
    assert re.search(r"Print-ready files is 12 days late \(planned", rows["trello"])
    assert re.search(r"Knowledge base live is 15 days late \(planned", rows["planner"])
    assert re.search(
        r"培训完成 is 16 days late \(planned .*; 2 milestones overdue", rows["worktile"]
    )
    assert "培训完成 已延期 16 天" in rows["worktile"]
    # Three deals, one per tool.
    deals = re.findall(r"│ (\d{10,}) │", table)
    assert len(set(deals)) == 3
