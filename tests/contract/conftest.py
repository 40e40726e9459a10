"""One fixture, parametrized over every CRM adapter, each against its sandbox over real HTTP.

An ``Adapter`` holds a client plus the few facts a test needs that differ per CRM: module and
field names (which live in mapping files, not in clients) and how to act in the CRM the way a
person would (edit, delete) through the sandbox's own helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from pydantic import SecretStr

from connector.base import CRMClient, ScansForDeletions
from connector.fxiaoke import FxiaokeClient, FxiaokeCredentials, FxiaokeTokenManager
from connector.http import HttpTransport
from connector.odoo import OdooClient, OdooSite
from connector.retry import RetryPolicy
from connector.sandbox import SandboxCRM
from connector.sandbox.fxiaoke import FxiaokeSandbox
from connector.sandbox.odoo.server import OdooSandbox
from connector.zoho import ZohoClient, ZohoCredentials, ZohoTokenManager
from tests.conftest import FakeClock

#: Enough deals for three pages in both CRMs (Zoho pages by 200; Odoo is given 200 too).
DEALS = 450
PAGE_SIZE = 200


@dataclass
class Adapter:
    name: str
    client: CRMClient
    deals_module: str
    #: Fields to read from deals, including the one that carries the modification time.
    read_fields: list[str]
    score_field: str
    level_field: str
    level_value: str
    #: Every deal (opportunity) id the CRM holds, archived ones included.
    deal_ids: Callable[[], set[str]]
    #: A person renames a deal in the CRM now.
    edit_deal: Callable[[str], None]
    delete_deal: Callable[[str], None]
    #: The deal's value of a field as the CRM stores it.
    stored: Callable[[str, str], Any]
    #: (record id, subject) of every task the CRM holds.
    tasks: Callable[[], list[tuple[str, str]]]
    missing_id: str

    def deleted_ids(self, known: set[str], since: datetime | None) -> set[str]:
        """What the sync learns about deletions: a deletion log, or an id scan to diff."""
        if isinstance(self.client, ScansForDeletions):
            return known - self.client.live_ids(self.deals_module)
        return {
            d.record_id for d in self.client.iter_deleted(self.deals_module, deleted_since=since)
        }


def zoho_adapter(clock: FakeClock) -> Iterator[Adapter]:
    with SandboxCRM(clock=clock, deals=DEALS) as crm:
        transport = HttpTransport(policy=RetryPolicy(sleep=lambda _: None))
        credentials = ZohoCredentials(
            crm.url, crm.client_id, SecretStr(crm.client_secret), SecretStr(crm.refresh_token)
        )
        client = ZohoClient(ZohoTokenManager(credentials, transport, clock=clock), transport)
        yield Adapter(
            name="zoho",
            client=client,
            deals_module="Deals",
            read_fields=["Deal_Name", "Stage", "Modified_Time"],
            score_field="Engagement_Risk_Score",
            level_field="Engagement_Risk_Level",
            level_value="High",
            deal_ids=lambda: set(crm.records("Deals")),
            edit_deal=lambda rid: crm.edit("Deals", rid, Deal_Name="Renamed by a person"),
            delete_deal=lambda rid: crm.delete("Deals", rid),
            stored=lambda rid, field: crm.records("Deals")[rid].get(field),
            tasks=lambda: [(str(t["What_Id"]["id"]), str(t["Subject"])) for t in crm.tasks()],
            missing_id="5725767999999999999",
        )


def odoo_adapter(clock: FakeClock, version: int, api: str) -> Iterator[Adapter]:
    with OdooSandbox(clock=clock, deals=DEALS, version=version) as odoo:
        transport = HttpTransport(policy=RetryPolicy(sleep=lambda _: None))
        site = OdooSite(odoo.url, odoo.database, odoo.login, SecretStr(odoo.api_key))
        client = OdooClient(site, transport, api=api, page_size=PAGE_SIZE)  # type: ignore[arg-type]
        leads = odoo.records("crm.lead")
        yield Adapter(
            name=f"odoo{version}-{api}",
            client=client,
            deals_module='crm.lead [["type", "=", "opportunity"]]',
            read_fields=["name", "stage_id", "write_date"],
            score_field="x_engagement_risk_score",
            level_field="x_engagement_risk_level",
            level_value="high",
            deal_ids=lambda: {str(i) for i, r in leads.items() if r["type"] == "opportunity"},
            edit_deal=lambda rid: odoo.edit("crm.lead", int(rid), name="Renamed by a person"),
            delete_deal=lambda rid: odoo.delete("crm.lead", int(rid)),
            stored=lambda rid, field: leads[int(rid)].get(field),
            tasks=lambda: [
                (str(a["res_id"]), str(a["summary"]))
                for a in odoo.records("mail.activity").values()
            ],
            missing_id="999999",
        )


def fxiaoke_adapter(clock: FakeClock, style: str) -> Iterator[Adapter]:
    with FxiaokeSandbox(clock=clock, deals=DEALS) as fx:
        transport = HttpTransport(policy=RetryPolicy(sleep=lambda _: None))
        credentials = FxiaokeCredentials(
            fx.url,
            fx.app_id,
            SecretStr(fx.app_secret),
            SecretStr(fx.permanent_code),
            style,  # type: ignore[arg-type]
        )
        client = FxiaokeClient(
            FxiaokeTokenManager(credentials, transport, clock=clock),
            transport,
            admin_mobile=fx.admin["mobile"],
            clock=clock,
            sleep=lambda seconds: clock.advance(seconds=seconds),
        )
        opportunities = fx.records("opportunity")

        def stored(rid: str, field: str) -> Any:
            value = opportunities[rid].get(field)
            # Numbers are kept as the strings Fxiaoke takes them as (A4).
            return int(value) if isinstance(value, str) and value.isdigit() else value

        def follow_ups() -> list[tuple[str, str]]:
            return [
                (
                    str(r["related_object_data"][0]["id"]),
                    str(r["active_record_content"]).split("\n")[0],
                )
                for r in fx.follow_ups()
            ]

        yield Adapter(
            name=f"fxiaoke-{style}",
            client=client,
            deals_module="opportunity",
            read_fields=["name", "sales_stage", "last_modified_time"],
            score_field=fx.field_named("opportunity", "项目风险分"),
            level_field=fx.field_named("opportunity", "项目风险等级"),
            level_value="high",
            deal_ids=lambda: {
                i for i, r in opportunities.items() if r.get("life_status") != "invalid"
            },
            edit_deal=lambda rid: fx.edit("opportunity", rid, name="一个人改了名字"),
            delete_deal=lambda rid: fx.invalidate("opportunity", rid),
            stored=stored,
            tasks=follow_ups,
            missing_id="65f0ffffffffffffffffffff",
        )


@pytest.fixture(
    params=[
        "zoho",
        "odoo19-json2",
        "odoo17-jsonrpc",
        "odoo17-xmlrpc",
        "fxiaoke-legacy",
        "fxiaoke-oauth2",
    ]
)
def adapter(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Adapter]:
    if request.param == "zoho":
        yield from zoho_adapter(clock)
        return
    if request.param.startswith("fxiaoke-"):
        yield from fxiaoke_adapter(clock, request.param.removeprefix("fxiaoke-"))
        return
    version, api = request.param.removeprefix("odoo").split("-")
    # "auto" for the first two, so detection is part of what the contract covers.
    yield from odoo_adapter(clock, int(version), "xmlrpc" if api == "xmlrpc" else "auto")
