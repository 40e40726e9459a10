"""Persistence: SQLAlchemy 2 Core, Alembic migrations, SQLite by default, PostgreSQL for teams."""

from __future__ import annotations

from jobs.store import alert_tables as alert_tables  # the alerts' tables join the metadata
from jobs.store.base import Connection as Connection
from jobs.store.base import Engine as Engine
from jobs.store.store import FieldState as FieldState
from jobs.store.store import Store as Store
from jobs.store.store import encode_measures as encode_measures
