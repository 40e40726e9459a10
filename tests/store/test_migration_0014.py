"""Migration 0014 drops APScheduler's old job table and leaves every other row as it was."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from jobs.store.store import migrate, migration_config


def test_the_old_job_table_is_dropped_and_other_data_carries_over(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(migration_config(conn), "0012")
        conn.execute(sa.text("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO store_meta (key, value) VALUES ('org', 'acme')"))
    migrate(engine)
    tables = sa.inspect(engine).get_table_names()
    assert "apscheduler_jobs" not in tables
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT value FROM store_meta")).scalars().all() == ["acme"]
    engine.dispose()
