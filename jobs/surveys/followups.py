"""One follow-up task in the CRM for each unhappy answer (NPS 0-6 or CSAT 1-2), never two.

The follow-up is recorded as ``pending`` before the CRM call and ``created`` (with the task id)
after it. A ``pending`` row left by a crash, or by a call that may have reached the CRM (a read
timeout, a 500, 502 or 504), is not created again automatically: the task may exist. It is
listed by ``engage surveys status``; the task's Description carries ``[engage:<key>]`` so a
person can search the CRM for it.

A call that certainly did nothing (the connection was refused, a 429 or 503: see
``ConnectorError.not_applied``) puts the follow-up in ``retry``: it is tried again by a later
run, after the row backoff of connector/retry.py, and failed after ``row_max_attempts``. The run
stops there (the CRM is not answering), so ``engage surveys followups`` exits 75.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.base import CRMClient, NewTask, WriteStatus
from connector.errors import ConnectorError, certainly_not_applied
from connector.retry import RetryPolicy
from jobs.store.surveys import SurveyStore
from jobs.surveys.records import Response
from jobs.surveys.results import is_unhappy
from mappings.domain import Engagement

#: Days the account owner has to follow up.
FOLLOWUP_DUE_DAYS = 2


@dataclass
class FollowupReport:
    created: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Certainly not created; back in the queue with backoff.
    retrying: list[tuple[str, str]] = field(default_factory=list)
    #: Back in the queue from an earlier run and not due yet.
    waiting: int = 0


def followup_key(response: Response) -> str:
    return f"survey-followup:{response.invitation_id}"


def describe(response: Response, contact_name: str | None, engagement: Engagement) -> str:
    who = contact_name or response.contact_id
    day = response.answered_at.date().isoformat()
    lines = [f"Satisfaction survey answer from {who} on {engagement.name} ({day})."]
    if response.nps is not None:
        lines.append(f"NPS (0-10): {response.nps}")
    if response.csat is not None:
        lines.append(f"CSAT (1-5): {response.csat}")
    if response.comment:
        lines.append(f"Comment: {response.comment}")
    lines.append("Please contact the client and record what was agreed.")
    return "\n".join(lines)


def create_followups(
    client: CRMClient,
    store: SurveyStore,
    engagements: Mapping[str, Engagement],
    *,
    module: str,
    now: datetime,
    policy: RetryPolicy | None = None,
) -> FollowupReport:
    """Create the missing follow-up tasks on the engagement's deal, owned by its owner."""
    policy = policy or RetryPolicy()
    report = FollowupReport()
    started = {f["key"]: f for f in store.followups()}
    names = {i.id: i.contact_name for i in store.invitations()}
    for response in store.responses():
        key = followup_key(response)
        if not is_unhappy(response):
            continue
        engagement = engagements.get(response.engagement_id)
        if engagement is None:
            continue  # the deal left the CRM; nothing to attach a task to
        earlier = started.get(key)
        attempts = 0
        if earlier is None:
            if not store.start_followup(
                key, response.id, engagement.crm_id, engagement.owner_id, now
            ):
                continue  # another run got there first
        elif earlier["state"] == "retry":
            if earlier["retry_at"] is not None and earlier["retry_at"] > now:
                report.waiting += 1  # backing off
                continue
            attempts = earlier["attempts"]
            if not store.restart_followup(key, now):
                continue  # another run got there first
        else:
            continue  # created, failed, or pending (may exist: for a person)
        task = NewTask(
            module=module,
            record_id=engagement.crm_id,
            subject=f"Survey follow-up: {engagement.name}",
            description=describe(response, names.get(response.invitation_id), engagement),
            due=(now + timedelta(days=FOLLOWUP_DUE_DAYS)).date(),
            key=key,
            owner_id=engagement.owner_id,
        )
        try:
            (outcome,) = client.create_tasks([task])
        except ConnectorError as exc:
            if certainly_not_applied(exc):
                attempts += 1
                if policy.row_quarantined(attempts):
                    message = f"not created after {attempts} attempts: {exc}"
                    store.finish_followup(key, "failed", None, message, now)
                    report.failed.append((key, message))
                else:
                    delay = timedelta(seconds=policy.row_retry_delay_seconds(attempts))
                    store.retry_followup(key, str(exc), attempts, now + delay)
                    report.retrying.append((key, str(exc)))
            else:
                # The CRM may or may not have created it: stays pending, listed for a person.
                report.failed.append((key, str(exc)))
            raise
        if outcome.status is WriteStatus.WRITTEN:
            store.finish_followup(key, "created", outcome.record_id, None, now)
            report.created += 1
        else:
            message = outcome.message or outcome.crm_code or "refused"
            store.finish_followup(key, "failed", None, message, now)
            report.failed.append((key, message))
    return report
