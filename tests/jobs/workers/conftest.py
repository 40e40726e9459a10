"""Fixtures for the worker tests: PostgreSQL schemas (the cluster's and each connection's),
connection config files, the environment workers run with (short timings)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.sandbox import SandboxCRM
from connector.sandbox.odoo.server import OdooSandbox
from tests.conftest import POSTGRES_URL

#: Test timings (docs/scaling.md has the production ones): heartbeat 1 s, stale 3 s, polling
#: 0.5 s; ticks and reaper passes every second; a run's lease 3 s, renewed every second.
SHORT_TIMINGS = {
    "ENGAGE_WORKER_HEARTBEAT_SECONDS": "1",
    "ENGAGE_WORKER_STALE_SECONDS": "3",
    "ENGAGE_WORKER_POLLING_SECONDS": "0.5",
    "ENGAGE_WORKER_TICK_SECONDS": "1",
    "ENGAGE_WORKER_REAP_SECONDS": "1",
    "ENGAGE_WORKER_LEASE_SECONDS": "3",
    "ENGAGE_WORKER_RENEW_SECONDS": "1",
}


@pytest.fixture
def pg_schema() -> Iterator[Callable[[], str]]:
    """Make fresh schemas in the local PostgreSQL (store URLs), all dropped afterwards."""
    made: list[str] = []
    admin = sa.create_engine(POSTGRES_URL)

    def make() -> str:
        schema = f"engage_test_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"

    yield make
    with admin.begin() as conn:
        for schema in made:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def zoho_config(
    path: Path, crm: SandboxCRM, store_url: str, extra: str = "", every: float = 3
) -> Path:
    path.write_text(
        f'[crm]\nkind = "zoho"\n[crm.zoho]\naccounts_url = "{crm.url}"\n'
        f'[store]\nurl = "{store_url}"\n[cluster]\nrun_every_seconds = {every}\n{extra}',
        encoding="utf-8",
    )
    return path


def odoo_config(
    path: Path, odoo: OdooSandbox, store_url: str, extra: str = "", every: float = 3
) -> Path:
    path.write_text(
        f'[crm]\nkind = "odoo"\n[crm.odoo]\nurl = "{odoo.url}"\ndatabase = "{odoo.database}"\n'
        f'login = "{odoo.login}"\n[store]\nurl = "{store_url}"\n'
        f"[cluster]\nrun_every_seconds = {every}\n{extra}",
        encoding="utf-8",
    )
    return path


def zoho_env(name: str, crm: SandboxCRM) -> dict[str, str]:
    prefix = f"ENGAGE_{name.upper()}_ZOHO_"
    return {
        prefix + "CLIENT_ID": crm.client_id,
        prefix + "CLIENT_SECRET": crm.client_secret,
        prefix + "REFRESH_TOKEN": crm.refresh_token,
    }


def odoo_env(name: str, odoo: OdooSandbox) -> dict[str, str]:
    return {f"ENGAGE_{name.upper()}_ODOO_API_KEY": odoo.api_key}
