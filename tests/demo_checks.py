"""What every `engage demo` test checks, whichever CRM: it ends well, every scored deal is read
back from the CRM, the second run writes nothing, and `engage status` lists the runs."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from jobs.cli import main


def run_demo(db: Path, *options: str) -> str:
    """`engage demo --db DB OPTIONS...`'s output; the command must succeed."""
    # Wide enough that no table cell wraps the sentences checked.
    result = CliRunner(env={"COLUMNS": "300"}).invoke(main, ["demo", *options, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def written_by(output: str, run: str) -> int:
    """How many records the demo's run named ``run`` ("first run", ...) says it wrote."""
    found = re.search(rf"{run}: ok;.*?records\s+written\s+(\d+)", output, re.DOTALL)
    assert found is not None, output
    return int(found.group(1))


def assert_every_scored_deal_is_read_back(output: str) -> None:
    matched = re.search(r"(\d+)\s+of\s+(\d+)\s+scored\s+deals\s+in\s+the\s+CRM\s+hold", output)
    assert matched is not None, output
    assert matched.group(1) == matched.group(2) and int(matched.group(2)) > 0


def assert_a_whole_demo(output: str, db: Path) -> None:
    """Read back in full; the second run writes nothing; `engage status` lists the runs."""
    assert_every_scored_deal_is_read_back(output)
    assert written_by(output, "second run, nothing changed in the CRM") == 0
    status = CliRunner().invoke(main, ["--config", str(db.with_suffix(".toml")), "status"])
    assert status.exit_code == 0, status.output
    assert "last runs" in status.output
