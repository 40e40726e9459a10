"""The one rule for text from outside: U+0000 (NUL) never reaches the database.

Every value the store writes — from a CRM, an imported file, a delivery tool or a survey
respondent — passes through the database driver, and this is the one place it is checked:
a hook on the engine (`install`) that sees every statement's parameters just before they are
sent. Text is stored as given, with one exception: NUL. PostgreSQL cannot hold it in `text`
nor in `jsonb` (psycopg refuses it: "PostgreSQL text fields cannot contain NUL (0x00)
bytes"), and one CRM deal holding it stopped every run for all deals. So NUL is removed, on
SQLite too (the same CRM record gives the same stored values whichever database holds it),
and each row it was removed from is logged as a warning naming its table and key, so that
someone can fix the source. Every other character (line breaks, control characters, any
script) is stored as given; where it goes next (a mail header, a terminal) is that consumer's
job (jobs/surveys/).

docs/reliability.md, "Text from outside", documents the rule.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

NUL = "\x00"
_ESCAPED_NUL = "\\u0000"

#: Columns that name a row, in the order they are tried, for the warning.
_KEY_COLUMNS = ("crm_id", "record_id", "external_id", "engagement_id", "id", "key")


def without_nul(value: Any) -> Any:
    """`value` with every NUL removed from its text, however deep in lists and dicts."""
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, Mapping):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(without_nul(v) for v in value)
    return value


def install(engine: sa.Engine) -> None:
    """Apply the rule to every statement `engine` runs (once per engine)."""
    if not sa.event.contains(engine, "before_cursor_execute", _clean_parameters):
        sa.event.listen(engine, "before_cursor_execute", _clean_parameters, retval=True)


def _clean_parameters(
    conn: sa.Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    # Positional parameters (SQLite) are named by the compiled statement, for the warning.
    names = getattr(getattr(context, "compiled", None), "positiontup", None)
    if executemany and isinstance(parameters, list):
        cleaned = [_clean_row(statement, row, names) for row in parameters]
        if any(new is not old for new, old in zip(cleaned, parameters, strict=True)):
            parameters = cleaned
    elif parameters is not None:
        parameters = _clean_row(statement, parameters, names)
    return statement, parameters


def _clean_row(statement: str, row: Any, names: Sequence[str] | None) -> Any:
    """One row of parameters (a dict or a tuple), the same object when nothing was removed."""
    # Looked at without copying first: a push hands tens of thousands of rows, none with NUL.
    if isinstance(row, Mapping):
        if not any(map(_dirty, row.values())):
            return row
        items = {k: _clean_value(v) for k, v in row.items()}
        if all(v is row[k] for k, v in items.items()):
            return row
        _warn(statement, row, [k for k, v in items.items() if v is not row[k]])
        return items
    if isinstance(row, Sequence) and not isinstance(row, str | bytes):
        if not any(map(_dirty, row)):
            return row
        values = [_clean_value(v) for v in row]
        if all(new is old for new, old in zip(values, row, strict=True)):
            return row
        if names is not None and len(names) == len(row):
            named = dict(zip(names, row, strict=True))
            _warn(
                statement,
                named,
                [n for n, v, o in zip(names, values, row, strict=True) if v is not o],
            )
        else:
            _warn(statement, {}, [])
        return type(row)(values) if isinstance(row, tuple) else values
    return row


def _dirty(value: Any) -> bool:
    """Whether `_clean_value` would change `value` (or may: a JSON text to parse)."""
    if isinstance(value, str):
        return NUL in value or (_ESCAPED_NUL in value and value[:1] in '[{"')
    if value is None or isinstance(value, int | float | bytes):
        return False
    wrapped = getattr(value, "obj", None)
    if wrapped is not None and type(value).__module__.startswith("psycopg"):
        return _holds_nul(wrapped)
    if isinstance(value, list | tuple):
        return _any_dirty(value)
    return False


#: Text, and values that never hold text: in an array, not looked at one by one.
_PLAIN = (str, int, float, bytes, type(None), date, datetime, Decimal)


def _any_dirty(values: Sequence[Any]) -> bool:
    """Whether any of `values` is `_dirty`: their texts looked at as one string (a column's
    array of a thousand values, `bulk.insert_rows`, in one pass rather than a call each)."""
    texts = [v for v in values if isinstance(v, str)]
    joined = "\x01".join(texts)
    if NUL in joined or (_ESCAPED_NUL in joined and any(map(_dirty, texts))):
        return True
    return any(map(_dirty, [v for v in values if not isinstance(v, _PLAIN)]))


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, Mapping):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(map(_holds_nul, value))
    return False


def _clean_value(value: Any) -> Any:
    """One parameter without NUL; the same object when it held none."""
    if isinstance(value, str):
        if NUL in value:
            return value.replace(NUL, "")
        if _ESCAPED_NUL in value and value[:1] in '[{"':
            return _clean_json_text(value)
        return value
    # psycopg's Json / Jsonb wrappers (PostgreSQL json and jsonb columns) carry the object.
    wrapped = getattr(value, "obj", None)
    if wrapped is not None and type(value).__module__.startswith("psycopg"):
        cleaned = without_nul(wrapped)
        if cleaned != wrapped:
            return type(value)(cleaned)
        return value
    if isinstance(value, list | tuple) and any(map(_dirty, value)):
        # A text[] parameter (jobs/store/bulk.py `among`), or a column's values as one array
        # (`insert_rows`): each element as if it were a parameter of its own.
        return type(value)(_clean_value(v) for v in value)
    return value


def _clean_json_text(value: str) -> str:
    """A JSON document as SQLite receives it (already serialized: NUL is the escape
    ``\\u0000``), without NUL; a text that is not JSON is returned unchanged."""
    try:
        document = json.loads(value)
    except ValueError:
        return value
    cleaned = without_nul(document)
    if cleaned == document:
        return value
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))


def _warn(statement: str, row: Mapping[str, Any], columns: Sequence[str]) -> None:
    key: Any = next((row[c] for c in _KEY_COLUMNS if row.get(c) is not None), "?")
    if isinstance(key, list):
        # Rows as one array per column (jobs/store/bulk.py `insert_rows`): the keys of the
        # rows that held NUL, not the whole array.
        key = ", ".join(
            str(k)
            for i, k in enumerate(key)
            if any(isinstance(row[c], list) and _dirty(row[c][i]) for c in columns)
        )
    words = statement.split()
    table = "?"
    for i, word in enumerate(words[:-1]):
        if word.upper() in ("INTO", "UPDATE"):
            table = words[i + 1].strip('"')
            break
    log.warning(
        "removed NUL characters (U+0000) from %s %s (%s): the store cannot hold them; "
        "the rest of the value is stored (fix it at its source)",
        table,
        str(key),
        ", ".join(columns) or "?",
    )
