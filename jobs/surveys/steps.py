"""The survey steps as the CLI runs them: plan from the store, send through a channel."""

from __future__ import annotations

from datetime import datetime

from jobs.store import Store
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.outbox import Channel, FaultHook, OutboxReport, send_outbox
from jobs.surveys.planner import SurveyPlan, plan_surveys


def plan_step(
    store: Store, config: SurveysSection, *, now: datetime, dry_run: bool = False
) -> tuple[SurveyPlan, int]:
    """Plan invitations from the synced engagements, contacts and facts; returns the plan and
    how many invitations were added to the outbox (0 on a dry run)."""
    surveys = SurveyStore(store.engine)
    plan = plan_surveys(
        now=now,
        config=config,
        engagements=store.engagements(),
        contacts_by_account=surveys.contacts_by_account(),
        milestones=store.milestones(),
        tickets=store.tickets(),
        history=surveys.history(now),
        already_invited=surveys.invited_keys(),
    )
    if dry_run:
        return plan, 0
    return plan, surveys.save_plan(plan.invitations, plan.suppressions, config.channel, now)


def send_step(
    store: Store,
    config: SurveysSection,
    channel: Channel,
    *,
    secret: str,
    now: datetime,
    fault: FaultHook | None = None,
) -> OutboxReport:
    return send_outbox(
        SurveyStore(store.engine), channel, config, secret=secret, now=now, fault=fault
    )
