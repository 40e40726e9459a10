"""Send each planned invitation at most once: the outbox, keyed by (contact, wave).

Every send is ``planned -> sending`` (committed) -> hand to the channel -> ``sent``. A crash
after the channel took the message but before ``sent`` was recorded leaves the row in
``sending``. Such a row is never sent again automatically: the message may have gone out, and
a second invitation is worse than a missing one. ``engage surveys status`` lists these rows for
a person to check (the e-mail's Message-ID is derived from the invitation id, so the mail
server's log can confirm it). Reminders follow the same rule with their own state column.

Certain failures go back to the queue; the row is released to ``planned`` at once (so a crash
cannot leave a message that never left looking "uncertain"), and the verdict follows:

- the mail server cannot be reached or closes the session: the send stops, nothing is counted
  against the invitations, the next run tries again (``engage surveys send`` exits 75);
- a temporary refusal (4xx) of one message: re-queued with the row backoff of
  connector/retry.py (15 min doubling); after ``row_max_attempts`` it is failed;
- a permanent refusal (5xx): failed for that invitation only once the same send has had a
  message accepted (the server works, so it is the recipient). When ``SERVER_WIDE_REFUSALS``
  messages in a row are refused with nothing accepted, the server refuses everything: the send
  stops and those invitations are back in the queue, not burned. A send that ends with fewer
  refusals and nothing accepted fails refused recipients (RCPT) and re-queues refused
  messages (MAIL FROM / DATA: the server's verdict on the sender or content, not the person).
- a message that cannot be built (``Unsendable``): failed for that one, with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from connector.retry import RetryPolicy
from jobs.store.surveys import SurveyStore
from jobs.surveys.config import SurveysSection
from jobs.surveys.mail import ChannelUnavailable, DeliveryUncertain, NotSent, Refused, Unsendable
from jobs.surveys.records import PLANNED, SENDING, SENT, Invitation
from jobs.surveys.tokens import sign

log = logging.getLogger(__name__)

#: Called at named points of a send; tests use it to kill the process in between.
FaultHook = Callable[[str], None]
#: The point between the channel accepting a message and the outbox recording it.
AFTER_SEND = "after_send"
#: Refusals in a row, with no message accepted in the same send, that mean "the server refuses
#: everything" rather than "these recipients do not exist".
SERVER_WIDE_REFUSALS = 3


class Channel(Protocol):
    """Delivers one invitation (SMTP e-mail, or a link on the CRM contact)."""

    def deliver(self, invitation: Invitation, link: str, *, reminder: bool, now: datetime) -> None:
        """Raise ``NotSent``, ``Refused``, ``Unsendable`` or ``DeliveryUncertain``
        (jobs.surveys.mail)."""
        ...


@dataclass
class OutboxReport:
    sent: int = 0
    reminded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Left in "sending" (now or by an earlier crash): for a person to check.
    uncertain: list[Invitation] = field(default_factory=list)
    #: Back in the queue after a certain failure: (invitation id, reason, not before).
    requeued: list[tuple[str, str, datetime | None]] = field(default_factory=list)
    #: Why the send stopped before the end with work left for a later run (server-wide).
    stopped: str | None = None
    quiet_day: bool = False

    @property
    def deferred(self) -> int:
        return len(self.requeued)


class _Stop(Exception):
    """The mail server refuses everything now: stop this send; the next run tries again."""


@dataclass
class _Held:
    invitation_id: str
    reason: str
    reminder: bool
    #: "deferred" (4xx), "recipient" or "message" (5xx at RCPT, or at MAIL FROM / DATA).
    kind: str
    attempts: int


class _Verdicts:
    """Certain failures of one send, judged once we know whether the server takes anything."""

    def __init__(
        self, store: SurveyStore, report: OutboxReport, now: datetime, policy: RetryPolicy
    ) -> None:
        self._store = store
        self._report = report
        self._now = now
        self._policy = policy
        self._held: list[_Held] = []
        self.accepted = False

    def accept(self) -> None:
        self.accepted = True
        self._settle()

    def hold(self, held: _Held) -> None:
        self._held.append(held)
        if self.accepted:
            self._settle()
        elif len(self._held) >= SERVER_WIDE_REFUSALS:
            reasons = sorted({h.reason for h in self._held})
            self.server_wide(
                f"the mail server refused all {len(self._held)} messages of this send "
                f"({'; '.join(reasons)}): not the recipients' fault"
            )

    def unavailable(self, held: _Held) -> None:
        """The server cannot take anything now (unreachable, session closed)."""
        self._held.append(held)
        self.server_wide(held.reason)

    def server_wide(self, reason: str) -> None:
        """Everything held goes back to the queue untouched (already released), counted as
        nothing against the people; the send stops."""
        for h in self._held:
            self._requeue(h, reason, count=False)
        self._held.clear()
        raise _Stop(reason)

    def finish(self) -> None:
        """End of the send with some verdicts open: nothing accepted, too few for a pattern."""
        if self.accepted:
            self._settle()
            return
        for h in self._held:
            if h.kind == "recipient":
                self._fail(h)
            else:
                self._requeue(h, h.reason, count=True)
        self._held.clear()

    def _settle(self) -> None:
        for h in self._held:
            if h.kind == "deferred":
                self._requeue(h, h.reason, count=True)
            else:
                self._fail(h)
        self._held.clear()

    def _fail(self, h: _Held) -> None:
        if h.reminder:
            self._store.fail_released_reminder(h.invitation_id, f"reminder refused: {h.reason}")
        elif self._store.fail_planned(h.invitation_id, h.reason):
            self._report.failed.append((h.invitation_id, h.reason))

    def _requeue(self, h: _Held, reason: str, *, count: bool) -> None:
        if h.reminder:
            self._store.note(h.invitation_id, f"reminder not sent yet: {reason}")
            return  # released already: the next run tries it again
        if not count:
            self._store.requeue(h.invitation_id, reason, h.attempts, None)
            self._report.requeued.append((h.invitation_id, reason, None))
            return
        attempts = h.attempts + 1
        if self._policy.row_quarantined(attempts):
            message = f"not sent after {attempts} attempts: {reason}"
            if self._store.fail_planned(h.invitation_id, message, attempts=attempts):
                self._report.failed.append((h.invitation_id, message))
            return
        retry_at = self._now + timedelta(seconds=self._policy.row_retry_delay_seconds(attempts))
        self._store.requeue(h.invitation_id, reason, attempts, retry_at)
        self._report.requeued.append((h.invitation_id, reason, retry_at))


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
    policy: RetryPolicy | None = None,
) -> OutboxReport:
    """Send planned invitations and due reminders. Stops at the first uncertain delivery and
    when the mail server refuses everything (``report.stopped`` says why)."""
    report = OutboxReport()
    if config.fatigue.is_quiet(now.date()):
        report.quiet_day = True
    else:
        verdicts = _Verdicts(store, report, now, policy or RetryPolicy())
        try:
            sending = _Sending(store, channel, config, secret, now, fault, report, verdicts)
            sending.invitations()
            sending.reminders()
        except DeliveryUncertain as exc:
            log.warning("survey delivery stopped: %s", exc)
        except _Stop as exc:
            report.stopped = str(exc)
        finally:
            verdicts.finish()
    report.uncertain = [
        i for i in store.invitations() if i.state == SENDING or i.reminder_state == SENDING
    ]
    return report


def _deliver(
    channel: Channel,
    invitation: Invitation,
    link: str,
    *,
    reminder: bool,
    now: datetime,
    verdicts: _Verdicts,
    release: Callable[[str], object],
) -> bool:
    """Hand one message to the channel; True when it was accepted. A certain failure releases
    the row at once and leaves the verdict to ``verdicts``."""
    try:
        channel.deliver(invitation, link, reminder=reminder, now=now)
    except ChannelUnavailable as exc:
        release(str(exc))
        verdicts.unavailable(
            _Held(invitation.id, str(exc), reminder, "server", invitation.attempts)
        )
    except NotSent as exc:
        release(str(exc))
        verdicts.hold(_Held(invitation.id, str(exc), reminder, "deferred", invitation.attempts))
    except Refused as exc:
        release(str(exc))
        verdicts.hold(_Held(invitation.id, str(exc), reminder, exc.stage, invitation.attempts))
    else:
        return True
    return False


@dataclass
class _Sending:
    """One run of the outbox: what both passes (invitations, then reminders) work with."""

    store: SurveyStore
    channel: Channel
    config: SurveysSection
    secret: str
    now: datetime
    fault: FaultHook | None
    report: OutboxReport
    verdicts: _Verdicts

    def invitations(self) -> None:
        store, now = self.store, self.now
        for invitation in store.invitations(PLANNED):
            if invitation.retry_at is not None and invitation.retry_at > now:
                continue  # backing off after a certain failure
            expires_at = now + timedelta(days=self.config.expiry_days)
            if not store.claim(invitation.id, expires_at):
                continue  # another sender took it
            claimed = replace(invitation, state=SENDING, expires_at=expires_at)
            try:
                accepted = self._deliver(
                    claimed,
                    expires_at,
                    reminder=False,
                    release=partial(store.release, invitation.id),
                )
            except Unsendable as exc:
                store.mark_failed(invitation.id, str(exc))
                self.report.failed.append((invitation.id, str(exc)))
                continue
            except DeliveryUncertain as exc:
                store.note(invitation.id, str(exc))
                raise
            if accepted:
                store.mark_sent(invitation.id, now)
                self.report.sent += 1
                self.verdicts.accept()

    def reminders(self) -> None:
        if not self.config.reminder_after_days:
            return
        store, now = self.store, self.now
        due_before = now - timedelta(days=self.config.reminder_after_days)
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
            try:
                accepted = self._deliver(
                    invitation,
                    invitation.expires_at,
                    reminder=True,
                    release=partial(_release_reminder, store, invitation.id),
                )
            except Unsendable as exc:
                store.fail_reminder(invitation.id, f"reminder not sendable: {exc}")
                continue
            if accepted:
                store.mark_reminded(invitation.id, now)
                self.report.reminded += 1
                self.verdicts.accept()

    def _deliver(
        self,
        invitation: Invitation,
        expires_at: datetime,
        *,
        reminder: bool,
        release: Callable[[str], object],
    ) -> bool:
        """`_deliver` with the invitation's link; the fault hook after an accepted send."""
        link = survey_link(self.config, invitation.id, expires_at, self.secret)
        accepted = _deliver(
            self.channel,
            invitation,
            link,
            reminder=reminder,
            now=self.now,
            verdicts=self.verdicts,
            release=release,
        )
        if accepted and self.fault is not None:
            self.fault(AFTER_SEND)
        return accepted


def _release_reminder(store: SurveyStore, invitation_id: str, _message: str) -> None:
    store.release_reminder(invitation_id)  # tried again on the next run


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
