"""frozen SLA measures as one row per engagement

Revision ID: 0009
Revises: 0008

A row per ticket and metric meant a million rows written by the first scoring run of 10,000
engagements, and nothing ever reads a single measure: scoring reads and replaces an
engagement's measures as a whole. Existing measures are carried over.
"""

from __future__ import annotations

import json
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_OLD_COLUMNS = ("ticket_id", "metric", "goal_minutes", "used_minutes", "met", "policy_version")


def upgrade() -> None:
    sets = op.create_table(
        "sla_measure_sets",
        sa.Column("engagement_id", sa.String(length=64), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("engagement_id"),
    )
    old = sa.table("sla_measures", sa.column("engagement_id"), *map(sa.column, _OLD_COLUMNS))
    bind = op.get_bind()
    rows = bind.execute(sa.select(old).order_by(old.c.engagement_id)).all()
    carried = [
        {
            "engagement_id": engagement_id,
            "measures": json.dumps(
                [[r[1], r[2], r[3], r[4], bool(r[5]), r[6]] for r in group],
                separators=(",", ":"),
            ),
        }
        for engagement_id, group in groupby(rows, key=lambda r: r[0])
    ]
    if carried:
        op.bulk_insert(sets, carried)
    op.drop_table("sla_measures")


def downgrade() -> None:
    op.create_table(
        "sla_measures",
        sa.Column("engagement_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("goal_minutes", sa.Integer(), nullable=False),
        sa.Column("used_minutes", sa.Float(), nullable=False),
        sa.Column("met", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("engagement_id", "ticket_id", "metric"),
    )
    old = sa.table("sla_measures", sa.column("engagement_id"), *map(sa.column, _OLD_COLUMNS))
    bind = op.get_bind()
    rows = bind.execute(sa.text("select engagement_id, measures from sla_measure_sets")).all()
    carried = [
        {"engagement_id": eid, **dict(zip(_OLD_COLUMNS, m, strict=True))}
        for eid, text in rows
        for m in json.loads(text)
    ]
    if carried:
        bind.execute(old.insert(), carried)
    op.drop_table("sla_measure_sets")
