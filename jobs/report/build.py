"""`engage report`'s work: the figures from the store, the page, the files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jobs.messages.catalog import Words
from jobs.report.data import load_portfolio
from jobs.report.page import RenderedReport, render
from jobs.store import Store
from jobs.store.report_view import PortfolioFilter


@dataclass(frozen=True)
class WrittenReport:
    html: Path
    images: tuple[Path, ...]
    engagements: int


def build_report(
    store: Store,
    filters: PortfolioFilter,
    *,
    now: datetime,
    since: datetime | None,
    language: str,
    words: Words,
) -> tuple[RenderedReport, int]:
    """The rendered report and how many engagements it covers."""
    portfolio = load_portfolio(store, filters, now=now, since=since)
    return render(portfolio, words, language, filters), len(portfolio.engagements)


def write_report(report: RenderedReport, engagements: int, out: Path) -> WrittenReport:
    """The HTML file at `out` and each chart as `<stem>.<chart>.png` beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.html, encoding="utf-8")
    images = []
    for chart in report.charts:
        path = out.with_name(f"{out.stem}.{chart.name}.png")
        path.write_bytes(chart.png)
        images.append(path)
    return WrittenReport(out, tuple(images), engagements)
