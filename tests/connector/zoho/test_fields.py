"""Zoho custom-field creation (zoho.md §5) and credit estimates (§6) against scripted HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from pydantic import SecretStr

from connector.base import FieldCreateOutcome, NewField
from connector.errors import ConfigurationError, UnavailableError
from connector.http import HttpTransport
from connector.retry import RetryPolicy
from connector.zoho import ZohoClient, ZohoCredentials, ZohoTokenManager
from connector.zoho.costs import zoho_credits

if TYPE_CHECKING:
    from responses import Call

    from tests.conftest import FakeClock

ACCOUNTS = "https://accounts.zoho.com.cn"
API = "https://www.zohoapis.com.cn"
TOKEN_URL = f"{ACCOUNTS}/oauth/v2/token"
FIELDS_URL = f"{API}/crm/v8/settings/fields"


@pytest.fixture
def client(clock: FakeClock) -> ZohoClient:
    transport = HttpTransport(policy=RetryPolicy(sleep=lambda _: None, random=lambda: 1.0))
    credentials = ZohoCredentials(ACCOUNTS, "cid", SecretStr("secret"), SecretStr("refresh"))
    return ZohoClient(ZohoTokenManager(credentials, transport, clock=clock), transport)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            TOKEN_URL,
            json={"access_token": "tok", "api_domain": API, "expires_in": 3600},
        )
        yield mock


def created(field_id: str) -> dict[str, Any]:
    return {
        "code": "SUCCESS",
        "details": {"id": field_id},
        "message": "field created",
        "status": "success",
    }


def error(code: str, api_name: str, message: str) -> dict[str, Any]:
    return {"code": code, "details": {"api_name": api_name}, "message": message, "status": "error"}


def add_field_get(mock: responses.RequestsMock, field_id: str, api_name: str) -> None:
    mock.add(
        responses.GET,
        f"{FIELDS_URL}/{field_id}",
        json={"fields": [{"id": field_id, "api_name": api_name, "data_type": "integer"}]},
    )


def api_calls(mock: responses.RequestsMock) -> list[Call]:
    return [c for c in mock.calls if c.request.url.startswith(API)]


def query(call: Call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query))


# --- create_fields -----------------------------------------------------------------------------
def test_two_fields_take_one_post_and_one_get_each_for_the_api_names(
    rsps: responses.RequestsMock, client: ZohoClient
) -> None:
    rsps.add(
        responses.POST,
        FIELDS_URL,
        json={"fields": [created("111"), created("222")]},
        status=201,
    )
    add_field_get(rsps, "111", "Engagement_Risk_Score")
    add_field_get(rsps, "222", "Risk_Level_1")  # Zoho may not follow the label exactly

    outcomes = client.create_fields(
        "Deals",
        [
            NewField("Engagement Risk Score", "integer"),
            NewField("Risk Level", "picklist", picklist_values=("Low", "High")),
        ],
    )

    assert outcomes == [
        FieldCreateOutcome(
            "Engagement Risk Score",
            True,
            "111",
            "Engagement_Risk_Score",
            "SUCCESS",
            "field created",
        ),
        FieldCreateOutcome("Risk Level", True, "222", "Risk_Level_1", "SUCCESS", "field created"),
    ]
    post, get_1, get_2 = api_calls(rsps)
    assert (post.request.method, query(post)) == ("POST", {"module": "Deals"})
    assert json.loads(post.request.body) == {
        "fields": [
            {"field_label": "Engagement Risk Score", "data_type": "integer"},
            {
                "field_label": "Risk Level",
                "data_type": "picklist",
                "pick_list_values": [
                    {"display_value": "Low", "actual_value": "Low"},
                    {"display_value": "High", "actual_value": "High"},
                ],
            },
        ]
    }
    assert [(c.request.method, c.request.url.split("?")[0], query(c)) for c in (get_1, get_2)] == [
        ("GET", f"{FIELDS_URL}/111", {"module": "Deals"}),
        ("GET", f"{FIELDS_URL}/222", {"module": "Deals"}),
    ]


def test_207_keeps_duplicate_data_with_the_existing_api_name(
    rsps: responses.RequestsMock, client: ZohoClient
) -> None:
    rsps.add(
        responses.POST,
        FIELDS_URL,
        json={
            "fields": [
                error("DUPLICATE_DATA", "Engagement_NPS", "duplicate data"),
                created("333"),
                error("INVALID_DATA", "data_type", "invalid data"),
            ]
        },
        status=207,
    )
    add_field_get(rsps, "333", "Engagement_CSAT")

    nps, csat, bad = client.create_fields(
        "Deals",
        [
            NewField("Engagement NPS", "integer"),
            NewField("Engagement CSAT", "double", decimal_place=1),
            NewField("Odd", "formula"),
        ],
    )

    assert nps == FieldCreateOutcome(
        "Engagement NPS", False, None, "Engagement_NPS", "DUPLICATE_DATA", "duplicate data"
    )
    assert (csat.created, csat.api_name) == (True, "Engagement_CSAT")
    assert bad == FieldCreateOutcome(
        "Odd", False, None, None, "INVALID_DATA", "invalid data (data_type)"
    )
    assert json.loads(api_calls(rsps)[0].request.body)["fields"][1] == {
        "field_label": "Engagement CSAT",
        "data_type": "double",
        "decimal_place": 1,
    }
    assert len(api_calls(rsps)) == 2  # no GET for refused fields


def test_400_with_per_field_errors_is_outcomes_not_an_exception(
    rsps: responses.RequestsMock, client: ZohoClient
) -> None:
    rsps.add(
        responses.POST,
        FIELDS_URL,
        json={"fields": [error("DUPLICATE_DATA", "Deal_Name", "duplicate data")]},
        status=400,
    )

    (outcome,) = client.create_fields("Deals", [NewField("Deal Name", "text", length=120)])

    assert (outcome.created, outcome.api_name, outcome.crm_code) == (
        False,
        "Deal_Name",
        "DUPLICATE_DATA",
    )
    assert json.loads(api_calls(rsps)[0].request.body)["fields"][0]["length"] == 120


def test_fields_are_sent_in_calls_of_5_and_outcomes_keep_input_order(
    rsps: responses.RequestsMock, client: ZohoClient
) -> None:
    rsps.add(responses.POST, FIELDS_URL, json={"fields": [created(str(i)) for i in range(5)]})
    rsps.add(responses.POST, FIELDS_URL, json={"fields": [created("5"), created("6")]})
    for i in range(7):
        add_field_get(rsps, str(i), f"F_{i}")

    outcomes = client.create_fields("Deals", [NewField(f"F {i}", "text") for i in range(7)])

    assert [o.api_name for o in outcomes] == [f"F_{i}" for i in range(7)]
    posts = [c for c in api_calls(rsps) if c.request.method == "POST"]
    assert [len(json.loads(c.request.body)["fields"]) for c in posts] == [5, 2]


def test_create_is_not_retried_after_a_server_error(
    rsps: responses.RequestsMock, client: ZohoClient
) -> None:
    rsps.add(responses.POST, FIELDS_URL, status=503)

    with pytest.raises(UnavailableError):
        client.create_fields("Deals", [NewField("Engagement NPS", "integer")])

    assert len(api_calls(rsps)) == 1  # a resend could create the field twice


def test_top_level_error_refuses_the_whole_call(
    rsps: responses.RequestsMock, client: ZohoClient
) -> None:
    body = {
        "code": "INVALID_MODULE",
        "details": {"resource_path_index": 0},
        "message": "the module name given seems to be invalid",
        "status": "error",
    }
    rsps.add(responses.POST, FIELDS_URL, json=body, status=400)

    with pytest.raises(ConfigurationError) as excinfo:
        client.create_fields("Nope", [NewField("X", "text")])

    assert excinfo.value.crm_code == "INVALID_MODULE"


def test_missing_results_and_api_names_are_reported_not_dropped(
    rsps: responses.RequestsMock, client: ZohoClient
) -> None:
    rsps.add(responses.POST, FIELDS_URL, json={"fields": [created("9")]}, status=201)
    rsps.add(responses.GET, f"{FIELDS_URL}/9", status=204)

    first, second = client.create_fields("Deals", [NewField("A", "text"), NewField("B", "text")])

    assert (first.created, first.field_id, first.api_name) == (True, "9", None)
    assert "no api_name" in first.message
    assert (second.created, second.message) == (False, "Zoho returned no result for this field")


def test_no_fields_means_no_call(client: ZohoClient) -> None:
    with responses.RequestsMock() as mock:  # nothing registered: any request would fail
        assert client.create_fields("Deals", []) == []
        assert len(mock.calls) == 0


# --- credits -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("records", "expected"),
    [(0, (0, 0)), (1, (1, 1)), (10, (1, 1)), (11, (1, 2)), (100, (1, 10)), (250, (3, 25))],
)
def test_write_cost(client: ZohoClient, records: int, expected: tuple[int, int]) -> None:
    assert client.write_cost(records) == expected


def test_zoho_credits_table() -> None:
    assert zoho_credits("read_page") == 1
    assert zoho_credits("deleted_page") == 2
    assert zoho_credits("fields") == 1
    assert [zoho_credits("update", n) for n in (0, 1, 10, 11, 50, 100)] == [1, 1, 1, 2, 5, 10]
    with pytest.raises(ValueError):
        zoho_credits("update", 101)  # one call takes at most 100 records (§4)
    with pytest.raises(ValueError):
        zoho_credits("update", -1)
