"""Reading a delivery tool's JSON answer: one object, or ``UnavailableError`` naming the tool
(an HTML error page from a proxy, a truncated body) instead of a ``ValueError``."""

from __future__ import annotations

from typing import Any

import requests

from connector.errors import UnavailableError, trim_body


def json_object(response: requests.Response, tool: str) -> dict[str, Any]:
    """The answer's JSON object; ``{}`` for JSON that is not an object (a bare list, null)."""
    try:
        body = response.json()
    except ValueError:
        raise UnavailableError(
            f"{tool} answered {response.status_code} without JSON",
            http_status=response.status_code,
            body_excerpt=trim_body(response.content),
        ) from None
    return body if isinstance(body, dict) else {}
