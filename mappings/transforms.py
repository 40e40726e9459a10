"""Value transforms named in mapping files. Pure functions: raw CRM value in, clean value out.

Each raises ``TransformError`` with a sentence an admin can act on; the sync turns it into the
skip reason of that record.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from mappings.spec import SourceField, Transform

#: Chinese number units used in amounts typed by people ("12万" = 120,000).
_CN_UNITS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}
_CURRENCY_NOISE = re.compile(r"[\s_'$€£¥￥]|(?<![A-Za-z])[A-Z]{3}(?![A-Za-z])|RMB|元")
_TRUE = {"true", "yes", "y", "1", "是", "对"}
_FALSE = {"false", "no", "n", "0", "否", "不"}


class TransformError(ValueError):
    """A value the transform cannot read."""


def apply_source_rule(rule: SourceField, raw: Any) -> Any:
    """`path`/`const`, then `default` for empties, then `map`, then `transform`."""
    value = rule.const if rule.path is None else raw
    if value is None or value == "":
        value = rule.default
    if value is None:
        return None
    if rule.map is not None:
        value = rule.map.get(str(value), value)
    if rule.transform is None:
        return value
    return _TRANSFORMS[rule.transform](value, rule)


def to_number(value: Any, rule: SourceField | None = None) -> Decimal:
    if isinstance(value, bool):
        raise TransformError(f"{value!r} is not a number")
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    text = str(value).strip()
    multiplier = Decimal(1)
    for unit, factor in _CN_UNITS.items():
        if text.endswith(unit):
            text, multiplier = text[: -len(unit)], factor
    cleaned = _decimal_point(_CURRENCY_NOISE.sub("", text.replace(",", "\u0000")))
    try:
        return Decimal(cleaned) * multiplier
    except InvalidOperation:
        raise TransformError(f"{value!r} is not a number") from None


def _decimal_point(text: str) -> str:
    """Commas were kept as NUL so the noise filter leaves them; decide what each one is.

    "1,200.50" and "1,200" use commas for thousands; "1.200,50" and "12,5" use a decimal comma
    (a last comma followed by other than three digits, or after a dot).
    """
    if "\u0000" not in text:
        return text
    head, _, tail = text.rpartition("\u0000")
    decimal_comma = "." in head or (len(tail) != 3 and "." not in tail)
    if decimal_comma:
        return head.replace(".", "").replace("\u0000", "") + "." + tail
    return text.replace("\u0000", "")


def to_datetime(value: Any, rule: SourceField | None = None) -> datetime:
    zone = ZoneInfo(rule.timezone) if rule and rule.timezone else UTC
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        try:
            if rule and rule.format:
                parsed = datetime.strptime(text, rule.format)
            else:
                parsed = datetime.fromisoformat(text)
        except ValueError:
            expected = rule.format if rule and rule.format else "ISO 8601"
            raise TransformError(f"{value!r} is not a date-time ({expected})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def to_date(value: Any, rule: SourceField | None = None) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value).strip()
    fmt = rule.format if rule else None
    try:
        if fmt:
            return datetime.strptime(text, fmt).date()
        if len(text) == 10:
            return date.fromisoformat(text)
    except ValueError:
        raise TransformError(f"{value!r} is not a date ({fmt or 'YYYY-MM-DD'})") from None
    # A datetime: its calendar date where the engagement is run, not in UTC.
    zone = ZoneInfo(rule.timezone) if rule and rule.timezone else UTC
    return to_datetime(text, None).astimezone(zone).date()


def to_text(value: Any, rule: SourceField | None = None) -> str:
    return str(value).strip()


def to_boolean(value: Any, rule: SourceField | None = None) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise TransformError(f"{value!r} is not yes/no")


_TRANSFORMS = {
    Transform.NUMBER: to_number,
    Transform.DATE: to_date,
    Transform.DATETIME: to_datetime,
    Transform.TEXT: to_text,
    Transform.BOOLEAN: to_boolean,
}
