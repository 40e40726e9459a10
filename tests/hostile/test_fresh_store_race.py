"""Two commands started at the same moment on a fresh store both work (migrations are locked).

Each round forks two processes that wait at one barrier, then both run `engage db upgrade` on a
store that does not exist yet: both create it at once. Before the lock, one crashed ("table
already exists" / a duplicate alembic_version row).
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL

ROUNDS = 20


def _status_after(barrier: multiprocessing.synchronize.Barrier, config: str) -> int:
    from jobs.cli import main

    barrier.wait(timeout=60)
    try:
        main(["--config", config, "db", "upgrade"], standalone_mode=False)
    except SystemExit as exc:  # `fail` exits with the documented code
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - the test reports what crashed
        print(f"crashed: {exc!r}")
        return 99
    return 0


def _child(barrier: multiprocessing.synchronize.Barrier, config: str) -> None:
    raise SystemExit(_status_after(barrier, config))


def _race(config: Path) -> list[int | None]:
    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(2)
    processes = [fork.Process(target=_child, args=(barrier, str(config))) for _ in range(2)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    return [p.exitcode for p in processes]


def _config(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "engage.toml"
    path.write_text(
        '[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "http://127.0.0.1:9"\n'
        f'[store]\nurl = "{store_url}"\n',
        encoding="utf-8",
    )
    return path


def test_two_upgrades_on_a_fresh_sqlite_store_both_exit_0(tmp_path: Path) -> None:
    outcomes = []
    for round_ in range(ROUNDS):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        outcomes.append(_race(_config(folder, f"sqlite:///{folder / 'engage.db'}")))
    assert outcomes == [[0, 0]] * ROUNDS


@pytest.fixture
def fresh_schemas() -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        for schema in created:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.postgres
def test_two_upgrades_on_a_fresh_postgres_schema_both_exit_0(
    tmp_path: Path, fresh_schemas: list[str]
) -> None:
    admin = sa.create_engine(POSTGRES_URL)
    outcomes = []
    for round_ in range(ROUNDS):
        schema = f"engage_race_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        fresh_schemas.append(schema)
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        outcomes.append(_race(_config(folder, url)))
    admin.dispose()
    assert outcomes == [[0, 0]] * ROUNDS
