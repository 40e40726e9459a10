"""what the push last planned from, and records marked for planning again (issue 6)

Revision ID: 0011
Revises: 0010

With these a push plans only the engagements and accounts whose inputs changed since the
previous push (jobs/push/due.py). A store upgraded from 0010 has no basis yet: its next push
plans everything once, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_basis",
        sa.Column("engagement_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("risk_score", sa.Integer(), nullable=True),
        sa.Column("risk_level", sa.String(length=16), nullable=True),
        sa.Column("drivers", sa.Text(), nullable=True),
        sa.Column("sla_status", sa.String(length=32), nullable=True),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("csat", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sla_compliance", sa.Float(), nullable=True),
        sa.Column("next_sla_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("engagement_id"),
    )
    op.create_table(
        "push_dirty",
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("module", "record_id"),
    )


def downgrade() -> None:
    op.drop_table("push_dirty")
    op.drop_table("push_basis")
