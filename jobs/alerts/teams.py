"""Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received"):
an Adaptive Card 1.4 in the message envelope the trigger expects
(research/fxiaoke_and_tools.md Part C).

The Office 365 connector URLs (``outlook.office.com/webhook/…``, ``*.webhook.office.com``)
are retired: they are refused with what to do instead. A Workflows URL is an opaque secret on
hosts that vary (logic.azure.com, environment.api.powerplatform.com, ...): its host is never
checked. The highest card version Teams accepts is UNCONFIRMED; 1.4 is what Workflows renders.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from jobs.alerts.render import View

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def retired_connector_problem(url: str, route: str, variable: str) -> str | None:
    """Why ``url`` cannot be used (an Office 365 connector), or None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    old = (host == "outlook.office.com" and parts.path.startswith("/webhook")) or host.endswith(
        ".webhook.office.com"
    )
    if not old:
        return None
    return (
        f"route {route}: {variable} holds an Office 365 connector URL; Microsoft retired those "
        'connectors. In Teams, add the Workflows template "Send webhook alerts to a channel" '
        '(trigger "When a Teams webhook request is received") and put its URL in '
        f"{variable}"
    )


def teams_payload(view: View) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Large", "weight": "Bolder", "text": view.title, "wrap": True}
    ]
    if view.facts:
        body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in view.facts]})
    for heading, lines in view.sections:
        if heading:
            body.append({"type": "TextBlock", "weight": "Bolder", "text": heading, "wrap": True})
        text = "\n".join(f"- {line}" for line in lines) if heading else "\n".join(lines)
        body.append({"type": "TextBlock", "text": text, "wrap": True})
    if view.footer:
        body.append(
            {
                "type": "TextBlock",
                "text": view.footer,
                "isSubtle": True,
                "size": "Small",
                "wrap": True,
            }
        )
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if view.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": view.link_label, "url": view.link}]
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }
