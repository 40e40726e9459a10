"""docs/operations.md's backup and restore commands, run as written (issue 20 item 7): an
SQLite store and a PostgreSQL store filled by a real `engage run`, backed up, lost, restored,
then `engage status` on the restored store shows the run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from connector.sandbox import SandboxCRM
from jobs.cli import main
from jobs.demo.run import sandbox_env
from jobs.store import Store
from jobs.store.store import migration_config
from tests.conftest import POSTGRES_URL, FakeClock, write_sandbox_config

DOC = Path(__file__).parents[2] / "docs" / "operations.md"
BIN = str(Path(sys.executable).parent)


def doc_block(name: str) -> str:
    """The shell block that follows ``<!-- ops-test: name -->`` in the doc."""
    found = re.search(
        rf"<!-- ops-test: {re.escape(name)} -->\n```sh\n(.*?)```", DOC.read_text(), re.DOTALL
    )
    assert found, f"docs/operations.md has no ops-test block {name!r}"
    return found.group(1)


def run_block(name: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", doc_block(name)],
        check=False,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (name, done.stdout, done.stderr)
    return done.stdout


def engage_run(crm: SandboxCRM, store_url: str, tmp_path: Path) -> Path:
    config = write_sandbox_config(crm, store_url, tmp_path)
    result = CliRunner(env=sandbox_env(crm)).invoke(main, ["--config", str(config), "run"])
    assert result.exit_code == 0, result.output
    return config


def engagement_count(store_url: str) -> int:
    store = Store.open(store_url)
    try:
        return len(store.health())
    finally:
        store.close()


def test_sqlite_backup_and_restore_as_the_doc_says(clock: FakeClock, tmp_path: Path) -> None:
    db = tmp_path / "engage.db"
    backup = tmp_path / "backup" / "engage-backup.db"
    backup.parent.mkdir()
    with SandboxCRM(deals=30, accounts=10, clock=clock) as crm:
        config = engage_run(crm, f"sqlite:///{db}", tmp_path)
    scored = engagement_count(f"sqlite:///{db}")
    assert scored > 0
    env = {"ENGAGE_DB": str(db), "BACKUP_FILE": str(backup), "ENGAGE_CONFIG": str(config)}
    run_block("sqlite-backup", env)
    # The store is lost (its write-ahead log with it); the backup alone brings it back.
    for path in tmp_path.glob("engage.db*"):
        path.unlink()
    db.write_bytes(b"not a database any more")
    shown = run_block("sqlite-restore", env)
    assert "run" in shown and " ok " in f" {shown} "
    assert engagement_count(f"sqlite:///{db}") == scored


@pytest.fixture
def two_databases() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases of this test (the store's and the restore's), dropped
    afterwards."""
    names = [f"engage_ops_{uuid.uuid4().hex[:8]}_{n}" for n in ("live", "restored")]
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        base = make_url(POSTGRES_URL)
        urls = [base.set(database=n).render_as_string(hide_password=False) for n in names]
        yield urls[0], urls[1]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_postgres_backup_and_restore_as_the_doc_says(
    clock: FakeClock, tmp_path: Path, two_databases: tuple[str, str]
) -> None:
    live, restored = two_databases
    with SandboxCRM(deals=30, accounts=10, clock=clock) as crm:
        engage_run(crm, live, tmp_path)
        (tmp_path / "restored").mkdir()
        restored_config = write_sandbox_config(crm, restored, tmp_path / "restored")
    scored = engagement_count(live)
    assert scored > 0
    backup = tmp_path / "engage.dump"

    def libpq(url: str) -> str:  # the doc's rule: the store URL without the driver's name
        return url.replace("postgresql+psycopg://", "postgresql://", 1)

    run_block("postgres-backup", {"ENGAGE_PG": libpq(live), "BACKUP_FILE": str(backup)})
    shown = run_block(
        "postgres-restore",
        {
            "RESTORE_PG": libpq(restored),
            "BACKUP_FILE": str(backup),
            "ENGAGE_CONFIG": str(restored_config),
        },
    )
    assert " ok " in f" {shown} "
    assert engagement_count(restored) == scored


def test_the_upgrade_commands_as_the_doc_says(store_url: str, tmp_path: Path) -> None:
    """A store the previous release left (revision 0015), on SQLite and on PostgreSQL."""
    engine = sa.create_engine(store_url)
    with engine.begin() as connection:
        migrations = migration_config(connection)
        command.upgrade(migrations, "0015")
    engine.dispose()
    # The newest revision, from the migration files (alembic's reading of them).
    newest = ScriptDirectory.from_config(migrations).get_current_head()
    config = tmp_path / "engage.toml"
    config.write_text(
        f'[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:1"\n'
        f'[store]\nurl = "{store_url}"\n',
        encoding="utf-8",
    )
    shown = run_block("db-upgrade", {"ENGAGE_CONFIG": str(config)}).splitlines()
    assert shown == [
        f"store: 0015; code: {newest} (run `engage db upgrade`)",
        f"upgrade due: 0015 → {newest} (run `engage db upgrade`)",
        f"store upgraded from 0015 to {newest}",
        f"up to date ({newest})",
    ]
    assert newest != "0015"
    engine = sa.create_engine(store_url)
    with engine.connect() as connection:
        revision = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        assert revision.scalar_one() == newest
    engine.dispose()
