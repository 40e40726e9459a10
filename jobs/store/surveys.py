"""The survey tables: outbox, suppressions, responses, follow-ups. SQLite and PostgreSQL.

State changes of the outbox are conditional updates (``WHERE state = ...``), so two senders
racing on one invitation cannot both claim it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from jobs.store import schema as t
from jobs.surveys.fatigue import PastInvitation
from jobs.surveys.planner import PlannedInvitation, Suppression
from jobs.surveys.records import (
    FAILED,
    PLANNED,
    SENDING,
    SENT,
    Invitation,
    Response,
    SuppressionRow,
)
from mappings.domain import Contact


class SurveyStore:
    """Survey persistence over the connector's store engine (tables from migration 0007)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # --- inputs of planning ---------------------------------------------------------------------
    def contacts_by_account(self) -> dict[str, list[Contact]]:
        c = t.contacts
        query = sa.select(c).where(c.c.deleted_at.is_(None), c.c.account_id.is_not(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.c.crm_id)).mappings().all()
        result: dict[str, list[Contact]] = {}
        fields = Contact.model_fields.keys()
        for row in rows:
            contact = Contact.model_validate(
                {k: v for k, v in row.items() if v is not None and k in fields}
            )
            result.setdefault(row["account_id"], []).append(contact)
        return result

    def history(self, now: datetime) -> list[PastInvitation]:
        # A refused invitation never reached the person: it does not count against them.
        return [
            PastInvitation(
                i.contact_id, i.account_id, i.sent_at or i.planned_at, i.is_open(now), i.email
            )
            for i in self.invitations()
            if i.state != FAILED
        ]

    def invited_keys(self) -> set[tuple[str, str]]:
        i = t.survey_invitations
        with self.engine.connect() as conn:
            return {(r[0], r[1]) for r in conn.execute(sa.select(i.c.contact_id, i.c.wave_key))}

    # --- the plan ------------------------------------------------------------------------------
    def save_plan(
        self,
        invitations: Sequence[PlannedInvitation],
        suppressions: Sequence[Suppression],
        channel: str,
        now: datetime,
    ) -> int:
        """Add the planned invitations (an existing (contact, wave) is left alone) and record
        the suppressions (the latest reason per contact and wave). Returns invitations added."""
        rows = [
            {
                "id": p.id,
                "contact_id": p.recipient.contact.crm_id,
                "wave_key": p.wave.key,
                "engagement_id": p.wave.engagement_id,
                "account_id": p.wave.account_id,
                "trigger": p.wave.trigger.value,
                "kind": p.wave.kind,
                "channel": channel,
                "email": (p.recipient.contact.email or "").strip() or None,
                "contact_name": p.recipient.name or None,
                "engagement_name": p.wave.engagement_name,
                "language": p.recipient.language,
                "role": p.recipient.role,
                "state": PLANNED,
                "planned_at": now,
            }
            for p in invitations
        ]
        added = 0
        with self.engine.begin() as conn:
            if rows:
                stmt = (
                    self._insert(t.survey_invitations)
                    .on_conflict_do_nothing()
                    .returning(t.survey_invitations.c.id)
                )
                for row in rows:
                    added += len(conn.execute(stmt, row).all())
            if suppressions:
                stmt = self._insert(t.survey_suppressions)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["wave_key", "contact_id"],
                    set_={c: stmt.excluded[c] for c in ("rule", "reason", "at")},
                )
                conn.execute(
                    stmt,
                    [
                        {
                            "wave_key": s.wave_key,
                            "contact_id": s.contact_id,
                            "engagement_id": s.engagement_id,
                            "account_id": s.account_id,
                            "rule": s.rule,
                            "reason": s.reason,
                            "at": now,
                        }
                        for s in suppressions
                    ],
                )
        return added

    def suppressions(self, limit: int = 200) -> list[SuppressionRow]:
        s = t.survey_suppressions
        query = sa.select(s).order_by(s.c.at.desc(), s.c.wave_key, s.c.contact_id).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            SuppressionRow(
                r["wave_key"], r["engagement_id"], r["contact_id"], r["rule"], r["reason"], r["at"]
            )
            for r in rows
        ]

    # --- the outbox ----------------------------------------------------------------------------
    def invitations(self, state: str | None = None) -> list[Invitation]:
        i = t.survey_invitations
        query = sa.select(i).order_by(i.c.planned_at, i.c.id)
        if state is not None:
            query = query.where(i.c.state == state)
        with self.engine.connect() as conn:
            return [Invitation(**r) for r in conn.execute(query).mappings().all()]

    def invitation(self, invitation_id: str) -> Invitation | None:
        i = t.survey_invitations
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(i).where(i.c.id == invitation_id)).mappings().first()
        return Invitation(**row) if row is not None else None

    def claim(self, invitation_id: str, expires_at: datetime) -> bool:
        """planned -> sending, committed BEFORE the message is handed to the mail server."""
        return self._move(invitation_id, PLANNED, SENDING, expires_at=expires_at)

    def mark_sent(self, invitation_id: str, now: datetime) -> bool:
        return self._move(invitation_id, SENDING, SENT, sent_at=now)

    def release(self, invitation_id: str, message: str) -> bool:
        """sending -> planned: only when the message certainly did not leave."""
        return self._move(invitation_id, SENDING, PLANNED, message=message, expires_at=None)

    def mark_failed(self, invitation_id: str, message: str) -> bool:
        return self._move(invitation_id, SENDING, FAILED, message=message)

    def requeue(
        self, invitation_id: str, message: str, attempts: int, retry_at: datetime | None
    ) -> bool:
        """A released invitation waits until ``retry_at`` (a certain failure, counted)."""
        return self._move(
            invitation_id, PLANNED, PLANNED, message=message, attempts=attempts, retry_at=retry_at
        )

    def fail_planned(
        self, invitation_id: str, message: str, *, attempts: int | None = None
    ) -> bool:
        """A released invitation that certainly failed for good (e.g. no such mailbox)."""
        values: dict[str, Any] = {"message": message, "retry_at": None}
        if attempts is not None:
            values["attempts"] = attempts
        return self._move(invitation_id, PLANNED, FAILED, **values)

    def retry(self, invitation_ids: Sequence[str] | None) -> list[str]:
        """Back to the queue, as a person decided: failed or uncertain ("sending") invitations
        and reminders, by id (None: all of them). Returns the ids re-queued."""
        i = t.survey_invitations

        def requeued(conn: sa.Connection, column: sa.Column[Any], **values: Any) -> list[str]:
            query = i.update().where(column.in_([FAILED, SENDING]))
            if invitation_ids is not None:
                query = query.where(i.c.id.in_(list(invitation_ids)))
            return [r[0] for r in conn.execute(query.values(**values).returning(i.c.id))]

        with self.engine.begin() as conn:
            done = requeued(
                conn,
                i.c.state,
                state=PLANNED,
                expires_at=None,
                attempts=0,
                retry_at=None,
                message="re-queued by a person",
            )
            done += requeued(
                conn,
                i.c.reminder_state,
                reminder_state=None,
                message="reminder re-queued by a person",
            )
        return sorted(set(done))

    def note(self, invitation_id: str, message: str) -> None:
        i = t.survey_invitations
        with self.engine.begin() as conn:
            conn.execute(i.update().where(i.c.id == invitation_id).values(message=message))

    def claim_reminder(self, invitation_id: str) -> bool:
        i = t.survey_invitations
        with self.engine.begin() as conn:
            result = conn.execute(
                i.update()
                .where(
                    i.c.id == invitation_id,
                    i.c.reminder_state.is_(None),
                    i.c.answered_at.is_(None),
                )
                .values(reminder_state=SENDING)
            )
        return result.rowcount == 1

    def mark_reminded(self, invitation_id: str, now: datetime) -> None:
        self._move_reminder(invitation_id, SENDING, SENT, reminded_at=now)

    def release_reminder(self, invitation_id: str) -> None:
        self._move_reminder(invitation_id, SENDING, None)

    def fail_reminder(self, invitation_id: str, message: str) -> None:
        self._move_reminder(invitation_id, SENDING, FAILED, message=message)

    def fail_released_reminder(self, invitation_id: str, message: str) -> None:
        self._move_reminder(invitation_id, None, FAILED, message=message)

    def _move_reminder(
        self, invitation_id: str, old: str | None, new: str | None, **values: Any
    ) -> None:
        """The reminder's state from ``old`` (None: no reminder under way) to ``new``."""
        i = t.survey_invitations
        was = i.c.reminder_state.is_(None) if old is None else i.c.reminder_state == old
        with self.engine.begin() as conn:
            conn.execute(
                i.update().where(i.c.id == invitation_id, was).values(reminder_state=new, **values)
            )

    def _move(self, invitation_id: str, old: str, new: str, **values: Any) -> bool:
        i = t.survey_invitations
        with self.engine.begin() as conn:
            result = conn.execute(
                i.update()
                .where(i.c.id == invitation_id, i.c.state == old)
                .values(state=new, **values)
            )
        return result.rowcount == 1

    # --- responses -----------------------------------------------------------------------------
    def save_response(
        self,
        invitation: Invitation,
        *,
        nps: int | None,
        csat: int | None,
        comment: str | None,
        now: datetime,
    ) -> bool:
        """Store the answer; False if this invitation was already answered (single use)."""
        row = {
            "invitation_id": invitation.id,
            "contact_id": invitation.contact_id,
            "engagement_id": invitation.engagement_id,
            "account_id": invitation.account_id,
            "role": invitation.role,
            "nps": nps,
            "csat": csat,
            "comment": comment,
            "answered_at": now,
        }
        i = t.survey_invitations
        with self.engine.begin() as conn:
            stmt = (
                self._insert(t.survey_responses)
                .values(**row)
                .on_conflict_do_nothing(index_elements=["invitation_id"])
                .returning(t.survey_responses.c.id)
            )
            if conn.execute(stmt).first() is None:
                return False
            conn.execute(i.update().where(i.c.id == invitation.id).values(answered_at=now))
        return True

    def is_answered(self, invitation_id: str) -> bool:
        r = t.survey_responses
        query = sa.select(r.c.id).where(r.c.invitation_id == invitation_id)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def responses(self) -> list[Response]:
        r = t.survey_responses
        query = sa.select(r).order_by(r.c.answered_at, r.c.id)
        with self.engine.connect() as conn:
            return [Response(**row) for row in conn.execute(query).mappings().all()]

    def sent_counts(self) -> dict[str, int]:
        """engagement -> invitations that reached the respondent (for the response rate)."""
        i = t.survey_invitations
        query = (
            sa.select(i.c.engagement_id, sa.func.count())
            .where(i.c.state == SENT)
            .group_by(i.c.engagement_id)
        )
        with self.engine.connect() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(query)}

    # --- follow-up tasks -------------------------------------------------------------------
    def followed_up(self) -> dict[str, str]:
        """follow-up key -> state, for every follow-up ever started."""
        f = t.survey_followups
        with self.engine.connect() as conn:
            return {r[0]: r[1] for r in conn.execute(sa.select(f.c.key, f.c.state))}

    def start_followup(
        self, key: str, response_id: int, engagement_id: str, owner_id: str | None, now: datetime
    ) -> bool:
        """Record the follow-up as pending BEFORE the CRM call; False if it exists already."""
        f = t.survey_followups
        stmt = (
            self._insert(f)
            .values(
                key=key,
                response_id=response_id,
                engagement_id=engagement_id,
                owner_id=owner_id,
                state="pending",
                at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(f.c.key)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def restart_followup(self, key: str, now: datetime) -> bool:
        """retry -> pending, committed before the next CRM call; False if another run has it."""
        f = t.survey_followups
        with self.engine.begin() as conn:
            result = conn.execute(
                f.update()
                .where(f.c.key == key, f.c.state == "retry")
                .values(state="pending", at=now)
            )
        return result.rowcount == 1

    def retry_followup(self, key: str, message: str, attempts: int, retry_at: datetime) -> None:
        """pending -> retry: the CRM call certainly did nothing; try again from ``retry_at``."""
        f = t.survey_followups
        with self.engine.begin() as conn:
            conn.execute(
                f.update()
                .where(f.c.key == key, f.c.state == "pending")
                .values(state="retry", message=message, attempts=attempts, retry_at=retry_at)
            )

    def requeue_followups(self, keys: Sequence[str] | None) -> list[str]:
        """failed or pending (uncertain) follow-ups back to the queue, as a person decided."""
        f = t.survey_followups
        stmt = f.update().where(f.c.state.in_(["failed", "pending"]))
        if keys is not None:
            stmt = stmt.where(f.c.key.in_(list(keys)))
        with self.engine.begin() as conn:
            rows = conn.execute(
                stmt.values(
                    state="retry", attempts=0, retry_at=None, message="re-queued by a person"
                ).returning(f.c.key)
            )
            return sorted(r[0] for r in rows)

    def finish_followup(
        self, key: str, state: str, task_id: str | None, message: str | None, now: datetime
    ) -> None:
        f = t.survey_followups
        with self.engine.begin() as conn:
            conn.execute(
                f.update()
                .where(f.c.key == key)
                .values(state=state, task_id=task_id, message=message, at=now)
            )

    def followups(self) -> list[dict[str, Any]]:
        f = t.survey_followups
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(f).order_by(f.c.at, f.c.key)).mappings().all()
        return [dict(r) for r in rows]

    # --- plumbing ------------------------------------------------------------------------------
    def _insert(self, table: sa.Table) -> Any:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)
