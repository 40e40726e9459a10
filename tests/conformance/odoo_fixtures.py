"""Odoo sandboxes started as 17 and 19, and Odoo's own client libraries pointed at them.

The libraries come from PyPI (test extras): ``odoo-client-lib`` 2.0.1 by Odoo SA (XML-RPC on
the legacy ``/xmlrpc/<service>`` path, JSON-RPC on ``/jsonrpc``, JSON-2 on ``/json/2`` with
``/doc-bearer/<model>.json`` introspection) and ``OdooRPC`` 0.10.1 (JSON-RPC only; reads
``/web/webclient/version_info``, logs in with ``common.login`` and calls ``object.execute`` /
``execute_kw``). Nothing here knows how the sandbox is built: tests see it only over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import odoolib
import odoorpc
import pytest

from connector.sandbox.odoo.server import OdooSandbox
from tests.conftest import FakeClock

#: (release, protocol) pairs the suite runs: JSON-2 exists only from 19 (research/odoo.md §0).
LIB_CASES = [
    (17, "xmlrpc"),
    (17, "jsonrpc"),
    (19, "xmlrpc"),
    (19, "jsonrpc"),
    (19, "json2"),
]
OPPORTUNITY = [["type", "=", "opportunity"]]


@dataclass
class LibConnection:
    """odoo-client-lib's connection to one sandbox, plus what a test needs to know."""

    odoo: OdooSandbox
    protocol: str
    connection: Any

    def model(self, name: str) -> Any:
        return self.connection.get_model(name)

    def execute_kw(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """The call exactly as Odoo's documentation writes it, through the library's service
        proxy (``models.execute_kw(db, uid, password, model, method, args, kwargs)``)."""
        connection = self.connection
        connection.check_login(False)
        return connection.get_service("object").execute_kw(
            connection.database,
            connection.user_id,
            connection.password,
            model,
            method,
            args,
            kwargs,
        )


def host_port(odoo: OdooSandbox) -> tuple[str, int]:
    parts = urlsplit(odoo.url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def lib_connection(odoo: OdooSandbox, protocol: str) -> LibConnection:
    host, port = host_port(odoo)
    connection = odoolib.get_connection(
        hostname=host,
        protocol=protocol,
        port=port,
        database=odoo.database,
        login=odoo.login,
        password=odoo.api_key,
    )
    return LibConnection(odoo, protocol, connection)


@pytest.fixture(params=LIB_CASES, ids=[f"odoo{v}-{p}" for v, p in LIB_CASES])
def lib(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[LibConnection]:
    version, protocol = request.param
    with OdooSandbox(clock=clock, version=version, accounts=20, deals=60) as odoo:
        yield lib_connection(odoo, protocol)


RPC_CASES = [case for case in LIB_CASES if case[1] != "json2"]


@pytest.fixture(params=RPC_CASES, ids=[f"odoo{v}-{p}" for v, p in RPC_CASES])
def lib_rpc(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[LibConnection]:
    """The XML-RPC and JSON-RPC cases only (odoo-client-lib's ``Connection``)."""
    version, protocol = request.param
    with OdooSandbox(clock=clock, version=version, accounts=20, deals=60) as odoo:
        yield lib_connection(odoo, protocol)


@pytest.fixture(params=[17, 19], ids=["odoo17", "odoo19"])
def odoo_any(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[OdooSandbox]:
    with OdooSandbox(clock=clock, version=request.param, accounts=20, deals=60) as odoo:
        yield odoo


def odoorpc_login(odoo: OdooSandbox) -> odoorpc.ODOO:
    host, port = host_port(odoo)
    client = odoorpc.ODOO(host, port=port, timeout=10)
    client.login(odoo.database, odoo.login, odoo.api_key)
    return client
