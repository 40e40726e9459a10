"""Fxiaoke's error codes, turned into the connector's errors (connector/errors.py).

Fxiaoke answers errors inside HTTP 200: ``{"errorCode": <int, 0 = OK>, "errorMessage": …,
"errorDescription": …, "traceId": …}`` (research/fxiaoke_and_tools.md A6). The official pages say
not to branch on ``errorMessage``; the codes below are the ones the research found documented.
Where no code is documented (no data permission) the message is the only signal there is, and
that is said where it is used.
"""

from __future__ import annotations

from typing import Any

from connector.errors import (
    ConfigurationError,
    ConnectionSetupError,
    ConnectorError,
    CreditsExhaustedError,
    RateLimitedError,
    trim_body,
)

#: Token invalid or expired: refresh once and retry (A1, A6 [off]).
TOKEN_EXPIRED = 20016
#: Daily OpenAPI quota used up; counters reset at midnight (A6, A7 [2nd]).
DAILY_QUOTA = 30002
#: The tenant bought no OpenAPI quota (A6 [2nd]).
NO_QUOTA = 30003
#: Per-second (per-endpoint) limit exceeded (A6 [2nd]).
TOO_FAST = 30004
#: ``offset`` over 10,000 (A5 [off]; the general code table gives 10013 another meaning).
OFFSET_OUT_OF_RANGE = 10013
#: The permission refusal's text (A2): no code for it is documented, so the message is matched.
NO_DATA_PERMISSION = "无此操作的数据权限"

#: Where the connection's settings live, for messages that say what to change.
SECTION = "crm.fxiaoke"


def error_code(payload: Any) -> int | None:
    """The ``errorCode`` of a response body (None when the body has none: not Fxiaoke's)."""
    if not isinstance(payload, dict):
        return None
    code = payload.get("errorCode")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.lstrip("-").isdigit():
        return int(code)  # some gateways send it as text; the docs say int
    return None


def message_of(payload: dict[str, Any]) -> str:
    text = str(payload.get("errorMessage") or payload.get("errorDescription") or "")
    return trim_body(text, 160)


def call_error(payload: dict[str, Any], what: str, user: str) -> ConnectorError:
    """The typed error for a refused CRM call (not the token call); ``what`` names the call."""
    code = error_code(payload)
    message = message_of(payload)
    crm_code = str(code)
    if code == DAILY_QUOTA:
        return CreditsExhaustedError(
            f"Fxiaoke's daily OpenAPI quota is used up ({message or 'quota exceeded'}); it resets "
            "at midnight (China time), the next run after that resumes",
            crm_code=crm_code,
        )
    if code == NO_QUOTA:
        return ConnectionSetupError(
            "the Fxiaoke tenant has no OpenAPI quota: an admin buys an OpenAPI pack (docs/fxiaoke.md)",
            crm_code=crm_code,
        )
    if code == TOO_FAST:
        return RateLimitedError(
            f"{what}: Fxiaoke's per-endpoint limit (100 calls per 20 s) still refused after retries",
            crm_code=crm_code,
        )
    if NO_DATA_PERMISSION in message:
        # Every call acts as this user: nothing works until the setting names another.
        return ConnectionSetupError(
            f"{what}: the Fxiaoke user {user} has no data permission (无此操作的数据权限); set "
            f"{SECTION}.open_user_id or {SECTION}.admin_mobile to a CRM administrator",
            crm_code=crm_code,
        )
    return ConfigurationError(f"{what} refused by Fxiaoke: {message}", crm_code=crm_code)
