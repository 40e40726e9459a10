"""The hook scoring calls: each engagement's latest NPS/CSAT from the survey tables."""

from __future__ import annotations

from collections.abc import Mapping

from jobs.store import Engine
from jobs.store.surveys import SurveyStore
from jobs.surveys.results import SurveyScore, results_by_engagement


def survey_scores(engine: Engine, role_weights: Mapping[str, float]) -> dict[str, SurveyScore]:
    """engagement id -> its survey NPS and CSAT mean; engagements without answers are absent."""
    store = SurveyStore(engine)
    results = results_by_engagement(store.responses(), store.sent_counts(), role_weights)
    return {eid: SurveyScore(nps=r.nps, csat=r.csat_mean) for eid, r in results.items()}
