"""The Odoo sandbox follows the release it is started as (signatures, versions, endpoints)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connector.sandbox.odoo.server import OdooSandbox
from tests.conftest import FakeClock


def _call(
    odoo: OdooSandbox, model: str, method: str, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    body = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": 1,
        "params": {
            "service": "object",
            "method": "execute_kw",
            "args": [odoo.database, 2, odoo.api_key, model, method, args, kwargs],
        },
    }
    answer = requests.post(f"{odoo.url}/jsonrpc", json=body, timeout=10).json()
    return answer.get("result", answer.get("error"))


@pytest.mark.parametrize("version", [16, 17, 18, 19])
def test_signatures_and_endpoints_follow_the_release(clock: FakeClock, version: int) -> None:
    with OdooSandbox(clock=clock, version=version, accounts=5, deals=10) as odoo:
        companies = [["is_company", "=", True]]
        counted = _call(odoo, "res.partner", "search", [companies, 0, None, None, True], {})
        if version == 16:  # search(domain, offset, limit, order, count): count=True counts
            assert counted == 5
        else:  # 17 dropped `count`: one positional argument too many
            assert counted["data"]["name"] == "builtins.TypeError"
        name = odoo.records("res.partner")[min(odoo.records("res.partner"))]["name"]
        by_args = _call(odoo, "res.partner", "name_search", [name], {"args": companies})
        by_domain = _call(odoo, "res.partner", "name_search", [name], {"domain": companies})
        works, fails = (by_args, by_domain) if version <= 17 else (by_domain, by_args)
        assert isinstance(works, list) and works and works[0][1] == name
        assert fails["data"]["name"] == "builtins.TypeError"
        version_info = requests.post(
            f"{odoo.url}/web/webclient/version_info",
            json={"jsonrpc": "2.0", "params": {}},
            timeout=10,
        ).json()["result"]
        assert version_info["server_version"] == f"{version}.0"
        assert version_info["server_version_info"][:2] == [version, 0]
        json2 = requests.post(
            f"{odoo.url}/json/2/res.partner/search_count",
            json={"domain": []},
            headers={"Authorization": f"bearer {odoo.api_key}"},
            timeout=10,
        )
        assert json2.status_code == (200 if version >= 19 else 404)  # JSON-2 from 19 (§0)
        assert (requests.get(f"{odoo.url}/web/version", timeout=10).status_code == 200) == (
            version >= 19
        )


def test_create_over_rpc_needs_its_values_in_args(clock: FakeClock) -> None:
    """call_kw reads args[0] to answer an id or a list (odoo/api.py): named values fail."""
    with OdooSandbox(clock=clock, version=17, accounts=5, deals=10) as odoo:
        before = len(odoo.records("res.partner"))
        named = _call(odoo, "res.partner", "create", [], {"vals_list": [{"name": "A"}]})
        assert named["data"]["name"] == "builtins.IndexError"
        assert len(odoo.records("res.partner")) == before  # rolled back
        one = _call(odoo, "res.partner", "create", [{"name": "B"}], {})
        many = _call(odoo, "res.partner", "create", [[{"name": "C"}, {"name": "D"}]], {})
        assert isinstance(one, int) and isinstance(many, list) and len(many) == 2
