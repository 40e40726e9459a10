"""Alembic environment: runs on the connection the store hands over (or the ini's URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from jobs.store import cluster_tables  # noqa: F401 - its tables join the metadata
from jobs.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
