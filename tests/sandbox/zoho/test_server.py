"""The sandbox CRM over real HTTP: paging, conditional GETs, auth, limits and partial writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from connector.sandbox import SANDBOX_BANNER, SandboxCRM

NOW = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
DEAL_FIELDS = "Deal_Name,Stage,Modified_Time"


def fixed_clock() -> datetime:
    return NOW


@pytest.fixture
def crm() -> Iterator[SandboxCRM]:
    server = SandboxCRM(deals=450, clock=fixed_clock)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def get_token(crm: SandboxCRM) -> str:
    response = requests.post(
        f"{crm.url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
            "refresh_token": "sandbox-refresh-token",
        },
        timeout=5,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["api_domain"] == crm.url
    assert "refresh_token" not in body
    return str(body["access_token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {token}"}


def get_deals(crm: SandboxCRM, token: str, **params: object) -> requests.Response:
    params.setdefault("fields", DEAL_FIELDS)
    return requests.get(f"{crm.url}/crm/v8/Deals", params=params, headers=auth(token), timeout=5)


def test_banner_and_marker_header(crm: SandboxCRM) -> None:
    response = requests.get(crm.url + "/", timeout=5)
    assert response.status_code == 200
    assert SANDBOX_BANNER in response.text
    assert response.headers["X-Sandbox-CRM"] == "not-a-real-CRM"


def test_fields_param_is_required(crm: SandboxCRM) -> None:
    response = requests.get(f"{crm.url}/crm/v8/Deals", headers=auth(get_token(crm)), timeout=5)
    assert response.status_code == 400
    assert response.json() == {
        "code": "REQUIRED_PARAM_MISSING",
        "details": {"param_name": "fields"},
        "message": "One of the expected parameter is missing",
        "status": "error",
    }
    assert crm.count("get_records", "Deals") == 1


def test_pages_of_200_and_more_records_flags(crm: SandboxCRM) -> None:
    token = get_token(crm)
    seen: list[str] = []
    flags = []
    for page in (1, 2, 3):
        body = get_deals(crm, token, page=page, per_page=200).json()
        assert set(body["data"][0]) == {"id", "Deal_Name", "Stage", "Modified_Time"}
        seen += [row["id"] for row in body["data"]]
        flags.append((body["info"]["count"], body["info"]["more_records"]))
    assert flags == [(200, True), (200, True), (50, False)]
    assert seen == sorted(seen) and len(set(seen)) == 450
    # Past the end: 204 with an empty body.
    past = get_deals(crm, token, page=4, per_page=200)
    assert past.status_code == 204 and past.content == b""


def test_discrete_paging_stops_at_2000(crm: SandboxCRM) -> None:
    response = get_deals(crm, get_token(crm), page=11, per_page=200)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert body["details"] == {"limit": 2000}


def test_page_token_continues_without_duplicates(crm: SandboxCRM) -> None:
    token = get_token(crm)
    first = get_deals(crm, token, per_page=200, sort_by="Modified_Time").json()
    ids = [row["id"] for row in first["data"]]
    page_token = first["info"]["next_page_token"]
    assert page_token and len(page_token) <= 96
    while page_token:
        body = get_deals(crm, token, per_page=200, page_token=page_token).json()
        ids += [row["id"] for row in body["data"]]
        page_token = body["info"]["next_page_token"]
    assert len(ids) == len(set(ids)) == 450
    mixed = get_deals(crm, token, page=2, page_token=first["info"]["next_page_token"])
    assert mixed.status_code == 400 and mixed.json()["code"] == "INVALID_REQUEST"


def test_if_modified_since(crm: SandboxCRM) -> None:
    token = get_token(crm)
    response = requests.get(
        f"{crm.url}/crm/v8/Deals",
        params={"fields": DEAL_FIELDS},
        headers={**auth(token), "If-Modified-Since": "2027-01-01T00:00:00+00:00"},
        timeout=5,
    )
    assert response.status_code == 304 and response.content == b""
    # A UI edit at NOW is the only record modified at or after NOW (inclusive filter).
    deal_id = next(iter(crm.records("Deals")))
    crm.edit("Deals", deal_id, Stage="Closed Lost")
    response = requests.get(
        f"{crm.url}/crm/v8/Deals",
        params={"fields": DEAL_FIELDS},
        headers={**auth(token), "If-Modified-Since": "2026-11-23T08:00:00Z"},
        timeout=5,
    )
    assert [row["id"] for row in response.json()["data"]] == [deal_id]
    assert response.json()["data"][0]["Modified_Time"] == "2026-11-23T08:00:00+00:00"


def test_auth_failures(crm: SandboxCRM) -> None:
    token = get_token(crm)
    assert get_deals(crm, token).status_code == 200
    crm.expire_tokens()
    expired = get_deals(crm, token)
    assert expired.status_code == 401
    assert expired.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }
    missing = requests.get(f"{crm.url}/crm/v8/Deals", params={"fields": "Stage"}, timeout=5)
    assert missing.status_code == 401 and missing.json()["code"] == "AUTHENTICATION_FAILURE"
    assert crm.count("get_records", "Deals") == 3


def test_token_endpoint_errors_and_rate_limit(crm: SandboxCRM) -> None:
    url = f"{crm.url}/oauth/v2/token"
    good = {
        "grant_type": "refresh_token",
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "refresh_token": "sandbox-refresh-token",
    }
    bad_client = requests.post(url, data={**good, "client_secret": "nope"}, timeout=5)
    assert (bad_client.status_code, bad_client.json()) == (200, {"error": "invalid_client"})
    bad_refresh = requests.post(url, params={**good, "refresh_token": "nope"}, timeout=5)
    assert bad_refresh.json() == {"error": "invalid_code"}
    for _ in range(10):
        assert "access_token" in requests.post(url, data=good, timeout=5).json()
    limited = requests.post(url, data=good, timeout=5)
    assert limited.status_code == 200 and limited.json()["error"] == "Access Denied"
    assert crm.count("token") == 13


def test_update_rejects_more_than_100_records(crm: SandboxCRM) -> None:
    ids = list(crm.records("Deals"))[:101]
    response = requests.put(
        f"{crm.url}/crm/v8/Deals",
        json={"data": [{"id": i, "Engagement_Risk_Score": 10} for i in ids], "trigger": []},
        headers=auth(get_token(crm)),
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["code"] == "LIMIT_EXCEEDED"
    assert response.json()["details"] == {"limit": 100}
    assert all(crm.records("Deals")[i]["Engagement_Risk_Score"] is None for i in ids)


def test_update_partial_success_is_207(crm: SandboxCRM) -> None:
    good_id, bad_id = list(crm.records("Deals"))[:2]
    before = dict(crm.records("Deals")[bad_id])
    response = requests.put(
        f"{crm.url}/crm/v8/Deals",
        json={
            "data": [
                {"id": good_id, "Engagement_Risk_Score": 72, "Engagement_Risk_Level": "High"},
                {"id": bad_id, "Engagement_Risk_Score": 5, "Engagement_Risk_Drivers": "x" * 2001},
            ],
            "trigger": [],
        },
        headers=auth(get_token(crm)),
        timeout=5,
    )
    assert response.status_code == 207
    first, second = response.json()["data"]
    assert first["code"] == "SUCCESS" and first["details"]["id"] == good_id
    assert first["details"]["Modified_By"]["name"] == "Sandbox Integration"
    assert second["code"] == "INVALID_DATA"
    assert second["details"] == {
        "api_name": "Engagement_Risk_Drivers",
        "json_path": "$.data[1].Engagement_Risk_Drivers",
        "maximum_length": 2000,
    }
    good = crm.records("Deals")[good_id]
    assert (good["Engagement_Risk_Score"], good["Engagement_Risk_Level"]) == (72, "High")
    assert good["Modified_Time"] == "2026-11-23T08:00:00+00:00"
    assert crm.records("Deals")[bad_id] == before
    assert crm.last_update_body is not None and crm.last_update_body["trigger"] == []
    assert crm.count("update", "Deals") == 1


def test_deleted_endpoint(crm: SandboxCRM) -> None:
    token = get_token(crm)
    url = f"{crm.url}/crm/v8/Deals/deleted"
    assert requests.get(url, headers=auth(token), timeout=5).status_code == 204
    deal_id = next(iter(crm.records("Deals")))
    crm.delete("Deals", deal_id)
    body = requests.get(url, params={"type": "all"}, headers=auth(token), timeout=5).json()
    assert [(d["id"], d["type"]) for d in body["data"]] == [(deal_id, "recycle")]
    later = {**auth(token), "If-Modified-Since": "2026-11-23T08:00:01+00:00"}
    assert requests.get(url, headers=later, timeout=5).status_code == 304


def test_latency_is_the_whole_response_time_with_the_sandboxs_work_in_it(
    crm: SandboxCRM,
) -> None:
    """Simulated latency L means the answer comes L after the request, as a real CRM's response
    time holds its own work: the sandbox waits only what its work left of L."""
    token = get_token(crm)
    slept: list[float] = []
    crm.sleep = slept.append
    crm.latency_seconds = 0.05
    ticks = iter([100.0, 100.03])  # the request arrives; the work is done 30 ms later
    crm.monotonic = lambda: next(ticks)
    assert get_deals(crm, token).status_code == 200
    assert slept == [pytest.approx(0.02)]
    ticks = iter([200.0, 200.08])  # work that took longer than the latency: no wait on top
    assert get_deals(crm, token).status_code == 200
    assert slept == [pytest.approx(0.02)]


def test_concurrency_limit_returns_429() -> None:
    crm = SandboxCRM(deals=20, clock=fixed_clock, concurrency_limit=2)
    crm.start()
    try:
        token = get_token(crm)
        crm.latency_seconds = 0.3
        statuses: list[int] = []
        bodies: list[dict[str, object]] = []
        barrier = threading.Barrier(5)

        def call() -> None:
            barrier.wait()
            response = get_deals(crm, token)
            statuses.append(response.status_code)
            if response.status_code == 429:
                bodies.append(response.json())

        threads = [threading.Thread(target=call) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses).count(200) >= 1
        assert 429 in statuses
        assert bodies[0] == {
            "code": "TOO_MANY_REQUESTS",
            "details": {},
            "message": "too many requests",
            "status": "error",
        }
        crm.latency_seconds = 0.0
        assert "Retry-After" not in get_deals(crm, token).headers
    finally:
        crm.stop()


# --- issue 17: what Zoho (and its official SDK) accepts and sends


def test_ids_are_taken_as_numbers_or_strings_in_updates_and_lookups(crm: SandboxCRM) -> None:
    token = get_token(crm)
    first, second = sorted(crm.records("Deals"))[:2]
    account = min(crm.records("Accounts"))
    body = {
        "data": [
            {"id": int(first), "Engagement_NPS": 10, "Account_Name": {"id": int(account)}},
            {"id": second, "Engagement_NPS": 20, "Account_Name": {"id": account}},
        ],
        "trigger": [],
    }
    response = requests.put(f"{crm.url}/crm/v8/Deals", json=body, headers=auth(token), timeout=5)
    assert response.status_code == 200, response.text
    assert [r["details"]["id"] for r in response.json()["data"]] == [first, second]
    deals = crm.records("Deals")
    assert (deals[first]["Engagement_NPS"], deals[second]["Engagement_NPS"]) == (10, 20)
    assert deals[first]["Account_Name"]["id"] == account  # stored as Zoho returns it: a string
    bad = {"data": [{"id": True, "Engagement_NPS": 1}, {"id": 1.5, "Engagement_NPS": 1}]}
    refused = requests.put(f"{crm.url}/crm/v8/Deals", json=bad, headers=auth(token), timeout=5)
    assert refused.status_code == 400
    assert {r["code"] for r in refused.json()["data"]} == {"INVALID_DATA"}
    assert [r["details"]["json_path"] for r in refused.json()["data"]] == [
        "$.data[0].id",
        "$.data[1].id",
    ]


def test_one_record_by_id_and_ids_on_get_records(crm: SandboxCRM) -> None:
    token = get_token(crm)
    ids = sorted(crm.records("Deals"))[5:8]
    one = requests.get(f"{crm.url}/crm/v8/Deals/{ids[0]}", headers=auth(token), timeout=5)
    assert one.status_code == 200
    (record,) = one.json()["data"]
    assert record["Deal_Name"] == crm.records("Deals")[ids[0]]["Deal_Name"]
    assert "Stage" in record  # without `fields`, every field
    missing = requests.get(f"{crm.url}/crm/v8/Deals/1234", headers=auth(token), timeout=5)
    assert missing.status_code == 400
    assert missing.json()["code"] == "INVALID_DATA"
    assert missing.json()["status"] == "error"
    put = requests.put(
        f"{crm.url}/crm/v8/Deals/{ids[1]}",
        json={"data": [{"Engagement_NPS": 55}]},
        headers=auth(token),
        timeout=5,
    )
    assert put.status_code == 200
    assert crm.records("Deals")[ids[1]]["Engagement_NPS"] == 55
    listed = get_deals(crm, token, ids=",".join(reversed(ids)))
    assert [r["id"] for r in listed.json()["data"]] == list(reversed(ids))
    bad = get_deals(crm, token, ids="12,abc")
    assert bad.status_code == 400
    assert bad.json()["details"] == {"param_name": "ids"}


def test_current_user_org_and_modules(crm: SandboxCRM) -> None:
    token = get_token(crm)
    me = requests.get(
        f"{crm.url}/crm/v8/users", params={"type": "CurrentUser"}, headers=auth(token), timeout=5
    )
    (user,) = me.json()["users"]
    assert (user["id"], user["email"]) == (crm.api_user["id"], crm.api_user["email"])
    everyone = requests.get(f"{crm.url}/crm/v8/users", headers=auth(token), timeout=5)
    assert len(everyone.json()["users"]) == 1 + len(crm.users)
    wrong = requests.get(
        f"{crm.url}/crm/v8/users", params={"type": "Everybody"}, headers=auth(token), timeout=5
    )
    assert wrong.status_code == 400 and wrong.json()["details"] == {"param_name": "type"}
    org = requests.get(f"{crm.url}/crm/v8/org", headers=auth(token), timeout=5).json()
    assert org["org"][0]["zgid"]
    modules = requests.get(f"{crm.url}/crm/v8/settings/modules", headers=auth(token), timeout=5)
    assert {m["api_name"] for m in modules.json()["modules"]} >= {"Accounts", "Contacts", "Deals"}
    unauthenticated = requests.get(f"{crm.url}/crm/v8/users", timeout=5)
    assert unauthenticated.status_code == 401


def test_typed_fields_hold_only_typed_values_and_odd_ones_live_in_text_fields(
    crm: SandboxCRM,
) -> None:
    types = {f["api_name"]: f["data_type"] for f in crm.fields("Deals")}
    for record in crm.records("Deals").values():
        amount = record["Amount"]
        assert amount is None or isinstance(amount, int | float), record["id"]
        for name in ("Closing_Date", "Engagement_Start"):
            assert record[name] is None or datetime.fromisoformat(record[name]), name
    assert types["Contract_Value"] == types["Contract_End"] == "text"
    odd = crm.odd_deals
    deals = crm.records("Deals")
    garbled = [i for i, kind in odd.items() if kind == "amount_garbled_string"]
    assert garbled and all(" " in deals[i]["Contract_Value"] for i in garbled)
    deal_id = min(deals)
    with pytest.raises(ValueError, match="currency field"):
        crm.edit("Deals", deal_id, Amount="12,000 USD")
    crm.edit("Deals", deal_id, Contract_Value="12,000 USD")  # text takes anything
