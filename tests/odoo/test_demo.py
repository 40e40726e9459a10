"""`engage demo --crm odoo` runs the whole path against the Odoo sandbox, on either API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobs.cli import main


@pytest.mark.parametrize(
    ("api", "server"), [("json2", "Odoo 19.0 over json2"), ("jsonrpc", "Odoo 17.0 over jsonrpc")]
)
def test_demo_against_odoo_reads_the_written_values_back(
    tmp_path: Path, api: str, server: str
) -> None:
    db = tmp_path / "demo.db"
    result = CliRunner(env={"COLUMNS": "300"}).invoke(
        main, ["demo", "--crm", "odoo", "--odoo-api", api, "--db", str(db), "--deals", "80"]
    )
    assert result.exit_code == 0, result.output
    assert "SANDBOX ODOO" in result.output
    assert f"talked to {server}" in result.output
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


def test_demo_over_xmlrpc_when_asked(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = CliRunner(env={"COLUMNS": "300"}).invoke(
        main, ["demo", "--crm", "odoo", "--odoo-api", "xmlrpc", "--db", str(db), "--deals", "40"]
    )
    assert result.exit_code == 0, result.output
    assert "talked to Odoo over xmlrpc" in result.output
    matched = re.search(
        r"(\d+)\s+of\s+(\d+)\s+scored\s+deals\s+in\s+the\s+CRM\s+hold", result.output
    )
    assert matched is not None and matched.group(1) == matched.group(2)
