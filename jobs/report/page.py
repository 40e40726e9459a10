"""The report as one self-contained HTML page: every word from the catalogs (``report.*``) in
the language asked, numbers and dates as its locale writes them, the charts inlined as PNG
(``data:`` URLs) and the style inline, so the file opens offline and loads nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from jobs.health.engagement import LEVEL_ORDER
from jobs.messages.catalog import Words, locale_of
from jobs.report import charts
from jobs.report.data import COMPARED_WEEKS, NORMAL_RANGE, Portfolio
from jobs.store.report_view import PortfolioFilter
from mappings.domain import RiskLevel

TEMPLATES = Path(__file__).with_name("templates")
#: Rows of the changed-level table; the rest are counted below it.
CHANGED_ROWS = 100
HTML_LANG = {"en": "en", "zh_Hans": "zh-CN"}


@dataclass(frozen=True)
class RenderedReport:
    html: str
    charts: tuple[charts.Chart, ...]


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Names from the CRM (engagements, accounts, owners) are escaped: "<script>" is text.
        autoescape=select_autoescape(enabled_extensions=("html",)),
        undefined=StrictUndefined,
    )


def render(
    portfolio: Portfolio, words: Words, language: str, filters: PortfolioFilter
) -> RenderedReport:
    locale = locale_of(language)

    def t(key: str, **params: Any) -> str:
        return words.text(f"report.{key}", locale, **params)

    level_names = {level: words.text(f"level.{level.value}", locale) for level in LEVEL_ORDER}
    drawn = _charts(portfolio, t, level_names, words, locale)
    by_name = {c.name: c for c in drawn}

    def chart(name: str) -> Markup:
        found = by_name[name]
        data = base64.b64encode(found.png).decode("ascii")
        return Markup(
            '<img class="chart" data-chart="{}" alt="{}" src="data:image/png;base64,{}">'
        ).format(found.name, found.title, data)

    html = (
        _environment()
        .get_template("report.html")
        .render(
            t=t,
            chart=chart,
            html_lang=HTML_LANG[locale],
            scope=_scope(portfolio, filters, t),
            compared=COMPARED_WEEKS,
            **_tables(portfolio, t, level_names, words, locale),
        )
    )
    return RenderedReport(html, tuple(drawn))


def _scope(portfolio: Portfolio, filters: PortfolioFilter, t: Any) -> str:
    parts = [t("as_of", count=len(portfolio.engagements), day=portfolio.now.date())]
    if filters.owner is not None:
        parts.append(t("filter_owner", owner=filters.owner))
    if filters.account is not None:
        parts.append(t("filter_account", account=filters.account))
    if filters.owner is None and filters.account is None:
        parts.append(t("filter_all"))
    return " · ".join(parts)


def _tables(
    portfolio: Portfolio, t: Any, level_names: dict[RiskLevel, str], words: Words, locale: str
) -> dict[str, Any]:
    now = portfolio.current_levels
    level_rows = []
    for level in reversed(LEVEL_ORDER):
        before = []
        for weeks in COMPARED_WEEKS:
            then = portfolio.levels_weeks_ago[weeks][level]
            change = now[level] - then
            before.append((words.format(locale, then), f"{change:+d}" if change else "0"))
        level_rows.append(
            {
                "level": level.value,
                "name": level_names[level],
                "now": now[level],
                "now_text": words.format(locale, now[level]),
                "before": before,
            }
        )
    changed = [
        {
            "name": c.engagement.name,
            "account": c.engagement.account,
            "owner": c.engagement.owner or t("no_owner"),
            "before": c.before.value,
            "before_name": level_names[c.before],
            "after": c.engagement.health.risk_level.value,
            "after_name": level_names[c.engagement.health.risk_level],
            "score": c.engagement.health.risk_score,
            "drivers": [d.en if locale == "en" else d.zh for d in c.engagement.health.drivers],
        }
        for c in portfolio.changed[:CHANGED_ROWS]
    ]
    more = len(portfolio.changed) - len(changed)
    low, high = NORMAL_RANGE
    outliers = portfolio.outliers
    return {
        "level_rows": level_rows,
        "total": words.format(locale, sum(now.values())),
        "changed": changed,
        "changed_more": t("changed_more", count=more) if more > 0 else "",
        "has_sla": bool(portfolio.sla_by_tier),
        "owner_weeks": [words.format(locale, w.date(), "day") for w in portfolio.weeks[-4:]],
        "owner_rows": [
            (
                owner or t("no_owner"),
                ["" if v is None else words.format(locale, v, "pct") for v in values[-4:]],
            )
            for owner, values in portfolio.sla_by_owner.items()
        ],
        "has_surveys": any(v is not None for v in portfolio.nps_by_week + portfolio.csat_by_week),
        "has_ev": bool(portfolio.ev_points),
        "outliers": [
            {
                "name": p.engagement.name,
                "account": p.engagement.account,
                "owner": p.engagement.owner or t("no_owner"),
                "cpi": words.format(locale, p.cpi, "dec2"),
                "spi": words.format(locale, p.spi, "dec2"),
            }
            for p in outliers
        ],
        "outliers_title": t("ev_outliers" if outliers else "ev_no_outliers", low=low, high=high),
    }


def _charts(
    portfolio: Portfolio, t: Any, level_names: dict[RiskLevel, str], words: Words, locale: str
) -> list[charts.Chart]:
    weeks = [words.format(locale, w.date(), "day") for w in portfolio.weeks]
    drawn = [
        charts.level_bars(
            "risk_distribution",
            t("distribution_title"),
            weeks,
            {level: portfolio.levels_by_week[level] for level in LEVEL_ORDER},
            level_names,
            t("engagements_axis"),
        )
    ]
    if portfolio.sla_by_tier:
        tiers = {(k or t("no_tier")): v for k, v in portfolio.sla_by_tier.items()}
        owners = {(k or t("no_owner")): portfolio.sla_by_owner[k] for k in portfolio.top_owners()}
        drawn += [
            charts.lines(
                "sla_by_tier", t("sla_tier_title"), weeks, tiers, t("compliance_axis"), (0, 100)
            ),
            charts.lines(
                "sla_by_owner", t("sla_owner_title"), weeks, owners, t("compliance_axis"), (0, 100)
            ),
        ]
    if any(v is not None for v in portfolio.nps_by_week + portfolio.csat_by_week):
        drawn += [
            charts.lines(
                "nps",
                t("nps_title"),
                weeks,
                {t("nps"): portfolio.nps_by_week},
                t("nps"),
                (-100, 100),
            ),
            charts.lines(
                "csat",
                t("csat_title"),
                weeks,
                {t("csat"): portfolio.csat_by_week},
                t("csat"),
                (1, 5),
            ),
        ]
    if portfolio.ev_points:
        named = _labels(portfolio)
        drawn.append(
            charts.scatter(
                "cpi_spi",
                t("ev_title"),
                [(p.cpi, p.spi) for p in portfolio.ev_points],
                named,
                t("cpi"),
                t("spi"),
            )
        )
    return drawn


def _labels(portfolio: Portfolio) -> list[tuple[float, float, str]]:
    """One label per place on the chart: outliers at the same CPI and SPI (to two places)
    share it, "first name +N"."""
    places: dict[tuple[float, float], list[str]] = {}
    for p in portfolio.outliers:
        places.setdefault((round(p.cpi, 2), round(p.spi, 2)), []).append(p.engagement.name)
    return [
        (cpi, spi, names[0] + (f" +{len(names) - 1}" if len(names) > 1 else ""))
        for (cpi, spi), names in places.items()
    ]
