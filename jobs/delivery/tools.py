"""Each tool's client, built from its config section (jobs/delivery/connect.py `FACTORIES`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr

from connector.delivery.base import DeliverySource
from connector.delivery.jira import JiraAuth, JiraClient
from connector.delivery.pingcode import PingCodeClient, PingCodeCredentials
from jobs.store.kept_tokens import StoreTokenCache
from mappings.delivery import load_delivery_mapping

if TYPE_CHECKING:
    from jobs.delivery.connect import SourceContext


def jira_source(context: SourceContext) -> DeliverySource:
    section = context.section
    if section.chosen_auth == "oauth":
        auth = JiraAuth(access_token=context.secret("access_token"))
    else:
        auth = JiraAuth(email=section.email, api_token=context.secret("token"))
    mapping = load_delivery_mapping((context.config_path.parent / section.mapping).resolve())
    extra = [mapping.change_requests.value_field] if mapping.change_requests.value_field else []
    return JiraClient(
        section.base_url, auth, context.transport, extra_fields=extra, clock=context.clock
    )


def pingcode_source(context: SourceContext) -> DeliverySource:
    section = context.section
    credentials = PingCodeCredentials(
        client_id=section.client_id or "",
        client_secret=SecretStr(context.secret("client_secret")),
    )
    # The 30-day enterprise token is kept in the store, sealed, like the CRMs' tokens.
    cache = StoreTokenCache(context.store) if context.store is not None else None
    return PingCodeClient(
        section.base_url, credentials, context.transport, clock=context.clock, cache=cache
    )
