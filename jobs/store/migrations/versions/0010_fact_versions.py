"""a version per engagement, raised whenever one of its delivery facts changes

Revision ID: 0010
Revises: 0009

Scoring fingerprints an engagement's facts by this number instead of reading every fact, so a
run where nothing changed reads no fact at all. Engagements with facts already stored start at
version 1 (their health is recomputed once, as after any change of the fingerprint).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_FACT_TABLES = ("milestones", "tickets", "cost_entries", "touchpoints", "change_requests")


def upgrade() -> None:
    versions = op.create_table(
        "fact_versions",
        sa.Column("engagement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("engagement_id"),
    )
    bind = op.get_bind()
    existing = sa.inspect(bind).get_table_names()
    engagement_ids: set[str] = set()
    for name in _FACT_TABLES:
        if name in existing:
            engagement_ids.update(
                bind.execute(sa.text(f"select distinct engagement_id from {name}")).scalars()
            )
    if engagement_ids:
        op.bulk_insert(versions, [{"engagement_id": e, "version": 1} for e in engagement_ids])


def downgrade() -> None:
    op.drop_table("fact_versions")
