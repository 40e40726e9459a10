"""the score history also keeps the SLA compliance %, NPS and CSAT

Revision ID: 0019
Revises: 0018

The portfolio report (`engage report`) draws SLA compliance and NPS/CSAT over time; until now
the history kept only score, level and SLA status. Older rows get NULL: the report leaves them
out of those lines rather than reading them as 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("health_history") as batch:
        batch.add_column(sa.Column("sla_compliance", sa.Float(), nullable=True))
        batch.add_column(sa.Column("nps", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("csat", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("health_history") as batch:
        batch.drop_column("csat")
        batch.drop_column("nps")
        batch.drop_column("sla_compliance")
