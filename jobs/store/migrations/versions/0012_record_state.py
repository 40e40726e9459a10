"""field states as one row per CRM record

Revision ID: 0012
Revises: 0011

A row per record and target field meant 70,000 rows written by a push of 10,000 deals with
seven plugin fields, and the push and the sync always read and write a record's fields
together. One row per record holds them as a JSON object ``{field: [written, crm, seen]}``
(jsonb on PostgreSQL, whose ``||`` merges a write's fields into those stored, as SQLite's
``json_patch`` does). Existing states are carried over, and back on downgrade.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import groupby

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _old_table() -> sa.Table:
    return sa.Table(
        "field_state",
        sa.MetaData(),
        sa.Column("module", sa.String(length=64), primary_key=True),
        sa.Column("record_id", sa.String(length=64), primary_key=True),
        sa.Column("field", sa.String(length=128), primary_key=True),
        sa.Column("written_value", sa.JSON()),
        sa.Column("written_at", sa.DateTime(timezone=True)),
        sa.Column("crm_value", sa.JSON()),
        sa.Column("crm_seen_at", sa.DateTime(timezone=True)),
    )


def _decoded(text: str | None) -> object:
    return json.loads(text) if text is not None else None


def upgrade() -> None:
    states = op.create_table(
        "record_state",
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("module", "record_id"),
    )
    old = _old_table()
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            old.c.module,
            old.c.record_id,
            old.c.field,
            sa.cast(old.c.written_value, sa.Text()),
            sa.cast(old.c.crm_value, sa.Text()),
            old.c.crm_seen_at.is_not(None),
            sa.func.coalesce(old.c.crm_seen_at, old.c.written_at),
        ).order_by(old.c.module, old.c.record_id, old.c.field)
    ).all()
    carried = []
    for (module, record_id), group in groupby(rows, key=lambda r: (r[0], r[1])):
        fields = list(group)
        at = max((r[6] for r in fields if r[6] is not None), default=None)
        carried.append(
            {
                "module": module,
                "record_id": record_id,
                "fields": {r[2]: [_decoded(r[3]), _decoded(r[4]), bool(r[5])] for r in fields},
                # SQLite hands back its text; the new column's type reads either.
                "updated_at": at or datetime.now(UTC),
            }
        )
    if carried:
        bind.execute(states.insert(), carried)
    op.drop_table("field_state")


def downgrade() -> None:
    op.create_table(
        "field_state",
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("written_value", sa.JSON(), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("crm_value", sa.JSON(), nullable=True),
        sa.Column("crm_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("module", "record_id", "field"),
    )
    states = sa.table(
        "record_state",
        sa.column("module"),
        sa.column("record_id"),
        sa.column("fields"),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            states.c.module,
            states.c.record_id,
            sa.cast(states.c.fields, sa.Text()),
            states.c.updated_at,
        )
    ).all()
    carried = [
        {
            "module": module,
            "record_id": record_id,
            "field": name,
            "written_value": written,
            "written_at": at if written is not None else None,
            "crm_value": crm,
            "crm_seen_at": at if seen else None,
        }
        for module, record_id, text, at in rows
        for name, (written, crm, seen) in json.loads(text).items()
    ]
    if carried:
        bind.execute(_old_table().insert(), carried)
    op.drop_table("record_state")
