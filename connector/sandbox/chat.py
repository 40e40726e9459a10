"""Local stand-ins for Slack incoming webhooks and Microsoft Teams Workflows webhooks.

Each checks what it receives against the documented shapes (research/fxiaoke_and_tools.md
Part C) and answers as the service does: Slack 200 ``ok`` (400 ``invalid_blocks`` for a payload
it would reject, 404 ``no_service`` / 410 ``channel_is_archived`` for a revoked hook), the
Workflows trigger 202 Accepted. Answers can be scripted per hook (a 503 with Retry-After, a 410)
to test delivery failures. Never mistaken for the real services: the URLs are local and the
secrets say "sandbox".
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from connector.sandbox.serving import QuietHandler, ServedOnThread

SLACK_HEADER_CHARS = 150
SLACK_SECTION_CHARS = 3000
SLACK_FIELD_CHARS = 2000
SLACK_FIELDS = 10
SLACK_BLOCKS = 50
SLACK_BUTTON_CHARS = 75
SLACK_BLOCK_TYPES = {"header", "section", "context", "actions", "divider", "image"}
CARD_ELEMENT_TYPES = {"TextBlock", "FactSet", "ColumnSet", "Container", "Image", "ActionSet"}


def slack_problems(payload: Any) -> list[str]:
    """What Slack's Block Kit would refuse in ``payload`` (empty: it is accepted)."""
    if not isinstance(payload, dict):
        return ["the body is not a JSON object"]
    problems = []
    if not isinstance(payload.get("text"), str) or not payload["text"]:
        problems.append("no `text` (the notification fallback)")
    blocks = payload.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > SLACK_BLOCKS:
        return [*problems, "`blocks` is not a list of at most 50"]
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in SLACK_BLOCK_TYPES:
            problems.append(f"blocks[{i}]: unknown type {kind!r}")
            continue
        if kind == "header":
            text = block.get("text", {})
            if text.get("type") != "plain_text" or len(text.get("text", "")) > SLACK_HEADER_CHARS:
                problems.append(f"blocks[{i}]: a header is plain_text of at most 150")
        elif kind == "section":
            problems += _section_problems(i, block)
        elif kind == "actions":
            for element in block.get("elements", []):
                label = element.get("text", {})
                if (
                    element.get("type") != "button"
                    or label.get("type") != "plain_text"
                    or not 0 < len(label.get("text", "")) <= SLACK_BUTTON_CHARS
                    or not str(element.get("url", "")).startswith(("http://", "https://"))
                ):
                    problems.append(f"blocks[{i}]: a button needs plain_text ≤75 and a url")
        elif kind == "context":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 10:
                problems.append(f"blocks[{i}]: a context has 1 to 10 elements")
    return problems


def _section_problems(i: int, block: dict[str, Any]) -> list[str]:
    problems = []
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        problems.append(f"blocks[{i}]: a section needs text or fields")
    if text is not None and (
        text.get("type") not in ("mrkdwn", "plain_text")
        or not 0 < len(text.get("text", "")) <= SLACK_SECTION_CHARS
    ):
        problems.append(f"blocks[{i}]: section text is 1 to 3000 characters")
    if fields is not None:
        if len(fields) > SLACK_FIELDS:
            problems.append(f"blocks[{i}]: at most 10 fields")
        if any(
            f.get("type") not in ("mrkdwn", "plain_text")
            or not 0 < len(f.get("text", "")) <= SLACK_FIELD_CHARS
            for f in fields
        ):
            problems.append(f"blocks[{i}]: a field is 1 to 2000 characters")
    return problems


def teams_problems(payload: Any) -> list[str]:
    """What the Workflows trigger and Teams would refuse (empty: accepted)."""
    if not isinstance(payload, dict) or payload.get("type") != "message":
        return ['the body is not {"type": "message", ...}']
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["no attachments"]
    first = attachments[0]
    problems = []
    if first.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append("attachments[0].contentType is not application/vnd.microsoft.card.adaptive")
    card = first.get("content")
    if not isinstance(card, dict):
        return [*problems, "attachments[0].content is not a card"]
    if card.get("type") != "AdaptiveCard":
        problems.append("content.type is not AdaptiveCard")
    if card.get("version") != "1.4":
        problems.append(f"content.version is {card.get('version')!r}, not 1.4")
    if card.get("$schema") != "http://adaptivecards.io/schemas/adaptive-card.json":
        problems.append("content.$schema is not the Adaptive Card schema")
    for i, element in enumerate(card.get("body", [])):
        kind = element.get("type")
        if kind not in CARD_ELEMENT_TYPES:
            problems.append(f"body[{i}]: unknown element {kind!r}")
        elif kind == "TextBlock" and not isinstance(element.get("text"), str):
            problems.append(f"body[{i}]: a TextBlock needs text")
        elif kind == "FactSet" and not all(
            isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
            for f in element.get("facts", [])
        ):
            problems.append(f"body[{i}]: facts are {{title, value}} strings")
    if any(a.get("type") != "Action.OpenUrl" or not a.get("url") for a in card.get("actions", [])):
        problems.append("an action is not Action.OpenUrl with a url")
    return problems


@dataclass
class Answer:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class ChatWebhooks(ServedOnThread):
    """Slack and Teams webhooks on one local server; each hook named by the test."""

    thread_name = "sandbox-chat"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: hook name -> payloads accepted, in order.
        self.received: dict[str, list[Any]] = {}
        #: hook name -> payloads refused as malformed, with the problems.
        self.refused: dict[str, list[list[str]]] = {}
        #: hook name -> answers to give next (then normal answers again).
        self.script: dict[str, list[Answer]] = {}
        #: hook name -> every request's status, in order.
        self.statuses: dict[str, list[int]] = {}
        self._kinds: dict[str, str] = {}
        self._tokens: dict[str, str] = {}

    def slack_url(self, name: str) -> str:
        token = self._token(name, "slack")
        return f"{self.url}/services/TSANDBOX/B{name}/{token}"

    def teams_url(self, name: str) -> str:
        token = self._token(name, "teams")
        return (
            f"{self.url}/workflows/{name}/triggers/manual/paths/invoke"
            f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={token}"
        )

    def _token(self, name: str, kind: str) -> str:
        with self._lock:
            self._kinds[name] = kind
            return self._tokens.setdefault(name, "sandboxsecret" + secrets.token_hex(12))

    def count(self, name: str) -> int:
        with self._lock:
            return len(self.received.get(name, []))

    def _handler(self) -> type[QuietHandler]:
        hooks = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                answer = hooks.receive(self.path, raw)
                data = answer.body.encode()
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _hook_of(self, path: str) -> str | None:
        parts = urlsplit(path)
        with self._lock:
            for name, token in self._tokens.items():
                kind = self._kinds[name]
                if kind == "slack" and parts.path == f"/services/TSANDBOX/B{name}/{token}":
                    return name
                if (
                    kind == "teams"
                    and parts.path.startswith(f"/workflows/{name}/")
                    and (f"sig={token}" in parts.query)
                ):
                    return name
        return None

    def receive(self, path: str, raw: bytes) -> Answer:
        name = self._hook_of(path)
        if name is None:
            return Answer(404, "no_service")
        with self._lock:
            kind = self._kinds[name]
            scripted = self.script.get(name)
            answer = scripted.pop(0) if scripted else None
        if answer is None:
            answer = self._judge(name, kind, raw)
        with self._lock:
            self.statuses.setdefault(name, []).append(answer.status)
        return answer

    def _judge(self, name: str, kind: str, raw: bytes) -> Answer:
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        problems = slack_problems(payload) if kind == "slack" else teams_problems(payload)
        with self._lock:
            if problems:
                self.refused.setdefault(name, []).append(problems)
            else:
                self.received.setdefault(name, []).append(payload)
        if problems:
            return Answer(400, "invalid_blocks" if kind == "slack" else json.dumps(problems))
        return Answer(200, "ok") if kind == "slack" else Answer(202)
