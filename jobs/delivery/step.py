"""The delivery step of a run (`engage run`, the daemon, `engage sync --sources`): open every
configured source and pull it; a source that cannot be opened is reported, the others pull."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import requests

from connector.retry import RetryPolicy
from jobs.delivery.config import DeliverySourceSection
from jobs.delivery.connect import open_sources
from jobs.delivery.pull import DeliveryReport, SourceReport, pull_source
from jobs.store import Store
from mappings.tomlfile import ConfigFileError


def pull_configured(
    sections: Mapping[str, DeliverySourceSection],
    config_path: Path,
    env: Mapping[str, str],
    store: Store,
    *,
    clock: Callable[[], datetime],
    run_id: int | None = None,
    full: bool = False,
    policy: RetryPolicy | None = None,
    session: requests.Session | None = None,
) -> DeliveryReport:
    report = DeliveryReport()
    for name, section in sections.items():
        if not section.enabled:
            continue
        try:
            (opened,) = open_sources(
                {name: section},
                config_path,
                env=env,
                store=store,
                clock=clock,
                policy=policy,
                session=session,
            )
        except ConfigFileError as exc:
            report.sources[name] = SourceReport(name, section.kind, error=str(exc))
            continue
        report.sources[name] = pull_source(
            opened.configured, store, clock=clock, run_id=run_id, full=full
        )
        report.sources[name].calls = opened.counter.total()
    return report
