"""Mapping transforms (mappings/transforms.py, mappings/engine.py): pure functions, checked
against hand-made cases."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from mappings.engine import format_target
from mappings.spec import SourceField, TargetField
from mappings.transforms import TransformError, apply_source_rule


def rule(**values: Any) -> SourceField:
    return SourceField.model_validate({"path": "X", **values})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("1,200.50 USD", Decimal("1200.50"), id="thousands-and-code"),
        pytest.param("¥3,000", Decimal(3000), id="yen-sign"),
        pytest.param("12万", Decimal(120000), id="chinese-wan"),
        pytest.param("1.5亿", Decimal(150000000), id="chinese-yi"),
        pytest.param(42, Decimal(42), id="already-a-number"),
    ],
)
def test_number(raw: object, expected: Decimal) -> None:
    assert apply_source_rule(rule(transform="number"), raw) == expected


def test_number_refuses_words() -> None:
    with pytest.raises(TransformError, match="'about ten' is not a number"):
        apply_source_rule(rule(transform="number"), "about ten")


def test_dates_with_format_and_time_zone() -> None:
    assert apply_source_rule(rule(transform="date", format="%d/%m/%Y"), "28/02/2027") == date(
        2027, 2, 28
    )
    # 23:30 UTC on the 1st is already the 2nd in Shanghai.
    shanghai = rule(transform="date", timezone="Asia/Shanghai")
    assert apply_source_rule(shanghai, "2026-03-01T23:30:00+00:00") == date(2026, 3, 2)
    with pytest.raises(TransformError, match="not a date"):
        apply_source_rule(rule(transform="date"), "31/02/2026")


def test_naive_datetimes_take_the_rule_time_zone() -> None:
    value = apply_source_rule(
        rule(transform="datetime", timezone="Asia/Shanghai"), "2026-03-01T08:00:00"
    )
    assert value == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def test_map_default_const_and_boolean() -> None:
    stage = rule(map={"赢单": "Closed Won"})
    assert apply_source_rule(stage, "赢单") == "Closed Won"
    assert apply_source_rule(stage, "Negotiation") == "Negotiation"  # unmapped passes through
    assert apply_source_rule(rule(default="Bronze"), None) == "Bronze"
    assert apply_source_rule(SourceField(const="CNY"), None) == "CNY"
    assert apply_source_rule(rule(transform="boolean"), "是") is True


def test_unknown_transform_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match="unknown transform 'money'; valid: number, date, datetime, text, boolean"
    ):
        rule(transform="money")


def test_target_formatting() -> None:
    level = TargetField(field="F", map={"high": "高"})
    assert format_target(level, "high") == "高"
    assert format_target(TargetField(field="F", template="{value}/100"), 62) == "62/100"
    assert format_target(TargetField(field="F", truncate=5), "abcdefgh") == "abcd…"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("€1.200,50", Decimal("1200.50"), id="european"),
        pytest.param("1.200.000,00 EUR", Decimal("1200000.00"), id="european-millions"),
        pytest.param("12,5", Decimal("12.5"), id="decimal-comma"),
        pytest.param("1,200,300", Decimal(1200300), id="thousands-only"),
    ],
)
def test_number_reads_both_decimal_conventions(raw: str, expected: Decimal) -> None:
    assert apply_source_rule(rule(transform="number"), raw) == expected
