"""Build an Odoo client from the settings: the one place that reads ``[crm.odoo]``."""

from __future__ import annotations

from datetime import timedelta

from connector.http import HttpTransport
from connector.odoo import OdooClient, OdooSite
from connector.redact import register_secret
from jobs.config import Settings


def odoo_client(settings: Settings, transport: HttpTransport) -> OdooClient:
    section = settings.config.crm.odoo
    if section is None:  # the config validator requires it for kind = "odoo"
        raise ValueError("no [crm.odoo] section")
    api_key = settings.secret("api_key")
    register_secret(api_key.get_secret_value())
    return OdooClient(
        OdooSite(section.url, section.database, section.login, api_key),
        transport,
        api=section.api,
        id_scan_interval=timedelta(hours=section.id_scan_every_hours),
    )
