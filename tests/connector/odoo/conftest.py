"""Odoo sandboxes (19 with JSON-2, 17 with JSON-RPC only) and clients pointed at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from connector.http import HttpTransport
from connector.odoo import OdooClient, OdooSite
from connector.retry import RetryPolicy
from connector.sandbox.odoo.server import OdooSandbox
from tests.conftest import FakeClock

OPPORTUNITIES = 'crm.lead [["type", "=", "opportunity"]]'


def client_for(
    odoo: OdooSandbox,
    *,
    database: str | None = None,
    login: str | None = None,
    api_key: str | None = None,
    **options: object,
) -> OdooClient:
    site = OdooSite(
        odoo.url,
        database or odoo.database,
        login or odoo.login,
        SecretStr(api_key or odoo.api_key),
    )
    transport = HttpTransport(policy=RetryPolicy(sleep=lambda _: None))
    return OdooClient(site, transport, **options)  # type: ignore[arg-type]


@pytest.fixture(params=[19, 17], ids=["json2", "jsonrpc"])
def odoo(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[OdooSandbox]:
    """Each test runs against Odoo 19 (JSON-2) and Odoo 17 (JSON-RPC)."""
    with OdooSandbox(clock=clock, version=request.param, accounts=30, deals=80) as sandbox:
        yield sandbox
