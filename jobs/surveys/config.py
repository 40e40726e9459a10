"""The ``[surveys]`` section of the configuration file.

Nothing secret lives here: the SMTP password comes from ``ENGAGE_SMTP_PASSWORD`` and the link
signing secret from ``ENGAGE_SURVEY_SECRET``.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Environment variables holding the survey secrets.
SURVEY_SECRET_ENV = "ENGAGE_SURVEY_SECRET"
SMTP_PASSWORD_ENV = "ENGAGE_SMTP_PASSWORD"

LANGUAGES = ("en", "zh")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(StrEnum):
    PERIODIC = "periodic"  # every N days of an active engagement (e.g. quarterly)
    MILESTONE = "milestone"  # a milestone was accepted by the client
    CLOSE = "close"  # the engagement's contract ended
    TICKET = "ticket"  # a ticket was resolved (transactional CSAT)


class TriggersSection(_Section):
    #: Days between relationship surveys of an active engagement; 0 turns them off.
    periodic_days: int = Field(default=90, ge=0)
    milestone_accepted: bool = True
    engagement_close: bool = True
    ticket_resolved: bool = False
    #: Events older than this (on the first run, say) do not start a wave any more.
    lookback_days: int = Field(default=14, ge=1)


class FatigueSection(_Section):
    #: Least days between two invitations to the same person.
    contact_min_days: int = Field(default=90, ge=0)
    #: At most this many invitations per account within ``account_period_days`` (0: no cap).
    account_cap: int = Field(default=2, ge=0)
    account_period_days: int = Field(default=91, ge=1)
    #: Weekdays ("sat", "sun") and dates ("2026-10-01") on which nothing is sent.
    quiet_days: tuple[str, ...] = ()

    @field_validator("quiet_days")
    @classmethod
    def _known_days(cls, days: tuple[str, ...]) -> tuple[str, ...]:
        for day in days:
            if day.lower() in WEEKDAYS:
                continue
            try:
                date.fromisoformat(day)
            except ValueError:
                raise ValueError(
                    f"quiet day {day!r} is neither a weekday ({', '.join(WEEKDAYS)}) "
                    "nor a date (YYYY-MM-DD)"
                ) from None
        return tuple(d.lower() for d in days)

    def is_quiet(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.quiet_days or day.isoformat() in self.quiet_days


class SmtpSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(default="surveys@example.com", pattern=r"^[^@\s]+@[^@\s]+$")
    #: Log in with this user (password from ENGAGE_SMTP_PASSWORD); none: no login.
    username: str | None = None
    starttls: bool = False
    timeout_seconds: float = Field(default=30, gt=0)


class ServeSection(_Section):
    """`engage serve` facing the internet (jobs/surveys/serving.py)."""

    #: A request's headers and body must arrive within this many seconds of its first byte.
    request_timeout_seconds: float = Field(default=10, gt=0, le=300)
    #: An idle keep-alive connection is closed after this many seconds.
    keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    #: Open connections at most; a new one closes the longest-waiting incomplete one.
    max_connections: int = Field(default=1000, ge=1, le=100_000)
    #: Request line and headers at most (h11's limit on an incomplete event).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)


class SurveysSection(_Section):
    enabled: bool = True
    triggers: TriggersSection = TriggersSection()
    #: Roles by the words of a contact's title (case-insensitive), e.g.
    #: decision_maker = ["CTO", "Director", "总监"].
    roles: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "decision_maker": ("CTO", "VP", "Director", "Head of", "总监"),
            "project_contact": ("Manager", "Lead", "经理"),
        }
    )
    #: Which roles are asked; empty asks every contact of the account.
    recipient_roles: tuple[str, ...] = ("decision_maker", "project_contact")
    #: How much one answer counts in the engagement's NPS and CSAT, by role (default 1).
    role_weights: dict[str, float] = Field(default_factory=dict)
    fatigue: FatigueSection = FatigueSection()
    #: Days after sending without an answer before one reminder goes out (0: no reminder).
    reminder_after_days: int = Field(default=7, ge=0)
    #: Days after sending when the link stops working.
    expiry_days: int = Field(default=21, ge=1)
    channel: Literal["smtp", "crm"] = "smtp"
    #: Contact field that receives the personal link on the CRM channel.
    crm_link_field: str = "Survey_Link"
    #: Where `engage serve` is reached by respondents; links start with it.
    base_url: str = Field(default="http://127.0.0.1:8765", pattern=r"^https?://")
    default_language: Literal["en", "zh"] = "en"
    smtp: SmtpSection = SmtpSection()
    #: POSTs one client address may make per minute to the response page.
    rate_limit_per_minute: int = Field(default=10, ge=1)
    serve: ServeSection = ServeSection()

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("roles")
    @classmethod
    def _role_names(cls, roles: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name in roles:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"role name {name!r}: use lower-case letters, digits and _")
        return roles

    @model_validator(mode="after")
    def _known_roles(self) -> SurveysSection:
        for name in (*self.recipient_roles, *self.role_weights):
            if name not in self.roles:
                raise ValueError(f"role {name!r} is not defined under surveys.roles")
        if self.reminder_after_days >= self.expiry_days:
            raise ValueError(
                f"reminder_after_days ({self.reminder_after_days}) must be less than "
                f"expiry_days ({self.expiry_days})"
            )
        return self
