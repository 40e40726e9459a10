"""Deep paging: every opportunity read by `_id GT`, never an offset past 10,000 (A5)."""

from __future__ import annotations

import math

import pytest

from connector.errors import ConfigurationError
from connector.sandbox.fxiaoke import FxiaokeSandbox
from tests.conftest import FakeClock
from tests.fxiaoke.conftest import make_client

N = 25_000


def test_25000_opportunities_are_read_in_ceil_n_over_100_pages_without_an_offset(
    clock: FakeClock,
) -> None:
    with FxiaokeSandbox(clock=clock, deals=N, accounts=500) as fx:
        client = make_client(fx, clock, open_user_id=fx.admin["openUserId"], admin_mobile=None)
        started = clock()
        pages = list(client.iter_pages("opportunity", ["name", "amount"]))
        ids = [r["id"] for p in pages for r in p.records]
        assert len(ids) == N and len(set(ids)) == N
        assert set(ids) == set(fx.records("opportunity"))
        paths = [path for path, _style, _body in fx.calls]
        queries = [p for p in paths if p.endswith("/data/query")]
        assert len(queries) == math.ceil(N / 100)
        # Metadata: which opportunity object (object/list) and its fields (describe); and the
        # token. Nothing else.
        assert sorted(set(paths) - {"/cgi/crm/v2/data/query"}) == [
            "/cgi/corpAccessToken/get/V2",
            "/cgi/crm/v2/object/describe",
            "/cgi/crm/v2/object/list",
        ]
        assert len(paths) == len(queries) + 3
        assert set(fx.query_offsets()) == {0}
        # 250 queries at 100 per 20 s per endpoint: the client waited (on the injected clock)
        # for two windows instead of being refused with 30004.
        assert (clock() - started).total_seconds() >= 40


def test_the_sandbox_refuses_an_offset_past_10000_as_fxiaoke_does(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=20) as fx:
        answer = fx.answer(
            "/cgi/crm/v2/data/query",
            {},
            {},
            {
                "corpAccessToken": "corp-none",
                "corpId": fx.corp_id,
                "currentOpenUserId": fx.admin["openUserId"],
                "data": {"dataObjectApiName": "AccountObj", "search_query_info": {}},
            },
        )
        assert answer["errorCode"] == 20016  # no token: refused before anything else
        client = make_client(fx, clock)
        token = client.tokens.current()
        body = {
            "corpAccessToken": token.value,
            "corpId": token.corp_id,
            "currentOpenUserId": fx.admin["openUserId"],
            "data": {
                "dataObjectApiName": "AccountObj",
                "search_query_info": {"limit": 100, "offset": 10_100, "filters": [], "orders": []},
            },
        }
        answer = fx.answer("/cgi/crm/v2/data/query", {}, {}, body)
        assert (answer["errorCode"], answer["errorMessage"]) == (10013, "offset out of range 10000")


def test_incremental_reads_walk_one_instant_with_more_than_a_page_of_records(
    clock: FakeClock,
) -> None:
    with FxiaokeSandbox(clock=clock, deals=450) as fx:
        client = make_client(fx, clock)
        clock.advance(hours=1)
        since = clock()
        clock.advance(minutes=1)
        edited = sorted(fx.records("opportunity"))[:230]
        for rid in edited:  # one import touches 230 records in the same millisecond
            fx.edit("opportunity", rid, name="批量导入")
        clock.advance(minutes=1)
        fx.edit("opportunity", sorted(fx.records("opportunity"))[300], name="之后改的")
        pages = list(client.iter_pages("opportunity", ["name"], modified_since=since))
        ids = [r["id"] for p in pages for r in p.records]
        assert len(ids) == len(set(ids)) == 231
        assert pages[-1].newest_modified == clock()


def test_a_field_missing_from_describe_is_one_line_naming_it(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=20) as fx:
        client = make_client(fx, clock)
        with pytest.raises(ConfigurationError) as caught:
            list(client.iter_pages("opportunity", ["name", "field_nope1__c"]))
        message = str(caught.value)
        assert "\n" not in message
        assert "field_nope1__c" in message and "engage mappings check" in message
        assert not any(p.endswith("/data/query") for p, _s, _b in fx.calls)
