"""Odoo value shapes, both ways: what the client returns, and what ``write`` accepts (§4).

Reading: many2one comes as ``[id, "Name"]`` and becomes ``{"id": "7", "name": "Name"}`` (the
shape of a lookup everywhere else, so mapping paths like ``partner_id.name`` work); ids become
strings; an empty non-boolean field comes as ``False`` and becomes ``None``; datetimes come as
naive UTC ``"YYYY-MM-DD HH:MM:SS"`` and get an explicit ``+00:00``.

Writing: ``None`` becomes ``False``; ISO datetimes become naive UTC strings; values a field
cannot hold are found here, before a call, because Odoo answers a wrong selection value with a
``ValueError`` (an HTTP 500 on JSON-2) rather than a per-record refusal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"
#: Odoo type -> the connector's type names (Zoho's vocabulary, used by mapping checks).
DATA_TYPES = {
    "char": "text",
    "text": "textarea",
    "html": "textarea",
    "integer": "integer",
    "float": "double",
    "monetary": "currency",
    "selection": "picklist",
    "date": "date",
    "datetime": "datetime",
    "boolean": "boolean",
    "many2one": "lookup",
}
#: The reverse, for creating fields: connector type -> Odoo ``ttype``.
ODOO_TTYPES = {
    "text": "char",
    "textarea": "text",
    "integer": "integer",
    "double": "float",
    "currency": "float",  # monetary needs a currency field beside it; a float does not
    "picklist": "selection",
    "date": "date",
    "datetime": "datetime",
    "boolean": "boolean",
}

FieldTypes = Mapping[str, Mapping[str, Any]]  # field name -> fields_get entry


def parse_odoo_datetime(value: str) -> datetime:
    return datetime.strptime(value[:19], ODOO_DATETIME).replace(tzinfo=UTC)


def format_odoo_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive means UTC, as the store keeps it
    return value.astimezone(UTC).strftime(ODOO_DATETIME)


def normalize_record(record: Mapping[str, Any], types: FieldTypes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in record.items():
        kind = (types.get(name) or {}).get("type")
        if name == "id":
            out[name] = str(value)
        elif kind == "many2one":
            out[name] = (
                {"id": str(value[0]), "name": value[1] if len(value) > 1 else None}
                if isinstance(value, list | tuple) and value
                else None
            )
        elif value is False and kind != "boolean":
            out[name] = None
        elif kind == "datetime" and isinstance(value, str):
            try:
                out[name] = parse_odoo_datetime(value).isoformat()
            except ValueError:
                out[name] = value  # keep what Odoo sent; the mapping reports it
        else:
            out[name] = value
    return out


def value_problem(field: str, value: Any, types: FieldTypes) -> str | None:
    """Why Odoo would refuse ``value`` for ``field`` (None when it looks acceptable)."""
    meta = types.get(field)
    if meta is None:
        return f"{field} does not exist"
    if value is None:
        return None
    kind = meta.get("type")
    if kind == "selection":
        keys = [str(item[0]) for item in meta.get("selection") or [] if item]
        if str(value) not in keys:
            return f"{value!r} is not one of the choices of {field} ({', '.join(keys)})"
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{value!r} is not a whole number"
    elif kind in ("float", "monetary"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number"
    elif kind == "date":
        try:
            date.fromisoformat(str(value)[:10])
        except ValueError:
            return f"{value!r} is not a date"
    elif kind == "datetime":
        try:
            datetime.fromisoformat(str(value))
        except ValueError:
            return f"{value!r} is not a date-time"
    return None


def to_odoo(field: str, value: Any, types: FieldTypes) -> Any:
    if value is None:
        return False
    kind = (types.get(field) or {}).get("type")
    if kind == "datetime" and isinstance(value, str):
        return format_odoo_datetime(datetime.fromisoformat(value))
    if kind == "date" and isinstance(value, str):
        return value[:10]
    return value


def plan_writes(
    rows: Sequence[tuple[int, Mapping[str, Any]]],
) -> list[tuple[list[int], dict[str, Any]]]:
    """Group ``(id, values)`` rows into ``write(ids, vals)`` calls, as few as possible.

    ``write`` gives every id the same values (§6), so each call carries one set of values. A
    field with few distinct values (a risk level) is cheapest written on its own, one call per
    value: 1,000 deals with 4 levels take 4 calls. A field whose values are nearly all different
    (a text of reasons) costs about one call per record either way, and is cheapest written
    together with the other such fields, per distinct combination. So the fields are split
    in two: the ``k`` with the most distinct values go together per row, the rest per value;
    every ``k`` is tried (k = 0 is all per field, k = all is whole rows) and the cheapest kept.
    """
    rows = [(record_id, values) for record_id, values in rows if values]
    distinct: dict[str, set[str]] = {}
    for _record_id, values in rows:
        for name, value in values.items():
            distinct.setdefault(name, set()).add(_key(value))
    by_spread = sorted(distinct, key=lambda name: (-len(distinct[name]), name))
    best: list[tuple[list[int], dict[str, Any]]] | None = None
    for k in range(len(by_spread) + 1):
        together = set(by_spread[:k])
        groups: dict[str, tuple[list[int], dict[str, Any]]] = {}
        for record_id, values in rows:
            joint = {n: v for n, v in values.items() if n in together}
            if joint:
                key = "row:" + json.dumps(joint, sort_keys=True, default=str)
                groups.setdefault(key, ([], joint))[0].append(record_id)
            for name, value in values.items():
                if name not in together:
                    key = f"field:{name}:{_key(value)}"
                    groups.setdefault(key, ([], {name: value}))[0].append(record_id)
        if best is None or len(groups) < len(best):
            best = list(groups.values())
    return best or []


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
