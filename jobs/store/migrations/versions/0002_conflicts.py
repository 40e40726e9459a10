"""conflicts: plugin fields a person changed in the CRM (write policy keep_human_edits)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conflicts",
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("crm_value", sa.JSON(), nullable=True),
        sa.Column("written_value", sa.JSON(), nullable=True),
        sa.Column("wanted_value", sa.JSON(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("module", "record_id", "field"),
    )


def downgrade() -> None:
    op.drop_table("conflicts")
