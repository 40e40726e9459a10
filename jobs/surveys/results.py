"""Survey results per engagement: NPS, CSAT and response rate (pure), and the feed to scoring.

NPS = 100 x (weight of promoters - weight of detractors) / weight of all answers, over each
contact's LATEST answer on the engagement (an old answer is replaced, not averaged in).
Promoters answer 9-10, detractors 0-6. A contact's weight is ``surveys.role_weights`` of the
role they were asked in (default 1), so a decision maker can count more than a project
contact. CSAT is the weighted mean of the latest CSAT answers (1-5) and the share of them at 4
or 5. The response rate is answered invitations / sent invitations of the engagement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from jobs.surveys.records import Response

#: Answers at or below these are unhappy: they get a follow-up task for the account owner.
DETRACTOR_MAX = 6
PROMOTER_MIN = 9
LOW_CSAT_MAX = 2


@dataclass(frozen=True)
class EngagementResult:
    engagement_id: str
    nps: int | None
    csat_mean: float | None
    csat_share_4_plus: float | None
    responses: int
    response_rate: float | None
    last_answered_at: datetime | None


class SurveyScore(BaseModel):
    """What scoring takes from the surveys (also part of the scoring fingerprint)."""

    model_config = ConfigDict(frozen=True)

    nps: int | None
    csat: float | None


def latest_per_contact(responses: Sequence[Response]) -> list[Response]:
    latest: dict[str, Response] = {}
    for response in responses:
        held = latest.get(response.contact_id)
        if held is None or (response.answered_at, response.id) > (held.answered_at, held.id):
            latest[response.contact_id] = response
    return sorted(latest.values(), key=lambda r: r.contact_id)


def summarize(
    engagement_id: str,
    responses: Sequence[Response],
    *,
    sent: int,
    role_weights: Mapping[str, float],
) -> EngagementResult:
    latest = latest_per_contact(responses)

    def weight(r: Response) -> float:
        return role_weights.get(r.role or "", 1.0)

    nps_answers = [r for r in latest if r.nps is not None]
    nps: int | None = None
    total = sum(weight(r) for r in nps_answers)
    if total > 0:
        promoters = sum(weight(r) for r in nps_answers if (r.nps or 0) >= PROMOTER_MIN)
        detractors = sum(weight(r) for r in nps_answers if (r.nps or 0) <= DETRACTOR_MAX)
        nps = round(100 * (promoters - detractors) / total)
    csat_answers = [r for r in latest if r.csat is not None]
    csat_total = sum(weight(r) for r in csat_answers)
    csat_mean = share = None
    if csat_total > 0:
        csat_mean = round(sum(weight(r) * (r.csat or 0) for r in csat_answers) / csat_total, 2)
        share = round(sum(weight(r) for r in csat_answers if (r.csat or 0) >= 4) / csat_total, 4)
    answered = len({r.invitation_id for r in responses})
    return EngagementResult(
        engagement_id=engagement_id,
        nps=nps,
        csat_mean=csat_mean,
        csat_share_4_plus=share,
        responses=answered,
        response_rate=round(answered / sent, 4) if sent else None,
        last_answered_at=max((r.answered_at for r in responses), default=None),
    )


def results_by_engagement(
    responses: Sequence[Response], sent: Mapping[str, int], role_weights: Mapping[str, float]
) -> dict[str, EngagementResult]:
    grouped: dict[str, list[Response]] = {}
    for response in responses:
        grouped.setdefault(response.engagement_id, []).append(response)
    return {
        eid: summarize(eid, rows, sent=sent.get(eid, 0), role_weights=role_weights)
        for eid, rows in sorted(grouped.items())
    }


def is_unhappy(response: Response) -> bool:
    return (response.nps is not None and response.nps <= DETRACTOR_MAX) or (
        response.csat is not None and response.csat <= LOW_CSAT_MAX
    )
