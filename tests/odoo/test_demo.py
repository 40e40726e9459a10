"""`engage demo --crm odoo` runs the whole path against the Odoo sandbox, on either API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo_checks import (
    assert_a_whole_demo,
    assert_every_scored_deal_is_read_back,
    run_demo,
    written_by,
)


@pytest.mark.parametrize(
    ("api", "server"), [("json2", "Odoo 19.0 over json2"), ("jsonrpc", "Odoo 17.0 over jsonrpc")]
)
def test_demo_against_odoo_reads_the_written_values_back(
    tmp_path: Path, api: str, server: str
) -> None:
    db = tmp_path / "demo.db"
    output = run_demo(db, "--crm", "odoo", "--odoo-api", api, "--deals", "80")
    assert "SANDBOX ODOO" in output
    assert f"talked to {server}" in output
    assert written_by(output, "first run") > 0
    assert_a_whole_demo(output, db)


def test_demo_over_xmlrpc_when_asked(tmp_path: Path) -> None:
    output = run_demo(
        tmp_path / "demo.db", "--crm", "odoo", "--odoo-api", "xmlrpc", "--deals", "40"
    )
    assert "talked to Odoo over xmlrpc" in output
    assert_every_scored_deal_is_read_back(output)
