"""Acceptance in a real browser: `engage demo` builds its store, `engage report` writes the
English and Chinese reports, Debian's Chromium (Playwright) opens each file with every request
that is not the file itself refused; every chart renders, nothing fails, nothing is logged as an
error; the screenshots are kept in test-artifacts/. The level counts shown equal a count
made here with SQL of our own.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, Route
from rich.console import Console

from jobs.cli import main
from jobs.demo.run import run_demo
from tests.conftest import FakeClock
from tests.surveys.test_browser import ARTIFACTS, browser

__all__ = ["browser"]  # the survey test's fixture: Debian's Chromium, launched once

LEVELS = ("low", "medium", "high", "critical")


@pytest.fixture
def demo_config(tmp_path: Path, clock: FakeClock) -> Path:
    db = tmp_path / "engage-demo.db"
    run_demo(db, deals=120, console=Console(file=io.StringIO()), clock=clock)
    return db.with_suffix(".toml")


def counted_in_store(config: Path) -> dict[str, int]:
    """Scored engagements by level, not deleted and not lost: SQL written here, by hand."""
    with sqlite3.connect(config.with_suffix(".db")) as db:
        rows = db.execute(
            "SELECT h.risk_level, COUNT(*) FROM engagement_health h "
            "JOIN engagements e ON e.crm_id = h.engagement_id "
            "WHERE e.deleted_at IS NULL AND e.status <> 'closed_lost' GROUP BY h.risk_level"
        ).fetchall()
    return {str(level): int(count) for level, count in rows}


def opened_offline(browser: Browser, html: Path) -> tuple[Page, list[str], list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    failed: list[str] = []
    refused: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))

    def only_the_file(route: Route) -> None:
        url = route.request.url
        if url.startswith(("file://", "data:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", only_the_file)
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    return page, errors, failed, refused


@pytest.mark.parametrize(
    ("lang", "title", "level_names"),
    [
        ("en", "Portfolio report", ["critical", "high", "medium", "low"]),
        ("zh", "项目组合报告", ["严重", "高", "中", "低"]),
    ],
)
def test_the_report_opens_offline_in_chromium_and_every_chart_renders(
    browser: Browser,
    demo_config: Path,
    tmp_path: Path,
    lang: str,
    title: str,
    level_names: list[str],
) -> None:
    out = tmp_path / "out" / f"report-{lang}.html"
    result = CliRunner().invoke(
        main, ["--config", str(demo_config), "report", "--lang", lang, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in out.parent.glob(f"report-{lang}.*.png"))
    # The demo has SLA tiers and costs but no survey answer: four charts, no NPS/CSAT one.
    assert pngs == [
        f"report-{lang}.cpi_spi.png",
        f"report-{lang}.risk_distribution.png",
        f"report-{lang}.sla_by_owner.png",
        f"report-{lang}.sla_by_tier.png",
    ]

    page, errors, failed, refused = opened_offline(browser, out)
    try:
        assert page.locator("h1").inner_text() == title
        charts = page.locator("img.chart")
        assert charts.count() == len(pngs)
        for i in range(charts.count()):
            drawn = charts.nth(i).evaluate("img => img.complete && img.naturalWidth >= 600")
            assert drawn, charts.nth(i).get_attribute("data-chart")
        shown = {
            cell.get_attribute("data-level"): int(cell.get_attribute("data-count") or -1)
            for cell in page.locator("#levels td[data-level]").all()
        }
        names = page.locator("#levels td[class^=level-]").all_inner_texts()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"report-{lang}.png"), full_page=True)
    finally:
        page.close()
    assert (errors, failed, refused) == ([], [], [])
    in_store = counted_in_store(demo_config)
    assert shown == {level: in_store.get(level, 0) for level in LEVELS}
    assert sum(shown.values()) > 0
    assert names == level_names
