"""`engage import changes FILE`, the kind's old name (now `change_requests`): still imports, with
a one-line warning that says what to write instead."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner, Result

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.store import Store
from mappings.domain import ChangeStatus
from tests.conftest import write_sandbox_config

ROWS = (
    "external_id,engagement_id,raised_on,value,status\n"
    "CR-1,D1,2026-02-04,5000.00,approved\n"
    "CR-2,D2,2026-03-01,120.50,\n"
)


def import_as(kind: str, sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path) -> Result:
    """`engage import KIND crs.csv` of the two change requests in `ROWS`."""
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    path = tmp_path / "crs.csv"
    path.write_text(ROWS, encoding="utf-8")
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        main, ["--config", str(config), "import", kind, str(path)]
    )


def test_the_old_kind_name_imports_as_change_requests_with_one_warning(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    result = import_as("changes", sandbox, sqlite_url, tmp_path)

    assert result.exit_code == 0, result.output
    warning = (
        "warning: KIND 'changes' is now 'change_requests'; importing as change_requests "
        "(write change_requests where you call `engage import`)"
    )
    assert result.stderr.strip().splitlines() == [warning]
    path = tmp_path / "crs.csv"
    assert f"{path}: 2 change_requests row(s), 2 loaded (2 new or changed)" in result.stdout
    store = Store.attach(sqlite_url)
    try:
        stored = store.change_requests()
    finally:
        store.close()
    assert {eid: [(c.value, c.status) for c in rows] for eid, rows in stored.items()} == {
        "D1": [(Decimal("5000.00"), ChangeStatus.APPROVED)],
        "D2": [(Decimal("120.50"), ChangeStatus.PENDING)],
    }


def test_the_new_name_imports_without_a_warning_and_help_lists_only_it(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    result = import_as("change_requests", sandbox, sqlite_url, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""

    usage = CliRunner().invoke(main, ["import", "--help"]).output
    assert "change_requests" in usage
    assert "changes" not in usage.replace("change_requests", "")
