"""delivery sources: cursors, projects seen and their links, the deal's project field

Revision ID: 0018
Revises: 0016

Delivery facts are pulled from the delivery tools (Jira, PingCode...; jobs/delivery/): each
source's cursors, the projects it saw (linked or not), and the engagements' field naming their
projects. New tables and a new empty column: nothing to carry over.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_cursors",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("stream", sa.String(length=128), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "stream"),
    )
    op.create_table(
        "delivery_projects",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("project_key", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("engagement_id", sa.String(length=64), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "project_key"),
    )
    with op.batch_alter_table("engagements") as batch:
        batch.add_column(sa.Column("delivery_projects", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("engagements") as batch:
        batch.drop_column("delivery_projects")
    op.drop_table("delivery_projects")
    op.drop_table("delivery_cursors")
