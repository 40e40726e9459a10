"""Table definitions. Alembic migrations (``migrations/versions``) create and evolve them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out. SQLite drops the offset, so it is re-attached on read."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcIntervals(sa.TypeDecorator[tuple[tuple[datetime, datetime], ...]]):
    """Time intervals as a JSON list of ``[start, end]`` ISO strings in UTC (JSONB on PostgreSQL).

    JSONB, not JSON, so that PostgreSQL can compare two values (plain ``json`` has no ``=``).
    """

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.JSON())

    def process_bind_param(
        self, value: tuple[tuple[datetime, datetime], ...] | None, dialect: Any
    ) -> list[list[str]] | None:
        if value is None:
            return None
        pairs = []
        for start, end in value:
            if start.tzinfo is None or end.tzinfo is None:
                raise ValueError("naive datetimes are not stored; pass aware datetimes")
            pairs.append([start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()])
        return pairs

    def process_result_value(
        self, value: list[list[str]] | None, dialect: Any
    ) -> tuple[tuple[datetime, datetime], ...] | None:
        if value is None:
            return None
        return tuple(
            (datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in value
        )


metadata = sa.MetaData()

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("crm_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("industry", sa.String(120)),
    sa.Column("owner_id", sa.String(64)),
    sa.Column("owner_name", sa.String(255)),
    sa.Column("country", sa.String(120)),
    sa.Column("crm_modified_at", UtcDateTime()),
    sa.Column("deleted_at", UtcDateTime()),
    sa.Column("synced_at", UtcDateTime(), nullable=False),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("crm_id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(64), index=True),
    sa.Column("first_name", sa.String(120)),
    sa.Column("last_name", sa.String(120)),
    sa.Column("email", sa.String(255)),
    sa.Column("title", sa.String(255)),
    sa.Column("email_opt_out", sa.Boolean, nullable=False, default=False),
    sa.Column("crm_modified_at", UtcDateTime()),
    sa.Column("deleted_at", UtcDateTime()),
    sa.Column("synced_at", UtcDateTime(), nullable=False),
)

engagements = sa.Table(
    "engagements",
    metadata,
    sa.Column("crm_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("account_id", sa.String(64), nullable=False, index=True),
    sa.Column("account_name", sa.String(255)),
    sa.Column("owner_id", sa.String(64)),
    sa.Column("owner_name", sa.String(255)),
    sa.Column("stage", sa.String(120), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("contract_value", sa.Numeric(18, 2)),
    sa.Column("currency", sa.String(8)),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Column("closing_date", sa.Date),
    sa.Column("billing_model", sa.String(120)),
    sa.Column("sla_tier", sa.String(64)),
    sa.Column("renewal_status", sa.String(32)),
    sa.Column("crm_modified_at", UtcDateTime()),
    sa.Column("deleted_at", UtcDateTime()),
    sa.Column("synced_at", UtcDateTime(), nullable=False),
)

engagement_health = sa.Table(
    "engagement_health",
    metadata,
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("risk_score", sa.Integer, nullable=False),
    sa.Column("risk_level", sa.String(16), nullable=False),
    sa.Column("drivers", sa.JSON, nullable=False),
    sa.Column("sla_status", sa.String(32), nullable=False),
    sa.Column("nps", sa.Integer),
    sa.Column("csat", sa.Float),
    #: When the values last changed (not when they were last computed).
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("sla_compliance", sa.Float),
    sa.Column("next_sla_deadline", UtcDateTime()),
    #: Fingerprint of everything the values were computed from; equal means nothing to redo.
    sa.Column("inputs_hash", sa.String(64)),
)

#: Finished SLA measures, frozen with the goal and policy version they were measured by.
sla_measures = sa.Table(
    "sla_measures",
    metadata,
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("ticket_id", sa.String(128), primary_key=True),
    sa.Column("metric", sa.String(32), primary_key=True),
    sa.Column("goal_minutes", sa.Integer, nullable=False),
    sa.Column("used_minutes", sa.Float, nullable=False),
    sa.Column("met", sa.Boolean, nullable=False),
    sa.Column("policy_version", sa.Integer, nullable=False),
)

health_history = sa.Table(
    "health_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("engagement_id", sa.String(64), nullable=False, index=True),
    sa.Column("risk_score", sa.Integer, nullable=False),
    sa.Column("risk_level", sa.String(16), nullable=False),
    sa.Column("sla_status", sa.String(32), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
)

#: Per CRM record and field: what the plugin last wrote, and what the CRM held at the last sync.
field_state = sa.Table(
    "field_state",
    metadata,
    sa.Column("module", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    sa.Column("field", sa.String(128), primary_key=True),
    sa.Column("written_value", sa.JSON),
    sa.Column("written_at", UtcDateTime()),
    sa.Column("crm_value", sa.JSON),
    sa.Column("crm_seen_at", UtcDateTime()),
)

sync_cursors = sa.Table(
    "sync_cursors",
    metadata,
    sa.Column("stream", sa.String(64), primary_key=True),
    sa.Column("cursor", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(32), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime()),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("message", sa.Text),
)

#: Records that could not be read, with the latest reason; cleared when the record reads fine.
skipped_records = sa.Table(
    "skipped_records",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    sa.Column("field", sa.String(128)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("run_id", sa.Integer),
    sa.Column("seen_at", UtcDateTime(), nullable=False),
)

#: The CRM's verdict on every row the plugin tried to write.
write_outcomes = sa.Table(
    "write_outcomes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, index=True),
    sa.Column("module", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("crm_code", sa.String(64)),
    sa.Column("field", sa.String(128)),
    sa.Column("message", sa.Text),
    sa.Column("at", UtcDateTime(), nullable=False),
)

#: Plugin fields a person changed in the CRM and the plugin left alone (keep_human_edits).
#: Replaced per module at every push, so it lists exactly the conflicts standing now.
conflicts = sa.Table(
    "conflicts",
    metadata,
    sa.Column("module", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    sa.Column("field", sa.String(128), primary_key=True),
    sa.Column("crm_value", sa.JSON),
    sa.Column("written_value", sa.JSON),
    sa.Column("wanted_value", sa.JSON),
    sa.Column("seen_at", UtcDateTime(), nullable=False),
)

#: Small facts about the store itself, e.g. the fingerprint of the mapping the last sync used.
store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: Held while a job runs, so that two daemons on one database never run the same job at once.
job_locks = sa.Table(
    "job_locks",
    metadata,
    sa.Column("job", sa.String(32), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)


# --- Delivery facts: one table per kind, keyed by where a fact came from and its id there ------


def _fact_table(name: str, *columns: sa.Column[Any]) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        #: Where the fact came from: "file" for imports; later "jira", "zoho"...
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("external_id", sa.String(128), primary_key=True),
        sa.Column("engagement_id", sa.String(64), nullable=False, index=True),
        *columns,
        #: When these values arrived (an import that changes nothing leaves it alone).
        sa.Column("imported_at", UtcDateTime(), nullable=False),
    )


milestones = _fact_table(
    "milestones",
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("planned_date", sa.Date, nullable=False),
    sa.Column("planned_value", sa.Numeric(18, 2), nullable=False),
    sa.Column("percent_complete", sa.Float, nullable=False),
    sa.Column("delivered_date", sa.Date),
    sa.Column("accepted_date", sa.Date),
    sa.Column("rejected_count", sa.Integer, nullable=False),
)

tickets = _fact_table(
    "tickets",
    sa.Column("priority", sa.String(8), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("first_response_at", UtcDateTime()),
    sa.Column("resolved_at", UtcDateTime()),
    sa.Column("waiting_on_client", UtcIntervals(), nullable=False),
)

cost_entries = _fact_table(
    "cost_entries",
    sa.Column("spent_on", sa.Date, nullable=False),
    sa.Column("amount", sa.Numeric(18, 2), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
)

touchpoints = _fact_table(
    "touchpoints",
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)

change_requests = _fact_table(
    "change_requests",
    sa.Column("raised_on", sa.Date, nullable=False),
    sa.Column("value", sa.Numeric(18, 2), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)

#: Fact tables by kind, as `engage import KIND` names them.
FACT_TABLES: dict[str, sa.Table] = {
    "milestones": milestones,
    "tickets": tickets,
    "costs": cost_entries,
    "touchpoints": touchpoints,
    "changes": change_requests,
}

#: The date each kind of fact is ordered by.
FACT_DATE_COLUMNS: dict[str, str] = {
    "milestones": "planned_date",
    "tickets": "opened_at",
    "costs": "spent_on",
    "touchpoints": "at",
    "changes": "raised_on",
}
