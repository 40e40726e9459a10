"""Which survey waves are due for an engagement today (pure; ``today`` is injected)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from jobs.surveys.config import Trigger, TriggersSection
from mappings.domain import Engagement, EngagementStatus, Milestone, Ticket

#: What a survey asks: the relationship survey asks NPS and CSAT; after a ticket, CSAT only.
KIND_NPS_CSAT = "nps_csat"
KIND_CSAT = "csat"


@dataclass(frozen=True)
class Wave:
    """One occasion to ask an engagement's contacts, e.g. its third quarter or milestone M-7."""

    engagement_id: str
    account_id: str
    engagement_name: str
    trigger: Trigger
    occasion: str
    kind: str = KIND_NPS_CSAT

    @property
    def key(self) -> str:
        return f"{self.engagement_id}:{self.trigger.value}:{self.occasion}"


def due_waves(
    engagement: Engagement,
    milestones: Sequence[Milestone],
    tickets: Sequence[Ticket],
    config: TriggersSection,
    today: date,
) -> list[Wave]:
    """The waves an engagement has due today. Only delivering (active) engagements are asked.

    Events older than ``lookback_days`` start no wave, so a first run over years of history does
    not survey about last year's milestones. A periodic wave is numbered by the periods elapsed
    since the start, so each period asks once, and a missed period is not made up.
    """
    if engagement.status is not EngagementStatus.ACTIVE:
        return []
    since = today - timedelta(days=config.lookback_days)

    def wave(trigger: Trigger, occasion: str, kind: str = KIND_NPS_CSAT) -> Wave:
        return Wave(
            engagement.crm_id, engagement.account_id, engagement.name, trigger, occasion, kind
        )

    waves: list[Wave] = []
    start = engagement.start_date or engagement.closing_date
    ended = engagement.end_date is not None and engagement.end_date < today
    if config.periodic_days and start is not None and not ended:
        periods = (today - start).days // config.periodic_days
        if periods >= 1:
            waves.append(wave(Trigger.PERIODIC, str(periods)))
    if config.milestone_accepted:
        waves.extend(
            wave(Trigger.MILESTONE, m.external_id)
            for m in milestones
            if m.accepted_date is not None and since <= m.accepted_date <= today
        )
    end = engagement.end_date
    if config.engagement_close and end is not None and since <= end <= today:
        waves.append(wave(Trigger.CLOSE, "close"))
    if config.ticket_resolved:
        waves.extend(
            wave(Trigger.TICKET, t.external_id, KIND_CSAT)
            for t in tickets
            if t.resolved_at is not None and since <= t.resolved_at.date() <= today
        )
    return waves
