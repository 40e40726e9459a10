"""a run's push in chunks on workers

Revision ID: 0021
Revises: 0020

`engage worker` pushes a run in chunks (``engage.push(connection, token, chunk)``), several at
once on several workers; ``push_chunks`` holds the records each chunk plans and, once it ended,
its state and counts, so that the last chunk to end finishes the run (docs/scaling.md). A new
table: nothing to carry over.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_chunks",
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("engagements", sa.Text(), nullable=False),
        sa.Column("accounts", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("fields_missing", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "token", "chunk"),
    )


def downgrade() -> None:
    op.drop_table("push_chunks")
