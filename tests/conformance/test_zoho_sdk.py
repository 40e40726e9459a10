"""Zoho's official SDK (``zohocrmsdk8-0``) drives the sandbox over real HTTP.

Each test is something the SDK does against a real org; a failure means the sandbox disagrees
with Zoho's own library (or, for the mapping's fields, that the seed holds a value no Zoho org
could hold in that field's type).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.fields import FieldsOperations, GetFieldsParam
from zohocrmsdk.src.com.zoho.crm.api.fields import ResponseWrapper as FieldsWrapper
from zohocrmsdk.src.com.zoho.crm.api.record import (
    ActionWrapper,
    APIException,
    BodyWrapper,
    DeletedRecordsWrapper,
    GetDeletedRecordsParam,
    GetRecordsParam,
    Record,
    RecordOperations,
    ResponseWrapper,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.users import GetUsersParam, UsersOperations
from zohocrmsdk.src.com.zoho.crm.api.users import ResponseWrapper as UsersWrapper

from connector.sandbox import SandboxCRM
from tests.conformance.conftest import (
    MANY_DEALS,
    SdkSession,
    close_sdk_log_handlers,
    default_mapping_fields,
    start_sdk,
)
from tests.conftest import FakeClock


def _get_records(module: str, **params: object) -> ResponseWrapper | None:
    """One Get Records call through the SDK; None for 204/304 (no records)."""
    param_map = ParameterMap()
    for name, value in params.items():
        param_map.add(getattr(GetRecordsParam, name), value)
    response = RecordOperations(module).get_records(param_map, HeaderMap())
    if response.get_status_code() in (204, 304):
        return None
    wrapper = response.get_object()
    assert isinstance(wrapper, ResponseWrapper), _describe(wrapper)
    return wrapper


def _describe(obj: object) -> str:
    if isinstance(obj, APIException):
        return f"{obj.get_code().get_value()}: {obj.get_message()} {obj.get_details()}"
    return repr(obj)


def test_the_sdk_refreshes_a_token_at_the_sandbox_accounts_url(sdk: SdkSession) -> None:
    crm = sdk.crm
    # Initialising with a refresh token refreshes once, then asks who the user is (the SDK
    # does it by itself: users?type=CurrentUser, then org for the zgid).
    assert crm.count("token") == 1
    assert crm.count("users") == 1 and crm.count("org") == 1
    with sdk.token_file.open(newline="") as stored:
        rows = list(csv.DictReader(stored))
    assert len(rows) == 1
    assert rows[0]["access_token"] in crm._tokens  # the token the sandbox issued
    # The user the SDK found is the sandbox's integration user (user name + org's zgid).
    assert rows[0]["user_name"].startswith(crm.api_user["email"] + ":")


def test_the_sdk_refreshes_again_when_the_sandbox_s_token_is_about_to_expire(
    clock: FakeClock, tmp_path: Path
) -> None:
    # Tokens that live 4 s: the SDK refreshes when less than 5 s are left ([SDK] oauth_token.py
    # get_token), so before each call; the sandbox's refresh window (10 per 10 min) allows it.
    with SandboxCRM(deals=20, clock=clock, token_ttl_seconds=4) as crm:
        try:
            start_sdk(crm, tmp_path)
            assert crm.count("token") == 1
            after_init = len(crm.calls)
            wrapper = _get_records("Deals", fields="Deal_Name", per_page=200)
            assert wrapper is not None and len(wrapper.get_data()) == 20
            # One refresh before each API call it made (field metadata, then the records).
            api_calls = [kind for kind, _ in crm.calls[after_init:] if kind != "token"]
            assert "get_records" in api_calls
            assert crm.count("token") == 1 + len(api_calls)
            with (tmp_path / "sdk_tokens.csv").open(newline="") as stored:
                (row,) = list(csv.DictReader(stored))
            assert row["access_token"] in crm._tokens  # the refreshed token was stored
        finally:
            close_sdk_log_handlers()


def test_the_sdk_reads_the_current_user(sdk: SdkSession) -> None:
    params = ParameterMap()
    params.add(GetUsersParam.type, "CurrentUser")
    response = UsersOperations().get_users(params, HeaderMap())
    assert response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, UsersWrapper)
    users = wrapper.get_users()
    assert [(u.get_id(), u.get_email()) for u in users] == [
        (int(sdk.crm.api_user["id"]), sdk.crm.api_user["email"])
    ]


def test_the_sdk_reads_field_metadata(sdk: SdkSession) -> None:
    params = ParameterMap()
    params.add(GetFieldsParam.module, "Deals")
    response = FieldsOperations().get_fields(params)
    wrapper = response.get_object()
    assert isinstance(wrapper, FieldsWrapper), _describe(wrapper)
    types = {f.get_api_name(): f.get_data_type() for f in wrapper.get_fields()}
    assert set(types) == {f["api_name"] for f in sdk.crm.fields("Deals")}
    assert types["Amount"] == "currency"
    assert types["Closing_Date"] == "date"
    # The custom fields people type contract terms into are text, so they can hold anything.
    assert types["Contract_Value"] == "text" and types["Contract_End"] == "text"
    stage = next(f for f in wrapper.get_fields() if f.get_api_name() == "Stage")
    assert "Closed Won" in [v.get_actual_value() for v in stage.get_pick_list_values()]


def test_the_sdk_reads_every_deal_with_the_mapping_fields_past_the_page_wall(
    many_deals_sdk: SdkSession,
) -> None:
    crm = many_deals_sdk.crm
    fields = default_mapping_fields("engagements")
    # Amount (currency) as well, though the default mapping reads the text Contract_Value.
    fields = sorted({*fields, "Amount"})
    seen: dict[int, Record] = {}
    wrapper = _get_records("Deals", fields=",".join(fields), per_page=200)
    while wrapper is not None:
        for record in wrapper.get_data():
            seen[record.get_id()] = record
        info = wrapper.get_info()
        if not info.get_more_records():
            break
        # Past the first 2,000 records only page_token reaches (§2): use it on every page.
        wrapper = _get_records(
            "Deals", fields=",".join(fields), per_page=200, page_token=info.get_next_page_token()
        )
    assert len(seen) == MANY_DEALS
    assert {str(i) for i in seen} == set(crm.records("Deals"))
    assert crm.count("get_records", "Deals") == math.ceil(MANY_DEALS / 200)
    # Every typed field came back typed, as Zoho's library parses it, holding what the CRM
    # holds; the text fields hold what people typed, odd values included.
    stored = crm.records("Deals")
    for record_id, record in seen.items():
        held = stored[str(record_id)]
        amount = record.get_key_value("Amount")
        assert amount is None or isinstance(amount, float)
        assert amount == held["Amount"]
        for name in ("Deal_Name", "Contract_Value", "Contract_End"):
            assert record.get_key_value(name) == held[name], name
        for name in fields:
            assert name in record.get_key_values(), name
    odd_text = {seen[int(i)].get_key_value("Contract_Value") for i in crm.odd_deals}
    assert any(value and " " in value for value in odd_text)  # e.g. "739,400 USD"


def test_the_sdk_reads_the_default_mapping_fields_of_accounts_and_contacts(
    many_deals_sdk: SdkSession,
) -> None:
    crm = many_deals_sdk.crm
    for module, kind in (("Accounts", "accounts"), ("Contacts", "contacts")):
        fields = ",".join(default_mapping_fields(kind))
        ids: set[int] = set()
        wrapper = _get_records(module, fields=fields, per_page=200)
        while wrapper is not None:
            ids.update(r.get_id() for r in wrapper.get_data())
            info = wrapper.get_info()
            if not info.get_more_records():
                break
            wrapper = _get_records(
                module, fields=fields, per_page=200, page_token=info.get_next_page_token()
            )
        assert {str(i) for i in ids} == set(crm.records(module))


def test_the_sdk_updates_100_deals_in_one_call_without_triggers_and_reads_them_back(
    sdk: SdkSession,
) -> None:
    crm = sdk.crm
    deal_ids = sorted(crm.records("Deals"))[:100]
    account_id = next(iter(crm.records("Accounts")))
    records = []
    for n, deal_id in enumerate(deal_ids):
        record = Record()
        record.set_id(int(deal_id))  # the SDK's ids are numbers
        record.add_key_value("Engagement_Risk_Score", n % 101)
        record.add_key_value("Engagement_Risk_Drivers", f"driver {n}")
        if n < 5:
            # A lookup written by a numeric id, as the SDK writes it.
            account = Record()
            account.set_id(int(account_id))
            record.add_key_value("Account_Name", account)
        records.append(record)
    body = BodyWrapper()
    body.set_data(records)
    body.set_trigger([])  # no workflows, approvals or blueprints (§4)
    crm.reset_calls()
    response = RecordOperations("Deals").update_records(body, HeaderMap())
    assert response.get_status_code() == 200
    wrapper = response.get_object()
    assert isinstance(wrapper, ActionWrapper), _describe(wrapper)
    results = wrapper.get_data()
    assert len(results) == 100
    assert all(isinstance(r, SuccessResponse) for r in results), [_describe(r) for r in results]
    assert crm.count("update", "Deals") == 1
    assert crm.last_update_body is not None and crm.last_update_body["trigger"] == []

    read_back = _get_records(
        "Deals", ids=",".join(deal_ids), fields="Engagement_Risk_Score,Account_Name"
    )
    assert read_back is not None
    got = {r.get_id(): r for r in read_back.get_data()}
    assert len(got) == 100
    for n, deal_id in enumerate(deal_ids):
        assert got[int(deal_id)].get_key_value("Engagement_Risk_Score") == n % 101
    assert all(
        got[int(d)].get_key_value("Account_Name").get_id() == int(account_id) for d in deal_ids[:5]
    )
    # What the CRM holds, not only what it answered.
    assert crm.records("Deals")[deal_ids[7]]["Engagement_Risk_Drivers"] == "driver 7"
    assert crm.records("Deals")[deal_ids[0]]["Account_Name"]["id"] == account_id


def test_the_sdk_reads_and_updates_one_record_by_id(sdk: SdkSession) -> None:
    crm = sdk.crm
    deal_id = sorted(crm.records("Deals"))[3]
    operations = RecordOperations("Deals")
    record = Record()
    record.add_key_value("Engagement_NPS", 42)
    body = BodyWrapper()
    body.set_data([record])
    body.set_trigger([])
    updated = operations.update_record(int(deal_id), body, HeaderMap())
    assert updated.get_status_code() == 200
    results = updated.get_object().get_data()
    assert isinstance(results[0], SuccessResponse), _describe(results[0])
    assert str(results[0].get_details()["id"]) == deal_id

    params = ParameterMap()
    params.add(GetRecordsParam.fields, "Deal_Name,Engagement_NPS")
    fetched = operations.get_record(int(deal_id), params, HeaderMap())
    wrapper = fetched.get_object()
    assert isinstance(wrapper, ResponseWrapper), _describe(wrapper)
    [one] = wrapper.get_data()
    assert one.get_key_value("Engagement_NPS") == 42
    assert one.get_key_value("Deal_Name") == crm.records("Deals")[deal_id]["Deal_Name"]


def test_the_sdk_reads_deleted_records(sdk: SdkSession) -> None:
    crm = sdk.crm
    gone = sorted(crm.records("Deals"))[10:13]
    for deal_id in gone:
        crm.delete("Deals", deal_id)
    params = ParameterMap()
    params.add(GetDeletedRecordsParam.type, "all")
    response = RecordOperations("Deals").get_deleted_records(params, HeaderMap())
    wrapper = response.get_object()
    assert isinstance(wrapper, DeletedRecordsWrapper), _describe(wrapper)
    deleted = wrapper.get_data()
    assert {d.get_id() for d in deleted} == {int(i) for i in gone}
    assert {d.get_type() for d in deleted} == {"recycle"}


def test_the_sdk_sees_zohos_error_shape_for_a_bad_value(sdk: SdkSession) -> None:
    crm = sdk.crm
    good_id, bad_id = sorted(crm.records("Deals"))[:2]
    good, bad = Record(), Record()
    good.set_id(int(good_id))
    good.add_key_value("Engagement_Risk_Score", 10)
    bad.set_id(int(bad_id))
    bad.add_key_value("Engagement_Risk_Drivers", "x" * 2001)  # longer than the field's 2,000
    body = BodyWrapper()
    body.set_data([good, bad])
    body.set_trigger([])
    response = RecordOperations("Deals").update_records(body, HeaderMap())
    assert response.get_status_code() == 207  # mixed results (§4)
    first, second = response.get_object().get_data()
    assert isinstance(first, SuccessResponse)
    assert isinstance(second, APIException)
    assert second.get_code().get_value() == "INVALID_DATA"
    assert second.get_status().get_value() == "error"
    details = second.get_details()
    assert details["api_name"] == "Engagement_Risk_Drivers"
    assert details["json_path"] == "$.data[1].Engagement_Risk_Drivers"
    assert str(details["maximum_length"]) == "2000"  # the SDK hands details over as text
    assert crm.records("Deals")[bad_id]["Engagement_Risk_Drivers"] is None  # nothing applied


def test_the_sdk_sees_zohos_error_shape_for_a_bad_request(sdk: SdkSession) -> None:
    # Get Records without `fields` is refused as a whole (§2 REQUIRED_PARAM_MISSING).
    response = RecordOperations("Deals").get_records(ParameterMap(), HeaderMap())
    assert response.get_status_code() == 400
    error = response.get_object()
    assert isinstance(error, APIException)
    assert error.get_code().get_value() == "REQUIRED_PARAM_MISSING"
    assert error.get_details() == {"param_name": "fields"}


def test_the_sdk_reads_the_module_list_when_it_keeps_its_field_cache_fresh(
    clock: FakeClock, tmp_path: Path
) -> None:
    # auto_refresh_fields: the SDK reads GET /settings/modules, then every module's fields.
    with SandboxCRM(deals=20, clock=clock) as crm:
        try:
            start_sdk(crm, tmp_path, auto_refresh_fields=True)
            wrapper = _get_records("Deals", fields="Deal_Name,Amount", per_page=200)
            assert wrapper is not None and len(wrapper.get_data()) == 20
            assert crm.count("modules") == 1
            assert {d for k, d in crm.calls if k == "fields"} == set(crm._store)
        finally:
            close_sdk_log_handlers()
