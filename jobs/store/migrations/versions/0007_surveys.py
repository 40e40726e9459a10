"""Survey waves, invitations, outbox, responses (issue 5)

Invitations are the outbox, unique per (contact, wave); suppressions keep the fatigue rule that
stopped an invitation; responses are unique per invitation (single-use links); follow-ups hold
at most one CRM task per response.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "survey_invitations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("wave_key", sa.String(length=255), nullable=False),
        sa.Column("engagement_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("contact_name", sa.String(length=255), nullable=True),
        sa.Column("engagement_name", sa.String(length=255), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_state", sa.String(length=16), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id", "wave_key", name="uq_survey_invitations_contact_wave"),
    )
    op.create_index(
        op.f("ix_survey_invitations_engagement_id"), "survey_invitations", ["engagement_id"]
    )
    op.create_index(op.f("ix_survey_invitations_account_id"), "survey_invitations", ["account_id"])
    op.create_table(
        "survey_suppressions",
        sa.Column("wave_key", sa.String(length=255), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("engagement_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wave_key", "contact_id"),
    )
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invitation_id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("engagement_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invitation_id"),
    )
    op.create_index(
        op.f("ix_survey_responses_engagement_id"), "survey_responses", ["engagement_id"]
    )
    op.create_table(
        "survey_followups",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("engagement_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("survey_followups")
    op.drop_index(op.f("ix_survey_responses_engagement_id"), table_name="survey_responses")
    op.drop_table("survey_responses")
    op.drop_table("survey_suppressions")
    op.drop_index(op.f("ix_survey_invitations_account_id"), table_name="survey_invitations")
    op.drop_index(op.f("ix_survey_invitations_engagement_id"), table_name="survey_invitations")
    op.drop_table("survey_invitations")
