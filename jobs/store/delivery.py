"""The delivery sources' own tables: their cursors and the projects they saw, with links.

Written here only (``delivery_cursors``, ``delivery_projects``); the facts the sources pull go
through ``jobs/store/facts.py`` like those of ``engage import``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa

from jobs.store import schema as t
from jobs.store.base import StoreBase

# --- The tables (on the schema's metadata; schema.py is full) ----------------------------------

#: Where each delivery source's pull resumes, per stream ("issues:ACME"): an opaque cursor the
#: source's client made, stored only after the page it ends was stored.
delivery_cursors = sa.Table(
    "delivery_cursors",
    t.metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("stream", sa.String(128), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),
    sa.Column("updated_at", t.UtcDateTime(), nullable=False),
)

#: The projects each delivery source saw at its last pull, and the engagement each is linked
#: to; ``engagement_id`` empty: unlinked (reported, never guessed), ``problem`` says why.
delivery_projects = sa.Table(
    "delivery_projects",
    t.metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("project_key", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("engagement_id", sa.String(64)),
    sa.Column("problem", sa.Text),
    sa.Column("seen_at", t.UtcDateTime(), nullable=False),
)


class ProjectRow(NamedTuple):
    """A project a delivery source saw at its last pull (or that its mapping names)."""

    source: str
    project_key: str
    name: str | None
    #: The engagement it is linked to; None: unlinked (``problem`` says why).
    engagement_id: str | None
    problem: str | None
    seen_at: datetime


class DeliveryTables(StoreBase):
    """Cursors and projects of the delivery sources, over the store's engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # --- cursors ---------------------------------------------------------------------------------
    def cursor(self, source: str, stream: str) -> str | None:
        table = delivery_cursors
        query = sa.select(table.c.cursor).where(table.c.source == source, table.c.stream == stream)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def set_cursor(self, source: str, stream: str, cursor: str, now: datetime) -> None:
        row = {"source": source, "stream": stream, "cursor": cursor, "updated_at": now}
        self._upsert(delivery_cursors, [row], ["source", "stream"])

    def cursors(self, source: str) -> dict[str, str]:
        table = delivery_cursors
        query = sa.select(table.c.stream, table.c.cursor).where(table.c.source == source)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())

    def forget_cursors(self, source: str) -> None:
        """The next pull of ``source`` reads everything again (``engage sync --sources --full``)."""
        with self.engine.begin() as conn:
            conn.execute(delivery_cursors.delete().where(delivery_cursors.c.source == source))

    # --- projects --------------------------------------------------------------------------------
    def save_projects(self, source: str, rows: Sequence[ProjectRow]) -> None:
        """The projects of ``source`` as its pull saw them now: replaces the ones before."""
        table = delivery_projects
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.source == source))
            if rows:
                conn.execute(table.insert(), [row._asdict() | {"source": source} for row in rows])

    def projects(self, source: str | None = None) -> list[ProjectRow]:
        """The projects seen, unlinked and problems first, then by source and key."""
        table = delivery_projects
        query = sa.select(*(table.c[name] for name in ProjectRow._fields)).order_by(
            table.c.engagement_id.is_not(None), table.c.source, table.c.project_key
        )
        if source is not None:
            query = query.where(table.c.source == source)
        with self.engine.connect() as conn:
            return [ProjectRow._make(row) for row in conn.execute(query).tuples()]

    def deal_projects(self) -> dict[str, str]:
        """engagement id -> its deal's delivery project field, for live engagements with one."""
        table = t.engagements
        query = sa.select(table.c.crm_id, table.c.delivery_projects).where(
            table.c.delivery_projects.is_not(None), table.c.deleted_at.is_(None)
        )
        with self.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())
