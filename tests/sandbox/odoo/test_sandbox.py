"""The Odoo sandbox answers like Odoo on both APIs, and counts every call."""

from __future__ import annotations

import requests

from connector.sandbox.odoo.server import OdooSandbox
from tests.conftest import FakeClock


def _rpc(url: str, service: str, method: str, args: list[object]) -> requests.Response:
    body = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": 1,
        "params": {"service": service, "method": method, "args": args},
    }
    return requests.post(f"{url}/jsonrpc", json=body, timeout=10)


def test_json2_success_is_the_bare_result_and_errors_carry_status_and_name(
    clock: FakeClock,
) -> None:
    with OdooSandbox(clock=clock, version=19, accounts=5, deals=10) as odoo:
        headers = {"Authorization": f"bearer {odoo.api_key}"}
        ok = requests.post(
            f"{odoo.url}/json/2/res.partner/search_count",
            json={"domain": [["is_company", "=", True]]},
            headers=headers,
            timeout=10,
        )
        assert ok.status_code == 200 and ok.json() == 5
        bad_key = requests.post(
            f"{odoo.url}/json/2/res.partner/search_count",
            json={},
            headers={"Authorization": "bearer nope"},
            timeout=10,
        )
        assert bad_key.status_code == 401
        assert bad_key.json()["name"] == "werkzeug.exceptions.Unauthorized"
        ids_on_model_method = requests.post(
            f"{odoo.url}/json/2/res.partner/search_count",
            json={"ids": [1]},
            headers=headers,
            timeout=10,
        )
        assert ids_on_model_method.status_code == 422
        missing = requests.post(
            f"{odoo.url}/json/2/crm.lead/write",
            json={"ids": [99999], "vals": {"name": "x"}},
            headers=headers,
            timeout=10,
        )
        assert missing.status_code == 404
        assert missing.json()["name"] == "odoo.exceptions.MissingError"
        assert odoo.count("search_count", "res.partner", api="json2") == 3
        assert odoo.count("write", "crm.lead") == 1


def test_jsonrpc_errors_arrive_inside_http_200(clock: FakeClock) -> None:
    with OdooSandbox(clock=clock, version=17, accounts=5, deals=10) as odoo:
        assert requests.get(f"{odoo.url}/web/version", timeout=10).status_code == 404
        assert (
            requests.post(f"{odoo.url}/json/2/res.partner/read", json={}, timeout=10).status_code
            == 404
        )
        assert (
            _rpc(odoo.url, "common", "authenticate", [odoo.database, odoo.login, "bad", {}]).json()[
                "result"
            ]
            is False
        )
        uid = _rpc(
            odoo.url, "common", "authenticate", [odoo.database, odoo.login, odoo.api_key, {}]
        )
        denied = _rpc(
            odoo.url,
            "object",
            "execute_kw",
            [odoo.database, uid.json()["result"], "bad", "res.partner", "search", [], {}],
        )
        assert denied.status_code == 200
        assert denied.json()["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
        assert odoo.login_failures == 2


def test_lost_opportunities_are_archived_and_hidden_unless_active_test_is_off(
    clock: FakeClock,
) -> None:
    with OdooSandbox(clock=clock, version=19, accounts=20, deals=60) as odoo:
        headers = {"Authorization": f"bearer {odoo.api_key}"}
        domain = [["type", "=", "opportunity"]]
        visible = requests.post(
            f"{odoo.url}/json/2/crm.lead/search",
            json={"domain": domain},
            headers=headers,
            timeout=10,
        ).json()
        every = requests.post(
            f"{odoo.url}/json/2/crm.lead/search",
            json={"domain": domain, "context": {"active_test": False}},
            headers=headers,
            timeout=10,
        ).json()
        assert odoo.lost_leads and set(odoo.lost_leads) == set(every) - set(visible)
        assert {odoo.records("crm.lead")[i]["probability"] for i in odoo.lost_leads} == {0.0}
