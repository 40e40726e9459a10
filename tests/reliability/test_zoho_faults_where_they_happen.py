"""Faults where they happen in life, against the Zoho sandbox (issue 17 item 4).

- A write that the CRM applied but whose answer was lost (the connection reset, a 503 after
  the commit): the connector cannot tell whether it landed. It must end with the CRM holding
  exactly what a clean run leaves, each row once in its ledger, and never a second Task or a
  second survey invitation.
- ``If-Modified-Since`` read inclusively or exclusively of its second (the docs do not say,
  research/zoho.md §2): a record modified in the boundary second is read under either reading.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.base import NewField
from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultKind, FaultPlan
from jobs.push.ledger import Ledger, RowStatus
from jobs.runner import Connection, Job, run_job
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.crm_channel import CrmChannel
from jobs.surveys.followups import create_followups
from jobs.surveys.steps import plan_step, send_step
from tests.conftest import FakeClock
from tests.reliability.connections import every_record, open_connection
from tests.surveys.conftest import SECRET

DEALS, ACCOUNTS = 300, 60
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("lost", [FaultKind.RESET, FaultKind.SERVER_ERROR])
def test_a_push_call_applied_then_unanswered_ends_as_a_clean_run(
    tmp_path: Path, lost: FaultKind
) -> None:
    clean_clock, faulty_clock = FakeClock(START), FakeClock(START)
    with (
        SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=clean_clock) as clean,
        SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=faulty_clock) as faulty,
    ):
        clean_conn = open_connection(clean, clean_clock, tmp_path, "clean.db")
        assert run_job(clean_conn, Job.RUN).status == "ok"
        clean_ledger = Ledger(clean_conn.store)
        clean_rows = {m: set(clean_ledger.rows(m)) for m in ("Deals", "Accounts")}
        clean_conn.close()
        assert clean_rows["Deals"] and clean_rows["Accounts"]

        # The first update call runs, its 100 rows change, then its answer is lost.
        injector = faulty.install_faults(
            FaultPlan(lose_answer_after={"update": 1}, lost_answer=lost)
        )
        conn = open_connection(faulty, faulty_clock, tmp_path, "faulty.db")
        result = run_job(conn, Job.RUN)
        assert result.status == "ok", result.message
        assert injector.counts.answers_lost == 1

        assert every_record(faulty) == every_record(clean)
        # The lost call's rows were sent again (a PUT by id is idempotent) and only those.
        received = injector.counts.rows_received
        assert sorted(set(received.values())) == [1, 2]
        twice = [rid for rid, n in received.items() if n == 2]
        assert len(twice) == 100
        # Each row once in the ledger, written: the same rows as the clean run's ledger.
        ledger = Ledger(conn.store)
        for module in ("Deals", "Accounts"):
            rows = ledger.rows(module)
            assert set(rows) == clean_rows[module]
            assert {row.status for row in rows.values()} == {RowStatus.WRITTEN}
        assert set(twice) <= set(ledger.rows("Deals")) | set(ledger.rows("Accounts"))
        # A second run has nothing left to write.
        faulty.reset_calls()
        assert run_job(conn, Job.RUN).status == "ok"
        assert faulty.count("update") == 0
        conn.close()


def _unhappy_answer(conn: Connection, clock: FakeClock) -> tuple[SurveyStore, str]:
    """One survey sent by mail (captured) and answered by a detractor; returns its deal id."""
    from tests.surveys.conftest import Captured

    cfg = SurveysSection()
    plan_step(conn.store, cfg, now=clock())
    send_step(conn.store, cfg, Captured({}), secret=SECRET, now=clock())
    surveys = SurveyStore(conn.store.engine)
    invitation = surveys.invitations("sent")[0]
    assert surveys.save_response(invitation, nps=2, csat=1, comment=None, now=clock())
    return surveys, invitation.engagement_id


def test_a_follow_up_task_created_but_unanswered_is_never_created_twice(
    sandbox: SandboxCRM, clock: FakeClock, tmp_path: Path
) -> None:
    conn = open_connection(sandbox, clock, tmp_path, "store.db")
    assert run_job(conn, Job.RUN).status == "ok"
    surveys, deal_id = _unhappy_answer(conn, clock)
    engagements = {e.crm_id: e for e in conn.store.engagements()}
    sandbox.install_faults(FaultPlan(lose_answer_after={"create_tasks": 1}))
    with pytest.raises(Exception, match="(?i)reset|connection|aborted|unavailable"):
        create_followups(conn.client, surveys, engagements, module="Deals", now=clock())
    clock.advance(hours=1)
    again = create_followups(conn.client, surveys, engagements, module="Deals", now=clock())
    assert again.created == 0
    # The CRM holds the one task; the plugin knows it is there or may be (pending, listed for
    # a person), and never sent the insert a second time.
    assert sandbox.count("create_tasks") == 1
    (task,) = sandbox.tasks()
    assert task["What_Id"]["id"] == deal_id
    assert [f["state"] for f in surveys.followups()] == ["pending"]
    conn.close()


def _crm_channel(conn: Connection) -> CrmChannel:
    return CrmChannel(
        conn.client,
        {e.crm_id: e for e in conn.store.engagements()},
        contacts_module="Contacts",
        deals_module="Deals",
        link_field="Survey_Link",
    )


@pytest.mark.parametrize("lost_call", ["update", "create_tasks"])
def test_a_crm_channel_invitation_whose_answer_was_lost_is_sent_once(
    sandbox: SandboxCRM, clock: FakeClock, tmp_path: Path, lost_call: str
) -> None:
    conn = open_connection(sandbox, clock, tmp_path, "store.db")
    assert run_job(conn, Job.SYNC).status == "ok"
    conn.client.create_fields("Contacts", [NewField("Survey Link", "text", length=255)])
    cfg = SurveysSection.model_validate({"channel": "crm", "fatigue": {"account_cap": 1}})
    _plan, added = plan_step(conn.store, cfg, now=clock())
    assert added > 1
    # The first invitation's link write (or its owner's task) lands, and its answer is lost.
    injector = sandbox.install_faults(FaultPlan(lose_answer_after={lost_call: 1}))
    send_step(conn.store, cfg, _crm_channel(conn), secret=SECRET, now=clock())
    clock.advance(hours=1)
    send_step(conn.store, cfg, _crm_channel(conn), secret=SECRET, now=clock())
    assert injector.counts.answers_lost == 1
    invitations = SurveyStore(conn.store.engine).invitations()
    tasks = sandbox.tasks()
    # One task per invitation at most, and exactly one for each the store calls sent.
    per_invitation = {
        i.id: [t for t in tasks if f"[engage:survey-send:{i.id}]" in t["Description"]]
        for i in invitations
    }
    assert all(len(found) <= 1 for found in per_invitation.values())
    assert len(tasks) == added  # every invitation's task exists once
    sent = {i.id for i in invitations if i.state == "sent"}
    assert all(len(per_invitation[i]) == 1 for i in sent)
    if lost_call == "update":
        # A lost answer to the idempotent link write is retried: everything is sent.
        assert len(sent) == added
    else:
        # The task's fate was unknown: the invitation is not sent again (listed for a person).
        assert len(sent) == added - 1
    conn.close()


@pytest.mark.parametrize("exclusive", [False, True], ids=["inclusive", "exclusive"])
def test_a_deal_edited_in_the_cursor_second_is_read_under_either_reading(
    clock: FakeClock, tmp_path: Path, exclusive: bool
) -> None:
    with SandboxCRM(deals=DEALS, accounts=ACCOUNTS, clock=clock) as crm:
        crm.install_faults(FaultPlan(ims_exclusive=exclusive))
        first, second = sorted(crm.records("Deals"))[:2]
        conn = open_connection(crm, clock, tmp_path, "store.db")
        # A person edits a deal; the sync reads it in the same second, so the cursor stays at
        # that second (a record of it may still be being written).
        crm.edit("Deals", first, Deal_Name="Edited before the sync")
        assert run_job(conn, Job.SYNC).status == "ok"
        # Still in that second, another deal is edited: its Modified_Time is the cursor's.
        crm.edit("Deals", second, Deal_Name="Edited in the boundary second")
        clock.advance(minutes=5)
        assert run_job(conn, Job.SYNC).status == "ok"
        names = {e.crm_id: e.name for e in conn.store.engagements()}
        assert names[first] == "Edited before the sync"
        assert names[second] == "Edited in the boundary second"
        # Later changes are read too (the reading learnt or not, nothing is left out).
        clock.advance(minutes=5)
        crm.edit("Deals", first, Deal_Name="Edited later")
        assert run_job(conn, Job.SYNC).status == "ok"
        assert {e.crm_id: e.name for e in conn.store.engagements()}[first] == "Edited later"
        conn.close()
