"""Planning: triggers, recipients and fatigue rules, as pure functions with an injected now."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from jobs.surveys.config import SurveysSection, TriggersSection
from jobs.surveys.fatigue import PastInvitation
from jobs.surveys.planner import SurveyPlan, plan_surveys
from jobs.surveys.triggers import due_waves
from mappings.domain import Contact, Engagement, EngagementStatus, Milestone, Ticket, TicketPriority
from tests.surveys.conftest import contact, engagement

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


def plan(
    engagements: list[Engagement],
    contacts: list[Contact],
    *,
    config: SurveysSection | None = None,
    history: list[PastInvitation] | None = None,
    milestones: dict[str, list[Milestone]] | None = None,
    tickets: dict[str, list[Ticket]] | None = None,
    already: set[tuple[str, str]] | None = None,
    now: datetime = NOW,
) -> SurveyPlan:
    by_account: dict[str, list[Contact]] = {}
    for c in contacts:
        by_account.setdefault(c.account_id or "", []).append(c)
    return plan_surveys(
        now=now,
        config=config or SurveysSection(),
        engagements=engagements,
        contacts_by_account=by_account,
        milestones=milestones or {},
        tickets=tickets or {},
        history=history or [],
        already_invited=already or set(),
    )


def config(**values: Any) -> SurveysSection:
    return SurveysSection.model_validate(values)


def invited(result: SurveyPlan) -> list[tuple[str, str]]:
    return [(i.recipient.contact.crm_id, i.wave.key) for i in result.invitations]


def held(result: SurveyPlan) -> dict[str, tuple[str, str]]:
    return {s.contact_id: (s.rule, s.reason) for s in result.suppressions}


def test_quarterly_wave_invites_each_contact_in_a_surveyed_role_once() -> None:
    # Started 2026-01-05: 322 days, so the third 90-day period is running.
    contacts = [contact("C1"), contact("C2", title="技术经理"), contact("C3", title="Intern")]
    result = plan([engagement("D1")], contacts)
    assert invited(result) == [("C1", "D1:periodic:3"), ("C2", "D1:periodic:3")]
    assert result.suppressions == []  # the intern is not in a surveyed role: simply not asked


def test_a_contact_surveyed_30_days_ago_is_held_back_with_the_reason() -> None:
    past = PastInvitation("C1", "A1", NOW - timedelta(days=30), open=False)
    result = plan([engagement("D1")], [contact("C1"), contact("C2")], history=[past])
    assert invited(result) == [("C2", "D1:periodic:3")]
    rule, reason = held(result)["C1"]
    assert rule == "contact_min_days"
    assert "surveyed 30 days ago (2026-10-24)" in reason
    assert "minimum is 90 days" in reason


def test_a_contact_surveyed_91_days_ago_is_asked_again() -> None:
    past = PastInvitation("C1", "A1", NOW - timedelta(days=91), open=False)
    result = plan([engagement("D1")], [contact("C1")], history=[past])
    assert invited(result) == [("C1", "D1:periodic:3")]


def test_never_two_open_invitations_for_one_person() -> None:
    past = PastInvitation("C1", "A1", NOW - timedelta(days=200), open=True)
    result = plan([engagement("D1")], [contact("C1")], history=[past])
    assert invited(result) == []
    assert held(result)["C1"][0] == "open_invitation"


def test_account_cap_of_two_per_quarter_holds_across_engagements() -> None:
    cfg = config(fatigue={"account_cap": 2, "account_period_days": 91})
    contacts = [contact("C1"), contact("C2"), contact("C3"), contact("C9", account_id="A2")]
    engagements = [engagement("D1"), engagement("D2"), engagement("D3", account_id="A2")]
    result = plan(engagements, contacts, config=cfg)
    assert invited(result) == [
        ("C1", "D1:periodic:3"),
        ("C2", "D1:periodic:3"),
        ("C9", "D3:periodic:3"),  # another account is not affected
    ]
    stopped = {(s.contact_id, s.engagement_id): s.rule for s in result.suppressions}
    assert stopped == {
        ("C3", "D1"): "account_cap",
        # On D2, C1 and C2 already hold an open invitation; C3 hits the cap again.
        ("C1", "D2"): "open_invitation",
        ("C2", "D2"): "open_invitation",
        ("C3", "D2"): "account_cap",
    }
    cap_reasons = {s.reason for s in result.suppressions if s.rule == "account_cap"}
    assert cap_reasons == {"the account had 2 invitations in the last 91 days; the cap is 2"}


def test_account_cap_counts_invitations_of_earlier_runs() -> None:
    cfg = config(fatigue={"account_cap": 2, "account_period_days": 91, "contact_min_days": 0})
    history = [
        PastInvitation("C7", "A1", NOW - timedelta(days=10), open=False),
        PastInvitation("C8", "A1", NOW - timedelta(days=80), open=False),
    ]
    result = plan([engagement("D2")], [contact("C1")], config=cfg, history=history)
    assert invited(result) == []
    assert held(result)["C1"][0] == "account_cap"
    # A quarter later the older two no longer count.
    later = plan([engagement("D2")], [contact("C1")], config=cfg, history=history,
                 now=NOW + timedelta(days=12))  # fmt: skip
    assert invited(later) == [("C1", "D2:periodic:3")]


def test_opt_out_and_invalid_emails_are_recorded_with_a_reason() -> None:
    contacts = [
        contact("C1", email_opt_out=True),
        contact("C2", email="not-an-address"),
        contact("C3", email=None),
        contact("C4", email="a@b.example, c@d.example"),
        contact("C5"),
    ]
    result = plan([engagement("D1")], contacts)
    assert invited(result) == [("C5", "D1:periodic:3")]
    reasons = held(result)
    assert reasons["C1"] == ("email_opt_out", "the contact opted out of e-mail in the CRM")
    assert reasons["C2"] == ("invalid_email", "the e-mail address is not valid")
    assert reasons["C3"] == ("invalid_email", "the contact has no e-mail address")
    assert reasons["C4"][0] == "invalid_email"


def test_quiet_days_plan_nothing_and_say_so() -> None:
    cfg = config(fatigue={"quiet_days": ["mon", "2026-12-25"]})
    result = plan([engagement("D1")], [contact("C1")], config=cfg)
    assert invited(result) == []
    assert held(result)["C1"] == ("quiet_day", "2026-11-23 is a quiet day; planned later")
    tuesday = plan([engagement("D1")], [contact("C1")], config=cfg, now=NOW + timedelta(days=1))
    assert invited(tuesday) == [("C1", "D1:periodic:3")]


def test_a_wave_asks_a_person_once_however_often_planning_runs() -> None:
    result = plan([engagement("D1")], [contact("C1")], already={("C1", "D1:periodic:3")})
    assert result.invitations == [] and result.suppressions == []


def test_milestone_acceptance_close_and_resolved_ticket_start_their_own_waves() -> None:
    triggers = TriggersSection(periodic_days=0, ticket_resolved=True, lookback_days=14)
    d1 = engagement("D1", end_date=date(2026, 11, 20))
    m = Milestone(
        external_id="M-7",
        engagement_id="D1",
        name="UAT sign-off",
        planned_date=date(2026, 11, 1),
        planned_value=Decimal(1000),
        accepted_date=date(2026, 11, 18),
    )
    too_old = m.model_copy(update={"external_id": "M-1", "accepted_date": date(2026, 3, 1)})
    not_accepted = m.model_copy(update={"external_id": "M-2", "accepted_date": None})
    ticket = Ticket(
        external_id="T-9",
        engagement_id="D1",
        priority=TicketPriority.P2,
        opened_at=NOW - timedelta(days=3),
        resolved_at=NOW - timedelta(days=1),
    )
    still_open = ticket.model_copy(update={"external_id": "T-10", "resolved_at": None})
    waves = due_waves(d1, [m, too_old, not_accepted], [ticket, still_open], triggers, NOW.date())
    assert [(w.key, w.kind) for w in waves] == [
        ("D1:milestone:M-7", "nps_csat"),
        ("D1:close:close", "nps_csat"),
        ("D1:ticket:T-9", "csat"),
    ]


def test_two_waves_due_at_once_ask_a_person_only_once() -> None:
    cfg = config(triggers={"periodic_days": 90}, fatigue={"contact_min_days": 0})
    d1 = engagement("D1", end_date=date(2026, 11, 20))  # ended three days ago: the close wave
    accepted = Milestone(
        external_id="M-7",
        engagement_id="D1",
        name="Final delivery",
        planned_date=date(2026, 11, 15),
        planned_value=Decimal(1000),
        accepted_date=date(2026, 11, 19),
    )
    result = plan([d1], [contact("C1")], config=cfg, milestones={"D1": [accepted]})
    assert invited(result) == [("C1", "D1:milestone:M-7")]
    assert held(result) == {"C1": ("open_invitation", "the contact has an open invitation")}
    assert [s.wave_key for s in result.suppressions] == ["D1:close:close"]


def test_only_delivering_engagements_are_surveyed() -> None:
    engagements = [
        engagement("D1", status=EngagementStatus.PIPELINE, stage="Proposal"),
        engagement("D2", status=EngagementStatus.CLOSED_LOST, stage="Closed Lost"),
        engagement("D3", start_date=date(2026, 10, 1)),  # not a full period yet
    ]
    assert plan(engagements, [contact("C1")]).invitations == []


def test_a_chinese_name_gets_the_chinese_survey_and_others_the_default() -> None:
    contacts = [contact("C1", first_name="伟", last_name="张"), contact("C2")]
    result = plan([engagement("D1")], contacts, config=config(default_language="en"))
    languages = {i.recipient.contact.crm_id: i.recipient.language for i in result.invitations}
    assert languages == {"C1": "zh", "C2": "en"}
    assert result.invitations[0].recipient.name == "张伟"
