"""Alerts and digests by e-mail, over the surveys' SMTP setup ([surveys.smtp], the password
from ENGAGE_SMTP_PASSWORD): one message, HTML and plain text, to the route's address.

The Message-ID is derived from the outbox key, so a copy (a person re-queued an uncertain one)
can be told apart in the mail server's log. Names from the CRM reach headers through
``one_line`` and the HTML through ``html.escape``.
"""

from __future__ import annotations

import hashlib
import html
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from jobs.alerts.delivery import NotDelivered, Uncertain, Unsendable
from jobs.alerts.render import View
from jobs.outside_text import one_line
from jobs.surveys.mail import ChannelUnavailable, DeliveryUncertain, NotSent, Refused, SmtpMailer
from jobs.surveys.mail import Unsendable as MailUnsendable

MESSAGE_ID_DOMAIN = "engage-alerts.invalid"


def message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{MESSAGE_ID_DOMAIN}>"


def text_body(view: View) -> str:
    lines = [view.title, ""]
    lines += [f"{label}: {value}" for label, value in view.facts]
    for heading, items in view.sections:
        lines.append("")
        if heading:
            lines.append(heading)
            lines += [f"- {item}" for item in items]
        else:
            lines += list(items)
    if view.link:
        lines += ["", f"{view.link_label}: {view.link}"]
    if view.footer:
        lines += ["", "--", view.footer]
    return "\n".join(lines) + "\n"


def html_body(view: View) -> str:
    e = html.escape
    parts = [f"<h2>{e(view.title)}</h2>"]
    if view.facts:
        rows = "".join(f"<tr><th align=left>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in view.facts)
        parts.append(f"<table>{rows}</table>")
    for heading, items in view.sections:
        if heading:
            parts.append(f"<h3>{e(heading)}</h3><ul>")
            parts += [f"<li>{e(item)}</li>" for item in items]
            parts.append("</ul>")
        else:
            parts += [f"<p>{e(item)}</p>" for item in items]
    if view.link:
        parts.append(f'<p><a href="{e(view.link, quote=True)}">{e(view.link_label)}</a></p>')
    if view.footer:
        parts.append(f"<p><small>{e(view.footer)}</small></p>")
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"


def build_message(view: View, *, sender: str, to: str, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = one_line(view.title)
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(view.key)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text_body(view))
    message.add_alternative(html_body(view), subtype="html")
    return message


class EmailChannel:
    def __init__(self, mailer: SmtpMailer, *, sender: str, to: str, now: datetime) -> None:
        self._mailer = mailer
        self._sender = sender
        self._to = to
        self._now = now

    def deliver(self, view: View) -> None:
        message = build_message(view, sender=self._sender, to=self._to, now=self._now)
        try:
            self._mailer.send(message, parseaddr(self._sender)[1], self._to)
        except (ChannelUnavailable, NotSent) as exc:
            raise NotDelivered(str(exc)) from None
        except (Refused, MailUnsendable) as exc:
            raise Unsendable(str(exc)) from None
        except DeliveryUncertain as exc:
            raise Uncertain(str(exc)) from None
