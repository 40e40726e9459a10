"""Zoho access tokens kept between processes (issue 16 item 1)

Revision ID: 0013
Revises: 0012

A new table only: no existing data changes. One row per credential; the access token in it is
sealed with a key derived from the environment's secrets (connector/zoho/auth.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zoho_tokens",
        sa.Column("accounts_url", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("refresh_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("sealed_token", sa.Text(), nullable=True),
        sa.Column("api_domain", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshes", sa.Text(), nullable=False),
        sa.Column("refused_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("accounts_url", "client_id", "refresh_fingerprint"),
    )


def downgrade() -> None:
    op.drop_table("zoho_tokens")
