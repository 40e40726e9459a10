"""Acceptance (issue 18, "Skips heal"): a deal skipped for a bad value gets the activities
logged on it while it was skipped once it is fixed in the CRM, at the next incremental run,
and the health written to the CRM is computed from them (jobs/pull/activities.py, parked
activities)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import Job, connect, run_job
from jobs.store import schema as t
from tests.conftest import FakeClock


def quiet_won_deals(crm: SandboxCRM) -> list[dict[str, Any]]:
    """Won deals without activities of their own or on their account, so the only touchpoints
    they can have are the ones this test logs."""
    related = {
        (a.get("What_Id") or {}).get("id")
        for module in ("Calls", "Events", "Notes")
        for a in crm.records(module).values()
    } | {(a.get("Parent_Id") or {}).get("id") for a in crm.records("Notes").values()}
    return [
        d
        for d in crm.records("Deals").values()
        if d.get("Stage") == "Closed Won"
        and d["id"] not in crm.odd_deals
        and d.get("Engagement_Start")
        and d["id"] not in related
        and (d.get("Account_Name") or {}).get("id") not in related
    ]


def test_a_deal_fixed_after_a_skip_comes_back_with_its_three_calls_and_their_health(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    deal, control = quiet_won_deals(sandbox)[:2]
    deal_id = deal["id"]
    start = date.fromisoformat(deal["Engagement_Start"])
    # A contract end before the start: a date Zoho's date field holds, which the mapping
    # refuses (mappings/domain.py), so the deal is skipped with its reason.
    sandbox.edit("Deals", deal_id, Contract_End=(start - timedelta(days=30)).isoformat())
    for days_ago in (1, 2, 3):
        # Logged when they happened, days before the run: no later read meets them again.
        at = (clock() - timedelta(days=days_ago)).replace(microsecond=0).isoformat()
        sandbox.add_activity(
            "Calls",
            Subject="Weekly status call",
            Call_Type="Outbound",
            Call_Start_Time=at,
            Created_Time=at,
            Modified_Time=at,
            Call_Duration="30:00",
            What_Id={"name": deal["Deal_Name"], "id": deal_id},
            **{"$se_module": "Deals"},
        )
    conn = connect(sandbox_settings(sandbox, store_url, tmp_path / "engage.toml"), clock=clock)
    first = run_job(conn, Job.RUN)
    assert first.status == "ok"
    assert [s.record_id for s in conn.store.skips() if s.kind == "engagements"].count(deal_id) == 1
    assert sandbox.records("Deals")[deal_id].get("Engagement_SLA_Status") is None  # not written

    clock.advance(minutes=15)
    sandbox.edit("Deals", deal_id, Contract_End=(clock().date() + timedelta(days=180)).isoformat())
    clock.advance(minutes=15)
    healed = run_job(conn, Job.RUN)

    assert healed.status == "ok" and healed.sync is not None and not healed.sync.full
    assert deal_id in {e.crm_id for e in conn.store.engagements()}
    assert deal_id not in {s.record_id for s in conn.store.skips()}
    with conn.store.engine.connect() as db:
        touchpoints = db.execute(
            sa.select(t.touchpoints.c.external_id).where(t.touchpoints.c.engagement_id == deal_id)
        ).all()
    assert len(touchpoints) == 3
    # The CRM holds the health computed from the calls: measured (the weekly status-report
    # clock starts at the first call, 3 days ago, so it is not overdue), where a deal like it
    # without touchpoints is not measured at all.
    assert sandbox.records("Deals")[deal_id]["Engagement_SLA_Status"] == "Compliant"
    assert sandbox.records("Deals")[control["id"]]["Engagement_SLA_Status"] == "Not Measured"
    conn.close()
