"""Table ``parked_activities`` (CRM activities whose deal is not stored yet, kept until it is;
jobs/pull/activities.py says why): written here only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from mappings.domain import Activity

#: Activity ids per DELETE statement (a bound parameter each).
_DELETE_BATCH = 500


def replace_parked(
    conn: sa.Connection,
    kind: str,
    read: Sequence[str],
    parked: Sequence[Activity],
    now: datetime | None,
) -> None:
    """Replace the parked rows of the activities ``read`` of sync kind ``kind`` by those of
    ``parked`` (seen at ``now``; none are added when ``now`` is None)."""
    table = t.parked_activities
    for start in range(0, len(read), _DELETE_BATCH):
        batch = read[start : start + _DELETE_BATCH]
        conn.execute(table.delete().where(table.c.kind == kind, table.c.activity_id.in_(batch)))
    if parked and now is not None:
        conn.execute(
            table.insert(),
            [
                {
                    "kind": kind,
                    "activity_id": a.crm_id,
                    "related_id": a.related_id,
                    "activity_kind": a.kind.value,
                    "at": a.at,
                    "seen_at": now,
                }
                for a in parked
            ],
        )


def parked_on_stored_deals(conn: sa.Connection, kind: str) -> list[tuple[str, str, Any, Any]]:
    """(activity id, deal id, activity kind, at) of the parked activities of ``kind`` whose
    deal is now a live engagement, by activity id."""
    table, e = t.parked_activities, t.engagements
    query = (
        sa.select(table.c.activity_id, table.c.related_id, table.c.activity_kind, table.c.at)
        .join(e, e.c.crm_id == table.c.related_id)
        .where(table.c.kind == kind, e.c.deleted_at.is_(None))
        .order_by(table.c.activity_id)
    )
    return [(a, d, k, at) for a, d, k, at in conn.execute(query)]
