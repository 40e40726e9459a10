"""Writes never start a workflow or an approval; objects detected; fields by label."""

from __future__ import annotations

from datetime import UTC, date, datetime

from connector.base import NewField, NewTask, WriteStatus
from connector.retry import RetryPolicy
from connector.sandbox.fxiaoke import FxiaokeSandbox
from tests.conftest import FakeClock
from tests.fxiaoke.conftest import make_client


def test_every_write_sends_both_trigger_flags_false_and_values_as_fxiaoke_takes_them(
    clock: FakeClock,
) -> None:
    with FxiaokeSandbox(clock=clock, deals=120) as fx:
        client = make_client(fx, clock)
        score = fx.field_named("opportunity", "项目风险分")
        level = fx.field_named("opportunity", "项目风险等级")
        updated = fx.field_named("opportunity", "健康度更新时间")
        ids = sorted(fx.records("opportunity"))[:110]
        when = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
        rows = [{"id": rid, score: 61, level: "高", updated: when.isoformat()} for rid in ids]
        outcomes = client.update_records("opportunity", rows)
        assert [o.status for o in outcomes] == [WriteStatus.WRITTEN] * 110
        assert len(fx.writes) == 110  # one record per call
        assert {(w[3], w[4]) for w in fx.writes} == {(False, False)}
        assert fx.workflows_started == 0 and fx.approvals_started == 0
        stored = fx.records("opportunity")[ids[0]]
        # A number as a string, a select by its option value (the label was given), a time as
        # epoch milliseconds.
        assert stored[score] == "61" and stored[level] == "high"
        assert stored[updated] == int(when.timestamp() * 1000)


def test_a_write_that_leaves_the_flags_out_starts_them_in_the_sandbox(clock: FakeClock) -> None:
    """The sandbox's flag record can fail: a write without the flags counts as starting both."""
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(fx, clock)
        token = client.tokens.current()
        rid = min(fx.records("opportunity"))
        answer = fx.answer(
            "/cgi/crm/v2/data/update",
            {},
            {},
            {
                "corpAccessToken": token.value,
                "corpId": token.corp_id,
                "currentOpenUserId": fx.admin["openUserId"],
                "data": {"object_data": {"_id": rid, "dataObjectApiName": fx.opportunity_object}},
            },
        )
        assert answer["errorCode"] == 0
        assert fx.writes[-1][3:] == (True, True)
        assert fx.workflows_started == 1 and fx.approvals_started == 1


def test_the_opportunity_object_is_detected_from_object_list(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=30, opportunity_object="OpportunityObj") as fx:
        client = make_client(fx, clock)
        assert client.object_api_name("opportunity") == "OpportunityObj"
        ids = {r["id"] for p in client.iter_pages("opportunity", ["name"]) for r in p.records}
        assert ids == set(fx.records("OpportunityObj"))


def test_a_hard_delete_and_an_invalidation_both_leave_the_live_ids(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=30) as fx:
        client = make_client(fx, clock)
        gone, voided, *_ = sorted(fx.records("opportunity"))
        since = clock()
        fx.delete("opportunity", gone)
        fx.invalidate("opportunity", voided)
        live = client.live_ids("opportunity")
        assert gone not in live and voided not in live
        assert len(live) == 28
        assert [d.record_id for d in client.iter_deleted("opportunity", deleted_since=since)] == [
            voided
        ]


def test_fields_ensure_finds_a_field_by_label_and_gives_console_steps_for_the_others(
    clock: FakeClock,
) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(fx, clock)
        outcomes = client.create_fields(
            "opportunity",
            [
                NewField("项目风险分", "integer"),
                NewField("续约风险", "picklist", picklist_values=("low", "high")),
            ],
        )
        found, missing = outcomes
        assert found.created and found.api_name == fx.field_named("opportunity", "项目风险分")
        assert not missing.created and missing.crm_code == "CREATE_IN_CONSOLE"
        assert fx.opportunity_object in missing.message and "续约风险" in missing.message
        assert "单选" in missing.message and "low, high" in missing.message


def test_a_follow_up_sent_again_with_the_same_key_is_found_not_added(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(fx, clock)
        rid = min(fx.records("opportunity"))
        task = NewTask(
            "opportunity", rid, "回访 NPS 3 分客户", "贬损者", date(2026, 12, 1), "nps-7"
        )
        (first,) = client.create_tasks([task])
        (again,) = client.create_tasks([task])  # e.g. a retry after a crash
        assert first.status == again.status == WriteStatus.WRITTEN
        assert first.record_id == again.record_id
        assert len(fx.follow_ups()) == 1
        assert fx.writes[-1][1:2] == ("ActiveRecordObj",) and fx.writes[-1][3:] == (False, False)


def test_a_per_endpoint_refusal_from_another_integration_is_waited_out(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(
            fx, clock, policy=RetryPolicy(sleep=lambda seconds: clock.advance(seconds=20))
        )
        client.describe("AccountObj")
        token = client.tokens.current()
        body = {
            "corpAccessToken": token.value,
            "corpId": token.corp_id,
            "currentOpenUserId": fx.admin["openUserId"],
            "data": {"apiName": "AccountObj"},
        }
        # Another tool of the tenant used this endpoint's 100 calls of the window.
        for _ in range(99):
            assert fx.answer("/cgi/crm/v2/object/describe", {}, {}, body)["errorCode"] == 0
        assert fx.answer("/cgi/crm/v2/object/describe", {}, {}, body)["errorCode"] == 30004
        fields = client.get_fields("AccountObj")
        assert "name" in {f.api_name for f in fields}
