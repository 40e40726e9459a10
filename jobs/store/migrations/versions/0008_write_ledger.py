"""Row ledger of write attempts, retries and quarantine; credit usage per minute (issue 6)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_ledger",
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("row_values", sa.JSON(), nullable=True),
        sa.Column("crm_code", sa.String(length=64), nullable=True),
        sa.Column("field", sa.String(length=128), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("module", "record_id"),
    )
    op.create_index("ix_write_ledger_status", "write_ledger", ["status"])
    op.create_table(
        "credit_usage",
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute"),
    )


def downgrade() -> None:
    op.drop_table("credit_usage")
    op.drop_index("ix_write_ledger_status", table_name="write_ledger")
    op.drop_table("write_ledger")
