"""`engage db current|check|upgrade`, and commands that only read never migrating."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env
from jobs.store.store import migration_config
from tests.conftest import write_sandbox_config


def _newest_revision() -> str:
    """The newest revision, read from the migration files themselves: the one no other file
    names as its down_revision."""
    folder = resources.files("jobs.store").joinpath("migrations/versions")
    revisions, parents = set(), set()
    for item in folder.iterdir():
        if item.name.endswith(".py"):
            text = item.read_text(encoding="utf-8")
            revisions.add(re.search(r'^revision = "([^"]+)"', text, re.MULTILINE).group(1))  # type: ignore[union-attr]
            if down := re.search(r'^down_revision = "([^"]+)"', text, re.MULTILINE):
                parents.add(down.group(1))
    (newest,) = revisions - parents
    return newest


def _store_revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _engage(sandbox: SandboxCRM, config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner(env=sandbox_env(sandbox)).invoke(main, ["--config", str(config), *args])
    return result.exit_code, result.output


def test_db_current_on_a_fresh_store_then_after_an_upgrade(
    sandbox: SandboxCRM, store_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, store_url, tmp_path)
    newest = _newest_revision()
    code, out = _engage(sandbox, config, "db", "current")
    assert (code, out) == (0, f"store: no schema yet (a new store); code: {newest}\n")
    assert _store_revision(store_url) is None  # looking did not create anything
    assert _engage(sandbox, config, "db", "check")[0] == 1  # an upgrade is due

    code, out = _engage(sandbox, config, "db", "upgrade")
    assert (code, out) == (0, f"store upgraded from none (a new store) to {newest}\n")
    assert _store_revision(store_url) == newest
    code, out = _engage(sandbox, config, "db", "current")
    assert (code, out) == (0, f"store: {newest}; code: {newest} (up to date)\n")
    assert _engage(sandbox, config, "db", "check") == (0, f"up to date ({newest})\n")
    assert _engage(sandbox, config, "db", "upgrade") == (0, f"already up to date ({newest})\n")


def test_a_store_one_revision_ahead_of_the_code_is_one_line_naming_both(
    sandbox: SandboxCRM, store_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, store_url, tmp_path)
    newest = _newest_revision()
    assert _engage(sandbox, config, "db", "upgrade")[0] == 0
    engine = sa.create_engine(store_url)
    with engine.begin() as connection:  # what the next release's migration would leave
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_next'"))
    engine.dispose()
    for args in (("db", "current"), ("db", "check"), ("db", "upgrade"), ("status",), ("sync",)):
        code, out = _engage(sandbox, config, *args)
        assert code == 2, (args, out)
        assert out.count("\n") == 1, (args, out)
        assert "9999_next" in out and f"({newest})" in out, (args, out)
        assert "Traceback" not in out
    assert _store_revision(store_url) == "9999_next"


def test_status_trend_and_plan_on_an_old_store_do_not_migrate_it(
    sandbox: SandboxCRM, store_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, store_url, tmp_path)
    engine = sa.create_engine(store_url)
    with engine.begin() as connection:  # a store as the previous release left it
        command.upgrade(migration_config(connection), "0015")
    engine.dispose()
    for args in (
        ("status",),
        ("trend", "123"),
        ("plan",),
        ("push", "--dry-run"),
        ("surveys", "plan", "--dry-run"),
    ):
        code, out = _engage(sandbox, config, *args)
        assert code == 2, out
        assert out == (
            f"error: the store is at schema revision 0015, this code needs {_newest_revision()}: "
            "run `engage db upgrade`\n"
        )
        assert _store_revision(store_url) == "0015"
    assert _engage(sandbox, config, "db", "upgrade")[0] == 0
    assert _engage(sandbox, config, "status")[0] == 0


def test_status_says_when_a_tiers_holiday_data_runs_out(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            '[sla.tiers.Gold]\n[sla.tiers.Gold.calendar]\ntimezone = "Asia/Shanghai"\n'
            'region = "CN"\n[sla.tiers.Gold.goals]\nfirst_response_minutes = {}\n'
            "resolution_minutes = {}\n"
        )
    assert _engage(sandbox, config, "db", "upgrade")[0] == 0
    code, out = _engage(sandbox, config, "status")  # the test clock: 23 Nov 2026
    assert code == 0, out
    assert "calendar of SLA tier 'Gold': region CN 2027: statutory holidays only" in out


def test_the_daemons_first_start_upgrades_the_store_and_says_so(
    sandbox: SandboxCRM, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_sandbox_config(sandbox, sqlite_url, tmp_path)
    started: list[object] = []
    # The scheduler itself is tested elsewhere (tests/e2e/test_daemon.py): here only its start.
    monkeypatch.setattr("jobs.daemon.run_daemon", lambda conn, on_result: started.append(conn))
    code, out = _engage(sandbox, config, "daemon")
    assert code == 0, out
    assert f"store upgraded from none (a new store) to {_newest_revision()}" in out
    assert _store_revision(sqlite_url) == _newest_revision()
    assert len(started) == 1
    code, out = _engage(sandbox, config, "daemon")  # the next start: nothing to say
    assert code == 0 and "upgraded" not in out
