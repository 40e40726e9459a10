"""Where a person opens an Odoo opportunity (``crm.lead``) in the browser (links in alerts).

``/web#id=<id>&model=crm.lead&view_type=form`` works on 16 to 19 (17.2 and later redirect it);
``/odoo/crm/<id>`` is the newer form (17.2+), chosen in the config where every user is on it.
"""

from __future__ import annotations

from typing import Literal


def lead_url(base_url: str, lead_id: str, style: Literal["web", "odoo"] = "web") -> str:
    base = base_url.rstrip("/")
    if style == "odoo":
        return f"{base}/odoo/crm/{lead_id}"
    return f"{base}/web#id={lead_id}&model=crm.lead&view_type=form"
