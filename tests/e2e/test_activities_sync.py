"""Calls, meetings and notes logged in the CRM reach the health of the engagements they concern,
over real HTTP against the sandbox, with the default mapping."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import Job, connect, run_job
from mappings.domain import TouchpointKind
from tests.conftest import FakeClock


def test_activities_become_touchpoints_and_a_slipped_status_meeting_shows(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    first = run_job(conn, Job.RUN)
    assert first.status == "ok"
    deals = sandbox.records("Deals")
    touchpoints = conn.store.touchpoints()
    # Every call on a synced deal is a touchpoint of that engagement, at its start time.
    synced = {e.crm_id for e in conn.store.engagements()}
    on_deals = [
        c
        for c in sandbox.records("Calls").values()
        if c["$se_module"] == "Deals" and c["What_Id"]["id"] in synced
    ]
    assert on_deals
    for call in on_deals:
        held = {t.external_id: t for t in touchpoints[call["What_Id"]["id"]]}
        touchpoint = held[f"Calls:{call['id']}"]
        assert touchpoint.kind is TouchpointKind.CALL
        assert touchpoint.at.isoformat() == call["Call_Start_Time"]
    # A call on an account reaches every active engagement of that account, not its pipeline.
    on_account = next(
        c
        for c in sandbox.records("Calls").values()
        if c["$se_module"] == "Accounts"
        and any(
            e.account_id == c["What_Id"]["id"] and e.status.value == "active"
            for e in conn.store.engagements()
        )
        and any(
            e.account_id == c["What_Id"]["id"] and e.status.value == "pipeline"
            for e in conn.store.engagements()
        )
    )
    engagements_of_account = {
        e.crm_id
        for e in conn.store.engagements()
        if e.account_id == on_account["What_Id"]["id"] and e.status.value == "active"
    }
    assert {
        eid
        for eid, items in touchpoints.items()
        for t in items
        if t.external_id.startswith(f"Calls:{on_account['id']}@")
    } == engagements_of_account

    # A weekly status meeting marks the status report; let one deal's meetings stop 20 days ago.
    deal_id, meetings = _deal_with_only_recent_status_meetings(sandbox, synced, clock())
    assert "status report" not in (deals[deal_id]["Engagement_Risk_Drivers"] or "")
    for meeting_id in meetings:
        sandbox.delete("Events", meeting_id)
    clock.advance(minutes=5)
    last = clock() - timedelta(days=20)
    sandbox.add_activity(
        "Events",
        Event_Title="Weekly status meeting",
        Start_DateTime=last.isoformat(),
        End_DateTime=(last + timedelta(hours=1)).isoformat(),
        What_Id={"id": deal_id, "name": deals[deal_id]["Deal_Name"]},
        **{"$se_module": "Deals"},
    )
    # An hour after the first run: deletions are looked for hourly ([crm.zoho]).
    clock.advance(minutes=55)
    second = run_job(conn, Job.RUN)
    assert second.status == "ok"
    assert second.sync is not None
    assert second.sync.kinds["activities.meetings"].deleted == len(meetings)
    drivers = deals[deal_id]["Engagement_Risk_Drivers"]
    # 20 days since the last status meeting, one due every 7: 13 days overdue.
    assert "Weekly status report 13 days overdue (goal: every 7 days)" in drivers
    assert "周报已逾期 13 天（约定每 7 天一次）" in drivers
    conn.close()


def _deal_with_only_recent_status_meetings(
    sandbox: SandboxCRM, synced: set[str], now: datetime
) -> tuple[str, list[str]]:
    """A synced, scored deal whose only meetings are weekly status meetings, the last one held
    less than a week ago."""
    by_deal: dict[str, list[dict[str, str]]] = {}
    for event in sandbox.records("Events").values():
        if event["$se_module"] == "Deals":
            by_deal.setdefault(event["What_Id"]["id"], []).append(event)
    for deal_id, events in sorted(by_deal.items()):
        deal = sandbox.records("Deals")[deal_id]
        if (
            deal_id in synced
            and deal["Stage"] == "Closed Won"
            and deal["Engagement_Risk_Drivers"] is not None
            and all(e["Event_Title"] == "Weekly status meeting" for e in events)
            and max(datetime.fromisoformat(e["Start_DateTime"]) for e in events)
            > now - timedelta(days=6)
        ):
            return deal_id, [e["id"] for e in events]
    raise AssertionError("the seeded sandbox has no deal with only weekly status meetings")
