"""Tables of the cluster's store (`engage worker`, migrations 0020-0021), on the store's metadata."""

from __future__ import annotations

import sqlalchemy as sa

from jobs.store.schema import UtcDateTime, metadata

#: One row per CRM connection that `engage worker` runs (jobs/store/connections.py, the owner):
#: its config file's text and its mapping's text (so a worker on any machine runs it without the
#: files), the names of the environment variables holding its secrets (never the secrets), its
#: schedule, and the lease of its current run. ``lease_token`` only ever grows: it is the fencing
#: token a run's chunks carry, and a chunk whose token is no longer the row's writes nothing.
connections = sa.Table(
    "connections",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("org", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("config_toml", sa.Text, nullable=False),
    sa.Column("mapping_toml", sa.Text, nullable=False),
    #: JSON object: secret name (client_id, api_key, ...) -> environment variable name.
    sa.Column("secret_env", sa.Text, nullable=False),
    sa.Column("every_seconds", sa.Float, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("next_due_at", UtcDateTime(), nullable=False),
    sa.Column("lease_token", sa.BigInteger, nullable=False),
    sa.Column("lease_holder", sa.String(128)),
    sa.Column("lease_expires_at", UtcDateTime()),
    #: The store's run id (`runs.id`) of the run holding the lease, for `cluster status`.
    sa.Column("lease_run_id", sa.Integer),
    sa.Column("added_at", UtcDateTime(), nullable=False),
)

#: The scoring chunks of a run (connection, lease token): which are done. The last one to finish
#: plans the push (``push_chunks``), once.
run_chunks = sa.Table(
    "run_chunks",
    metadata,
    sa.Column("connection", sa.String(64), primary_key=True),
    sa.Column("token", sa.BigInteger, primary_key=True),
    sa.Column("chunk", sa.Integer, primary_key=True),
    sa.Column("done", sa.Boolean, nullable=False),
)

#: Per org: the credit budget of the current window and what is reserved in it (all workers of
#: the org reserve from this one row; jobs/store/org_limits.py) and the concurrency cap.
org_limits = sa.Table(
    "org_limits",
    metadata,
    sa.Column("org", sa.String(64), primary_key=True),
    sa.Column("budget", sa.Integer, nullable=False),
    sa.Column("window_seconds", sa.Float, nullable=False),
    sa.Column("window_start", UtcDateTime()),
    sa.Column("used", sa.Integer, nullable=False),
    sa.Column("concurrency", sa.Integer, nullable=False),
)

#: The push chunks of a run (connection, lease token; jobs/store/push_chunks.py, the owner): the
#: records each one plans (JSON lists of engagement and account ids, frozen when the push was
#: planned), and once it ended its state (ok, failed, stopped), push counts and message. The last
#: one to end finishes the run, once.
push_chunks = sa.Table(
    "push_chunks",
    metadata,
    sa.Column("connection", sa.String(64), primary_key=True),
    sa.Column("token", sa.BigInteger, primary_key=True),
    sa.Column("chunk", sa.Integer, primary_key=True),
    sa.Column("engagements", sa.Text, nullable=False),
    sa.Column("accounts", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("counts", sa.Text, nullable=False),
    sa.Column("message", sa.Text),
    #: The chunk found a target field gone from the CRM: the next push plans everything.
    sa.Column("fields_missing", sa.Boolean, nullable=False),
)
