"""connections run by workers, their leases, and the orgs' shared limits

Revision ID: 0020
Revises: 0019

`engage connections add` keeps each CRM connection as a row (its config and mapping as text,
the names of its secrets' environment variables), `engage worker` takes a run's lease on it and
fans scoring out in chunks (``run_chunks``), and every worker of an org reserves credits from
one row of ``org_limits`` (docs/scaling.md). New tables: nothing to carry over.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("config_toml", sa.Text(), nullable=False),
        sa.Column("mapping_toml", sa.Text(), nullable=False),
        sa.Column("secret_env", sa.Text(), nullable=False),
        sa.Column("every_seconds", sa.Float(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_token", sa.BigInteger(), nullable=False),
        sa.Column("lease_holder", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_run_id", sa.Integer(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "run_chunks",
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "token", "chunk"),
    )
    op.create_table(
        "org_limits",
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("window_seconds", sa.Float(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org"),
    )


def downgrade() -> None:
    op.drop_table("org_limits")
    op.drop_table("run_chunks")
    op.drop_table("connections")
