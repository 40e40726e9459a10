"""activities waiting for the deal they hang on

Revision ID: 0016
Revises: 0015

An activity attached to a deal the store does not hold (skipped for a bad value, or not read
yet) used to be dropped; once the deal was fixed in the CRM, its earlier calls and meetings
never came back (their Modified_Time had not moved). They now wait here until the deal is
stored (jobs/pull/activities.py). New table: nothing to carry over.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parked_activities",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("activity_id", sa.String(length=64), nullable=False),
        sa.Column("related_id", sa.String(length=64), nullable=False),
        sa.Column("activity_kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "activity_id"),
    )
    op.create_index(
        "ix_parked_activities_related_id", "parked_activities", ["related_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_parked_activities_related_id", table_name="parked_activities")
    op.drop_table("parked_activities")
