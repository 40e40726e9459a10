"""Score: recompute engagement health from the store — only where something changed.

For each engagement the inputs (the deal, its delivery facts, the SLA policy, the weights and
bands, and the day) are fingerprinted; an engagement whose fingerprint equals the one its
current health was computed from is not recomputed. Engagements with open tickets also take
the hour into the fingerprint, because an open ticket moves towards its SLA goal by the minute
(so "at risk" and "breached" are re-evaluated at most an hour late).
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobs.config import HealthSection, RiskSection, SlaSection
from jobs.health import score_engagement
from jobs.risk import DeliveryFacts
from jobs.sla import TicketMeasure, evaluate
from jobs.store import Store
from mappings.domain import Engagement, EngagementHealth, SlaStatus


@dataclass
class ScoreReport:
    scored: int = 0
    changed: int = 0
    #: Engagements whose inputs had not changed: not recomputed.
    skipped_unchanged: int = 0


@dataclass
class _Facts:
    milestones: Mapping[str, Sequence[Any]]
    tickets: Mapping[str, Sequence[Any]]
    costs: Mapping[str, Sequence[Any]]
    touchpoints: Mapping[str, Sequence[Any]]
    changes: Mapping[str, Sequence[Any]]

    @classmethod
    def load(cls, store: Store) -> _Facts:
        return cls(
            store.milestones(),
            store.tickets(),
            store.cost_entries(),
            store.touchpoints(),
            store.change_requests(),
        )

    def of(self, engagement_id: str) -> list[Sequence[Any]]:
        return [
            self.milestones.get(engagement_id, ()),
            self.tickets.get(engagement_id, ()),
            self.costs.get(engagement_id, ()),
            self.touchpoints.get(engagement_id, ()),
            self.changes.get(engagement_id, ()),
        ]


def score(
    store: Store,
    bands: HealthSection,
    *,
    clock: Callable[[], datetime],
    risk: RiskSection | None = None,
    sla: SlaSection | None = None,
    recompute: bool = False,
) -> ScoreReport:
    """Recompute what changed. ``recompute`` redoes everything and re-measures finished SLA
    items under the current policies (the explicit recompute of a new policy version)."""
    with _no_cyclic_gc():
        return _score(store, bands, clock=clock, risk=risk, sla=sla, recompute=recompute)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: scoring holds every fact of the store in memory (a
    million objects at 10,000 engagements) and allocates as many more, which makes the collector
    rescan them again and again (a third of the run time) while finding next to nothing to free.
    Reference counting still frees everything as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _score(
    store: Store,
    bands: HealthSection,
    *,
    clock: Callable[[], datetime],
    risk: RiskSection | None,
    sla: SlaSection | None,
    recompute: bool,
) -> ScoreReport:
    risk = risk or RiskSection()
    sla = sla or SlaSection()
    now = clock()
    previous = store.health()
    hashes = {} if recompute else store.inputs_hashes()
    if recompute:
        store.clear_measures()
    facts = _Facts.load(store)
    frozen = store.frozen_measures()
    settings_key = json.dumps(
        [bands.model_dump(), risk.model_dump(mode="json"), sla.model_dump(mode="json")],
        sort_keys=True,
    )
    report = ScoreReport()
    changed: list[EngagementHealth] = []
    new_hashes: dict[str, str] = {}
    new_measures: list[dict[str, Any]] = []
    for engagement in store.engagements():
        old = previous.get(engagement.crm_id)
        milestones, tickets, costs, touchpoints, changes = facts.of(engagement.crm_id)
        fingerprint = _fingerprint(engagement, facts.of(engagement.crm_id), settings_key, now)
        if old is not None and hashes.get(engagement.crm_id) == fingerprint:
            report.skipped_unchanged += 1
            report.scored += 1
            continue
        policy = sla.tiers.get(engagement.sla_tier or "")
        delivery = DeliveryFacts(
            milestones=milestones,
            costs=costs,
            touchpoints=touchpoints,
            changes=changes,
            nps=old.nps if old else None,
            csat=old.csat if old else None,
            report_cadence_days=risk.report_cadence_days,
        )
        if policy is not None:
            result = evaluate(
                policy,
                tickets,
                milestones,
                touchpoints,
                now,
                frozen=_frozen(frozen.get(engagement.crm_id, {})),
            )
            delivery = _with_sla(
                delivery, result.status, result.compliance_pct, result.next_breach_at
            )
            new_measures.extend(_finished(engagement.crm_id, result.measures))
        health = score_engagement(
            engagement, now=now, bands=bands, previous=old, facts=delivery, weights=risk.weights
        )
        if health is None:
            continue
        report.scored += 1
        new_hashes[engagement.crm_id] = fingerprint
        if health is not old:
            changed.append(health)
    store.save_health(changed)
    store.save_inputs_hashes(new_hashes)
    store.save_measures(new_measures)
    report.changed = len(changed)
    return report


def _fingerprint(
    engagement: Engagement, facts: list[Sequence[Any]], settings_key: str, now: datetime
) -> str:
    digest = hashlib.sha256()
    # The serializer's bytes are model_dump_json() encoded, without its per-call overhead.
    digest.update(engagement.__pydantic_serializer__.to_json(engagement))
    for group in facts:
        for fact in group:
            digest.update(fact.__pydantic_serializer__.to_json(fact))
        digest.update(b"|")
    digest.update(settings_key.encode())
    # Contract and schedule factors count days; open tickets count minutes.
    has_open = any(t.resolved_at is None for t in facts[1])
    digest.update(now.strftime("%Y-%m-%dT%H" if has_open else "%Y-%m-%d").encode())
    return digest.hexdigest()


def _with_sla(
    facts: DeliveryFacts, status: SlaStatus, compliance: float | None, next_breach: datetime | None
) -> DeliveryFacts:
    return DeliveryFacts(
        milestones=facts.milestones,
        costs=facts.costs,
        touchpoints=facts.touchpoints,
        changes=facts.changes,
        sla_status=status,
        sla_compliance=compliance,
        sla_next_breach=next_breach,
        nps=facts.nps,
        previous_nps=facts.previous_nps,
        csat=facts.csat,
        report_cadence_days=facts.report_cadence_days,
    )


def _frozen(
    rows: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[tuple[str, str], TicketMeasure]:
    return {
        key: TicketMeasure(
            ticket_id=row["ticket_id"],
            metric=row["metric"],
            goal_minutes=row["goal_minutes"],
            used_minutes=row["used_minutes"],
            met=row["met"],
            policy_version=row["policy_version"],
        )
        for key, row in rows.items()
    }


def _finished(engagement_id: str, measures: Sequence[TicketMeasure]) -> list[dict[str, Any]]:
    return [
        {
            "engagement_id": engagement_id,
            "ticket_id": m.ticket_id,
            "metric": m.metric,
            "goal_minutes": m.goal_minutes,
            "used_minutes": m.used_minutes,
            "met": m.met,
            "policy_version": m.policy_version,
        }
        for m in measures
        if m.met is not None
    ]
