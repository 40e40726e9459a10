"""Odoo's error shapes on each transport, scripted with `responses` (no server)."""

from __future__ import annotations

import json
import xmlrpc.client

import pytest
import responses
from pydantic import SecretStr

from connector.base import WriteStatus
from connector.errors import AuthenticationError, ConfigurationError, RetryLaterError
from connector.http import HttpTransport
from connector.odoo import OdooClient, OdooSite
from connector.retry import RetryPolicy

URL = "https://odoo.example.com"
KEY = "secret-api-key-abcdef"
SITE = OdooSite(URL, "prod", "bot@example.com", SecretStr(KEY))
VERSION_19 = {"version_info": [19, 0, 0, "final", 0, ""], "version": "19.0"}


def client(api: str = "auto") -> OdooClient:
    transport = HttpTransport(policy=RetryPolicy(sleep=lambda _: None))
    return OdooClient(SITE, transport, api=api)  # type: ignore[arg-type]


def rpc_result(result: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "result": result}


def rpc_error(name: str, message: str, code: int) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {
            "code": code,
            "message": "Odoo Server Error",
            "data": {"name": name, "message": message},
        },
    }


@responses.activate
def test_json2_sends_the_key_as_bearer_and_names_the_database() -> None:
    responses.get(f"{URL}/web/version", json=VERSION_19)
    call = responses.post(f"{URL}/json/2/crm.lead/fields_get", json={"name": {"type": "char"}})
    fields = client().get_fields("crm.lead")
    assert [f.api_name for f in fields] == ["name"]
    request = call.calls[0].request
    assert request.headers["Authorization"] == f"bearer {KEY}"
    assert request.headers["X-Odoo-Database"] == "prod"
    assert json.loads(request.body or b"{}") == {
        "attributes": [
            "type",
            "string",
            "readonly",
            "selection",
            "size",
            "manual",
            "required",
            "relation",
        ]
    }


@responses.activate
def test_json2_401_is_a_refused_key_and_is_not_retried() -> None:
    responses.get(f"{URL}/web/version", json=VERSION_19)
    refused = responses.post(
        f"{URL}/json/2/crm.lead/fields_get",
        status=401,
        json={"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey"},
    )
    odoo = client()
    for _ in range(2):
        with pytest.raises(AuthenticationError) as caught:
            odoo.get_fields("crm.lead")
    assert refused.call_count == 1
    assert KEY not in str(caught.value) and "ENGAGE_ODOO_API_KEY" in str(caught.value)


@responses.activate
def test_json2_html_404_for_the_model_means_the_app_is_missing() -> None:
    responses.post(
        f"{URL}/json/2/crm.lead/fields_get", status=404, body="<html>404: Page not found</html>"
    )
    with pytest.raises(ConfigurationError, match="install the CRM app") as caught:
        client("json2").get_fields("crm.lead")
    assert caught.value.crm_code == "INVALID_MODULE"


@responses.activate
def test_json2_409_lock_means_retry_later() -> None:
    responses.post(
        f"{URL}/json/2/crm.lead/fields_get",
        status=409,
        json={"name": "odoo.exceptions.LockError", "message": "could not obtain lock"},
    )
    with pytest.raises(RetryLaterError):
        client("json2").get_fields("crm.lead")


@responses.activate
def test_json2_422_on_one_record_refuses_that_row_only() -> None:
    responses.post(f"{URL}/json/2/crm.lead/fields_get", json={"x_score": {"type": "integer"}})
    responses.post(
        f"{URL}/json/2/crm.lead/write",
        status=422,
        json={"name": "odoo.exceptions.ValidationError", "message": "x_score too high"},
    )
    [outcome] = client("json2").update_records("crm.lead", [{"id": "7", "x_score": 500}])
    assert outcome.status is WriteStatus.INVALID
    assert (outcome.crm_code, outcome.field) == ("ValidationError", "x_score")


@pytest.mark.parametrize("code", [200, 0], ids=["code-200", "code-0"])
@responses.activate
def test_jsonrpc_errors_inside_http_200_are_told_apart_by_data_name(code: int) -> None:
    responses.get(f"{URL}/web/version", status=404)
    responses.post(
        f"{URL}/jsonrpc",
        match=[
            responses.matchers.json_params_matcher(
                {"params": {"service": "common", "method": "version", "args": []}},
                strict_match=False,
            )
        ],
        json=rpc_result({"server_version": "17.0", "server_version_info": [17, 0]}),
    )
    responses.post(
        f"{URL}/jsonrpc",
        match=[
            responses.matchers.json_params_matcher(
                {
                    "params": {
                        "service": "common",
                        "method": "authenticate",
                        "args": ["prod", "bot@example.com", KEY, {}],
                    }
                },
                strict_match=False,
            )
        ],
        json=rpc_result(2),
    )
    responses.post(
        f"{URL}/jsonrpc",
        json=rpc_error(
            "odoo.exceptions.AccessError",
            'You do not have enough rights to access the field "x_score" on Lead (crm.lead).',
            code,
        ),
    )
    with pytest.raises(ConfigurationError) as caught:
        client().get_fields("crm.lead")
    assert caught.value.field == "x_score"
    assert caught.value.crm_code == "AccessError"


@responses.activate
def test_jsonrpc_authenticate_false_is_a_refused_login() -> None:
    responses.post(f"{URL}/jsonrpc", json=rpc_result(False))
    with pytest.raises(AuthenticationError, match="refused login 'bot@example.com'"):
        client("jsonrpc").get_fields("crm.lead")
    assert len(responses.calls) == 1


@responses.activate
def test_jsonrpc_unknown_database_says_which_setting() -> None:
    responses.post(
        f"{URL}/jsonrpc",
        json=rpc_error("psycopg2.OperationalError", 'FATAL:  database "prod" does not exist', 200),
    )
    with pytest.raises(ConfigurationError, match="has no database 'prod': set crm.odoo.database"):
        client("jsonrpc").get_fields("crm.lead")


@responses.activate
def test_a_404_from_the_legacy_endpoint_means_use_json2() -> None:
    responses.get(f"{URL}/web/version", status=404)
    responses.post(f"{URL}/jsonrpc", status=404)
    json2 = responses.post(f"{URL}/json/2/crm.lead/fields_get", json={"name": {"type": "char"}})
    odoo = client()
    assert odoo.api_kind == "json2"
    odoo.get_fields("crm.lead")
    assert json2.call_count == 1


@responses.activate
def test_legacy_switched_off_after_detection_moves_to_json2_and_resends() -> None:
    # common.version still answers while the object service is hidden (research §0).
    responses.get(f"{URL}/web/version", status=404)
    responses.post(
        f"{URL}/jsonrpc",
        match=[
            responses.matchers.json_params_matcher(
                {"params": {"service": "common", "method": "version", "args": []}},
                strict_match=False,
            )
        ],
        json=rpc_result({"server_version": "19.0"}),
    )
    responses.post(f"{URL}/jsonrpc", status=404)
    json2 = responses.post(f"{URL}/json/2/crm.lead/fields_get", json={"name": {"type": "char"}})
    assert [f.api_name for f in client().get_fields("crm.lead")] == ["name"]
    assert json2.call_count == 1


@responses.activate
def test_forcing_jsonrpc_where_it_is_switched_off_is_a_configuration_error() -> None:
    responses.post(f"{URL}/jsonrpc", status=404)
    with pytest.raises(ConfigurationError, match='set crm.odoo.api = "json2"'):
        client("jsonrpc").get_fields("crm.lead")


def xml_result(value: object) -> str:
    return xmlrpc.client.dumps((value,), methodresponse=True)


def xml_fault(code: int | str, text: str) -> str:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, text))


@pytest.mark.parametrize(
    ("code", "text", "expected", "says"),
    [
        pytest.param(3, "Access Denied", AuthenticationError, "refused login", id="3-denied"),
        pytest.param(
            4,
            'You do not have enough rights to access the field "x_score" on Lead (crm.lead).',
            ConfigurationError,
            "may not fields_get field 'x_score'",
            id="4-access",
        ),
        pytest.param(
            1,
            "Traceback (most recent call last):\n  ...\nKeyError: 'crm.lead'",
            ConfigurationError,
            "install the CRM app",
            id="1-traceback",
        ),
        pytest.param(
            "warning -- AccessError\n\nYou may not read Leads",
            "",
            ConfigurationError,
            "(AccessError)",
            id="legacy-string-code",
        ),
    ],
)
@responses.activate
def test_xmlrpc_faults_are_classified_by_code_or_traceback(
    code: int | str, text: str, expected: type[Exception], says: str
) -> None:
    responses.post(f"{URL}/xmlrpc/2/common", body=xml_result(2), content_type="text/xml")
    responses.post(f"{URL}/xmlrpc/2/object", body=xml_fault(code, text), content_type="text/xml")
    with pytest.raises(expected) as caught:
        client("xmlrpc").get_fields("crm.lead")
    assert says in str(caught.value)


@responses.activate
def test_xmlrpc_user_error_on_write_refuses_that_row() -> None:
    responses.post(f"{URL}/xmlrpc/2/common", body=xml_result(2), content_type="text/xml")
    responses.post(
        f"{URL}/xmlrpc/2/object",
        body=xml_result({"x_score": {"type": "integer"}}),
        content_type="text/xml",
    )
    responses.post(
        f"{URL}/xmlrpc/2/object", body=xml_fault(2, "x_score is too high"), content_type="text/xml"
    )
    [outcome] = client("xmlrpc").update_records("crm.lead", [{"id": "3", "x_score": 900}])
    assert outcome.status is WriteStatus.INVALID
    assert outcome.message.endswith("x_score is too high")
