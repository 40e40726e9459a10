"""The engagement domain: what an outsourcing provider manages, independent of any CRM."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Domain(BaseModel):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)


class Account(_Domain):
    """The client company."""

    crm_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    industry: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    country: str | None = None
    modified_at: datetime | None = None


class Contact(_Domain):
    """A person at the client: survey recipient, decision maker, project contact."""

    crm_id: str = Field(min_length=1)
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    title: str | None = None
    email_opt_out: bool = False
    modified_at: datetime | None = None


class EngagementStatus(StrEnum):
    PIPELINE = "pipeline"  # still being sold: no delivery yet
    ACTIVE = "active"  # contract signed: delivery running
    CLOSED_LOST = "closed_lost"


class RenewalStatus(StrEnum):
    NONE = "none"  # nothing started
    IN_PROGRESS = "in_progress"
    RENEWED = "renewed"
    NOT_RENEWING = "not_renewing"  # a planned close


class Engagement(_Domain):
    """An outsourcing engagement, built from a CRM deal/opportunity."""

    crm_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    account_id: str = Field(min_length=1)
    account_name: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    stage: str = Field(min_length=1)
    status: EngagementStatus = EngagementStatus.PIPELINE
    contract_value: Decimal | None = Field(default=None, ge=0)
    currency: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    closing_date: date | None = None
    billing_model: str | None = None
    sla_tier: str | None = None
    #: Map the CRM's renewal field here (with `map` for its labels); empty means none recorded.
    renewal_status: RenewalStatus | None = None
    #: The delivery projects of this engagement, as the deal's field holds them (e.g. Zoho's
    #: ``Jira_Project``): one key or several, separated by commas (docs/delivery.md, linking).
    delivery_projects: str | None = None
    modified_at: datetime | None = None

    @field_validator("end_date")
    @classmethod
    def _ends_after_start(cls, end: date | None, info: object) -> date | None:
        start = getattr(info, "data", {}).get("start_date")
        if end is not None and start is not None and end < start:
            raise ValueError(f"contract end {end} is before the start {start}")
        return end


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class SlaStatus(StrEnum):
    COMPLIANT = "compliant"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    NOT_MEASURED = "not_measured"  # no tickets or milestones recorded yet


class Driver(_Domain):
    """One reason behind a risk score, in words an account manager reads on the deal."""

    code: str
    points: int = Field(ge=0, le=100)
    en: str
    zh: str


class EngagementHealth(_Domain):
    """What the plugin writes back: risk score (0–100, higher = riskier), level, why, SLA, NPS."""

    engagement_id: str
    risk_score: int = Field(ge=0, le=100)
    risk_level: RiskLevel
    drivers: tuple[Driver, ...] = ()
    sla_status: SlaStatus = SlaStatus.NOT_MEASURED
    sla_compliance: float | None = Field(default=None, ge=0, le=100)  # % of goals met
    next_sla_deadline: datetime | None = None
    nps: int | None = Field(default=None, ge=-100, le=100)
    csat: float | None = Field(default=None, ge=1, le=5)
    last_survey_date: date | None = None
    updated_at: datetime

    def same_values(self, other: EngagementHealth | None) -> bool:
        """Equal in everything a person would see, ignoring when it was computed."""
        if other is None:
            return False
        return self.model_dump(exclude={"updated_at"}) == other.model_dump(exclude={"updated_at"})


class AccountHealth(_Domain):
    """Roll-up on the client account: its riskiest active engagement sets the level."""

    account_id: str
    risk_level: RiskLevel | None
    active_engagements: int
    summary_en: str
    summary_zh: str


# --- Delivery facts: what happens on an engagement, imported from files or delivery tools ----


class _Fact(_Domain):
    #: The id in the system the fact came from; re-importing the same id updates, never duplicates.
    external_id: str = Field(min_length=1, max_length=128)
    engagement_id: str = Field(min_length=1)


class Milestone(_Fact):
    name: str = Field(min_length=1)
    planned_date: date
    #: The value earned when the milestone is complete (for earned value, EV/PV).
    planned_value: Decimal = Field(ge=0)
    percent_complete: float = Field(default=0, ge=0, le=100)
    delivered_date: date | None = None
    accepted_date: date | None = None
    #: How many times the client rejected a delivery of this milestone (rework).
    rejected_count: int = Field(default=0, ge=0)


class TicketPriority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Ticket(_Fact):
    """A service request or incident, measured against the engagement's SLA."""

    priority: TicketPriority
    opened_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    #: Intervals when the clock stops because the provider waits on the client.
    waiting_on_client: tuple[tuple[datetime, datetime], ...] = ()

    @model_validator(mode="after")
    def _in_order(self) -> Ticket:
        for name in ("first_response_at", "resolved_at"):
            value = getattr(self, name)
            if value is not None and value < self.opened_at:
                raise ValueError(f"{name} {value.isoformat()} is before opened_at")
        for start, end in self.waiting_on_client:
            if end < start:
                raise ValueError("a waiting_on_client interval ends before it starts")
        return self


class CostEntry(_Fact):
    spent_on: date
    amount: Decimal = Field(ge=0)
    category: str = "labour"


class TouchpointKind(StrEnum):
    STATUS_REPORT = "status_report"  # the weekly report
    REVIEW = "review"  # the monthly review
    MEETING = "meeting"
    CALL = "call"
    NOTE = "note"


class Touchpoint(_Fact):
    kind: TouchpointKind
    at: datetime


class Activity(_Domain):
    """A CRM activity (Zoho: a call, meeting, task or note) on a deal or an account; sync turns
    it into touchpoints of the engagements it concerns."""

    crm_id: str = Field(min_length=1)
    kind: TouchpointKind
    at: datetime
    #: The CRM module and id of the record the activity is attached to.
    related_module: str | None = None
    related_id: str | None = None
    modified_at: datetime | None = None


class ChangeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ChangeRequest(_Fact):
    raised_on: date
    value: Decimal = Field(ge=0)
    status: ChangeStatus = ChangeStatus.PENDING


# --- What computations read of each kind of fact ------------------------------------------------
# The models above satisfy these, and so do the lighter tuples scoring reads from the store
# (`jobs.store.store.MilestoneProgress`, `CostAmount`, `TouchpointTime`, `ChangeValue`): the risk
# model (jobs/health/risk.py) and the SLA engine (jobs/health/sla/engine.py) take either.


class MilestoneFact(Protocol):
    @property
    def planned_date(self) -> date: ...
    @property
    def planned_value(self) -> Decimal: ...
    @property
    def percent_complete(self) -> float: ...
    @property
    def delivered_date(self) -> date | None: ...
    @property
    def rejected_count(self) -> int: ...


class CostFact(Protocol):
    @property
    def amount(self) -> Decimal: ...


class TouchpointFact(Protocol):
    @property
    def kind(self) -> TouchpointKind: ...
    @property
    def at(self) -> datetime: ...


class ChangeFact(Protocol):
    @property
    def value(self) -> Decimal: ...
    @property
    def status(self) -> ChangeStatus: ...
