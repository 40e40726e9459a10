"""Engagement health, its history, the scoring inputs' fingerprints and frozen SLA measures."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.base import StoreBase, where_among
from jobs.store.bulk import among
from mappings.domain import (
    EngagementHealth,
)

#: `encode_measures` of no measures: saving it removes the engagement's stored measures.
_NO_MEASURES = "[]"


def encode_measures(measures: Sequence[Sequence[Any]]) -> str:
    """An engagement's frozen measures as `Store.save_scores` stores them (JSON). Scoring
    workers encode their own results: encoding 600,000 measures was a third of the time of the
    process that saves them."""
    return json.dumps(list(measures), separators=(",", ":"))


def decode_health(engagement_id: str, values: Mapping[Any, Any]) -> EngagementHealth:
    """The one reading of an ``engagement_health`` row as the domain object (the store's
    `Store.health` and the push's planning both use it). `values` by column name, JSON columns
    decoded; validation turns the drivers' dicts into `Driver`s and strings into their enums.
    Columns that are not fields of `EngagementHealth` (``inputs_hash``) are left out."""
    fields = {n: values[n] for n in _HEALTH_FIELDS if n in values}
    return EngagementHealth(engagement_id=engagement_id, **fields)


_HEALTH_FIELDS = tuple(
    c.name
    for c in t.engagement_health.columns
    if c.name in EngagementHealth.model_fields and c.name != "engagement_id"
)


class HealthTables(StoreBase):
    """Tables ``engagement_health``, ``health_history`` and the frozen measures: written here only."""

    # --- health --------------------------------------------------------------------------------
    def health(self, ids: Collection[str] | None = None) -> dict[str, EngagementHealth]:
        query = where_among(sa.select(t.engagement_health), t.engagement_health, ids)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {r["engagement_id"]: decode_health(r["engagement_id"], r) for r in rows}

    def inputs_hashes(self, ids: Collection[str] | None = None) -> dict[str, str | None]:
        table = t.engagement_health
        query = where_among(sa.select(table.c.engagement_id, table.c.inputs_hash), table, ids)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())

    def frozen_measures(
        self, engagement_ids: Collection[str] | None = None
    ) -> dict[str, list[list[Any]]]:
        """engagement -> its finished measures, each [ticket_id, metric, goal_minutes,
        used_minutes, met, policy_version]."""
        table = t.sla_measure_sets
        query = where_among(
            sa.select(table.c.engagement_id, table.c.measures), table, engagement_ids
        )
        with self.engine.connect() as conn:
            return {eid: json.loads(text) for eid, text in conn.execute(query)}

    def save_measures(self, measures: Mapping[str, Sequence[Sequence[Any]]]) -> None:
        """Replace each given engagement's frozen measures (an empty list removes them)."""
        encoded = {eid: encode_measures(m) for eid, m in measures.items()}
        with self.engine.begin() as conn:
            self._save_measures(conn, encoded)

    def save_scores(
        self,
        health: Sequence[EngagementHealth],
        inputs_hashes: Mapping[str, str],
        measures: Mapping[str, str],
    ) -> None:
        """Save what scoring computed for some engagements, in one transaction: the health
        values that changed (`save_health`), what each engagement's health was computed from
        (its inputs hash), and its frozen measures as `encode_measures` wrote them."""
        with self.engine.begin() as conn:
            saved = self._save_health(conn, health, inputs_hashes)
            if unchanged := [(e, h) for e, h in inputs_hashes.items() if e not in saved]:
                table = t.engagement_health
                conn.execute(
                    table.update()
                    .where(table.c.engagement_id == sa.bindparam("eid"))
                    .values(inputs_hash=sa.bindparam("hash")),
                    [{"eid": eid, "hash": h} for eid, h in unchanged],
                )
            self._save_measures(conn, measures)

    def _save_measures(self, conn: sa.Connection, measures: Mapping[str, str]) -> None:
        table = t.sla_measure_sets
        emptied = [eid for eid, text in measures.items() if text == _NO_MEASURES]
        if emptied:
            conn.execute(table.delete().where(among(table.c.engagement_id, emptied)))
        kept = [
            {"engagement_id": eid, "measures": text}
            for eid, text in measures.items()
            if text != _NO_MEASURES
        ]
        self._upsert_in(conn, table, kept, ["engagement_id"])

    def clear_measures(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.sla_measure_sets.delete())

    def save_health(self, items: Sequence[EngagementHealth]) -> None:
        """Store new health values and append each to the history (callers pass changes only)."""
        with self.engine.begin() as conn:
            self._save_health(conn, items)

    def _save_health(
        self,
        conn: sa.Connection,
        items: Sequence[EngagementHealth],
        inputs_hashes: Mapping[str, str] | None = None,
    ) -> set[str]:
        """`save_health`; with `inputs_hashes` covering every item, each row's inputs hash is
        stored with it (one statement less per engagement). Returns the engagements whose hash
        was stored."""
        if not items:
            return set()
        rows = [
            {
                "engagement_id": h.engagement_id,
                "risk_score": h.risk_score,
                "risk_level": h.risk_level.value,
                "drivers": [d.model_dump() for d in h.drivers],
                "sla_status": h.sla_status.value,
                "nps": h.nps,
                "csat": h.csat,
                "sla_compliance": h.sla_compliance,
                "next_sla_deadline": h.next_sla_deadline,
                "updated_at": h.updated_at,
            }
            for h in items
        ]
        stored: set[str] = set()
        if inputs_hashes is not None and all(h.engagement_id in inputs_hashes for h in items):
            for row, item in zip(rows, items, strict=True):
                row["inputs_hash"] = inputs_hashes[item.engagement_id]
            stored = {h.engagement_id for h in items}
        self._upsert_in(conn, t.engagement_health, rows, ["engagement_id"])
        history = [
            {
                "engagement_id": h.engagement_id,
                "risk_score": h.risk_score,
                "risk_level": h.risk_level.value,
                "sla_status": h.sla_status.value,
                "recorded_at": h.updated_at,
                "sla_compliance": h.sla_compliance,
                "nps": h.nps,
                "csat": h.csat,
            }
            for h in items
        ]
        conn.execute(t.health_history.insert(), history)
        return stored

    def health_history(self, engagement_id: str) -> list[tuple[datetime, int]]:
        query = (
            sa.select(t.health_history.c.recorded_at, t.health_history.c.risk_score)
            .where(t.health_history.c.engagement_id == engagement_id)
            .order_by(t.health_history.c.recorded_at, t.health_history.c.id)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(query)]
