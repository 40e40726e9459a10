"""The sandbox's COQL endpoint over real HTTP (research/zoho.md §3): the documented subset,
its limits and its credits, and Modified_By as Zoho sets it (the API user on API writes, a
person on edits in the UI)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from connector.sandbox import SandboxCRM
from tests.sandbox.zoho.test_server import auth, get_token

NOW = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)


@pytest.fixture
def crm() -> Iterator[SandboxCRM]:
    with SandboxCRM(deals=450, clock=lambda: NOW) as server:
        yield server


def coql(crm: SandboxCRM, token: str, query: str) -> requests.Response:
    return requests.post(
        f"{crm.url}/crm/v8/coql", json={"select_query": query}, headers=auth(token), timeout=5
    )


def test_a_keyset_query_pages_every_deal_once_in_modified_time_order(crm: SandboxCRM) -> None:
    token = get_token(crm)
    seen: list[dict[str, Any]] = []
    where = "Modified_Time >= '2000-01-01T00:00:00+00:00'"
    while True:
        response = coql(
            crm,
            token,
            f"select id, Modified_Time from Deals where {where} "
            "order by Modified_Time asc, id asc limit 200",
        )
        assert response.status_code == 200
        body = response.json()
        seen += body["data"]
        assert body["info"]["count"] == len(body["data"])
        if not body["info"]["more_records"]:
            break
        last = body["data"][-1]
        stamp, last_id = last["Modified_Time"], last["id"]
        where = f"(Modified_Time > '{stamp}' or (Modified_Time = '{stamp}' and id > '{last_id}'))"
    assert len(seen) == 450 == len({row["id"] for row in seen})
    keys = [(row["Modified_Time"], int(row["id"])) for row in seen]
    assert keys == sorted(keys)
    assert crm.count("coql", "Deals") == 3
    assert crm.credits_used == 3  # LIMIT 200: 1 credit a call


def test_modified_by_tells_the_api_user_s_writes_from_a_person_s_edits(crm: SandboxCRM) -> None:
    token = get_token(crm)
    written, edited = sorted(crm.records("Deals"))[:2]
    response = requests.put(
        f"{crm.url}/crm/v8/Deals",
        json={"data": [{"id": written, "Engagement_Risk_Score": 40}], "trigger": []},
        headers=auth(token),
        timeout=5,
    )
    details = response.json()["data"][0]["details"]
    assert details["Modified_By"] == {"name": crm.api_user["name"], "id": crm.api_user["id"]}
    crm.edit("Deals", edited, Description="called the client")
    person = crm.records("Deals")[edited]["Modified_By"]
    assert person["id"] != crm.api_user["id"] and set(person) == {"name", "id", "email"}

    mine = coql(
        crm, token, f"select id from Deals where Modified_By in ('{crm.api_user['id']}')"
    ).json()["data"]
    others = coql(
        crm,
        token,
        f"select id, Modified_By from Deals where (Modified_Time >= '{NOW.isoformat()}' "
        f"and Modified_By not in ('{crm.api_user['id']}'))",
    ).json()["data"]

    assert [row["id"] for row in mine] == [written]
    # A selected lookup comes back as its id only (§3).
    assert others == [{"id": edited, "Modified_By": {"id": person["id"]}}]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("select id from Deals where Stage = 'a' and Amount > 1 and Amount < 9", "SYNTAX_ERROR"),
        ("select id from Deals where Nope = 1", "INVALID_QUERY"),
        ("select id from Nowhere", "INVALID_QUERY"),
        ("select id from Deals limit 2001", "INVALID_QUERY"),
        ("select id from Deals limit 99000, 2000", "LIMIT_EXCEEDED"),
        (
            "select id from Deals where id in (" + ",".join(map(str, range(101))) + ")",
            "LIMIT_EXCEEDED",
        ),
        ("delete from Deals", "SYNTAX_ERROR"),
    ],
)
def test_what_coql_refuses(crm: SandboxCRM, query: str, code: str) -> None:
    response = coql(crm, get_token(crm), query)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_grouped_criteria_limit_offset_and_credits_by_limit(crm: SandboxCRM) -> None:
    token = get_token(crm)
    grouped = coql(
        crm,
        token,
        "select id, Stage from Deals where ((Stage = 'Closed Won' and Owner is not null) and id > '0') "
        "limit 5 offset 2",
    )
    rows = grouped.json()["data"]
    assert len(rows) == 5 and {row["Stage"] for row in rows} == {"Closed Won"}
    expected = sorted(
        (
            rid
            for rid, d in crm.records("Deals").items()
            if d["Stage"] == "Closed Won" and d.get("Owner")
        ),
        key=int,
    )[2:7]
    assert [row["id"] for row in rows] == expected  # by id ascending without ORDER BY
    before = crm.credits_used
    coql(crm, token, "select id from Deals limit 1000")
    coql(crm, token, "select id from Deals limit 2000")
    assert crm.credits_used - before == 2 + 3
    assert coql(crm, token, "select id from Deals where Stage = 'No such stage'").status_code == 204
