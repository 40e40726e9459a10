"""The alerts' tables (migration 0019), kept beside schema.py so that module stays small; on the
same metadata, so migrations and their comparison see them (jobs/store/__init__.py imports
this module)."""

from __future__ import annotations

import sqlalchemy as sa

from jobs.store.schema import UtcDateTime, metadata

# --- alerts (jobs/store/alerts.py; migration 0019) ----------------------------------------------
#: Every alert and digest, written with its key BEFORE it is sent: planned -> sending -> sent
#: (or failed). A row left in "sending" by a crash is never resent automatically.
alert_outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    #: route | rule | subject | episode, or route | digest | person | ISO week.
    sa.Column("key", sa.String(255), nullable=False, unique=True),
    sa.Column("route", sa.String(64), nullable=False, index=True),
    #: "alert" or "digest".
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    #: The engagement, "job", or the person of a digest.
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    #: What the message says, as data (JSON); rendered per channel when sent.
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("planned_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("retry_at", UtcDateTime()),
    sa.Column("message", sa.Text),
    #: The summary message this alert went out in (a burst), if any.
    sa.Column("batch", sa.String(64)),
)

#: A condition of one rule on one subject: open while it holds; its episode numbers the alerts.
alert_episodes = sa.Table(
    "alert_episodes",
    metadata,
    sa.Column("rule", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("episode", sa.Integer, nullable=False),
    sa.Column("open", sa.Boolean, nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("closed_at", UtcDateTime()),
)

#: What alert planning saw of each engagement last time (the "from" of the next change).
alert_seen = sa.Table(
    "alert_seen",
    metadata,
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("risk_level", sa.String(16), nullable=False),
    sa.Column("sla_status", sa.String(32), nullable=False),
    sa.Column("seen_at", UtcDateTime(), nullable=False),
)

#: Routes turned off because the webhook was revoked (404/410), with why.
alert_routes = sa.Table(
    "alert_routes",
    metadata,
    sa.Column("route", sa.String(64), primary_key=True),
    sa.Column("disabled_at", UtcDateTime(), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)
