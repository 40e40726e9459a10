"""Sample delivery facts for the demo: what a delivery tool or `engage import` would bring.

Deterministic for a given store and day, so the demo tells the same story every time: some
engagements slip milestones, burn budget, miss SLA goals, go quiet or grow in scope.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from jobs.store import Store
from mappings.domain import (
    ChangeRequest,
    CostEntry,
    Engagement,
    EngagementStatus,
    Milestone,
    Ticket,
    TicketPriority,
    Touchpoint,
    TouchpointKind,
)

DEMO_SOURCE = "demo"
#: How many active engagements get delivery facts (the rest keep deal data only).
WITH_FACTS = 40


def add_demo_facts(store: Store, now: datetime, seed: int = 11) -> dict[str, int]:
    """Give some active engagements milestones, tickets, costs, reports and change requests."""
    rng = random.Random(seed)
    active = [e for e in store.engagements() if e.status is EngagementStatus.ACTIVE][:WITH_FACTS]
    facts: dict[str, list] = {
        k: [] for k in ("milestones", "tickets", "costs", "touchpoints", "change_requests")
    }
    for index, engagement in enumerate(active):
        _one_engagement(engagement, index, rng, now, facts)
    return {kind: store.save_facts(kind, rows, DEMO_SOURCE, now) for kind, rows in facts.items()}


def _one_engagement(
    engagement: Engagement, index: int, rng: random.Random, now: datetime, facts: dict[str, list]
) -> None:
    eid = engagement.crm_id
    today = now.date()
    budget = engagement.contract_value or Decimal(100_000)
    trouble = index % 4 == 0  # every fourth engagement is in trouble, so the demo has a story
    for n in range(6):
        planned = today + timedelta(days=(n - 3) * 21)
        due = planned <= today
        late = trouble and due and n >= 1
        facts["milestones"].append(
            Milestone(
                external_id=f"{eid}-M{n}",
                engagement_id=eid,
                name=f"Milestone {n + 1}",
                planned_date=planned,
                planned_value=(budget / 6).quantize(Decimal("0.01")),
                percent_complete=(60 if late else 100) if due else rng.choice([0, 20, 40]),
                delivered_date=None if late or not due else planned,
                accepted_date=None if late or not due else planned + timedelta(days=2),
                rejected_count=1 if trouble and n == 0 else 0,
            )
        )
    spent_share = Decimal("0.75") if trouble else Decimal("0.45")
    facts["costs"].append(
        CostEntry(
            external_id=f"{eid}-C1",
            engagement_id=eid,
            spent_on=today,
            amount=(budget * spent_share).quantize(Decimal("0.01")),
        )
    )
    for n in range(8):
        opened = now - timedelta(days=2 + n * 5, hours=rng.randint(0, 6))
        slow = trouble and n < 3
        facts["tickets"].append(
            Ticket(
                external_id=f"{eid}-T{n}",
                engagement_id=eid,
                priority=rng.choice([TicketPriority.P2, TicketPriority.P3, TicketPriority.P4]),
                opened_at=opened,
                first_response_at=opened + timedelta(minutes=20 if not slow else 600),
                resolved_at=opened + timedelta(days=4 if slow else 0, hours=3),
            )
        )
    last_report = now - timedelta(days=19 if trouble else rng.randint(1, 6))
    facts["touchpoints"].append(
        Touchpoint(
            external_id=f"{eid}-R1",
            engagement_id=eid,
            kind=TouchpointKind.STATUS_REPORT,
            at=last_report,
        )
    )
    if trouble:
        facts["change_requests"].append(
            ChangeRequest(
                external_id=f"{eid}-CR1",
                engagement_id=eid,
                raised_on=today - timedelta(days=10),
                value=(budget * Decimal("0.2")).quantize(Decimal("0.01")),
            )
        )
