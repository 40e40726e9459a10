"""Shared fixtures: an injected clock, the sandbox CRM over real HTTP, stores on SQLite and PG."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connector.sandbox import SandboxCRM
from jobs.store import Store

#: The local PostgreSQL of this machine and CI (trust auth). Tests fail, not skip, without it.
POSTGRES_URL = os.environ.get(
    "ENGAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC))


@pytest.fixture(autouse=True)
def cli_reads_the_test_clock(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """`engage` commands run in-process read the test's clock, never the machine's."""
    monkeypatch.setattr("jobs.cli.context.system_clock", clock)


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[SandboxCRM]:
    with SandboxCRM(clock=clock) as crm:
        yield crm


#: What the sandbox stamps on each record it writes: two CRMs brought to the same state by
#: different runs differ in these only.
WRITE_STAMPS = frozenset({"Modified_Time", "Modified_By"})
#: Health is computed by each store at its own (real) time: differs between two real runs.
HEALTH_COMPUTED_AT = "Engagement_Health_Updated"


def crm_state(
    crm: SandboxCRM,
    modules: tuple[str, ...] = ("Accounts", "Deals"),
    skip: frozenset[str] = WRITE_STAMPS | {HEALTH_COMPUTED_AT},
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every record of ``modules`` as the sandbox holds it, without the fields in ``skip``:
    what "the CRM exactly as after a clean run" compares."""
    return {
        module: {
            rid: {k: v for k, v in record.items() if k not in skip}
            for rid, record in crm.records(module).items()
        }
        for module in modules
    }


def write_sandbox_config(crm: SandboxCRM, store_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "engage.toml"
    path.write_text(
        f'[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "{crm.url}"\n'
        f'[store]\nurl = "{store_url}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'engage.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the local PostgreSQL, dropped afterwards."""
    schema = f"engage_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()
