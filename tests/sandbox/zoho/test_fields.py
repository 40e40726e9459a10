"""Sandbox CRM custom fields (zoho.md §5) and API credits (§6), over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connector.base import NewField, WriteStatus
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from connector.sandbox import SandboxCRM
from connector.zoho import ZohoClient, ZohoCredentials, ZohoTokenManager

NOW = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
PLUGIN_DEAL_FIELDS = {
    "Engagement_Risk_Score",
    "Engagement_Risk_Level",
    "Engagement_Risk_Drivers",
    "Engagement_SLA_Status",
    "Engagement_NPS",
    "Engagement_CSAT",
    "Engagement_Health_Updated",
}
PLUGIN_ACCOUNT_FIELDS = {"Account_Risk_Level", "Account_Health_Summary"}


def fixed_clock() -> datetime:
    return NOW


@pytest.fixture
def empty_org() -> Iterator[SandboxCRM]:
    """An org where the plugin's target fields have not been created yet."""
    with SandboxCRM(accounts=20, deals=250, clock=fixed_clock, plugin_fields=False) as crm:
        yield crm


@pytest.fixture
def full_org() -> Iterator[SandboxCRM]:
    with SandboxCRM(accounts=20, deals=450, clock=fixed_clock) as crm:
        yield crm


def get_token(crm: SandboxCRM) -> str:
    response = requests.post(
        f"{crm.url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": crm.client_id,
            "client_secret": crm.client_secret,
            "refresh_token": crm.refresh_token,
        },
        timeout=5,
    )
    return str(response.json()["access_token"])


def api(crm: SandboxCRM, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method,
        f"{crm.url}/crm/v8{path}",
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=5,
        **kwargs,
    )


def create(crm: SandboxCRM, token: str, module: str, *fields: dict[str, Any]) -> requests.Response:
    return api(
        crm, "POST", "/settings/fields", token, params={"module": module}, json={"fields": fields}
    )


def field_names(crm: SandboxCRM, token: str, module: str) -> set[str]:
    response = api(crm, "GET", "/settings/fields", token, params={"module": module})
    return {f["api_name"] for f in response.json()["fields"]}


def zoho_client(crm: SandboxCRM) -> ZohoClient:
    transport = HttpTransport(policy=RetryPolicy(sleep=lambda _: None))
    credentials = ZohoCredentials(
        crm.url, crm.client_id, SecretStr(crm.client_secret), SecretStr(crm.refresh_token)
    )
    return ZohoClient(ZohoTokenManager(credentials, transport, clock=fixed_clock), transport)


# --- an org without the plugin's fields --------------------------------------------------------
def test_empty_org_has_no_plugin_fields_in_metadata_or_records(
    empty_org: SandboxCRM, full_org: SandboxCRM
) -> None:
    token = get_token(empty_org)
    assert field_names(empty_org, token, "Deals") & PLUGIN_DEAL_FIELDS == set()
    assert field_names(empty_org, token, "Accounts") & PLUGIN_ACCOUNT_FIELDS == set()
    assert "Deal_Name" in field_names(empty_org, token, "Deals")
    deal = next(iter(empty_org.records("Deals").values()))
    account = next(iter(empty_org.records("Accounts").values()))
    assert set(deal) & PLUGIN_DEAL_FIELDS == set()
    assert set(account) & PLUGIN_ACCOUNT_FIELDS == set()
    # Asking for one in Get Records is the usual unknown-field error.
    response = api(empty_org, "GET", "/Deals", token, params={"fields": "Engagement_NPS"})
    assert response.status_code == 400 and response.json()["details"] == {
        "api_name": "Engagement_NPS"
    }
    # The default org still has them, with the same ids for the fields both orgs share.
    full = {f["api_name"]: f["id"] for f in full_org.fields("Deals")}
    assert PLUGIN_DEAL_FIELDS <= set(full)
    assert {f["api_name"]: f["id"] for f in empty_org.fields("Deals")}.items() <= full.items()


# --- POST /settings/fields -----------------------------------------------------------------
def test_created_fields_get_generated_api_names_and_appear_in_metadata_and_records(
    empty_org: SandboxCRM,
) -> None:
    token = get_token(empty_org)
    response = create(
        empty_org,
        token,
        "Deals",
        {"field_label": "Engagement Risk Score", "data_type": "integer"},
        {
            "field_label": "Risk  level (v2)",
            "data_type": "picklist",
            "pick_list_values": [
                {"display_value": "Low", "actual_value": "Low"},
                {"display_value": "High", "actual_value": "High"},
            ],
        },
        {"field_label": "风险评分", "data_type": "text"},
        {"field_label": "Health notes", "data_type": "textarea"},
    )
    assert response.status_code == 201
    results = response.json()["fields"]
    assert [(r["code"], r["message"], r["status"]) for r in results] == [
        ("SUCCESS", "field created", "success")
    ] * 4
    ids = [r["details"]["id"] for r in results]
    assert all(len(i) == 19 and i.isdigit() for i in ids) and len(set(ids)) == 4
    assert empty_org.count("create_fields", "Deals") == 1

    by_id = {}
    for field_id in ids:
        one = api(
            empty_org, "GET", f"/settings/fields/{field_id}", token, params={"module": "Deals"}
        )
        assert one.status_code == 200
        (by_id[field_id],) = one.json()["fields"]
    names = [by_id[i]["api_name"] for i in ids]
    # "Field_1" for a label without ASCII letters is the sandbox's UNCONFIRMED guess.
    assert names == ["Engagement_Risk_Score", "Risk_level_v2", "Field_1", "Health_notes"]

    score, level, chinese, notes = (by_id[i] for i in ids)
    assert score["custom_field"] is True and score["read_only"] is False
    assert score["operation_type"]["api_update"] is True
    assert (chinese["length"], chinese["field_label"]) == (255, "风险评分")
    assert notes["length"] == 2000
    assert [
        (v["actual_value"], v["display_value"], v["sequence_number"], v["type"])
        for v in level["pick_list_values"]
    ] == [("Low", "Low", 1, "used"), ("High", "High", 2, "used")]
    assert all(len(v["id"]) == 19 for v in level["pick_list_values"])

    assert set(names) <= field_names(empty_org, token, "Deals")
    assert all(
        all(record[name] is None for name in names)
        for record in empty_org.records("Deals").values()
    )
    # The new fields read and write like seeded ones.
    deal_id = next(iter(empty_org.records("Deals")))
    written = api(
        empty_org,
        "PUT",
        "/Deals",
        token,
        json={"data": [{"id": deal_id, "Engagement_Risk_Score": 7, "Risk_level_v2": "High"}]},
    )
    assert written.status_code == 200
    page = api(empty_org, "GET", "/Deals", token, params={"fields": ",".join(names)}).json()
    row = next(r for r in page["data"] if r["id"] == deal_id)
    assert (row["Engagement_Risk_Score"], row["Risk_level_v2"], row["Field_1"]) == (7, "High", None)


def test_duplicates_and_invalid_items_are_refused_per_item(empty_org: SandboxCRM) -> None:
    token = get_token(empty_org)
    mixed = create(
        empty_org,
        token,
        "Deals",
        {"field_label": "Engagement NPS", "data_type": "integer"},
        {"field_label": "Deal Name", "data_type": "text"},  # a standard field's label
        {"field_label": "engagement nps", "data_type": "integer"},  # repeats the first item
    )
    assert mixed.status_code == 207
    created, by_label, repeated = mixed.json()["fields"]
    assert created["code"] == "SUCCESS"
    assert by_label == {
        "code": "DUPLICATE_DATA",
        "details": {"api_name": "Deal_Name"},
        "message": "duplicate data",
        "status": "error",
    }
    assert repeated["code"] == "DUPLICATE_DATA"
    assert repeated["details"] == {"api_name": "Engagement_NPS"}

    all_failed = create(
        empty_org,
        token,
        "Deals",
        {"field_label": "Engagement NPS", "data_type": "double"},
        {"data_type": "text"},
        {"field_label": "Score", "data_type": "formula"},
        {"field_label": "Level", "data_type": "picklist"},
        {"field_label": "Level", "data_type": "picklist", "pick_list_values": []},
    )
    assert all_failed.status_code == 400
    assert [(r["code"], r["details"]) for r in all_failed.json()["fields"]] == [
        ("DUPLICATE_DATA", {"api_name": "Engagement_NPS"}),
        ("INVALID_DATA", {"api_name": "field_label"}),
        ("INVALID_DATA", {"api_name": "data_type"}),
        ("INVALID_DATA", {"api_name": "pick_list_values"}),
        ("INVALID_DATA", {"api_name": "pick_list_values"}),
    ]
    # Refused items add nothing.
    names = field_names(empty_org, token, "Deals")
    assert "Engagement_NPS" in names
    assert not {"Score", "Level"} & names


def test_create_needs_a_known_module_and_unknown_field_ids_are_invalid(
    empty_org: SandboxCRM,
) -> None:
    token = get_token(empty_org)
    bad_module = create(empty_org, token, "Nope", {"field_label": "X", "data_type": "text"})
    assert bad_module.status_code == 400 and bad_module.json()["code"] == "INVALID_MODULE"
    unknown = api(empty_org, "GET", "/settings/fields/123", token, params={"module": "Deals"})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "code": "INVALID_DATA",
        "details": {"api_name": "id"},
        "message": "invalid data",
        "status": "error",
    }
    empty = api(empty_org, "POST", "/settings/fields", token, params={"module": "Deals"}, json={})
    assert empty.status_code == 400 and empty.json()["code"] == "MANDATORY_NOT_FOUND"


# --- remove_field ------------------------------------------------------------------------------
def test_removed_field_is_gone_and_writes_naming_it_are_invalid(full_org: SandboxCRM) -> None:
    token = get_token(full_org)
    full_org.remove_field("Deals", "Engagement_Risk_Score")
    assert "Engagement_Risk_Score" not in field_names(full_org, token, "Deals")
    assert all("Engagement_Risk_Score" not in r for r in full_org.records("Deals").values())
    with pytest.raises(KeyError):
        full_org.remove_field("Deals", "Engagement_Risk_Score")

    first, second = list(full_org.records("Deals"))[:2]
    response = api(
        full_org,
        "PUT",
        "/Deals",
        token,
        json={
            "data": [
                {"id": first, "Engagement_Risk_Level": "High"},
                {"id": second, "Engagement_Risk_Score": 40, "Engagement_Risk_Level": "Low"},
            ],
            "trigger": [],
        },
    )
    assert response.status_code == 207
    ok, refused = response.json()["data"]
    assert ok["code"] == "SUCCESS"
    assert refused["code"] == "INVALID_DATA"
    assert refused["details"]["api_name"] == "Engagement_Risk_Score"
    assert full_org.records("Deals")[second]["Engagement_Risk_Level"] is None

    # The real client reports it as an invalid row naming the field.
    (outcome,) = zoho_client(full_org).update_records(
        "Deals", [{"id": second, "Engagement_Risk_Score": 40}]
    )
    assert (outcome.status, outcome.field) == (WriteStatus.INVALID, "Engagement_Risk_Score")


# --- credits (§6) ------------------------------------------------------------------------------
def test_credits_for_reads_metadata_and_refusals(full_org: SandboxCRM) -> None:
    token = get_token(full_org)
    assert full_org.credits_used == 0  # the token endpoint is free
    for page in (1, 2):
        fields = {"fields": "Deal_Name", "page": page, "per_page": 200}
        assert api(full_org, "GET", "/Deals", token, params=fields).status_code == 200
    assert full_org.credits_used == 2

    api(full_org, "GET", "/Deals/deleted", token)  # 204, still charged
    api(full_org, "GET", "/settings/fields", token, params={"module": "Deals"})
    create(full_org, token, "Deals", {"field_label": "A", "data_type": "text"})
    assert full_org.credits_used == 2 + 2 + 1 + 1

    requests.get(f"{full_org.url}/crm/v8/Deals", params={"fields": "Stage"}, timeout=5)  # 401
    assert full_org.credits_used == 6
    full_org.reset_calls()
    assert full_org.credits_used == 0 and full_org.calls == []


def test_a_250_row_update_costs_25_credits_in_3_calls_as_the_client_estimates(
    empty_org: SandboxCRM,
) -> None:
    client = zoho_client(empty_org)
    (outcome,) = client.create_fields("Deals", [NewField("Engagement NPS", "integer")])
    assert outcome.api_name == "Engagement_NPS"
    empty_org.reset_calls()

    rows = [{"id": rid, "Engagement_NPS": 9} for rid in empty_org.records("Deals")]
    assert len(rows) == 250
    outcomes = client.update_records("Deals", rows)

    assert all(o.status is WriteStatus.WRITTEN for o in outcomes)
    assert (empty_org.count("update", "Deals"), empty_org.credits_used) == (3, 10 + 10 + 5)
    assert client.write_cost(250) == (3, 25)


def test_remaining_credits_are_announced_once_half_are_used_and_none_left_is_a_429() -> None:
    with SandboxCRM(accounts=20, deals=50, clock=fixed_clock, daily_credits=10) as crm:
        token = get_token(crm)
        params = {"fields": "Deal_Name"}
        quiet = [api(crm, "GET", "/Deals", token, params=params) for _ in range(4)]
        assert all("X-API-CREDITS-REMAINING" not in r.headers for r in quiet)
        # Another integration of the org spends credits too; the count is the org's.
        crm.spend_credits(2)
        fifth = api(crm, "GET", "/Deals", token, params=params)
        assert fifth.headers["X-API-CREDITS-REMAINING"] == "3"  # 7 of 10 used
        for _ in range(3):
            api(crm, "GET", "/Deals", token, params=params)
        refused = api(crm, "GET", "/Deals", token, params=params)
        assert refused.status_code == 429
        assert refused.json()["code"] == "TOO_MANY_REQUESTS"
        assert refused.headers["X-API-CREDITS-REMAINING"] == "0"
        assert (crm.credits_used, crm.org_credits_used) == (8, 10)


def test_the_date_header_is_the_sandbox_s_own_clock(full_org: SandboxCRM) -> None:
    token = get_token(full_org)
    response = api(full_org, "GET", "/Deals", token, params={"fields": "Deal_Name"})
    assert response.headers["Date"] == "Mon, 23 Nov 2026 08:00:00 GMT"
