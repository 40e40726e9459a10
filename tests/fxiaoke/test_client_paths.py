"""Client unit tests (HTTP faked with `responses`): custom objects go through their own paths,
and a value the server refuses is one invalid row naming the field."""

from __future__ import annotations

import json

import responses
from pydantic import SecretStr

from connector.base import WriteStatus
from connector.fxiaoke import FxiaokeClient, FxiaokeCredentials, FxiaokeTokenManager
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from connector.sandbox.fxiaoke import FxiaokeSandbox
from tests.conftest import FakeClock
from tests.fxiaoke.conftest import make_client

BASE = "https://open.fxiaoke.example"


def _client(clock: FakeClock) -> FxiaokeClient:
    transport = HttpTransport(policy=RetryPolicy(sleep=lambda _: None))
    credentials = FxiaokeCredentials(
        BASE, "FSAID_x", SecretStr("secret-xyz"), SecretStr("code-xyz")
    )
    return FxiaokeClient(
        FxiaokeTokenManager(credentials, transport, clock=clock),
        transport,
        open_user_id="FSUID_ADMIN",
        clock=clock,
        sleep=lambda s: clock.advance(seconds=s),
    )


@responses.activate
def test_a_custom_object_is_described_queried_and_updated_on_the_custom_paths(
    clock: FakeClock,
) -> None:
    responses.post(
        f"{BASE}/cgi/corpAccessToken/get/V2",
        json={
            "errorCode": 0,
            "corpAccessToken": "tok-1234567",
            "corpId": "FSCID",
            "expiresIn": 7200,
        },
    )
    fields = {
        "_id": {"type": "text", "label": "ID"},
        "name": {"type": "text", "label": "名称"},
        "last_modified_time": {"type": "date_time", "label": "最后修改时间"},
        "score__c": {"type": "number", "label": "分", "decimal_places": 0},
    }
    responses.post(
        f"{BASE}/cgi/crm/custom/v2/object/describe",
        json={"errorCode": 0, "data": {"describe": {"fields": fields}}},
    )
    responses.post(
        f"{BASE}/cgi/crm/custom/v2/data/query",
        json={
            "errorCode": 0,
            "data": {
                "dataList": [{"_id": "a1", "name": "x", "last_modified_time": 1_700_000_000_000}],
                "total": 1,
            },
        },
    )
    responses.post(f"{BASE}/cgi/crm/custom/v2/data/update", json={"errorCode": 0})
    client = _client(clock)
    pages = list(client.iter_pages("Engagement__c", ["name"]))
    assert [r["id"] for p in pages for r in p.records] == ["a1"]
    (outcome,) = client.update_records("Engagement__c", [{"id": "a1", "score__c": 5}])
    assert outcome.status == WriteStatus.WRITTEN
    paths = [c.request.url.removeprefix(BASE) for c in responses.calls]
    assert paths == [
        "/cgi/corpAccessToken/get/V2",
        "/cgi/crm/custom/v2/object/describe",
        "/cgi/crm/custom/v2/data/query",
        "/cgi/crm/custom/v2/data/update",
    ]
    sent = json.loads(responses.calls[-1].request.body)
    assert sent["triggerWorkFlow"] is False and sent["triggerApprovalFlow"] is False
    assert sent["currentOpenUserId"] == "FSUID_ADMIN" and sent["corpId"] == "FSCID"
    assert sent["data"]["object_data"] == {
        "_id": "a1",
        "dataObjectApiName": "Engagement__c",
        "score__c": "5",
    }


def test_a_value_the_server_refuses_is_an_invalid_row_naming_the_field(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(fx, clock)
        level = fx.field_named("opportunity", "项目风险等级")
        client.describe("opportunity")  # the client's describe, before an admin edits options
        fx.remove_option("opportunity", level, "critical")
        first, second = sorted(fx.records("opportunity"))[:2]
        outcomes = client.update_records(
            "opportunity", [{"id": first, level: "critical"}, {"id": second, level: "low"}]
        )
        assert [o.status for o in outcomes] == [WriteStatus.INVALID, WriteStatus.WRITTEN]
        assert outcomes[0].field == level and outcomes[0].crm_code
        assert fx.records("opportunity")[second][level] == "low"
