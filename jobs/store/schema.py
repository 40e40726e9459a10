"""Table definitions. Alembic migrations (``migrations/versions``) create and evolve them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
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

    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            # SQLAlchemy's own text format, written by the C isoformat instead of SQLAlchemy's
            # dict formatting (a sixth of the time; scoring writes 30,000 times a run). Stored
            # times are compared as text in SQL, so the format must stay exactly this.
            return _sqlite_text
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name == "sqlite":
            # SQLite hands back SQLAlchemy's text format ("2026-11-23 09:00:00.000000", UTC).
            # Python's C parser reads it several times faster than SQLAlchemy's regex; with
            # 1.5 million ticket times read per scoring run, that parsing was the largest cost.
            return _sqlite_utc
        return super().result_processor(dialect, coltype)


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_utc(value: str | None) -> datetime | None:
    # Appending the offset parses several times faster than .replace(tzinfo=UTC) afterwards.
    return None if value is None else datetime.fromisoformat(value + "+00:00")


class Day(sa.TypeDecorator[date]):
    """A calendar date; on SQLite read with Python's C parser (see `UtcDateTime`)."""

    impl = sa.Date
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name == "sqlite":
            return _sqlite_date
        return super().result_processor(dialect, coltype)


def _sqlite_date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


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

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # Most tickets never waited on the client: their "[]" needs no JSON parser.
        def process(value: str | None) -> tuple[tuple[datetime, datetime], ...] | None:
            if value is None:
                return None
            if value == "[]":
                return ()
            return self.process_result_value(json.loads(value), dialect)

        return process


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
    sa.Column("start_date", Day()),
    sa.Column("end_date", Day()),
    sa.Column("closing_date", Day()),
    sa.Column("billing_model", sa.String(120)),
    sa.Column("sla_tier", sa.String(64)),
    sa.Column("renewal_status", sa.String(32)),
    #: The deal's field naming its delivery projects (jobs/delivery/, docs/delivery.md).
    sa.Column("delivery_projects", sa.String(255)),
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

#: Finished SLA measures, frozen with the goal and policy version they were measured by: per
#: engagement, a JSON list of [ticket_id, metric, goal_minutes, used_minutes, met,
#: policy_version]. Scoring reads and replaces an engagement's measures only as a whole.
sla_measure_sets = sa.Table(
    "sla_measure_sets",
    metadata,
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("measures", sa.Text, nullable=False),
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
    #: For the report's lines over time (migration 0020); NULL in rows recorded before it.
    sa.Column("sla_compliance", sa.Float),
    sa.Column("nps", sa.Integer),
    sa.Column("csat", sa.Float),
)

#: Per CRM record: for each target field, what the plugin last wrote and what the CRM held at
#: the last sync, one JSON object ``{field: [written, crm, crm_seen]}`` (jobs/store/field_states.py).
#: On PostgreSQL it is jsonb, whose ``||`` merges the fields of a write into those stored.
record_state = sa.Table(
    "record_state",
    metadata,
    sa.Column("module", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    sa.Column("fields", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

#: Activities attached to a deal the store does not hold yet (skipped for a bad value, or
#: created after the deals were read): made touchpoints once it is stored (jobs/pull/activities.py).
parked_activities = sa.Table(
    "parked_activities",
    metadata,
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("activity_id", sa.String(64), primary_key=True),
    sa.Column("related_id", sa.String(64), nullable=False, index=True),
    sa.Column("activity_kind", sa.String(32), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("seen_at", UtcDateTime(), nullable=False),
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

#: The CRM's refusals of rows the plugin tried to write, run by run (and target fields found
#: gone). Written rows are not kept here: their latest outcome is in ``write_ledger`` and their
#: count in the run's; a row per write would grow this table by the whole push at every run.
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
    sa.Column("planned_date", Day(), nullable=False),
    sa.Column("planned_value", sa.Numeric(18, 2), nullable=False),
    sa.Column("percent_complete", sa.Float, nullable=False),
    sa.Column("delivered_date", Day()),
    sa.Column("accepted_date", Day()),
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
    sa.Column("spent_on", Day(), nullable=False),
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
    sa.Column("raised_on", Day(), nullable=False),
    sa.Column("value", sa.Numeric(18, 2), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)

#: Fact tables by kind, as `engage import KIND` names them.
#: Raised whenever one of an engagement's delivery facts is added, changed or removed: scoring
#: fingerprints the facts by it instead of reading them all.
fact_versions = sa.Table(
    "fact_versions",
    metadata,
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

FACT_TABLES: dict[str, sa.Table] = {
    "milestones": milestones,
    "tickets": tickets,
    "costs": cost_entries,
    "touchpoints": touchpoints,
    "change_requests": change_requests,
}

#: The date each kind of fact is ordered by.
FACT_DATE_COLUMNS: dict[str, str] = {
    "milestones": "planned_date",
    "tickets": "opened_at",
    "costs": "spent_on",
    "touchpoints": "at",
    "change_requests": "raised_on",
}


# --- Satisfaction surveys (jobs/surveys/; migration 0007) ---------------------------------------

#: One invitation per contact and survey wave: the outbox. The unique key is what makes a crash
#: between sending and recording unable to send a second invitation for the same wave.
survey_invitations = sa.Table(
    "survey_invitations",
    metadata,
    #: Derived from (contact_id, wave_key); also the e-mail's Message-ID and the token's subject.
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    #: engagement : trigger : occasion, e.g. "D1:periodic:3" or "D1:milestone:M-7".
    sa.Column("wave_key", sa.String(255), nullable=False),
    sa.Column("engagement_id", sa.String(64), nullable=False, index=True),
    sa.Column("account_id", sa.String(64), nullable=False, index=True),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("email", sa.String(255)),
    sa.Column("contact_name", sa.String(255)),
    sa.Column("engagement_name", sa.String(255)),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("role", sa.String(64)),
    #: planned -> sending -> sent (or failed); "sending" left by a crash is never resent.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("planned_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime()),
    sa.Column("expires_at", UtcDateTime()),
    sa.Column("reminder_state", sa.String(16)),
    sa.Column("reminded_at", UtcDateTime()),
    sa.Column("answered_at", UtcDateTime()),
    sa.Column("message", sa.Text),
    #: Certain failures so far (migration 0015); "planned" again, not before ``retry_at``.
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("retry_at", UtcDateTime()),
    sa.UniqueConstraint("contact_id", "wave_key", name="uq_survey_invitations_contact_wave"),
)

#: Invitations the fatigue rules (or the recipient checks) stopped, with the rule and why.
survey_suppressions = sa.Table(
    "survey_suppressions",
    metadata,
    sa.Column("wave_key", sa.String(255), primary_key=True),
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("engagement_id", sa.String(64), nullable=False),
    sa.Column("account_id", sa.String(64)),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
)

#: One answer per invitation (the unique key makes a token single-use even under a race).
survey_responses = sa.Table(
    "survey_responses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("invitation_id", sa.String(32), nullable=False, unique=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Column("engagement_id", sa.String(64), nullable=False, index=True),
    sa.Column("account_id", sa.String(64), nullable=False),
    sa.Column("role", sa.String(64)),
    sa.Column("nps", sa.Integer),
    sa.Column("csat", sa.Integer),
    #: Stored exactly as typed; escaped wherever it is shown.
    sa.Column("comment", sa.Text),
    sa.Column("answered_at", UtcDateTime(), nullable=False),
)

#: The follow-up Task for a detractor or a low CSAT: at most one per response, ever.
survey_followups = sa.Table(
    "survey_followups",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("response_id", sa.Integer, nullable=False),
    sa.Column("engagement_id", sa.String(64), nullable=False),
    sa.Column("owner_id", sa.String(64)),
    #: pending (call made or about to be) -> created | failed; pending after a crash is listed.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("task_id", sa.String(64)),
    sa.Column("message", sa.Text),
    sa.Column("at", UtcDateTime(), nullable=False),
    #: Certain failures so far (migration 0015): "retry" is tried again from ``retry_at``.
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("retry_at", UtcDateTime()),
)


# --- Reliability (jobs/push/ledger.py, jobs/credits.py; migration 0008) ------------------------------

#: The latest outcome of every row the plugin tried to write, one row per CRM record. "pending"
#: is written before the call goes out (the journal), so a crash leaves it, and the next run
#: checks whether the values landed instead of writing them a second time.
write_ledger = sa.Table(
    "write_ledger",
    metadata,
    sa.Column("module", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    #: pending | written | unchanged | conflict | invalid | retrying | quarantined
    sa.Column("status", sa.String(16), nullable=False, index=True),
    #: The values of the last attempt (or planned write); a new value resets the attempts.
    sa.Column("row_values", sa.JSON),
    sa.Column("crm_code", sa.String(64)),
    sa.Column("field", sa.String(128)),
    sa.Column("message", sa.Text),
    #: Failed attempts in a row with these values; 0 once written.
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_retry_at", UtcDateTime()),
    sa.Column("run_id", sa.Integer),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

#: API credits spent, per minute, by every job of the connection (the rolling 24-hour budget).
credit_usage = sa.Table(
    "credit_usage",
    metadata,
    sa.Column("minute", UtcDateTime(), primary_key=True),
    sa.Column("credits", sa.Integer, nullable=False),
    sa.Column("calls", sa.Integer, nullable=False),
)


# --- Incremental push (jobs/push/due.py; migration 0011) -----------------------------------------

#: Per engagement, what the push last planned from: the engagement's roll-up columns and a copy
#: of its health values (NULL when it had none). An engagement whose row here differs from the
#: store's is planned again; one that matches needs no planning. Every value column of
#: ``engagement_health`` must be copied here (tests/store/test_push_changes.py checks it).
push_basis = sa.Table(
    "push_basis",
    metadata,
    sa.Column("engagement_id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("risk_score", sa.Integer),
    sa.Column("risk_level", sa.String(16)),
    #: The health's drivers as JSON text (PostgreSQL's json type cannot be compared).
    sa.Column("drivers", sa.Text),
    sa.Column("sla_status", sa.String(32)),
    sa.Column("nps", sa.Integer),
    sa.Column("csat", sa.Float),
    sa.Column("updated_at", UtcDateTime()),
    sa.Column("sla_compliance", sa.Float),
    sa.Column("next_sla_deadline", UtcDateTime()),
)

#: Records of a target module that the next push must plan again whatever the basis says: the
#: sync saw their CRM values change, or an engagement of an account changed or left.
push_dirty = sa.Table(
    "push_dirty",
    metadata,
    sa.Column("module", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
)


# --- Zoho access tokens kept between processes (jobs/store/kept_tokens.py; migration 0013) -------------
#: One row per credential: (accounts server, client id, SHA-256 fingerprint of the refresh token).
#: The access token is sealed (AES-GCM) under a key derived from secrets that live only in the
#: environment (connector/kept_tokens.py), so this table never holds a usable secret.
zoho_tokens = sa.Table(
    "zoho_tokens",
    metadata,
    sa.Column("accounts_url", sa.String(255), primary_key=True),
    sa.Column("client_id", sa.String(255), primary_key=True),
    sa.Column("refresh_fingerprint", sa.String(64), primary_key=True),
    sa.Column("sealed_token", sa.Text),
    sa.Column("api_domain", sa.String(255)),
    sa.Column("expires_at", UtcDateTime()),
    #: When a token was first issued for this credential: the connection has worked.
    sa.Column("worked_at", UtcDateTime()),
    #: This connection's refreshes of the last 10 minutes, as a JSON list of ISO times.
    sa.Column("refreshes", sa.Text, nullable=False),
    #: Zoho refused a refresh for its quota: none is asked for before this.
    sa.Column("refused_until", UtcDateTime()),
)


# The tables of the cluster's store (`engage worker`, migration 0021) are in cluster_tables.py,
# on this metadata (this module is at its size limit).
