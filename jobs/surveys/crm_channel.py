"""The CRM channel: the personal link goes into a Contact field, and the account owner gets a
Task to send it, so the CRM's own e-mail workflows (and the owner's judgement) deliver it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from connector.base import CRMClient, NewTask, WriteStatus
from connector.errors import ConnectorError, RetryLaterError
from jobs.surveys.mail import ChannelUnavailable, DeliveryUncertain, NotSent, Unsendable
from jobs.surveys.records import Invitation
from mappings.domain import Engagement

#: Days the owner has to pass the link on.
SEND_TASK_DUE_DAYS = 2


class CrmChannel:
    def __init__(
        self,
        client: CRMClient,
        engagements: Mapping[str, Engagement],
        *,
        contacts_module: str,
        deals_module: str,
        link_field: str,
    ) -> None:
        self._client = client
        self._engagements = engagements
        self._contacts_module = contacts_module
        self._deals_module = deals_module
        self._link_field = link_field

    def deliver(self, invitation: Invitation, link: str, *, reminder: bool, now: datetime) -> None:
        row = {"id": invitation.contact_id, self._link_field: link}
        try:
            (outcome,) = self._client.update_records(self._contacts_module, [row])
        except RetryLaterError as exc:
            # Busy, out of credits or unreachable: no other invitation would get through now.
            raise ChannelUnavailable(f"the CRM asked to come back later: {exc}") from None
        except ConnectorError as exc:
            raise Unsendable(str(exc)) from None
        if outcome.status is WriteStatus.INVALID:
            # The CRM's verdict on this contact's row: final for this invitation (no mail-server
            # pattern to judge; a missing field is named in the reason).
            raise Unsendable(f"the CRM refused the link on the contact: {outcome.message}")
        if outcome.status is not WriteStatus.WRITTEN:
            raise NotSent(f"the CRM did not write the link: {outcome.message}")
        engagement = self._engagements.get(invitation.engagement_id)
        who = invitation.contact_name or invitation.contact_id
        task = NewTask(
            module=self._deals_module,
            record_id=invitation.engagement_id,
            subject=("Remind" if reminder else "Send") + f" the satisfaction survey to {who}"[:200],
            description=(
                f"The personal survey link is on the contact ({self._link_field}): {link}\n"
                "Send it from the CRM, e.g. with an e-mail template or workflow."
            ),
            due=(now + timedelta(days=SEND_TASK_DUE_DAYS)).date(),
            key=f"survey-send:{invitation.id}{':reminder' if reminder else ''}",
            owner_id=engagement.owner_id if engagement else None,
        )
        try:
            (created,) = self._client.create_tasks([task])
        except ConnectorError as exc:
            # The link is on the contact; whether the task exists is unknown.
            raise DeliveryUncertain(f"creating the owner's task failed: {exc}") from None
        if created.status is not WriteStatus.WRITTEN:
            raise DeliveryUncertain(f"the CRM refused the owner's task: {created.message}")
