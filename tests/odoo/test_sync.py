"""The sync against Odoo: lost opportunities become closed-lost, hard deletes are noticed by the
periodic id scan; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.sandbox.odoo.server import OdooSandbox
from jobs.demo.odoo import odoo_sandbox_settings
from jobs.runner import Connection, Job, connect, run_job
from mappings.domain import EngagementStatus
from tests.conftest import FakeClock


@pytest.fixture
def odoo(clock: FakeClock) -> Iterator[OdooSandbox]:
    with OdooSandbox(clock=clock, version=19, accounts=20, deals=60) as sandbox:
        yield sandbox


@pytest.fixture
def conn(
    odoo: OdooSandbox, store_url: str, tmp_path: Path, clock: FakeClock
) -> Iterator[Connection]:
    settings = odoo_sandbox_settings(odoo, store_url, tmp_path / "engage.toml")
    connection = connect(settings, clock=clock)
    yield connection
    connection.close()


def _statuses(conn: Connection) -> dict[str, EngagementStatus]:
    return {e.crm_id: e.status for e in conn.store.engagements()}


def test_lost_opportunities_are_read_and_closed_lost(odoo: OdooSandbox, conn: Connection) -> None:
    result = run_job(conn, Job.SYNC)
    assert result.status == "ok", result.message
    statuses = _statuses(conn)
    lost_and_valid = [str(i) for i in odoo.lost_leads if str(i) in statuses]
    assert lost_and_valid, "the seeded portfolio has lost opportunities"
    assert {statuses[i] for i in lost_and_valid} == {EngagementStatus.CLOSED_LOST}
    won = [
        str(i)
        for i, r in odoo.records("crm.lead").items()
        if r["stage_id"] == 4 and r["active"] and str(i) in statuses
    ]
    assert won and {statuses[i] for i in won} == {EngagementStatus.ACTIVE}
    plain_leads = [str(i) for i, r in odoo.records("crm.lead").items() if r["type"] == "lead"]
    assert not set(plain_leads) & set(statuses)


def test_marking_an_opportunity_lost_in_odoo_closes_its_engagement(
    odoo: OdooSandbox, conn: Connection, clock: FakeClock
) -> None:
    run_job(conn, Job.SYNC)
    statuses = _statuses(conn)
    open_one = next(i for i, s in sorted(statuses.items()) if s is EngagementStatus.PIPELINE)
    clock.advance(minutes=30)
    odoo.mark_lost(int(open_one))
    clock.advance(minutes=1)
    run_job(conn, Job.SYNC)
    assert _statuses(conn)[open_one] is EngagementStatus.CLOSED_LOST


def test_a_deleted_opportunity_is_noticed_by_the_next_id_scan(
    odoo: OdooSandbox, conn: Connection, clock: FakeClock
) -> None:
    run_job(conn, Job.SYNC)
    victim = sorted(_statuses(conn))[3]
    odoo.delete("crm.lead", int(victim))
    clock.advance(hours=1)
    odoo.reset_calls()
    quiet = run_job(conn, Job.SYNC)
    # Within the scan interval (6 hours) no id scan runs, so the deletion is not seen yet.
    assert odoo.count("search", "crm.lead") == 0
    assert quiet.sync is not None and quiet.sync.totals()["deleted"] == 0
    clock.advance(hours=5)
    scan = run_job(conn, Job.SYNC)
    assert odoo.count("search", "crm.lead") == 1
    assert scan.sync is not None and scan.sync.kinds["engagements"].deleted == 1
    assert victim not in _statuses(conn)


def test_a_won_stage_is_known_by_is_won_and_a_lead_lost_later_is_cleared_at_the_push(
    odoo: OdooSandbox, conn: Connection, clock: FakeClock
) -> None:
    # The org renamed its won stage: no mapping lists "Signed", Odoo's is_won says it is won.
    odoo.edit("crm.stage", 4, name="Signed")
    first = run_job(conn, Job.RUN)
    assert first.status == "ok", first.message
    statuses = _statuses(conn)
    leads = odoo.records("crm.lead")
    won = sorted(str(i) for i, r in leads.items() if r["stage_id"] == 4 and r["active"])
    won = [i for i in won if i in statuses]
    assert won and {statuses[i] for i in won} == {EngagementStatus.ACTIVE}
    scored = next(i for i in won if leads[int(i)]["x_engagement_risk_score"] not in (None, False))
    clock.advance(minutes=30)
    odoo.mark_lost(int(scored))  # archived as lost (active = false)
    clock.advance(minutes=1)
    second = run_job(conn, Job.RUN)
    assert second.status == "ok", second.message
    assert _statuses(conn)[scored] is EngagementStatus.CLOSED_LOST
    # The mapping's on_close.lost is "clear": the plugin's fields are emptied in Odoo.
    lead = odoo.records("crm.lead")[int(scored)]
    assert lead["x_engagement_risk_score"] in (None, False)
    assert lead["x_engagement_risk_level"] in (None, False)
    assert lead["x_engagement_risk_drivers"] in (None, False)
