"""Survey fixtures: a real SMTP server (aiosmtpd) that keeps what it receives, and data builders."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from jobs.surveys.records import Invitation
from mappings.domain import Contact, Engagement, EngagementStatus

SECRET = "test-secret-0123456789abcdef"


class Inbox:
    """What the SMTP server accepted, message by message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = 0
        #: Addresses the server refuses permanently (550).
        self.refused: set[str] = set()
        #: (MAIL FROM, RCPT TOs, raw bytes) of every accepted message: the envelope and the
        #: headers exactly as they arrived.
        self.envelopes: list[tuple[str, list[str], bytes]] = []
        #: Replies that override the normal ones: {"RCPT": "451 ...", "DATA": "554 ..."}.
        self.replies: dict[str, str] = {}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if "RCPT" in self.replies:
            return self.replies["RCPT"]
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if "DATA" in self.replies:
            return self.replies["DATA"]
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append(
                (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
            )
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self._lock:
            return len(self.messages)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def contact(crm_id: str, account_id: str = "A1", **changes: Any) -> Contact:
    values: dict[str, Any] = {
        "crm_id": crm_id,
        "account_id": account_id,
        "first_name": "Ada",
        "last_name": f"Client{crm_id}",
        "email": f"{crm_id.lower()}@client.example",
        "title": "CTO",
    }
    values.update(changes)
    return Contact.model_validate(values)


def engagement(crm_id: str, account_id: str = "A1", **changes: Any) -> Engagement:
    values: dict[str, Any] = {
        "crm_id": crm_id,
        "name": f"Engagement {crm_id}",
        "account_id": account_id,
        "owner_id": "U1",
        "stage": "Closed Won",
        "status": EngagementStatus.ACTIVE,
        "start_date": date(2026, 1, 5),
    }
    values.update(changes)
    return Engagement.model_validate(values)


@dataclass
class Captured:
    """A channel that keeps the links instead of sending them."""

    links: dict[str, str]

    def deliver(self, invitation: Invitation, link: str, *, reminder: bool, now: datetime) -> None:
        self.links[invitation.contact_id] = link
