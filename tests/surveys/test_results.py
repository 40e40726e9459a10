"""Results per engagement, their way into the CRM through score + push, and follow-up tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.errors import RetryLaterError
from connector.sandbox import SandboxCRM
from jobs.demo.run import sandbox_settings
from jobs.runner import Job, connect, run_job
from jobs.store import Store
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.followups import create_followups
from jobs.surveys.records import Response
from jobs.surveys.results import summarize
from jobs.surveys.steps import plan_step, send_step
from tests.conftest import FakeClock
from tests.surveys.conftest import SECRET, Captured, contact, engagement

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def response(n: int, contact: str, nps: int | None, csat: int | None = None, *,
             role: str | None = None, days: int = 0) -> Response:  # fmt: skip
    return Response(
        id=n,
        invitation_id=f"i{n}",
        contact_id=contact,
        engagement_id="D1",
        account_id="A1",
        role=role,
        nps=nps,
        csat=csat,
        comment=None,
        answered_at=T0 + timedelta(days=days),
    )


def test_nps_counts_each_contacts_latest_answer() -> None:
    answers = [
        response(1, "C1", 2, days=0),  # replaced by C1's later 10
        response(2, "C1", 10, days=30),
        response(3, "C2", 9),
        response(4, "C3", 7),  # passive
        response(5, "C4", 0),
    ]
    result = summarize("D1", answers, sent=8, role_weights={})
    # Promoters C1, C2; detractor C4; passive C3: (2 - 1) / 4 = 25.
    assert result.nps == 25
    assert result.responses == 5
    assert result.response_rate == 0.625


def test_role_weights_let_a_decision_maker_count_more() -> None:
    answers = [
        response(1, "C1", 10, role="decision_maker"),
        response(2, "C2", 3, role="project_contact"),
    ]
    assert summarize("D1", answers, sent=2, role_weights={}).nps == 0
    weighted = summarize("D1", answers, sent=2, role_weights={"decision_maker": 3})
    assert weighted.nps == 50  # (3 - 1) / 4


def test_csat_mean_and_share_of_four_or_five() -> None:
    answers = [response(1, "C1", None, 5), response(2, "C2", None, 4), response(3, "C3", None, 1)]
    result = summarize("D1", answers, sent=3, role_weights={})
    assert result.nps is None
    assert result.csat_mean == 3.33
    assert result.csat_share_4_plus == 0.6667


def test_a_detractor_reaches_the_deal_and_gets_exactly_one_task(
    sandbox: SandboxCRM, clock: FakeClock, store_url: str, tmp_path: Path
) -> None:
    conn = connect(sandbox_settings(sandbox, store_url, tmp_path / "engage.toml"), clock=clock)
    assert run_job(conn, Job.RUN).status == "ok"
    cfg = SurveysSection()
    plan, added = plan_step(conn.store, cfg, now=clock())
    assert added > 0
    send_step(conn.store, cfg, Captured({}), secret=SECRET, now=clock())
    surveys = SurveyStore(conn.store.engine)
    invitation = surveys.invitations("sent")[0]
    deal_id = invitation.engagement_id
    comment = "<script>alert(1)</script> slow answers"
    assert surveys.save_response(invitation, nps=3, csat=2, comment=comment, now=clock())

    clock.advance(minutes=5)
    assert run_job(conn, Job.SCORE).status == "ok"
    assert run_job(conn, Job.PUSH).status == "ok"
    deal = sandbox.records("Deals")[deal_id]
    assert deal["Engagement_NPS"] == -100  # one answer, a detractor
    assert deal["Engagement_CSAT"] == 2

    engagements = {e.crm_id: e for e in conn.store.engagements()}
    module = conn.mapper.spec.targets.engagements.module
    first = create_followups(conn.client, surveys, engagements, module=module, now=clock())
    again = create_followups(conn.client, surveys, engagements, module=module, now=clock())
    assert (first.created, again.created) == (1, 0)
    assert sandbox.count("create_tasks") == 1
    (task,) = sandbox.tasks()
    assert task["What_Id"] == {"id": deal_id}
    assert task["$se_module"] == "Deals"
    assert task["Owner"]["id"] == deal["Owner"]["id"]
    assert task["Due_Date"] == "2026-11-25"
    assert f"[engage:survey-followup:{invitation.id}]" in task["Description"]
    assert comment in task["Description"]  # plain text in the CRM, exactly as typed
    assert "NPS (0-10): 3" in task["Description"]
    followups = surveys.followups()
    assert [(f["state"], f["task_id"]) for f in followups] == [("created", task["id"])]
    conn.close()
    del plan


class _FlakyCRM:
    """A CRM whose task call dies without an answer (the task may or may not exist)."""

    max_write_batch = 100

    def __init__(self) -> None:
        self.calls = 0

    def create_tasks(self, tasks: object) -> list[object]:
        self.calls += 1
        raise RetryLaterError("connection reset while creating the task")


def test_an_interrupted_task_call_is_never_repeated_and_a_happy_answer_needs_none(
    store: Store, clock: FakeClock
) -> None:
    store.save_engagements([engagement("D1"), engagement("D2")], clock())
    store.save_contacts([contact("C1"), contact("C2", account_id="A1")], clock())
    plan_step(store, SurveysSection(fatigue={"account_cap": 0}), now=clock())
    send_step(store, SurveysSection(), Captured({}), secret=SECRET, now=clock())
    surveys = SurveyStore(store.engine)
    sent = {(i.contact_id, i.engagement_id): i for i in surveys.invitations("sent")}
    assert surveys.save_response(sent[("C1", "D1")], nps=9, csat=5, comment=None, now=clock())
    assert surveys.save_response(sent[("C2", "D1")], nps=5, csat=3, comment=None, now=clock())
    crm = _FlakyCRM()
    engagements = {e.crm_id: e for e in store.engagements()}
    with pytest.raises(RetryLaterError):
        create_followups(crm, surveys, engagements, module="Deals", now=clock())  # type: ignore[arg-type]
    again = create_followups(crm, surveys, engagements, module="Deals", now=clock())  # type: ignore[arg-type]
    assert crm.calls == 1 and again.created == 0
    assert [(f["key"], f["state"]) for f in surveys.followups()] == [
        (f"survey-followup:{sent[('C2', 'D1')].id}", "pending")
    ]
