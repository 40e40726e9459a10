"""Invitation e-mails: Jinja2 HTML + plain text, and delivery over SMTP (stdlib smtplib).

What a failed SMTP call means for the outbox:

- ``Unsendable``: this invitation cannot become a message (no address, data that breaks the
  message): certainly not sent, failed for this one with the reason; a person can re-queue it.
- ``ChannelUnavailable``: the server cannot be reached, refused the login, or refuses the
  sender or closes the session (421): nothing left, and nothing else will leave in this send.
- ``NotSent``: a temporary (4xx) refusal of this message: nothing left, tried again later.
- ``Refused``: a permanent (5xx) refusal of this message. Whether that is the recipient's fault
  or the server's is decided by the outbox (a server refusing every message is not a recipient).
- ``DeliveryUncertain``: the connection broke while the message was being handed over; it may
  have been delivered. The outbox never resends such an invitation by itself.

Names (the contact's, the engagement's) go into headers through ``one_line``
(jobs/outside_text.py): a line break in a CRM name becomes a space, so it cannot add a header;
and the envelope is given explicitly (the invitation's one address), never read from headers.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Self

from jobs.messages.catalog import Words
from jobs.outside_text import one_line
from jobs.surveys.config import SmtpSection, SurveysSection
from jobs.surveys.i18n import texts
from jobs.surveys.recipients import email_problem
from jobs.surveys.records import Invitation
from jobs.surveys.templating import environment

#: The Message-ID domain: a mail server or client that saw the id before can tell a duplicate.
MESSAGE_ID_DOMAIN = "engage-surveys.invalid"


class NotSent(Exception):
    """The message certainly did not leave; try again later."""


class ChannelUnavailable(NotSent):
    """Nothing can be sent now: the mail server unreachable, the login or sender refused, the
    session closed (421); on the CRM channel, the CRM asking to come back later."""


class Unsendable(Exception):
    """This invitation cannot be delivered as it is (no address, a message that cannot be
    built, the CRM refusing its link): certainly nothing left; failed for this one."""


class Refused(Exception):
    """The server will not accept this message (5xx). ``stage``: "recipient" (RCPT) or "message"
    (MAIL FROM / DATA), which says more about the server than about the recipient."""

    def __init__(self, message: str, *, stage: str = "recipient") -> None:
        super().__init__(message)
        self.stage = stage


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


def render_letter(
    invitation: Invitation, link: str, *, reminder: bool, words: Words | None = None
) -> Letter:
    """The invitation or reminder in the invitation's language, in `words` (the catalogs with
    the company's override file; the shipped ones when None), as the survey page is."""
    t = texts(invitation.language, words)
    # One line: it goes into the Subject, and a name needs no line breaks in the body either.
    engagement = one_line(invitation.engagement_name)
    expires = invitation.expires_at.date().isoformat() if invitation.expires_at else ""
    context = {
        "t": t,
        "name": one_line(invitation.contact_name),
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
    invitation: Invitation,
    link: str,
    *,
    sender: str,
    reminder: bool,
    now: datetime,
    words: Words | None = None,
) -> EmailMessage:
    """The e-mail; ``Unsendable`` (with the reason) when this invitation cannot be one."""
    # Checked again here, not only at planning: the row may come from an older version or a
    # hand edit, and an address with a line break would otherwise reach the SMTP envelope.
    problem = email_problem(invitation.email)
    if problem is not None:
        raise Unsendable(problem.replace("the contact has", "the invitation has"))
    try:
        return _message(invitation, link, sender=sender, reminder=reminder, now=now, words=words)
    except Exception as exc:  # noqa: BLE001 - whatever in this one invitation breaks the message
        # (a header the mail library refuses, a template error), nothing reached the server:
        # a certain failure of this invitation, never a stopped run.
        raise Unsendable(f"the message could not be built: {type(exc).__name__}: {exc}") from None


def _message(
    invitation: Invitation,
    link: str,
    *,
    sender: str,
    reminder: bool,
    now: datetime,
    words: Words | None,
) -> EmailMessage:
    assert invitation.email is not None
    letter = render_letter(invitation, link, reminder=reminder, words=words)
    message = EmailMessage()
    message["Subject"] = letter.subject
    message["From"] = sender
    message["To"] = formataddr((one_line(invitation.contact_name), one_line(invitation.email)))
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
        where = f"the mail server {cfg.host}:{cfg.port}"
        if cfg.username and not self._password:
            raise ChannelUnavailable("surveys.smtp.username is set but ENGAGE_SMTP_PASSWORD is not")
        try:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
            if cfg.starttls:
                smtp.starttls()
            if cfg.username:
                smtp.login(cfg.username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelUnavailable(
                f"{where} refused the login of surveys.smtp.username ({exc.smtp_code}): "
                f"check ENGAGE_SMTP_PASSWORD"
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise ChannelUnavailable(
                f"{where} refused the session ({exc.smtp_code} {_reply(exc.smtp_error)})"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            # The password never appears: smtplib's errors carry the server's reply only.
            raise ChannelUnavailable(f"cannot reach {where}: {type(exc).__name__}") from None
        self._smtp = smtp
        return smtp

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Hand one message over for exactly ``recipient`` (the envelope is never taken from
        the headers, so no header can add a recipient)."""
        smtp = self._connection()
        try:
            refused = smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            self._forget_if_closed(smtp)
            replies = list(exc.recipients.values())
            codes = sorted({code for code, _ in replies})
            why = f"{codes[0]} {_reply(replies[0][1])}" if len(codes) == 1 else str(codes)
            if any(code == 421 for code in codes):
                raise ChannelUnavailable(f"the mail server closed the session ({why})") from None
            if all(code >= 500 for code in codes):
                raise Refused(f"the mail server refused the recipient ({why})") from None
            raise NotSent(f"the mail server deferred the recipient ({why})") from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self._forget_if_closed(smtp)
            raise _refusal(exc) from None
        except (TimeoutError, OSError, smtplib.SMTPServerDisconnected) as exc:
            self._smtp = None
            raise DeliveryUncertain(
                f"the connection to the mail server broke while sending ({type(exc).__name__})"
            ) from None
        if refused:
            raise Refused("the mail server refused the recipient")

    def _forget_if_closed(self, smtp: smtplib.SMTP) -> None:
        # smtplib closes the socket after a 421; the next message opens a new session.
        if smtp.sock is None:
            self._smtp = None


class EmailChannel:
    """The SMTP channel of the outbox: one e-mail per invitation or reminder."""

    def __init__(self, mailer: SmtpMailer, sender: str, words: Words | None = None) -> None:
        self._mailer = mailer
        self._sender = sender
        #: The catalogs with the company's override file (`Settings.words`); None: shipped.
        self._words = words

    def deliver(self, invitation: Invitation, link: str, *, reminder: bool, now: datetime) -> None:
        message = build_message(
            invitation, link, sender=self._sender, reminder=reminder, now=now, words=self._words
        )
        assert invitation.email is not None  # build_message refuses an invitation without one
        self._mailer.send(message, parseaddr(self._sender)[1], invitation.email.strip())


def _refusal(exc: smtplib.SMTPSenderRefused | smtplib.SMTPDataError) -> Exception:
    """What a refused sender (MAIL FROM) or message (DATA) means, by its reply code: 5xx is
    final for this message; a deferred sender, or a 421, means the server takes no mail now;
    another 4xx defers this message only."""
    what = "sender" if isinstance(exc, smtplib.SMTPSenderRefused) else "message"
    why = f"{exc.smtp_code} {_reply(exc.smtp_error)}"
    if exc.smtp_code >= 500:
        return Refused(f"the mail server refused the {what} ({why})", stage="message")
    if what == "sender":
        return ChannelUnavailable(f"the mail server deferred the sender ({why})")
    if exc.smtp_code == 421:
        return ChannelUnavailable(f"the mail server closed the session ({why})")
    return NotSent(f"the mail server deferred the message ({why})")


def _reply(text: bytes | str) -> str:
    """The server's reply text, one line, trimmed (it is shown to the operator)."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    line = one_line(raw)
    return line if len(line) <= 120 else line[:119] + "…"


@contextmanager
def opened_email_channel(
    config: SurveysSection, password: str | None, words: Words
) -> Iterator[EmailChannel]:
    """The SMTP channel as `engage surveys send` and the workers' survey job both send with:
    in the company's own words (``words``: `Settings.words`, the override file over the
    catalogs), one connection to the server for the whole send."""
    with SmtpMailer(config.smtp, password) as mailer:
        yield EmailChannel(mailer, config.smtp.sender, words=words)
