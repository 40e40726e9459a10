"""The report's charts, drawn with matplotlib (Agg, no display) as PNG bytes.

One rendering per chart: the same PNG is inlined in the HTML file (base64) and written beside
it for mail and chat. Chinese labels need a CJK font: WenQuanYi Zen Hei (Debian's
``fonts-wqy-zenhei``, which `make` installs with Chromium) is tried after DejaVu Sans, glyph by
glyph; without it the Chinese labels show as boxes and a warning says which package to add.
The words come from the caller (jobs/report/page.py), already in the report's language.
"""

from __future__ import annotations

import functools
import io
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec

import matplotlib
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mappings.domain import RiskLevel

log = logging.getLogger(__name__)
# matplotlib says at WARNING that WenQuanYi Zen Hei has no "normal" weight (it has 500 only).
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
P = ParamSpec("P")

CJK_FONT = "WenQuanYi Zen Hei"
LEVEL_COLOURS = {
    RiskLevel.LOW: "#4caf50",
    RiskLevel.MEDIUM: "#ffb300",
    RiskLevel.HIGH: "#f4511e",
    RiskLevel.CRITICAL: "#b71c1c",
}
SIZE = (8.0, 3.6)  # inches; at DPI, 800 × 360 pixels
DPI = 100


@dataclass(frozen=True)
class Chart:
    name: str  # the PNG file's stem
    title: str
    png: bytes


@functools.cache
def _fonts() -> tuple[str, ...]:
    names = {f.name for f in font_manager.fontManager.ttflist}
    if CJK_FONT not in names:
        log.warning(
            "font %s not found: Chinese chart labels need Debian's fonts-wqy-zenhei", CJK_FONT
        )
        return ("DejaVu Sans",)
    return ("DejaVu Sans", CJK_FONT)


def _figure(size: tuple[float, float] = SIZE) -> Figure:
    # Text objects take the font family when they are made: every chart is drawn inside
    # `_drawing()`, which sets it.
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _drawing() -> Any:
    return matplotlib.rc_context({"font.family": list(_fonts()), "font.size": 9})


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        # A glyph no font has (no CJK font installed) is said once, above, not per label.
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _drawn(function: Callable[P, Chart]) -> Callable[P, Chart]:
    """Draw inside `_drawing()` (the font family and size)."""

    @functools.wraps(function)
    def drawing(*args: P.args, **kwargs: P.kwargs) -> Chart:
        with _drawing():
            return function(*args, **kwargs)

    return drawing


@_drawn
def level_bars(
    name: str,
    title: str,
    weeks: Sequence[str],
    counts: Mapping[RiskLevel, Sequence[int]],
    level_names: Mapping[RiskLevel, str],
    y_label: str,
) -> Chart:
    """Stacked bars: engagements per risk level, one bar a week."""
    figure = _figure()
    axes = figure.add_subplot()
    bottom = [0] * len(weeks)
    for level, values in counts.items():
        axes.bar(weeks, values, bottom=bottom, color=LEVEL_COLOURS[level], label=level_names[level])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_title(title)
    axes.set_ylabel(y_label)
    axes.set_ylim(0, max(max(bottom, default=0), 1) * 1.18)  # room for the legend above
    axes.legend(loc="upper left", fontsize="small", ncols=4)
    axes.tick_params(axis="x", labelrotation=45, labelsize="small")
    return Chart(name, title, _png(figure))


@_drawn
def lines(
    name: str,
    title: str,
    weeks: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    y_label: str,
    y_range: tuple[float, float] | None = None,
) -> Chart:
    """One line per series over the weeks; a week with no value is a gap."""
    figure = _figure()
    axes = figure.add_subplot()
    for label, values in series.items():
        axes.plot(
            weeks,
            [float("nan") if v is None else v for v in values],
            marker="o",
            markersize=3,
            label=label,
        )
    axes.set_title(title)
    axes.set_ylabel(y_label)
    if y_range is not None:
        axes.set_ylim(*y_range)
    if series:
        axes.legend(loc="lower left", fontsize="small", ncols=min(4, len(series)))
    axes.tick_params(axis="x", labelrotation=45, labelsize="small")
    axes.grid(alpha=0.3)
    return Chart(name, title, _png(figure))


@_drawn
def scatter(
    name: str,
    title: str,
    points: Sequence[tuple[float, float]],
    named: Sequence[tuple[float, float, str]],
    x_label: str,
    y_label: str,
) -> Chart:
    """CPI (x) against SPI (y), the plan at (1, 1), the named outliers labelled."""
    figure = _figure((8.0, 5.0))
    axes = figure.add_subplot()
    if points:
        xs, ys = zip(*points, strict=True)
        axes.scatter(xs, ys, s=6, alpha=0.4, color="#1e88e5", linewidths=0)
    for x, y, label in named:
        axes.scatter([x], [y], s=24, color="#b71c1c")
        axes.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
    axes.axvline(1.0, color="grey", linewidth=0.8)
    axes.axhline(1.0, color="grey", linewidth=0.8)
    axes.set_title(title)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(alpha=0.3)
    return Chart(name, title, _png(figure))
