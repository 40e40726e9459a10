"""no pickled jobs: drop APScheduler's job table

Revision ID: 0014
Revises: 0013

The daemon kept its schedule in APScheduler's SQLAlchemy job store, which unpickles whatever
its table holds: write access to the store was code execution in the daemon. The schedule is
now rebuilt from the config at every start (jobs/daemon.py), so the table holds nothing the
daemon needs, and is dropped so that nothing ever reads it again. Nothing else changes.
Downgrading does not bring it back: the older daemon creates it itself when it starts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: APScheduler 3's default table name (SQLAlchemyJobStore(tablename="apscheduler_jobs")).
_TABLE = "apscheduler_jobs"


def upgrade() -> None:
    if _TABLE in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table(_TABLE)


def downgrade() -> None:
    pass
