"""How a mapping's module names an Odoo model, and the sizes and shapes of Odoo reads and writes."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from connector.errors import (
    ConfigurationError,
)
from connector.odoo.values import (
    FieldTypes,
    parse_odoo_datetime,
)

ApiChoice = Literal["auto", "json2", "jsonrpc", "xmlrpc"]

#: Rows per search_read: §3 advises 200–2000; big reads hit worker memory and time limits.
PAGE_SIZE = 500
#: Ids per page of the deletion scan (ids only, so pages can be large).
ID_SCAN_PAGE = 50_000
#: Rows per update_records call. Odoo has no per-call row limit; grouping needs many rows at
#: once to pay off, and outcomes are stored after each call of this size.
WRITE_BATCH_SIZE = 1000
#: Re-read window before the cursor (write_date is the transaction start time, §3).
DEFAULT_OVERLAP = timedelta(minutes=10)
DEFAULT_ID_SCAN_INTERVAL = timedelta(hours=6)
#: Archived (lost) opportunities must be read too (§3 "Archiving").
READ_CONTEXT = {"active_test": False}
#: Context of ``load``: archived (lost) opportunities must be found by their ``.id`` (its
#: search applies active_test), and datetime cells are read in the context's tz (the
#: converter's ``_input_tz``), so naive UTC text needs tz UTC.
LOAD_CONTEXT = {"active_test": False, "tz": "UTC"}
#: ``load`` columns of the activity's many2one values, given by database id.
_ACTIVITY_COLUMNS = {
    "res_model_id": "res_model_id/.id",
    "activity_type_id": "activity_type_id/.id",
    "user_id": "user_id/.id",
}
#: XML id of the activity type follow-ups get (addons/mail/data/mail_activity_data.xml, §7).
ACTIVITY_TYPE_XMLID = "mail.mail_activity_data_todo"
#: ir.model.data module under which a task's idempotency key is kept as an external id.
TASK_KEY_MODULE = "engagement_connector"
_FIELDS_GET_ATTRIBUTES = [
    "type",
    "string",
    "readonly",
    "selection",
    "size",
    "manual",
    "required",
    "relation",
]
_NON_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ModelView:
    """A model, and the domain that selects one kind of record in it."""

    model: str
    domain: list[Any]


def parse_module(module: str) -> ModelView:
    """``"res.partner [[\"is_company\", \"=\", true]]"`` -> model and domain (may be empty)."""
    model, _, rest = module.strip().partition(" ")
    if not rest.strip():
        return ModelView(model, [])
    try:
        domain = json.loads(rest)
    except ValueError:
        raise ConfigurationError(
            f"module {module!r}: the text after the model name must be an Odoo domain in "
            'JSON, e.g. [["is_company", "=", true]]'
        ) from None
    if not isinstance(domain, list):
        raise ConfigurationError(f"module {module!r}: the domain must be a list")
    return ModelView(model, domain)


def field_name_for(label: str) -> str:
    """Custom fields created over the API must be named ``x_…`` (a DB constraint, §5)."""
    slug = _NON_WORD.sub("_", label.lower()).strip("_")
    return slug if slug.startswith("x_") else f"x_{slug}"


def _description(label: str) -> str:
    """A readable field label: "x engagement risk level" -> "Engagement risk level"."""
    text = re.sub(r"^x[ _]", "", label).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else label


def _is_many2one(types: FieldTypes, name: str) -> bool:
    return (types.get(name) or {}).get("type") == "many2one"


def _load_cell(value: Any, types: FieldTypes, name: str) -> str:
    """A value as ``load`` reads it: text converted per field type (ir.fields.converter);
    an empty cell is False (cleared); booleans 1/0; selections by key."""
    if value is None or value is False:
        return "" if (types.get(name) or {}).get("type") != "boolean" else "0"
    if value is True:
        return "1"
    return str(value)


def _after(last: tuple[str, int]) -> list[Any]:
    """Keyset condition: rows after (write_date, id) in (write_date asc, id asc) order."""
    stamp, record_id = last
    return [
        "|",
        ["write_date", ">", stamp],
        "&",
        ["write_date", "=", stamp],
        ["id", ">", record_id],
    ]


def _newest(rows: Sequence[Any]) -> datetime | None:
    newest = None
    for row in rows:
        value = row.get("write_date") if isinstance(row, dict) else None
        if not isinstance(value, str):
            continue
        try:
            parsed = parse_odoo_datetime(value)
        except ValueError:
            continue
        if newest is None or parsed > newest:
            newest = parsed
    return newest


def _task_xml_name(key: str) -> str:
    """External ids allow only some characters; a digest of the key is safe and stable."""
    return "task_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
