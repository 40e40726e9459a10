"""The drivers field: the top three drivers, as many whole lines as fit in its length."""

from __future__ import annotations

from datetime import UTC, datetime

from mappings.domain import Driver, EngagementHealth, RiskLevel
from mappings.engine import drivers_text

NONE = ("No risk signals", "无风险信号")


def health(*texts: str) -> EngagementHealth:
    return EngagementHealth(
        engagement_id="D1",
        risk_score=60,
        risk_level=RiskLevel.HIGH,
        drivers=tuple(
            Driver(code=f"c{i}", points=50 - i, en=text, zh=f"中{i}")
            for i, text in enumerate(texts)
        ),
        updated_at=datetime(2026, 11, 23, tzinfo=UTC),
    )


def test_the_field_holds_the_top_three_of_four() -> None:
    assert (
        drivers_text(health("aaaa", "bbbb", "cccc", "dddd"), "en", 2000, none=NONE)
        == "aaaa\nbbbb\ncccc"
    )


def test_whole_lines_that_fit_are_kept_a_cut_one_never() -> None:
    # "aaaa / 中0" is 9 characters; two lines with the newline 19, three 29.
    both = health("aaaa", "bbbb", "cccc")
    assert drivers_text(both, "both", 29, none=NONE) == "aaaa / 中0\nbbbb / 中1\ncccc / 中2"
    assert drivers_text(both, "both", 28, none=NONE) == "aaaa / 中0\nbbbb / 中1"
    assert drivers_text(both, "both", 19, none=NONE) == "aaaa / 中0\nbbbb / 中1"
    assert drivers_text(both, "both", 18, none=NONE) == "aaaa / 中0"


def test_a_first_line_longer_than_the_field_is_left_to_its_truncate() -> None:
    assert drivers_text(health("a" * 30, "b"), "en", 10, none=NONE) == "a" * 30
