"""The CRM channel against the sandbox: the link lands on the Contact, the owner gets a Task."""

from __future__ import annotations

from pathlib import Path

from connector.base import NewField
from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import Connection, Job, connect, run_job
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.crm_channel import CrmChannel
from jobs.surveys.steps import plan_step, send_step
from tests.conftest import FakeClock
from tests.surveys.conftest import SECRET


def channel(conn: Connection) -> CrmChannel:
    return CrmChannel(
        conn.client,
        {e.crm_id: e for e in conn.store.engagements()},
        contacts_module="Contacts",
        deals_module="Deals",
        link_field="Survey_Link",
    )


def test_the_link_is_written_to_the_contact_and_the_owner_gets_one_task_each(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    assert run_job(conn, Job.SYNC).status == "ok"
    (created,) = conn.client.create_fields(
        "Contacts", [NewField("Survey Link", "text", length=255)]
    )
    assert created.api_name == "Survey_Link"
    cfg = SurveysSection.model_validate({"channel": "crm", "fatigue": {"account_cap": 1}})
    _plan, added = plan_step(conn.store, cfg, now=clock())
    report = send_step(conn.store, cfg, channel(conn), secret=SECRET, now=clock())
    again = send_step(conn.store, cfg, channel(conn), secret=SECRET, now=clock())
    assert report.sent == added > 0 and again.sent == 0
    invitations = SurveyStore(conn.store.engine).invitations()
    contacts = sandbox.records("Contacts")
    deals = sandbox.records("Deals")
    tasks = sandbox.tasks()
    assert len(tasks) == added
    for invitation in invitations:
        link = contacts[invitation.contact_id]["Survey_Link"]
        assert link.startswith("http://127.0.0.1:8765/s/" + invitation.id + ".")
        (task,) = [t for t in tasks if f"[engage:survey-send:{invitation.id}]" in t["Description"]]
        assert task["What_Id"] == {"id": invitation.engagement_id}
        assert task["Owner"]["id"] == deals[invitation.engagement_id]["Owner"]["id"]
        assert link in task["Description"]
    conn.close()


def test_a_missing_link_field_fails_the_invitation_with_the_crms_reason(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"), clock=clock)
    assert run_job(conn, Job.SYNC).status == "ok"
    cfg = SurveysSection.model_validate({"channel": "crm", "fatigue": {"account_cap": 1}})
    _plan, added = plan_step(conn.store, cfg, now=clock())
    report = send_step(conn.store, cfg, channel(conn), secret=SECRET, now=clock())
    assert report.sent == 0 and len(report.failed) == added
    assert sandbox.tasks() == []
    failed = SurveyStore(conn.store.engine).invitations("failed")
    assert len(failed) == added
    assert all("refused the link on the contact" in (i.message or "") for i in failed)
    conn.close()
