"""Slack incoming webhooks: a Block Kit message (header, fields, drivers, a button to the
deal, a context line) with ``text`` as the notification fallback
(research/fxiaoke_and_tools.md Part C).

Limits kept here (Slack's Block Kit reference): a header's text at most 150 characters, a
section at most 10 fields of 2,000 characters and a text of 3,000, a button's text 75, a
message 50 blocks. Slack posts about one message per second per webhook: consecutive posts
through one channel wait a second in between (`SECONDS_BETWEEN_POSTS`).
"""

from __future__ import annotations

from typing import Any

from jobs.alerts.render import View

HEADER_CHARS = 150
FIELDS_PER_SECTION = 10
FIELD_CHARS = 2000
SECTION_CHARS = 3000
BUTTON_CHARS = 75
#: Slack's posting rate per incoming webhook.
SECONDS_BETWEEN_POSTS = 1.0


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn text (a CRM name must not make a link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(view: View) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(view.title, HEADER_CHARS)}}
    ]
    if view.facts:
        fields = [
            {"type": "mrkdwn", "text": _cut(f"*{escape(label)}:*\n{escape(value)}", FIELD_CHARS)}
            for label, value in view.facts[:FIELDS_PER_SECTION]
        ]
        blocks.append({"type": "section", "fields": fields})
    for heading, lines in view.sections:
        body = "\n".join(f"• {escape(line)}" for line in lines) if heading else escape(lines[0])
        text = f"*{escape(heading)}*\n{body}" if heading else body
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_CHARS)}}
        )
    if view.link:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": _cut(view.link_label, BUTTON_CHARS)},
            "url": view.link,
        }
        blocks.append({"type": "actions", "elements": [button]})
    if view.footer:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(view.footer)}]}
        )
    return {"text": escape(view.fallback), "blocks": blocks}
