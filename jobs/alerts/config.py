"""The ``[alerts]`` section: routes (where alerts go), rules (what is worth one), the digest.

No webhook URL lives here: a Slack or Teams webhook URL is a secret (whoever has it can post
to the channel), so a route names the environment variable that holds it (``url_env``). A
route written with ``url = ...`` is refused with a message that says so.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mappings.domain import RiskLevel, SlaStatus

LANGUAGES = ("en", "zh")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LEVEL_ORDER = (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(StrEnum):
    RISK_LEVEL = "risk_level"  # the level rose by `rise_by` levels, or reached one of `levels`
    SLA_STATUS = "sla_status"  # the SLA status is one of `statuses` (at_risk, breached)
    MILESTONE_OVERDUE = "milestone_overdue"  # a milestone is past its date (the risk driver)
    LOW_SATISFACTION = "low_satisfaction"  # CSAT below `csat_below` or NPS below `nps_below`
    NO_TOUCHPOINT = "no_touchpoint"  # no status report within the tier's cadence
    CONTRACT_ENDING = "contract_ending"  # the contract ends within `days`, no renewal agreed
    JOB = "job"  # the run failed, stopped (credits, rate limits) or quarantined rows


def _clock_time(value: str) -> time:
    if not re.fullmatch(r"\d{2}:\d{2}", value):
        raise ValueError(f"{value!r} is not a time of day as HH:MM")
    return time.fromisoformat(value)


class RouteSection(_Section):
    """One destination: a Slack or Teams channel (by its webhook), or one e-mail address."""

    channel: Literal["slack", "teams", "email"]
    #: slack / teams: the environment variable holding the webhook URL (never the URL itself).
    url_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")
    #: email: the address (a person or a team's list).
    to: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    language: Literal["en", "zh"] = "en"
    #: The IANA zone quiet hours and the digest's time are read in (DST included).
    timezone: str = "UTC"
    #: ["22:00", "07:00"]: alerts are held in that window (local time) and go out at its end.
    quiet_hours: tuple[str, str] | None = None
    #: More alerts than this due at once for this route become one summary message.
    burst_limit: int = Field(default=20, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _no_url_in_the_file(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("url", "webhook", "webhook_url"):
                if key in data:
                    raise ValueError(
                        f"`{key}`: a webhook URL is a secret and does not belong in the file; "
                        "put it in an environment variable and name that variable in url_env"
                    )
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, Asia/Shanghai)"
            ) from None
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _times(cls, value: tuple[str, str] | None) -> tuple[str, str] | None:
        if value is not None:
            start, end = (_clock_time(v) for v in value)
            if start == end:
                raise ValueError("quiet_hours start and end are the same time")
        return value

    @model_validator(mode="after")
    def _destination(self) -> RouteSection:
        if self.channel == "email" and self.to is None:
            raise ValueError("an email route needs `to` (the address)")
        if self.channel != "email" and self.url_env is None:
            raise ValueError(
                f"a {self.channel} route needs url_env: the environment variable that holds "
                "its webhook URL"
            )
        return self

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet window that `now` falls in ends (UTC), or None when not quiet.

        Computed on the local wall clock and converted back through the zone, so that on the
        night a DST change happens the window still ends at the configured local time."""
        if self.quiet_hours is None:
            return None
        start, end = (_clock_time(v) for v in self.quiet_hours)
        local = now.astimezone(self.zone())
        clock = local.time().replace(tzinfo=None)
        crosses_midnight = start > end
        quiet = (clock >= start or clock < end) if crosses_midnight else start <= clock < end
        if not quiet:
            return None
        day = local.date()
        if crosses_midnight and clock >= start:
            day += timedelta(days=1)
        ends = datetime.combine(day, end, tzinfo=self.zone())
        return ends.astimezone(now.tzinfo)


class RuleSection(_Section):
    """One kind of turn worth an alert, its filters, and the routes it goes to."""

    event: Event
    routes: tuple[str, ...] = Field(min_length=1)
    #: The rule's name in outbox keys and `engage alerts plan`; default: the event. Renaming a
    #: rule starts its episodes afresh (its open conditions alert again once).
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    #: risk_level: alert when the level rose by at least this many levels...
    rise_by: int | None = Field(default=None, ge=1, le=3)
    #: ...or when it is one of these.
    levels: tuple[RiskLevel, ...] = ()
    #: sla_status: the statuses that alert.
    statuses: tuple[SlaStatus, ...] = (SlaStatus.BREACHED,)
    #: low_satisfaction thresholds (either may be left out).
    csat_below: float | None = Field(default=None, ge=1, le=5)
    nps_below: int | None = Field(default=None, ge=-100, le=100)
    #: contract_ending: days before the end date.
    days: int = Field(default=30, ge=1)
    #: job: which outcomes alert.
    outcomes: tuple[Literal["failed", "stopped", "quarantined"], ...] = (
        "failed",
        "stopped",
        "quarantined",
    )
    #: Filters: empty means any. Owners are the CRM user ids; tiers the SLA tiers.
    accounts: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    only_levels: tuple[RiskLevel, ...] = ()

    @model_validator(mode="after")
    def _complete(self) -> RuleSection:
        if self.event == Event.RISK_LEVEL and self.rise_by is None and not self.levels:
            raise ValueError("a risk_level rule needs rise_by or levels")
        if self.event == Event.LOW_SATISFACTION and (
            self.csat_below is None and self.nps_below is None
        ):
            raise ValueError("a low_satisfaction rule needs csat_below or nps_below")
        if self.event == Event.SLA_STATUS:
            wrong = set(self.statuses) - {SlaStatus.AT_RISK, SlaStatus.BREACHED}
            if wrong:
                raise ValueError("sla_status statuses are at_risk and/or breached")
        return self

    @property
    def key(self) -> str:
        return self.name or self.event.value


class PersonSection(_Section):
    """A person who receives the weekly digest: an owner (CRM user id) or a manager."""

    name: str | None = None
    #: The route their digest goes to (their e-mail, or a channel).
    route: str
    #: Default: the route's language.
    language: Literal["en", "zh"] | None = None
    #: The manager's id (also a key of [alerts.people]): their digest covers this person's.
    manager: str | None = None


class DigestSection(_Section):
    enabled: bool = True
    #: The weekday and local time (the route's zone) the digest goes out.
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    at: str = "09:00"
    #: How many of the riskiest engagements it lists.
    riskiest: int = Field(default=5, ge=1, le=20)

    @field_validator("at")
    @classmethod
    def _time(cls, value: str) -> str:
        _clock_time(value)
        return value

    def at_time(self) -> time:
        return _clock_time(self.at)


class AlertsSection(_Section):
    enabled: bool = True
    routes: dict[str, RouteSection] = Field(default_factory=dict)
    rules: tuple[RuleSection, ...] = ()
    #: A condition that clears and comes back within this many minutes of its last alert is
    #: the same episode: no second alert for a flapping value.
    cooldown_minutes: int = Field(default=240, ge=0)
    #: Zoho: the org's id in its web URLs (crm.zoho.<dc>/crm/<org>/tab/Potentials/<id>).
    #: Without it the link leaves the org part out (Zoho opens the user's default org).
    zoho_org: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+$")
    #: Odoo: the deal's web address style: "web" (/web#id=..&model=crm.lead, 16-19) or
    #: "odoo" (/odoo/crm/<id>, 17.2 and later).
    odoo_link: Literal["web", "odoo"] = "web"
    #: Sender of alert e-mails; default: [surveys.smtp] sender (the SMTP setup is shared).
    email_sender: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    people: dict[str, PersonSection] = Field(default_factory=dict)
    digest: DigestSection = DigestSection()

    @field_validator("routes")
    @classmethod
    def _route_names(cls, routes: dict[str, RouteSection]) -> dict[str, RouteSection]:
        for name in routes:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
                raise ValueError(f"route name {name!r}: letters, digits, _ . - (64 at most)")
        return routes

    @model_validator(mode="after")
    def _known_names(self) -> AlertsSection:
        keys = [rule.key for rule in self.rules]
        if twice := sorted({k for k in keys if keys.count(k) > 1}):
            raise ValueError(
                f"two rules are called {twice[0]!r}: give each rule of one event a name"
            )
        for index, rule in enumerate(self.rules):
            for route in rule.routes:
                if route not in self.routes:
                    raise ValueError(f"rules[{index}]: route {route!r} is not in alerts.routes")
        for person_id, person in self.people.items():
            if person.route not in self.routes:
                raise ValueError(f"people.{person_id}: route {person.route!r} is not defined")
            if person.manager is not None and person.manager not in self.people:
                raise ValueError(f"people.{person_id}: manager {person.manager!r} is not defined")
        return self
