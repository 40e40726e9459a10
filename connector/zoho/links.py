"""Where a person opens a Zoho record in the browser (for links in alerts).

Zoho's web client lives on ``crm.zoho.<dc>`` beside the accounts server ``accounts.zoho.<dc>``
of the same data centre; a deal is ``/crm/<org>/tab/Potentials/<id>``. The org segment is the
org's id in its web URLs (``org60012345``), not the API's org id; without it,
``/crm/tab/Potentials/<id>`` opens in the user's default org. UNCONFIRMED beyond the pattern
users see in their address bar (Zoho documents no deep-link format): both forms are produced.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def web_base(accounts_url: str) -> str:
    """``https://accounts.zoho.eu`` -> ``https://crm.zoho.eu`` (any data centre)."""
    parts = urlsplit(accounts_url)
    host = parts.hostname or ""
    if host.startswith("accounts."):
        host = "crm." + host[len("accounts.") :]
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def deal_url(accounts_url: str, deal_id: str, org: str | None = None) -> str:
    org_part = f"/{quote(org, safe='')}" if org else ""
    return f"{web_base(accounts_url)}/crm{org_part}/tab/Potentials/{quote(deal_id, safe='')}"
