"""delivery facts: milestones, tickets, costs, touchpoints, change requests

Each keyed by (source, external_id): re-importing the same id updates, never duplicates.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _create(name: str, *columns: sa.Column[Any]) -> None:
    op.create_table(
        name,
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("engagement_id", sa.String(length=64), nullable=False),
        *columns,
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "external_id"),
    )
    op.create_index(op.f(f"ix_{name}_engagement_id"), name, ["engagement_id"], unique=False)


def upgrade() -> None:
    _create(
        "milestones",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("planned_date", sa.Date(), nullable=False),
        sa.Column("planned_value", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("percent_complete", sa.Float(), nullable=False),
        sa.Column("delivered_date", sa.Date(), nullable=True),
        sa.Column("accepted_date", sa.Date(), nullable=True),
        sa.Column("rejected_count", sa.Integer(), nullable=False),
    )
    _create(
        "tickets",
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        # JSONB on PostgreSQL: plain json cannot be compared, and upserts compare old and new.
        sa.Column(
            "waiting_on_client",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
    )
    _create(
        "cost_entries",
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
    )
    _create(
        "touchpoints",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    _create(
        "change_requests",
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
    )


def downgrade() -> None:
    for name in ("change_requests", "touchpoints", "cost_entries", "tickets", "milestones"):
        op.drop_index(op.f(f"ix_{name}_engagement_id"), table_name=name)
        op.drop_table(name)
