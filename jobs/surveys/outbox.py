"""Send each planned invitation at most once: the outbox, keyed by (contact, wave).

Every send is ``planned -> sending`` (committed) -> hand to the channel -> ``sent``. A crash
after the channel took the message but before ``sent`` was recorded leaves the row in
``sending``. Such a row is never sent again automatically: the message may have gone out, and
a second invitation is worse than a missing one. ``engage surveys status`` lists these rows for
a person to check (the e-mail's Message-ID is derived from the invitation id, so the mail
server's log can confirm it). Reminders follow the same rule with their own state column.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from jobs.surveys.config import SurveysSection
from jobs.surveys.mail import DeliveryUncertain, NotSent, Refused
from jobs.surveys.records import PLANNED, SENDING, SENT, Invitation
from jobs.surveys.store import SurveyStore
from jobs.surveys.tokens import sign

log = logging.getLogger(__name__)

#: Called at named points of a send; tests use it to kill the process in between.
FaultHook = Callable[[str], None]
#: The point between the channel accepting a message and the outbox recording it.
AFTER_SEND = "after_send"


class Channel(Protocol):
    """Delivers one invitation (SMTP e-mail, or a link on the CRM contact)."""

    def deliver(self, invitation: Invitation, link: str, *, reminder: bool, now: datetime) -> None:
        """Raise ``NotSent``, ``Refused`` or ``DeliveryUncertain`` (jobs.surveys.mail)."""
        ...


@dataclass
class OutboxReport:
    sent: int = 0
    reminded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Left in "sending" (now or by an earlier crash): for a person to check.
    uncertain: list[Invitation] = field(default_factory=list)
    deferred: int = 0
    quiet_day: bool = False


def survey_link(
    config: SurveysSection, invitation_id: str, expires_at: datetime, secret: str
) -> str:
    return f"{config.base_url}/s/{sign(invitation_id, expires_at, secret)}"


def send_outbox(
    store: SurveyStore,
    channel: Channel,
    config: SurveysSection,
    *,
    secret: str,
    now: datetime,
    fault: FaultHook | None = None,
) -> OutboxReport:
    """Send planned invitations and due reminders. Stops at the first uncertain delivery."""
    report = OutboxReport()
    if config.fatigue.is_quiet(now.date()):
        report.quiet_day = True
    else:
        try:
            _send_invitations(store, channel, config, secret, now, fault, report)
            _send_reminders(store, channel, config, secret, now, fault, report)
        except DeliveryUncertain as exc:
            log.warning("survey delivery stopped: %s", exc)
    report.uncertain = [
        i for i in store.invitations() if i.state == SENDING or i.reminder_state == SENDING
    ]
    return report


def _send_invitations(
    store: SurveyStore,
    channel: Channel,
    config: SurveysSection,
    secret: str,
    now: datetime,
    fault: FaultHook | None,
    report: OutboxReport,
) -> None:
    for invitation in store.invitations(PLANNED):
        expires_at = now + timedelta(days=config.expiry_days)
        if not store.claim(invitation.id, expires_at):
            continue  # another sender took it
        claimed = replace(invitation, state=SENDING, expires_at=expires_at)
        link = survey_link(config, invitation.id, expires_at, secret)
        try:
            channel.deliver(claimed, link, reminder=False, now=now)
        except NotSent as exc:
            store.release(invitation.id, str(exc))
            report.deferred += 1
            continue
        except Refused as exc:
            store.mark_failed(invitation.id, str(exc))
            report.failed.append((invitation.id, str(exc)))
            continue
        except DeliveryUncertain as exc:
            store.note(invitation.id, str(exc))
            raise
        if fault is not None:
            fault(AFTER_SEND)
        store.mark_sent(invitation.id, now)
        report.sent += 1


def _send_reminders(
    store: SurveyStore,
    channel: Channel,
    config: SurveysSection,
    secret: str,
    now: datetime,
    fault: FaultHook | None,
    report: OutboxReport,
) -> None:
    if not config.reminder_after_days:
        return
    due_before = now - timedelta(days=config.reminder_after_days)
    for invitation in store.invitations(SENT):
        if (
            invitation.reminder_state is not None
            or invitation.answered_at is not None
            or invitation.sent_at is None
            or invitation.sent_at > due_before
            or invitation.expires_at is None
            or invitation.expires_at <= now
        ):
            continue
        if not store.claim_reminder(invitation.id):
            continue
        link = survey_link(config, invitation.id, invitation.expires_at, secret)
        try:
            channel.deliver(invitation, link, reminder=True, now=now)
        except NotSent as exc:
            store.release_reminder(invitation.id)  # tried again on the next run
            store.note(invitation.id, f"reminder not sent yet: {exc}")
            continue
        except Refused as exc:
            store.fail_reminder(invitation.id, f"reminder refused: {exc}")
            continue
        if fault is not None:
            fault(AFTER_SEND)
        store.mark_reminded(invitation.id, now)
        report.reminded += 1


def state_counts(store: SurveyStore, now: datetime) -> dict[str, int]:
    """Invitations by what a person would call them: planned, sent, answered, expired..."""
    counts: dict[str, int] = {}
    for i in store.invitations():
        if i.answered_at is not None:
            name = "answered"
        elif i.state == SENT and i.expires_at is not None and i.expires_at <= now:
            name = "expired"
        else:
            name = i.state
        counts[name] = counts.get(name, 0) + 1
    return counts
