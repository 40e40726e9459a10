"""Tables ``alert_outbox``, ``alert_episodes``, ``alert_seen`` and ``alert_routes`` (migration
0019): written here only. SQLite and PostgreSQL.

Outbox state changes are conditional updates (``WHERE state = ...``): two senders racing on
one alert cannot both claim it, and a row is claimed (committed) before it is sent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from jobs.store import alert_tables as t
from jobs.store import schema
from jobs.store.base import StoreBase

PLANNED = "planned"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    key: str
    route: str
    kind: str
    rule: str
    subject: str
    language: str
    content: str
    state: str
    planned_at: datetime
    sent_at: datetime | None
    attempts: int
    retry_at: datetime | None
    message: str | None
    batch: str | None


@dataclass(frozen=True)
class NewAlert:
    key: str
    route: str
    kind: str
    rule: str
    subject: str
    language: str
    content: str


@dataclass(frozen=True)
class Episode:
    rule: str
    subject: str
    episode: int
    open: bool
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class LevelChange:
    """One row of the health history: what an engagement's health became, and when."""

    engagement_id: str
    risk_level: str
    sla_status: str
    recorded_at: datetime


class AlertStore(StoreBase):
    """The alerts' tables over the connector's store engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # --- episodes and what was seen -------------------------------------------------------------
    def episodes(self) -> dict[tuple[str, str], Episode]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.alert_episodes)).mappings().all()
        return {(r["rule"], r["subject"]): Episode(**r) for r in rows}

    def seen(self) -> dict[str, tuple[str, str]]:
        s = t.alert_seen
        with self.engine.connect() as conn:
            query = sa.select(s.c.engagement_id, s.c.risk_level, s.c.sla_status)
            return {r[0]: (r[1], r[2]) for r in conn.execute(query)}

    def save_plan(
        self,
        alerts: Sequence[NewAlert],
        episodes: Sequence[Episode],
        seen: Mapping[str, tuple[str, str]],
        now: datetime,
    ) -> int:
        """In one transaction: add the alerts (an existing key is left alone), the episodes'
        new state, and what was seen. Returns how many alerts were added."""
        added = 0
        with self.engine.begin() as conn:
            if alerts:
                stmt = (
                    self._insert(t.alert_outbox)
                    .on_conflict_do_nothing()
                    .returning(t.alert_outbox.c.id)
                )
                for a in alerts:
                    row = {**a.__dict__, "state": PLANNED, "planned_at": now, "attempts": 0}
                    added += len(conn.execute(stmt, row).all())
            self._upsert_in(
                conn, t.alert_episodes, [e.__dict__ for e in episodes], ["rule", "subject"]
            )
            self._upsert_in(
                conn,
                t.alert_seen,
                [
                    {"engagement_id": e, "risk_level": lv, "sla_status": s, "seen_at": now}
                    for e, (lv, s) in seen.items()
                ],
                ["engagement_id"],
            )
        return added

    # --- the outbox ----------------------------------------------------------------------------
    def rows(
        self, state: str | None = None, route: str | None = None, limit: int | None = None
    ) -> list[OutboxRow]:
        o = t.alert_outbox
        query = sa.select(o).order_by(o.c.planned_at, o.c.id)
        if state is not None:
            query = query.where(o.c.state == state)
        if route is not None:
            query = query.where(o.c.route == route)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [OutboxRow(**r) for r in conn.execute(query).mappings().all()]

    def has(self, key: str) -> bool:
        o = t.alert_outbox
        with self.engine.connect() as conn:
            return conn.execute(sa.select(o.c.id).where(o.c.key == key)).first() is not None

    def claim(self, ids: Collection[int], batch: str | None = None) -> bool:
        """planned -> sending for all of ``ids`` or none, committed BEFORE the message leaves."""
        o = t.alert_outbox
        with self.engine.connect() as conn, conn.begin() as transaction:
            done = conn.execute(
                o.update()
                .where(o.c.id.in_(list(ids)), o.c.state == PLANNED)
                .values(state=SENDING, batch=batch)
            ).rowcount
            if done != len(ids):
                transaction.rollback()  # another sender took some: this one sends none
                return False
        return True

    def mark_sent(self, ids: Collection[int], now: datetime) -> None:
        self._move(ids, SENDING, state=SENT, sent_at=now, message=None, retry_at=None)

    def release(
        self, ids: Collection[int], message: str, attempts: int, retry_at: datetime | None
    ) -> None:
        """sending -> planned: only when the message certainly did not leave."""
        self._move(
            ids,
            SENDING,
            state=PLANNED,
            batch=None,
            message=message,
            attempts=attempts,
            retry_at=retry_at,
        )

    def fail(self, ids: Collection[int], message: str) -> None:
        self._move(ids, SENDING, state=FAILED, message=message)

    def note(self, ids: Collection[int], message: str) -> None:
        """A reason on rows, whatever their state (why a route is waiting, why uncertain)."""
        self._move(ids, None, message=message)

    def retry(self, ids: Collection[int] | None) -> list[int]:
        """Failed or uncertain ("sending") rows back to the queue, as a person decided."""
        o = t.alert_outbox
        query = sa.select(o.c.id).where(o.c.state.in_([FAILED, SENDING]))
        if ids is not None:
            query = query.where(o.c.id.in_(list(ids)))
        with self.engine.begin() as conn:
            chosen = [r[0] for r in conn.execute(query)]
            if chosen:
                conn.execute(
                    o.update()
                    .where(o.c.id.in_(chosen))
                    .values(state=PLANNED, attempts=0, retry_at=None, batch=None)
                )
        return chosen

    def _move(self, ids: Collection[int], from_state: str | None, **values: Any) -> None:
        o = t.alert_outbox
        if not ids:
            return
        query = o.update().where(o.c.id.in_(list(ids)))
        if from_state is not None:
            query = query.where(o.c.state == from_state)
        with self.engine.begin() as conn:
            conn.execute(query.values(**values))

    # --- routes --------------------------------------------------------------------------------
    def disable_route(self, route: str, reason: str, now: datetime) -> None:
        self._upsert(
            t.alert_routes, [{"route": route, "disabled_at": now, "reason": reason}], ["route"]
        )

    def enable_route(self, route: str) -> bool:
        r = t.alert_routes
        with self.engine.begin() as conn:
            return bool(conn.execute(r.delete().where(r.c.route == route)).rowcount)

    def disabled_routes(self) -> dict[str, tuple[datetime, str]]:
        r = t.alert_routes
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r.c.route, r.c.disabled_at, r.c.reason))
            return {row[0]: (row[1], row[2]) for row in rows}

    # --- what the digest reads -----------------------------------------------------------------
    def health_changes(self, until: datetime) -> list[LevelChange]:
        """Every health-history row up to ``until``, oldest first (the digest's week)."""
        h = schema.health_history
        query = (
            sa.select(h.c.engagement_id, h.c.risk_level, h.c.sla_status, h.c.recorded_at)
            .where(h.c.recorded_at <= until)
            .order_by(h.c.recorded_at, h.c.id)
        )
        with self.engine.connect() as conn:
            return [LevelChange(*r) for r in conn.execute(query)]
