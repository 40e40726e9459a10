"""Odoo's own client libraries against the Odoo sandbox, over real HTTP, on 17 and 19.

Every expectation is what Odoo's documentation (and odoo/odoo's code, research/odoo.md) says a
server answers, not what the sandbox happens to return: ``search_read`` gives ``id`` plus the
fields asked for, many2one as ``[id, name]``, ``create`` of one dict one id, of a list a list,
``write`` True, ``fields_get`` only the attributes asked for, JSON-2 only from 19.
"""

from __future__ import annotations

from typing import Any

import odoolib
import odoorpc
import pytest
from odoolib.tools import AuthenticationError

from connector.sandbox.odoo.server import OdooSandbox
from tests.conformance.odoo_fixtures import (
    OPPORTUNITY,
    LibConnection,
    host_port,
    lib,
    lib_connection,
    lib_rpc,
    odoo_any,
    odoorpc_login,
)

__all__ = ["lib", "lib_rpc", "odoo_any"]  # fixtures used by name
# odoo-client-lib's XML-RPC connector makes a new ServerProxy per call and never closes it
# (odoolib/rpc.py XmlRPCConnector.send), so its keep-alive sockets are left to the GC.
pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning"
)

LEAD_FIELDS = ["name", "probability", "partner_id", "stage_id"]


def _is_many2one(value: Any) -> bool:
    """Odoo's documented read shape of a many2one: ``[id, "Display Name"]`` or False (§4)."""
    if value is False:
        return True
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    )


# --------------------------------------------------------------------------- odoo-client-lib
def test_login_and_version(lib: LibConnection) -> None:
    odoo = lib.odoo
    if lib.protocol == "json2":
        # No login call in JSON-2: the key is the bearer; context_get proves it works (§2).
        assert lib.connection.check_login() is True
        context = lib.model("res.users").context_get()
        assert isinstance(context, dict) and "lang" in context
        bad = odoolib.get_connection(
            hostname=host_port(odoo)[0],
            protocol="json2",
            port=host_port(odoo)[1],
            database=odoo.database,
            password="not-the-key",
        )
        assert bad.check_login() is False
        return
    lib.connection.check_login()
    assert isinstance(lib.connection.user_id, int) and lib.connection.user_id > 0
    version = lib.connection.get_service("common").version()
    assert version["server_version"] == f"{odoo.version}.0"
    assert version["server_version_info"][:2] == [odoo.version, 0]
    assert version["protocol_version"] == 1
    db = lib.connection.get_service("db")
    assert db.server_version() == f"{odoo.version}.0"
    assert odoo.database in db.list()
    wrong = lib_connection(odoo, lib.protocol)
    wrong.connection.password = "not-the-key"
    with pytest.raises(AuthenticationError):
        wrong.connection.check_login()


def test_search_read_with_domain_fields_limit_offset_and_order(lib: LibConnection) -> None:
    domain = [*OPPORTUNITY, ["probability", ">=", 20]]
    order = "probability desc, id asc"
    if lib.protocol == "json2":
        # Positional, mapped to names by the library from /doc-bearer (odoolib/json2.py).
        every = lib.model("crm.lead").search_read(domain, LEAD_FIELDS, 0, None, order)
        page = lib.model("crm.lead").search_read(domain, LEAD_FIELDS, 5, 10, order)
    else:
        # Odoo's documented form: domain in args, the rest in kwargs (external_api.rst).
        every = lib.execute_kw(
            "crm.lead", "search_read", [domain], {"fields": LEAD_FIELDS, "order": order}
        )
        page = lib.execute_kw("crm.lead", "search_read", [domain, LEAD_FIELDS, 5, 10, order], {})
    assert len(every) > 15
    assert all(set(row) == {"id", *LEAD_FIELDS} for row in every)
    assert all(row["probability"] >= 20 for row in every)
    assert all(_is_many2one(row["partner_id"]) and _is_many2one(row["stage_id"]) for row in every)
    keys = [(-row["probability"], row["id"]) for row in every]
    assert keys == sorted(keys)
    assert page == every[5:15]


def test_the_librarys_own_search_read_binds_search_and_read_positionally(
    lib_rpc: LibConnection,
) -> None:
    """odoo-client-lib's ``Model.search_read`` (XML/JSON-RPC) is ``search(domain, offset,
    limit or False, order or False)`` then ``read(ids, fields)``, all positional."""
    lib = lib_rpc
    rows = lib.model("crm.lead").search_read(OPPORTUNITY, ["name", "type"], 3, 7, "id desc")
    ids = lib.model("crm.lead").search(OPPORTUNITY, 0, False, "id desc")
    assert [row["id"] for row in rows] == ids[3:10]
    assert all(set(row) == {"id", "name", "type"} and row["type"] == "opportunity" for row in rows)


def test_search_count_positional(lib: LibConnection) -> None:
    leads = lib.model("crm.lead")
    ids = leads.search(OPPORTUNITY)
    assert leads.search_count(OPPORTUNITY) == len(ids) > 5
    # search_count(domain, limit) since 16.0 (orm changelog): counts at most `limit`.
    assert leads.search_count(OPPORTUNITY, 5) == 5


def test_read_partners_with_positional_fields(lib: LibConnection) -> None:
    partners = lib.model("res.partner")
    ids = partners.search([["is_company", "=", True]], 0, 4, "id asc")
    assert len(ids) == 4
    rows = partners.read(ids, ["name", "country_id"])
    assert [row["id"] for row in rows] == ids
    assert all(set(row) == {"id", "name", "country_id"} for row in rows)
    assert all(isinstance(row["name"], str) and _is_many2one(row["country_id"]) for row in rows)


def test_write_then_read_back(lib: LibConnection) -> None:
    leads = lib.model("crm.lead")
    ids = leads.search(OPPORTUNITY, 0, 3, "id asc")
    assert (
        leads.write(ids, {"probability": 42.0, "x_engagement_risk_drivers": "conformance"}) is True
    )
    rows = leads.read(ids, ["probability", "x_engagement_risk_drivers"])
    assert [(row["probability"], row["x_engagement_risk_drivers"]) for row in rows] == [
        (42.0, "conformance")
    ] * 3


def test_create_one_and_many(lib: LibConnection) -> None:
    partners = lib.model("res.partner")
    if lib.protocol == "json2":
        # JSON-2 create takes vals_list and answers the list of ids (§2 table).
        new = partners.create([{"name": "Conformance One"}, {"name": "Conformance Two"}])
        assert isinstance(new, list) and len(new) == 2
    else:
        # execute_kw create: a dict gives one id, a list of dicts a list (odoo/api.py call_kw).
        one = partners.create({"name": "Conformance One"})
        assert isinstance(one, int) and not isinstance(one, bool)
        many = partners.create([{"name": "Conformance Two"}, {"name": "Conformance Three"}])
        assert isinstance(many, list) and len(many) == 2
        new = [one, *many]
    names = {row["name"] for row in partners.read(new, ["name"])}
    assert names == {"Conformance One", "Conformance Two", "Conformance Three"} - (
        {"Conformance Three"} if lib.protocol == "json2" else set()
    )
    assert partners.search([["name", "ilike", "Conformance"]]) == sorted(new)


def test_unlink_and_name_search(lib: LibConnection) -> None:
    partners = lib.model("res.partner")
    new = partners.create([{"name": "Zz Conformance Gone"}, {"name": "Zz Conformance Kept"}])
    found = partners.name_search("Zz Conformance")
    assert sorted(found) == sorted(
        [[new[0], "Zz Conformance Gone"], [new[1], "Zz Conformance Kept"]]
    )
    assert partners.unlink([new[0]]) is True
    assert partners.search([["name", "ilike", "Zz Conformance"]]) == [new[1]]


def test_fields_get_with_attributes(lib: LibConnection) -> None:
    # The doc's example: fields_get([], {'attributes': ['string', 'help', 'type']}), here
    # positional: allfields=[] (all fields), attributes=[...].
    fields = lib.model("crm.lead").fields_get([], ["string", "help", "type"])
    assert {"name", "partner_id", "stage_id", "probability"} <= set(fields)
    assert all(
        set(meta) <= {"string", "help", "type"} and "type" in meta for meta in fields.values()
    )
    assert fields["partner_id"]["type"] == "many2one"
    only = lib.model("crm.lead").fields_get(["name", "probability"], ["type"])
    assert only == {"name": {"type": "char"}, "probability": {"type": "float"}}


def test_create_an_x_field_through_ir_model_fields(lib: LibConnection) -> None:
    """Odoo's recipe (external_api.rst §ir.model.fields): ``ir.model`` id of the model, then
    ``ir.model.fields.create({model_id, name: 'x_…', ttype, state: 'manual'})``."""
    models = lib.model("ir.model")
    model_ids = models.search([["model", "=", "crm.lead"]])
    assert len(model_ids) == 1
    vals = {
        "model_id": model_ids[0],
        "name": "x_conformance_note",
        "ttype": "char",
        "state": "manual",
    }
    created = lib.model("ir.model.fields").create([vals])
    assert isinstance(created, list) and len(created) == 1
    fields = lib.model("crm.lead").fields_get(["x_conformance_note"], ["type"])
    assert fields == {"x_conformance_note": {"type": "char"}}
    leads = lib.model("crm.lead")
    ids = leads.search(OPPORTUNITY, 0, 2)
    assert leads.write(ids, {"x_conformance_note": "hello"}) is True
    assert [row["x_conformance_note"] for row in leads.read(ids, ["x_conformance_note"])] == [
        "hello",
        "hello",
    ]
    # Not x_…: the database constraint refuses it (ir_model.py CHECK on manual fields).
    with pytest.raises(Exception, match="x_"):
        lib.model("ir.model.fields").create(
            [{"model_id": model_ids[0], "name": "bad_name", "ttype": "char", "state": "manual"}]
        )


def test_json2_is_absent_before_19(clock: Any) -> None:
    """JSON-2 appeared in 19.0 (research/odoo.md §0): on 17 the library gets a 404."""
    with OdooSandbox(clock=clock, version=17, accounts=5, deals=10) as odoo:
        json2 = lib_connection(odoo, "json2")
        # The library first reads /doc-bearer/<model>.json, which 17 does not have either.
        with pytest.raises(Exception, match="404"):
            json2.model("res.partner").search_count([])
        assert odoo.count("search_count") == 0


# --------------------------------------------------------------------------- OdooRPC
def test_odoorpc_logs_in_and_reads_the_version(odoo_any: OdooSandbox) -> None:
    client = odoorpc_login(odoo_any)
    assert client.version == f"{odoo_any.version}.0"
    assert client.env.uid > 0
    assert odoo_any.database in client.db.list()
    host, port = host_port(odoo_any)
    refused = odoorpc.ODOO(host, port=port, timeout=10)
    with pytest.raises(odoorpc.error.RPCError):
        refused.login(odoo_any.database, odoo_any.login, "not-the-key")


def test_odoorpc_search_read_count_read_write_create_fields_get(odoo_any: OdooSandbox) -> None:
    client = odoorpc_login(odoo_any)
    leads = client.env["crm.lead"]
    domain = [*OPPORTUNITY, ["probability", ">", 0]]
    every = leads.search_read(domain, ["name", "probability"], order="id asc")
    page = leads.search_read(domain, ["name", "probability"], 2, 4, "id asc")
    assert page == every[2:6]
    assert all(
        set(row) == {"id", "name", "probability"} and row["probability"] > 0 for row in every
    )
    assert leads.search_count(domain) == len(every)
    partners = client.env["res.partner"]
    ids = partners.search([["is_company", "=", True]], limit=3, order="id asc")
    rows = partners.read(ids, ["name", "parent_id"])
    assert [row["id"] for row in rows] == ids
    assert all(set(row) == {"id", "name", "parent_id"} for row in rows)
    assert partners.write(ids, {"phone": "+1 555 0100"}) is True
    assert {record.phone for record in partners.browse(ids)} == {"+1 555 0100"}
    new_id = partners.create({"name": "Via OdooRPC"})
    assert isinstance(new_id, int) and partners.browse(new_id).name == "Via OdooRPC"
    meta = leads.fields_get(["probability"], ["string", "type"])
    assert meta == {"probability": {"string": "Probability", "type": "float"}}


def test_odoorpc_creates_an_x_field(odoo_any: OdooSandbox) -> None:
    client = odoorpc_login(odoo_any)
    model_id = client.env["ir.model"].search([["model", "=", "res.partner"]])[0]
    client.env["ir.model.fields"].create(
        {"model_id": model_id, "name": "x_via_odoorpc", "ttype": "integer", "state": "manual"}
    )
    partners = client.env["res.partner"]
    assert partners.fields_get(["x_via_odoorpc"], ["type"]) == {
        "x_via_odoorpc": {"type": "integer"}
    }
    pid = partners.search([], limit=1)[0]
    partners.write([pid], {"x_via_odoorpc": 7})
    assert partners.read([pid], ["x_via_odoorpc"])[0]["x_via_odoorpc"] == 7


def test_odoorpc_records_follow_many2one_and_write_themselves(odoo_any: OdooSandbox) -> None:
    """OdooRPC's record API: browse reads with load='_classic_write' (bare ids), a many2one
    is a record to follow, record.write(vals) sends write([id], vals)."""
    client = odoorpc_login(odoo_any)
    leads = client.env["crm.lead"]
    [lead_id] = leads.search([["partner_id", "!=", False]], limit=1, order="id asc")
    lead = leads.browse(lead_id)
    partner = client.env["res.partner"].read(
        leads.read([lead_id], ["partner_id"])[0]["partner_id"][0], ["name"]
    )[0]
    assert lead.partner_id.id == partner["id"] and lead.partner_id.name == partner["name"]
    lead.write({"probability": 55})
    assert leads.browse(lead_id).probability == 55.0
    assert client.env.user.id == client.env.uid
    assert "crm.lead" in client.env and "no.such.model" not in client.env
