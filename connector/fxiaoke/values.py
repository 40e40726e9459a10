"""Field metadata from ``describe`` and values shaped the way Fxiaoke reads and writes them.

research/fxiaoke_and_tools.md A4 (from the official 字段值说明 page, via the digest [2nd]):
numbers and currency are sent as **strings**; dates and date-times as epoch **milliseconds**;
single-select by the option ``value`` (not its label); employee fields as lists.
``describe`` answers ``data.describe.fields.<api_name>.{type, label, is_required, options,
define_type}`` [off].
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.base import FieldMeta

#: Fxiaoke field type -> the connector's type names (connector/base.py FieldMeta).
_TYPES = {
    "text": "text",
    "long_text": "textarea",
    "currency": "currency",
    "date": "date",
    "date_time": "datetime",
    "select_one": "picklist",
    "select_many": "multiselectpicklist",
    "true_or_false": "boolean",
    "employee": "employee",
    "object_reference": "lookup",
    "email": "email",
    "phone_number": "phone",
    "auto_number": "autonumber",
}
_SYSTEM_READ_ONLY = {"_id", "create_time", "last_modified_time", "created_by", "last_modified_by"}


def is_name_of_lookup(api_name: str) -> bool:
    return api_name.endswith("__r")


@dataclass(frozen=True)
class FxField:
    """One field as ``describe`` gives it."""

    api_name: str
    label: str
    type: str
    required: bool
    #: (value, label) of each option of a select field.
    options: tuple[tuple[str, str], ...]
    decimal_places: int | None
    custom: bool

    def meta(self) -> FieldMeta:
        data_type = _TYPES.get(self.type, self.type)
        if self.type == "number":
            data_type = "integer" if not self.decimal_places else "double"
        return FieldMeta(
            api_name=self.api_name,
            label=self.label,
            data_type=data_type,
            read_only=self.api_name in _SYSTEM_READ_ONLY
            or self.type == "auto_number"
            or is_name_of_lookup(self.api_name),
            custom=self.custom,
            picklist_values=tuple(value for value, _label in self.options),
        )


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (odd shapes are read as empty)."""
    return value if isinstance(value, dict) else {}


def parse_describe(payload: dict[str, Any]) -> dict[str, FxField]:
    data = as_dict(payload.get("data"))
    describe = as_dict(data.get("describe")) or data
    raw_fields = describe.get("fields") if isinstance(describe, dict) else None
    fields: dict[str, FxField] = {}
    if not isinstance(raw_fields, dict):
        return fields
    for name, raw in raw_fields.items():
        if not isinstance(raw, dict):
            continue
        api_name = str(raw.get("api_name") or name)
        options = tuple(
            (str(o.get("value")), str(o.get("label") or o.get("value")))
            for o in raw.get("options") or ()
            if isinstance(o, dict) and o.get("value") is not None
        )
        places = raw.get("decimal_places")
        fields[api_name] = FxField(
            api_name=api_name,
            label=str(raw.get("label") or api_name),
            type=str(raw.get("type") or "text"),
            required=bool(raw.get("is_required")),
            options=options,
            decimal_places=int(places)
            if isinstance(places, int | str) and str(places).isdigit()
            else None,
            custom=api_name.endswith("__c") or raw.get("define_type") == "custom",
        )
        if raw.get("type") == "object_reference":
            # A lookup's record name comes along with it as `<field>__r` (read only).
            fields[api_name + "__r"] = FxField(
                api_name + "__r",
                f"{fields[api_name].label}（名称）",
                "text",
                False,
                (),
                None,
                False,
            )
    return fields


def epoch_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def from_epoch_ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def normalize_record(record: dict[str, Any], fields: dict[str, FxField]) -> dict[str, Any]:
    """A record as the mapping reads it: ``id`` beside ``_id``, numbers as numbers, dates and
    times as ISO 8601 (UTC), an employee list as ``{"id": first, "ids": [...]}``."""
    out = dict(record)
    out["id"] = record.get("_id")
    for name, value in record.items():
        field = fields.get(name)
        kind = field.type if field else ("date_time" if name.endswith("_time") else None)
        if value is None or kind is None:
            continue
        if kind == "date_time":
            when = from_epoch_ms(value)
            out[name] = when.isoformat().replace("+00:00", "Z") if when else value
        elif kind == "date":
            when = from_epoch_ms(value)
            out[name] = when.date().isoformat() if when else value
        elif kind in ("number", "currency") and isinstance(value, str):
            try:
                number = Decimal(value)
            except InvalidOperation:
                continue
            out[name] = int(number) if number == number.to_integral_value() else float(number)
        elif kind == "employee" and isinstance(value, list):
            out[name] = {"id": str(value[0]) if value else None, "ids": [str(v) for v in value]}
    return out


class ValueRefused(ValueError):
    """A value the field cannot take: the row is refused before any call."""


def to_fxiaoke(field: FxField, value: Any) -> Any:
    """``value`` as Fxiaoke wants it for ``field`` (A4)."""
    if value is None:
        return None
    kind = field.type
    if kind in ("number", "currency"):
        if isinstance(value, bool):
            raise ValueRefused(f"{value!r} is not a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueRefused(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueRefused(f"{value!r} is not a number")
        if kind == "number" and not field.decimal_places and number != number.to_integral_value():
            raise ValueRefused(f"{value!r} is not a whole number")
        return str(number)  # numbers and currency as strings
    if kind in ("date", "date_time"):
        if isinstance(value, datetime):
            return epoch_ms(value)
        if isinstance(value, date):
            return epoch_ms(datetime(value.year, value.month, value.day, tzinfo=UTC))
        text = str(value)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueRefused(f"{value!r} is not a date") from None
        return epoch_ms(parsed)
    if kind == "select_one":
        text = str(value)
        for option_value, label in field.options:
            if text in (option_value, label):
                return option_value  # by the option's value, whichever the mapping names
        raise ValueRefused(f"{text!r} is not an option of this field")
    if kind == "employee":
        return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
    if kind == "true_or_false":
        return bool(value)
    return str(value)
