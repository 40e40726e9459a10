"""The portfolio report's figures, from the store's score history (no drawing, no words).

Weeks: the report looks at a row of weekly cut-offs ending at `now`; an engagement's state at a
cut-off is its latest history row at or before it (none: not counted that week). "Now" is the
latest score (`engagement_health`), which the history's last row equals.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobs.health.engagement import LEVEL_ORDER
from jobs.store import Store
from jobs.store.report_view import (
    EarnedValue,
    HistoryRow,
    PortfolioFilter,
    ReportEngagement,
    earned_values,
    history,
    scored_engagements,
)
from mappings.domain import RiskLevel

#: The comparisons the distribution table shows, in weeks before now.
COMPARED_WEEKS = (4, 12)
#: Weeks drawn when `--since` is not given.
DEFAULT_WEEKS = 12
_LEVELS = {level.value: level for level in LEVEL_ORDER}
#: CPI or SPI outside this range is an outlier, named on the chart.
NORMAL_RANGE = (0.8, 1.25)
NAMED_OUTLIERS = 10
#: Account managers drawn as lines (those with the most engagements); all are in the table.
OWNER_LINES = 8


@dataclass(frozen=True)
class LevelChange:
    engagement: ReportEngagement
    before: RiskLevel

    @property
    def worse_by(self) -> int:
        return LEVEL_ORDER.index(self.engagement.health.risk_level) - LEVEL_ORDER.index(self.before)


@dataclass(frozen=True)
class EvPoint:
    engagement: ReportEngagement
    cpi: float
    spi: float

    @property
    def distance(self) -> float:
        return math.hypot(self.cpi - 1, self.spi - 1)

    @property
    def outlier(self) -> bool:
        low, high = NORMAL_RANGE
        return not (low <= self.cpi <= high and low <= self.spi <= high)


@dataclass
class Portfolio:
    now: datetime
    weeks: list[datetime]  # the cut-offs drawn, oldest first; the last is `now`
    engagements: list[ReportEngagement]
    #: level -> count per week of `weeks` (the last is the current count).
    levels_by_week: dict[RiskLevel, list[int]]
    #: weeks before now -> level -> count (COMPARED_WEEKS).
    levels_weeks_ago: dict[int, dict[RiskLevel, int]]
    changed: list[LevelChange]
    #: tier / owner -> mean compliance % per week (None: nothing measured that week).
    sla_by_tier: dict[str, list[float | None]]
    sla_by_owner: dict[str, list[float | None]]
    nps_by_week: list[float | None]
    csat_by_week: list[float | None]
    ev_points: list[EvPoint] = field(default_factory=list)

    @property
    def current_levels(self) -> dict[RiskLevel, int]:
        return {level: counts[-1] for level, counts in self.levels_by_week.items()}

    def top_owners(self) -> list[str]:
        """The account managers with the most engagements (`OWNER_LINES`), drawn as lines."""
        counts: dict[str, int] = defaultdict(int)
        for e in self.engagements:
            if e.owner in self.sla_by_owner:
                counts[e.owner] += 1
        return [o for o, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:OWNER_LINES]]

    @property
    def outliers(self) -> list[EvPoint]:
        """The outliers named on the chart: behind plan or over cost (below the range) first,
        then the farthest from CPI = SPI = 1."""
        found = [p for p in self.ev_points if p.outlier]
        low = NORMAL_RANGE[0]
        return sorted(
            found, key=lambda p: (min(p.cpi, p.spi) >= low, -p.distance, p.engagement.crm_id)
        )[:NAMED_OUTLIERS]


def week_cutoffs(now: datetime, since: datetime | None) -> list[datetime]:
    """Weekly cut-offs from `since` (default 12 weeks back) to `now`, oldest first."""
    start = since if since is not None else now - timedelta(weeks=DEFAULT_WEEKS)
    weeks = max(1, math.ceil((now - start) / timedelta(weeks=1)))
    return [now - timedelta(weeks=k) for k in range(weeks, -1, -1)]


def load_portfolio(
    store: Store, portfolio: PortfolioFilter, *, now: datetime, since: datetime | None
) -> Portfolio:
    """Every figure of the report for the engagements in `portfolio`."""
    engagements = scored_engagements(store.engine, portfolio)
    by_id = {e.crm_id: e for e in engagements}
    weeks = week_cutoffs(now, since)
    compared = [now - timedelta(weeks=w) for w in COMPARED_WEEKS]
    cutoffs = sorted({*weeks[:-1], *compared})
    week_index = {c: i for i, c in enumerate(cutoffs)}
    acc = _Accumulator(len(cutoffs))
    for eid, rows in _grouped(history(store.engine, portfolio, cutoffs[0])):
        engagement = by_id.get(eid)
        if engagement is not None:
            acc.add(engagement, rows, cutoffs)
    for engagement in engagements:  # now: the latest score
        acc.add_now(engagement)
    drawn = [week_index[c] for c in weeks[:-1]]
    result = Portfolio(
        now=now,
        weeks=weeks,
        engagements=engagements,
        levels_by_week={
            level: [acc.levels[i][level] for i in drawn] + [acc.now_levels[level]]
            for level in LEVEL_ORDER
        },
        levels_weeks_ago={
            w: {level: acc.levels[week_index[c]][level] for level in LEVEL_ORDER}
            for w, c in zip(COMPARED_WEEKS, compared, strict=True)
        },
        changed=_changes(engagements, acc.level_at[week_index[compared[0]]]),
        sla_by_tier=acc.means(acc.sla_tier, drawn),
        sla_by_owner=acc.means(acc.sla_owner, drawn),
        nps_by_week=acc.mean_series(acc.nps, drawn),
        csat_by_week=acc.mean_series(acc.csat, drawn),
    )
    result.ev_points = _ev_points(engagements, earned_values(store.engine, portfolio, now.date()))
    return result


class _Accumulator:
    """Sums per cut-off, filled one engagement at a time (the history is streamed)."""

    def __init__(self, cutoffs: int) -> None:
        self.levels = [dict.fromkeys(LEVEL_ORDER, 0) for _ in range(cutoffs)]
        self.level_at: list[dict[str, RiskLevel]] = [{} for _ in range(cutoffs)]
        self.now_levels = dict.fromkeys(LEVEL_ORDER, 0)
        # key -> [sum, count] per cut-off; the last slot is now.
        slots = functools.partial(_empty_slots, cutoffs + 1)
        self.sla_tier: dict[str, list[list[float]]] = defaultdict(slots)
        self.sla_owner: dict[str, list[list[float]]] = defaultdict(slots)
        self.nps = slots()
        self.csat = slots()

    def add(
        self, engagement: ReportEngagement, rows: Sequence[HistoryRow], cutoffs: list[datetime]
    ) -> None:
        times = [r.recorded_at for r in rows]
        tier, owner = engagement.sla_tier or "", engagement.owner
        for i, cutoff in enumerate(cutoffs):
            at = bisect.bisect_right(times, cutoff) - 1
            if at < 0:
                continue
            row = rows[at]
            level = _LEVELS[row.risk_level]
            self.levels[i][level] += 1
            self.level_at[i][engagement.crm_id] = level
            self._measure(i, tier, owner, row.sla_compliance, row.nps, row.csat)

    def add_now(self, engagement: ReportEngagement) -> None:
        h = engagement.health
        self.now_levels[h.risk_level] += 1
        slot = len(self.nps) - 1
        self._measure(
            slot, engagement.sla_tier or "", engagement.owner, h.sla_compliance, h.nps, h.csat
        )

    def _measure(
        self,
        i: int,
        tier: str,
        owner: str,
        compliance: float | None,
        nps: int | None,
        csat: float | None,
    ) -> None:
        for slots, value in (
            (self.sla_tier[tier], compliance),
            (self.sla_owner[owner], compliance),
            (self.nps, nps),
            (self.csat, csat),
        ):
            if value is not None:
                slots[i][0] += value
                slots[i][1] += 1

    @staticmethod
    def mean_series(slots: list[list[float]], drawn: list[int]) -> list[float | None]:
        return [s[0] / s[1] if s[1] else None for s in (*(slots[i] for i in drawn), slots[-1])]

    def means(
        self, by_key: dict[str, list[list[float]]], drawn: list[int]
    ) -> dict[str, list[float | None]]:
        series = {key: self.mean_series(slots, drawn) for key, slots in sorted(by_key.items())}
        return {k: v for k, v in series.items() if any(x is not None for x in v)}


def _empty_slots(count: int) -> list[list[float]]:
    return [[0.0, 0.0] for _ in range(count)]


def _grouped(rows: Iterable[HistoryRow]) -> Iterable[tuple[str, list[HistoryRow]]]:
    current: str | None = None
    group: list[HistoryRow] = []
    for row in rows:
        if row.engagement_id != current:
            if group:
                yield current or "", group
            current, group = row.engagement_id, []
        group.append(row)
    if group:
        yield current or "", group


def _changes(
    engagements: list[ReportEngagement], before: dict[str, RiskLevel]
) -> list[LevelChange]:
    changed = [
        LevelChange(e, before[e.crm_id])
        for e in engagements
        if e.crm_id in before and before[e.crm_id] is not e.health.risk_level
    ]
    return sorted(
        changed, key=lambda c: (-c.worse_by, -c.engagement.health.risk_score, c.engagement.crm_id)
    )


def _ev_points(engagements: list[ReportEngagement], sums: dict[str, EarnedValue]) -> list[EvPoint]:
    points = []
    for e in engagements:
        ev = sums.get(e.crm_id)
        if ev is None or ev.planned_due <= 0 or ev.actual <= 0:
            continue  # SPI or CPI undefined, as in the risk model
        points.append(EvPoint(e, float(ev.earned / ev.actual), float(ev.earned / ev.planned_due)))
    return points
