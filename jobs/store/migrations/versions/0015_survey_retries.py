"""survey invitations and follow-ups that certainly failed go back to the queue, with backoff

Revision ID: 0015
Revises: 0014

``attempts`` counts certain failures of one invitation (SMTP 4xx, a server-wide refusal) or one
follow-up (the CRM refused the connection); ``retry_at`` is when the next attempt may be made
(connector/retry.py's row backoff). Existing rows start at 0 attempts and no wait.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TABLES = ("survey_invitations", "survey_followups")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
            )
            batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("retry_at")
            batch.drop_column("attempts")
