"""What the survey tables hold, as plain values (no database code: planning and results use
these without touching I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PLANNED, SENDING, SENT, FAILED = "planned", "sending", "sent", "failed"


@dataclass(frozen=True)
class Invitation:
    id: str
    contact_id: str
    wave_key: str
    engagement_id: str
    account_id: str
    trigger: str
    kind: str
    channel: str
    email: str | None
    contact_name: str | None
    engagement_name: str | None
    language: str
    role: str | None
    state: str
    planned_at: datetime
    sent_at: datetime | None
    expires_at: datetime | None
    reminder_state: str | None
    reminded_at: datetime | None
    answered_at: datetime | None
    message: str | None
    #: Certain failures so far; a re-queued invitation waits until ``retry_at``.
    attempts: int = 0
    retry_at: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        if self.answered_at is not None or self.state == FAILED:
            return False
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class Response:
    id: int
    invitation_id: str
    contact_id: str
    engagement_id: str
    account_id: str
    role: str | None
    nps: int | None
    csat: int | None
    comment: str | None
    answered_at: datetime


@dataclass(frozen=True)
class SuppressionRow:
    wave_key: str
    engagement_id: str
    contact_id: str
    rule: str
    reason: str
    at: datetime
