"""Build a Fxiaoke client from the settings: the one place that reads ``[crm.fxiaoke]``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from connector.fxiaoke import FxiaokeClient, FxiaokeCredentials, FxiaokeTokenManager
from connector.http import HttpTransport
from jobs.config import Settings
from jobs.store import Store
from jobs.store.kept_tokens import StoreTokenCache


def fxiaoke_client(
    settings: Settings,
    transport: HttpTransport,
    store: Store,
    clock: Callable[[], datetime],
) -> FxiaokeClient:
    section = settings.config.crm.fxiaoke
    if section is None:  # the config validator requires it for kind = "fxiaoke"
        raise ValueError("no [crm.fxiaoke] section")
    credentials = FxiaokeCredentials(
        base_url=section.base_url,
        app_id=section.app_id,
        app_secret=settings.secret("app_secret"),
        permanent_code=settings.secret("permanent_code"),
        style=section.auth,
    )
    # Kept in the store (the Zoho tokens' table and lock, keyed per app and tenant), so every
    # process of the connection shares one token and the token endpoint's limit is respected.
    tokens = FxiaokeTokenManager(credentials, transport, clock=clock, cache=StoreTokenCache(store))
    return FxiaokeClient(
        tokens,
        transport,
        open_user_id=section.open_user_id,
        admin_mobile=section.admin_mobile,
        opportunity_object=section.opportunity_object,
        id_scan_interval=timedelta(hours=section.id_scan_every_hours),
        clock=clock,
        # The per-endpoint limit waits through the one retry policy's (injectable) sleep.
        sleep=transport.policy.sleep,
    )
