"""`engage sources check` and `engage sync --sources` against the Jira sandbox over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from connector.sandbox.jira import JiraState, SandboxJira
from jobs.cli import main
from jobs.demo.run import sandbox_env
from jobs.store import Store
from tests.conftest import FakeClock

MAPPING = """
tool = "jira"
[link.projects]
ACME = "D1"
{extra_link}
[tickets]
priority = {{ Highest = "P1", High = "P2", Medium = "P3", Low = "P4"{extra_priority} }}
waiting_statuses = ["Waiting for customer"{extra_status}]
types = ["Service Request"{extra_type}]
"""


@pytest.fixture
def jira(clock: FakeClock) -> Iterator[JiraState]:
    state = JiraState(clock=clock)
    state.add_account("pm@example.com", "jira-token-1")
    state.add_project("ACME", "Acme")
    state.add_version("ACME", "2.1", date(2026, 11, 14))
    state.add_issue("ACME", created=datetime(2026, 11, 20, 9, tzinfo=UTC))
    with SandboxJira(state) as sandbox:
        state.url = sandbox.url  # type: ignore[attr-defined]
        yield state


def write_config(tmp_path: Path, crm: SandboxCRM, jira: JiraState, *, broken: bool) -> Path:
    mapping = tmp_path / "jira.toml"
    extras = (
        {
            "extra_link": 'NOPE = "D2"',
            "extra_priority": ', "Blocker" = "P1"',
            "extra_status": ', "Waiting for client"',
            "extra_type": ', "Incident"',
        }
        if broken
        else dict.fromkeys(("extra_link", "extra_priority", "extra_status", "extra_type"), "")
    )
    mapping.write_text(MAPPING.format(**extras), encoding="utf-8")
    path = tmp_path / "engage.toml"
    path.write_text(
        f'[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "{crm.url}"\n'
        f'[store]\nurl = "sqlite:///{tmp_path / "engage.db"}"\n'
        f'[sources.delivery.jira]\nkind = "jira"\nmapping = "jira.toml"\n'
        f'base_url = "{jira.url}"\nemail = "pm@example.com"\n',  # type: ignore[attr-defined]
        encoding="utf-8",
    )
    return path


def env(crm: SandboxCRM, token: str = "jira-token-1") -> dict[str, str]:
    return {**sandbox_env(crm), "ENGAGE_DELIVERY_JIRA_TOKEN": token}


def row_counts(db: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {
                n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names
            }
    finally:
        engine.dispose()


def test_sources_check_lists_four_problems_exits_1_and_writes_nothing(
    sandbox: SandboxCRM, jira: JiraState, tmp_path: Path
) -> None:
    path = write_config(tmp_path, sandbox, jira, broken=True)
    runner = CliRunner(env=env(sandbox))
    assert runner.invoke(main, ["--config", str(path), "db", "upgrade"]).exit_code == 0
    before = row_counts(tmp_path / "engage.db")

    result = runner.invoke(main, ["--config", str(path), "sources", "check"])

    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "4 problem(s)"
    problems = lines[:-1]
    assert len(problems) == 4, result.output
    assert all(line.startswith("delivery source jira: ") for line in problems)
    for key in (
        "link.projects.NOPE",
        "tickets.waiting_statuses",
        "tickets.priority",
        "tickets.types",
    ):
        assert sum(key in line for line in problems) == 1, key
    assert jira.writes == 0
    assert row_counts(tmp_path / "engage.db") == before
    assert sandbox.calls == []  # the CRM is not asked either


def test_sources_check_with_a_wrong_token_is_one_line_naming_the_source(
    sandbox: SandboxCRM, jira: JiraState, tmp_path: Path
) -> None:
    path = write_config(tmp_path, sandbox, jira, broken=False)
    result = CliRunner(env=env(sandbox, token="wrong")).invoke(
        main, ["--config", str(path), "sources", "check"]
    )
    assert result.exit_code == 1
    # The store was never set up here: the check says so and reads no deal fields.
    note, problem, total = result.output.strip().splitlines()
    assert note.startswith("note: deal fields not checked")
    assert problem.startswith("delivery source jira: credentials: jira refused them: ")
    assert "HTTP 401" in problem
    assert total == "1 problem(s)"


def test_a_missing_token_names_the_environment_variable(
    sandbox: SandboxCRM, jira: JiraState, tmp_path: Path
) -> None:
    path = write_config(tmp_path, sandbox, jira, broken=False)
    result = CliRunner(env=env(sandbox, token="")).invoke(
        main, ["--config", str(path), "sources", "check"]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {path}: sources.delivery.jira: set the environment variable "
        "ENGAGE_DELIVERY_JIRA_TOKEN (jira basic)"
    )


def test_sync_sources_pulls_the_tool_and_leaves_the_crm_alone(
    sandbox: SandboxCRM, jira: JiraState, tmp_path: Path
) -> None:
    path = write_config(tmp_path, sandbox, jira, broken=False)
    runner = CliRunner(env=env(sandbox))

    result = runner.invoke(main, ["--config", str(path), "sync", "--sources"])

    assert result.exit_code == 0, result.output
    assert "delivery jira" in result.output
    store = Store.open(f"sqlite:///{tmp_path / 'engage.db'}")
    try:
        assert [t.external_id for t in store.tickets()["D1"]] == ["ACME-1"]
        assert [m.name for m in store.milestones()["D1"]] == ["2.1"]
    finally:
        store.close()
    assert sandbox.calls == []


def test_status_shows_skipped_items_and_unlinked_projects_with_their_reasons(
    sandbox: SandboxCRM, jira: JiraState, tmp_path: Path
) -> None:
    jira.add_issue("ACME", priority="Lowest", created=datetime(2026, 11, 21, 9, tzinfo=UTC))
    path = write_config(tmp_path, sandbox, jira, broken=False)
    mapping = tmp_path / "jira.toml"
    mapping.write_text(
        mapping.read_text(encoding="utf-8").replace('ACME = "D1"', 'ACME = "D1"\nNOPE = "D2"'),
        encoding="utf-8",
    )
    runner = CliRunner(env={**env(sandbox), "COLUMNS": "250"})

    pulled = runner.invoke(main, ["--config", str(path), "sync", "--sources"])
    status = runner.invoke(main, ["--config", str(path), "status"])

    assert pulled.exit_code == 1  # partial: one linked project is missing
    assert "delivery source jira: link.projects.NOPE: project NOPE does not exist" in pulled.output
    assert status.exit_code == 0, status.output
    assert "jira:items" in status.output and "ACME-2" in status.output
    assert "priority 'Lowest' is not in the priority map" in status.output
    assert "delivery projects not linked to an engagement (1)" in status.output
    assert "NOPE" in status.output
