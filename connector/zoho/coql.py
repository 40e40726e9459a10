"""The COQL query that lists who changed what (research/zoho.md §3), without any HTTP.

``ZohoClient.iter_changed_by_others`` lists, by a keyset over ``(Modified_Time, id)``, the ids
modified since an instant by others than the API user (or by it); ``ask`` sends one query and
returns its answer (None for 204) and Zoho's clock when it answered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from connector.zoho.times import format_zoho_datetime, parse_zoho_datetime

#: §3: rows per COQL call at most; the first call of a read asks for 200 (1 credit), enough
#: when nobody else changed much, and the next ones for 2,000 (3 credits).
COQL_MAX_LIMIT = 2000
COQL_FIRST_LIMIT = 200

#: Sends one COQL query with its LIMIT: (the answer, None for 204; Zoho's clock then).
AskCoql = Callable[[str, int], tuple[dict[str, Any] | None, datetime | None]]


def coql_literal(value: str) -> str:
    """A quoted COQL string literal (ids are digits; quotes escaped all the same)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def modified_ids(
    ask: AskCoql, module: str, since: datetime, own_user_id: str, *, others: bool
) -> tuple[dict[str, datetime], datetime | None]:
    """COQL keyset over ``(Modified_Time, id)``: {id: Modified_Time} of the records last
    modified at or after ``since`` by others (``others``) or by ``own_user_id``, oldest
    first, and Zoho's clock when the query began."""
    user = coql_literal(own_user_id)
    by = f"Modified_By {'not in' if others else 'in'} ({user})"
    found: dict[str, datetime] = {}
    began: datetime | None = None
    where = f"(Modified_Time >= '{format_zoho_datetime(since)}' and {by})"
    limit = COQL_FIRST_LIMIT
    while True:
        query = (
            f"select id, Modified_Time from {module} where {where} "
            f"order by Modified_Time asc, id asc limit {limit}"
        )
        payload, when_asked = ask(query, limit)
        if began is None:
            began = when_asked
        if payload is None:
            break
        rows = payload.get("data") or []
        last_id, last_time = None, None
        for row in rows:
            if not isinstance(row, dict) or row.get("id") is None:
                continue
            value = row.get("Modified_Time")
            try:
                when = parse_zoho_datetime(value) if isinstance(value, str) else since
            except ValueError:
                when = since
            last_id, last_time = str(row["id"]), when
            found[last_id] = when
        if not (payload.get("info") or {}).get("more_records") or last_id is None:
            break
        stamp = format_zoho_datetime(last_time or since)
        # §3: more than two criteria must be grouped; the keyset avoids OFFSET's ceiling.
        where = (
            f"((Modified_Time > '{stamp}' or (Modified_Time = '{stamp}' and id > "
            f"{coql_literal(last_id)})) and {by})"
        )
        limit = COQL_MAX_LIMIT
    return found, began
