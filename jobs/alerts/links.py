"""The deal's link in an alert: chosen per CRM, built by that CRM's own links module."""

from __future__ import annotations

from collections.abc import Callable

from connector.odoo.links import lead_url
from connector.zoho.links import deal_url
from jobs.alerts.config import AlertsSection


def deal_link(
    crm_kind: str,
    alerts: AlertsSection,
    *,
    zoho_accounts_url: str | None = None,
    odoo_url: str | None = None,
) -> Callable[[str], str | None]:
    """A function from a deal's CRM id to its web address (None where there is none: Fxiaoke
    documents no web address for a record)."""
    if crm_kind == "zoho" and zoho_accounts_url:
        accounts = zoho_accounts_url
        return lambda deal_id: deal_url(accounts, deal_id, alerts.zoho_org)
    if crm_kind == "odoo" and odoo_url:
        base, style = odoo_url, alerts.odoo_link
        return lambda deal_id: lead_url(base, deal_id, style)
    return lambda _deal_id: None
