"""Invitation e-mails: Jinja2 HTML + plain text, and delivery over SMTP (stdlib smtplib).

What a failed SMTP call means for the outbox:

- ``NotSent``: the server refused before the message was accepted for delivery (connect or
  login failed, recipient refused): nothing left, the invitation can be tried again.
- ``Refused``: the server will never take this message (a permanent 5xx for this recipient).
- ``DeliveryUncertain``: the connection broke while the message was being handed over; it may
  have been delivered. The outbox never resends such an invitation by itself.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Self

from jobs.surveys.config import SmtpSection
from jobs.surveys.i18n import texts
from jobs.surveys.records import Invitation
from jobs.surveys.templating import environment

#: The Message-ID domain: a mail server or client that saw the id before can tell a duplicate.
MESSAGE_ID_DOMAIN = "engage-surveys.invalid"


class NotSent(Exception):
    """The message certainly did not leave; try again later."""


class Refused(Exception):
    """The server will never accept this message (e.g. the mailbox does not exist)."""


class DeliveryUncertain(Exception):
    """The message may or may not have been delivered; a person decides."""


def message_id(invitation_id: str, reminder: bool) -> str:
    """Derived from the outbox key, so a message and any accidental copy share one id."""
    return f"<{invitation_id}{'.reminder' if reminder else ''}@{MESSAGE_ID_DOMAIN}>"


@dataclass(frozen=True)
class Letter:
    subject: str
    text: str
    html: str


def render_letter(invitation: Invitation, link: str, *, reminder: bool) -> Letter:
    t = texts(invitation.language)
    engagement = invitation.engagement_name or ""
    expires = invitation.expires_at.date().isoformat() if invitation.expires_at else ""
    context = {
        "t": t,
        "name": invitation.contact_name,
        "engagement": engagement,
        "link": link,
        "expires": expires,
        "reminder": reminder,
    }
    subject = (t["reminder_subject"] if reminder else t["subject"]).format(engagement=engagement)
    env = environment()
    return Letter(
        subject=subject,
        text=env.get_template("invitation.txt").render(**context),
        html=env.get_template("invitation.html").render(subject=subject, **context),
    )


def build_message(
    invitation: Invitation, link: str, *, sender: str, reminder: bool, now: datetime
) -> EmailMessage:
    if not invitation.email:
        raise Refused("the invitation has no e-mail address")
    letter = render_letter(invitation, link, reminder=reminder)
    message = EmailMessage()
    message["Subject"] = letter.subject
    message["From"] = sender
    message["To"] = formataddr((invitation.contact_name or "", invitation.email))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(invitation.id, reminder)
    # Auto-Submitted keeps out-of-office replies away; the id helps support find the invitation.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Engage-Invitation"] = invitation.id
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message


class SmtpMailer:
    """One SMTP connection for a batch of messages; opened on first use, closed on exit."""

    def __init__(self, config: SmtpSection, password: str | None) -> None:
        self._config = config
        self._password = password
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        cfg = self._config
        try:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
            if cfg.starttls:
                smtp.starttls()
            if cfg.username:
                if not self._password:
                    raise NotSent("surveys.smtp.username is set but ENGAGE_SMTP_PASSWORD is not")
                smtp.login(cfg.username, self._password)
        except (OSError, smtplib.SMTPException) as exc:
            # The password never appears: smtplib's errors carry the server's reply only.
            raise NotSent(
                f"cannot reach the mail server {cfg.host}:{cfg.port}: {type(exc).__name__}"
            ) from None
        self._smtp = smtp
        return smtp

    def send(self, message: EmailMessage) -> None:
        smtp = self._connection()
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            if all(code >= 500 for code in codes):
                raise Refused(f"the mail server refused the recipient ({sorted(codes)})") from None
            raise NotSent(f"the mail server deferred the recipient ({sorted(codes)})") from None
        except smtplib.SMTPSenderRefused as exc:
            raise NotSent(f"the mail server refused the sender ({exc.smtp_code})") from None
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:
                raise Refused(f"the mail server refused the message ({exc.smtp_code})") from None
            raise NotSent(f"the mail server deferred the message ({exc.smtp_code})") from None
        except (TimeoutError, OSError) as exc:
            self._smtp = None
            raise DeliveryUncertain(
                f"the connection to the mail server broke while sending ({type(exc).__name__})"
            ) from None
        if refused:
            raise Refused("the mail server refused the recipient")


class EmailChannel:
    """The SMTP channel of the outbox: one e-mail per invitation or reminder."""

    def __init__(self, mailer: SmtpMailer, sender: str) -> None:
        self._mailer = mailer
        self._sender = sender

    def deliver(self, invitation: Invitation, link: str, *, reminder: bool, now: datetime) -> None:
        message = build_message(invitation, link, sender=self._sender, reminder=reminder, now=now)
        self._mailer.send(message)
