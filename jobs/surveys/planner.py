"""Plan invitations: due waves x recipients, minus fatigue. Pure: ``now`` and data are passed in."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from jobs.surveys.config import SurveysSection
from jobs.surveys.fatigue import FatigueGuard, PastInvitation
from jobs.surveys.recipients import Recipient, select_recipients
from jobs.surveys.triggers import Wave, due_waves
from mappings.domain import Contact, Engagement, Milestone, Ticket


def invitation_id(contact_id: str, wave_key: str) -> str:
    """The outbox key, stable across runs: the same contact and wave always give the same id."""
    return hashlib.sha256(f"{contact_id}\x00{wave_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PlannedInvitation:
    wave: Wave
    recipient: Recipient

    @property
    def id(self) -> str:
        return invitation_id(self.recipient.contact.crm_id, self.wave.key)


@dataclass(frozen=True)
class Suppression:
    wave_key: str
    engagement_id: str
    account_id: str
    contact_id: str
    rule: str
    reason: str


@dataclass
class SurveyPlan:
    invitations: list[PlannedInvitation] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)


def plan_surveys(
    *,
    now: datetime,
    config: SurveysSection,
    engagements: Sequence[Engagement],
    contacts_by_account: Mapping[str, Sequence[Contact]],
    milestones: Mapping[str, Sequence[Milestone]],
    tickets: Mapping[str, Sequence[Ticket]],
    history: Sequence[PastInvitation],
    already_invited: set[tuple[str, str]],
) -> SurveyPlan:
    """Every invitation to make now and every one held back, with the rule that held it.

    ``already_invited`` holds (contact id, wave key) pairs in the outbox: a wave asks a person
    once, however often planning runs. Engagements are taken in id order, so when an account
    cap bites, the same invitations win on every run.
    """
    plan = SurveyPlan()
    if not config.enabled:
        return plan
    guard = FatigueGuard(config.fatigue, history)
    for engagement in sorted(engagements, key=lambda e: e.crm_id):
        waves = due_waves(
            engagement,
            milestones.get(engagement.crm_id, ()),
            tickets.get(engagement.crm_id, ()),
            config.triggers,
            now.date(),
        )
        if not waves:
            continue
        recipients, rejected = select_recipients(
            contacts_by_account.get(engagement.account_id, ()), config
        )
        for wave in waves:
            for reject in rejected:
                if (reject.contact_id, wave.key) not in already_invited:
                    plan.suppressions.append(
                        Suppression(
                            wave.key,
                            wave.engagement_id,
                            wave.account_id,
                            reject.contact_id,
                            reject.rule,
                            reject.reason,
                        )
                    )
            for recipient in recipients:
                contact_id = recipient.contact.crm_id
                if (contact_id, wave.key) in already_invited:
                    continue
                email = recipient.contact.email
                stop = guard.check(contact_id, wave.account_id, now, email)
                if stop is not None:
                    plan.suppressions.append(
                        Suppression(
                            wave.key,
                            wave.engagement_id,
                            wave.account_id,
                            contact_id,
                            stop.rule,
                            stop.reason,
                        )
                    )
                    continue
                guard.record(contact_id, wave.account_id, now, email)
                plan.invitations.append(PlannedInvitation(wave, recipient))
    return plan
