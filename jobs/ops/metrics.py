"""``/metrics``: the store's figures in the Prometheus text format, read at scrape time.

A custom collector (prometheus_client's documented way for figures held elsewhere): every
scrape asks the store, so the daemon keeps no counter of its own, a restart loses nothing, and
runs made by `engage run` beside the daemon count too. The totals come from the ``runs`` table,
which is never pruned, so they only grow, as Prometheus counters must.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from jobs.credits import credits_used, crm_credits_left
from jobs.health.sla.calendar import DataCoverage
from jobs.health.sla.coverage import calendar_years
from jobs.health.sla.policy import SlaPolicy
from jobs.push.due import waiting
from jobs.store import Store
from jobs.store.ops_view import OpsView, read_ops_view
from mappings.domain import SlaStatus

log = logging.getLogger(__name__)


class StoreCollector(Collector):
    """The figures of one connection's store; ``crm`` labels the API counters (zoho, odoo…)."""

    def __init__(
        self,
        store: Store,
        crm: str,
        budget: int | None,
        clock: Callable[[], datetime],
        tiers: Mapping[str, SlaPolicy] | None = None,
    ) -> None:
        self.store, self.crm, self.budget, self.clock = store, crm, budget, clock
        self.tiers: Mapping[str, SlaPolicy] = tiers or {}

    def collect(self) -> Iterator[Metric]:
        yield from self._calendars()  # from the config: reported whether the store is up or not
        up = GaugeMetricFamily("engage_store_up", "1 if the store answered this scrape.")
        try:
            view = read_ops_view(self.store.engine)
            left = self._credits_left()
            unpushed, oldest = waiting(self.store)
        except Exception as exc:  # noqa: BLE001 - a scrape reports a down store, never a 500
            log.warning("metrics: the store could not be read: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._figures(view, left)
        yield from self._push_lag(unpushed, oldest)

    def _credits_left(self) -> dict[str, int]:
        now = self.clock()
        left: dict[str, int] = {}
        if self.budget is not None:
            left["budget"] = max(self.budget - credits_used(self.store, now), 0)
        reported = crm_credits_left(self.store, now)
        if reported is not None:
            left["crm"] = reported.left
        return left

    def _figures(self, view: OpsView, left: dict[str, int]) -> Iterator[Metric]:
        now = self.clock()
        yield _labelled(
            CounterMetricFamily, "engage_runs", "Runs by outcome.", "outcome", view.runs_by_outcome
        )
        yield _labelled(
            CounterMetricFamily,
            "engage_records",
            "Records read from the CRM, written to it, skipped (with a reason).",
            "what",
            view.records,
        )
        calls = CounterMetricFamily(
            "engage_api_calls",
            "HTTP requests runs sent to the CRM (token requests included).",
            labels=["crm"],
        )
        calls.add_metric([self.crm], view.api_calls)
        yield calls
        credits = CounterMetricFamily(
            "engage_api_credits", "CRM API credits charged to runs.", labels=["crm"]
        )
        credits.add_metric([self.crm], view.api_credits)
        yield credits
        remaining = GaugeMetricFamily(
            "engage_api_credits_left",
            "Credits left now: by this connection's daily budget, and by the CRM's own count.",
            labels=["crm", "by"],
        )
        for by, value in sorted(left.items()):
            remaining.add_metric([self.crm, by], value)
        yield remaining
        yield _labelled(
            GaugeMetricFamily,
            "engage_survey_invitations",
            "Survey outbox by state.",
            "state",
            view.outbox_by_state,
        )
        yield GaugeMetricFamily(
            "engage_sla_breached_engagements",
            "Engagements whose SLA is breached.",
            value=view.sla_by_status.get(SlaStatus.BREACHED.value, 0),
        )
        yield _labelled(
            GaugeMetricFamily,
            "engage_engagements_by_risk",
            "Engagements by risk level.",
            "level",
            view.risk_by_level,
        )
        if view.last_finished_at is not None:
            yield GaugeMetricFamily(
                "engage_last_run_age_seconds",
                "Seconds since the last run finished.",
                value=(now - view.last_finished_at).total_seconds(),
            )

    def _calendars(self) -> Iterator[Metric]:
        """Per tier with a region, this year and the next: 1 where the region has no holiday
        data (SLA computations reaching that year are refused), 1 in ``_partial`` where it has
        statutory holidays only (China's 调休 not yet published in the packages)."""
        missing = GaugeMetricFamily(
            "engage_calendar_data_missing",
            "1 if an SLA tier's region has no holiday data for the year (SLAs reaching it are "
            "refused until the tier's calendar lists that year's days).",
            labels=["tier", "region", "year"],
        )
        partial = GaugeMetricFamily(
            "engage_calendar_data_partial",
            "1 if an SLA tier's region has statutory holidays only for the year (no make-up "
            "working days yet).",
            labels=["tier", "region", "year"],
        )
        for row in calendar_years(self.tiers, self.clock().date()):
            labels = [row.tier, row.region, str(row.year)]
            missing.add_metric(labels, int(row.coverage is DataCoverage.MISSING))
            partial.add_metric(labels, int(row.coverage is DataCoverage.PARTIAL))
        yield missing
        yield partial

    def _push_lag(self, unpushed: int, oldest: datetime | None) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "engage_push_unpushed_records",
            "Records with values the next push has to write to the CRM.",
            value=unpushed,
        )
        yield GaugeMetricFamily(
            "engage_push_lag_seconds",
            "Age of the oldest health change not yet written to the CRM (0: none waiting).",
            value=0.0 if oldest is None else (self.clock() - oldest).total_seconds(),
        )


def _labelled(
    kind: type[CounterMetricFamily | GaugeMetricFamily],
    name: str,
    documentation: str,
    label: str,
    values: dict[str, int],
) -> Metric:
    family = kind(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def store_registry(collector: StoreCollector) -> CollectorRegistry:
    """A registry of our figures only (not the process's default metrics of the library)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
