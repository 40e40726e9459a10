"""health inputs fingerprint and frozen SLA measures

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("engagement_health") as batch:
        batch.add_column(sa.Column("inputs_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("sla_compliance", sa.Float(), nullable=True))
        batch.add_column(sa.Column("next_sla_deadline", sa.DateTime(timezone=True), nullable=True))
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


def downgrade() -> None:
    op.drop_table("sla_measures")
    with op.batch_alter_table("engagement_health") as batch:
        batch.drop_column("inputs_hash")
        batch.drop_column("sla_compliance")
        batch.drop_column("next_sla_deadline")
