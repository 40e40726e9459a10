"""The connector's errors, grouped by what the caller should do.

- ``ConfigurationError``: a person must fix the configuration or the CRM setup (wrong host,
  unknown module or field, missing scope). Retrying will not help.
- ``AuthenticationError``: the credentials are wrong or revoked; a person must re-authorise.
- ``RetryLaterError``: the CRM is busy, out of credits or unreachable; the job should stop
  cleanly and the next scheduled run resumes where this one stopped.
- ``RecordError``: one record was refused; skip it, record the reason, carry on with the rest.

No ``requests`` exception or ``KeyError`` escapes a client: each is wrapped in one of these, with the
CRM's code, the field and a trimmed response body. Secrets are never part of a message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

BODY_EXCERPT_CHARS = 300


class ConnectorError(Exception):
    """Root of every error a CRM client raises."""

    def __init__(
        self,
        message: str,
        *,
        crm_code: str | None = None,
        field: str | None = None,
        http_status: int | None = None,
        body_excerpt: str | None = None,
        not_applied: bool = False,
    ) -> None:
        super().__init__(message)
        #: True when the request certainly had no effect in the CRM (the connection was never
        #: made, or the CRM answered with a status it sends before processing): a write that
        #: failed this way can be sent again without risk of doing it twice.
        self.not_applied = not_applied
        self.message = message
        self.crm_code = crm_code
        self.field = field
        self.http_status = http_status
        self.body_excerpt = trim_body(body_excerpt) if body_excerpt else None

    def __str__(self) -> str:
        parts = [self.message]
        if self.crm_code:
            parts.append(f"[{self.crm_code}]")
        if self.field:
            parts.append(f"field {self.field}")
        if self.http_status:
            parts.append(f"HTTP {self.http_status}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, crm_code={self.crm_code!r}, "
            f"field={self.field!r}, http_status={self.http_status!r})"
        )


# --- Fix the configuration ---------------------------------------------------------------
class ConfigurationError(ConnectorError):
    """The request can never succeed as configured (bad host, module, field, scope)."""


class UnknownFieldError(ConfigurationError):
    """A field the request names does not exist in the CRM (never created, deleted, renamed).

    Raised by every client, whatever its CRM calls it (Zoho: INVALID_DATA naming the field's
    ``api_name``; Odoo: a name missing from ``fields_get``), so callers never match a CRM's
    code. ``field`` names it: fix the mapping, or read without it when it is optional.
    """


class ConnectionSetupError(ConfigurationError):
    """The connection itself is set up wrong (accounts server, client, refresh token, scope):
    nothing of this connection can work until a person fixes it. The CLI exits 2 for these."""


class AuthenticationError(ConnectionSetupError):
    """Client id/secret or refresh token refused: re-authorise the connection."""


# --- Retry later ---------------------------------------------------------------------------
class RetryLaterError(ConnectorError):
    """Transient: the job should stop cleanly and resume at its next run."""


class RateLimitedError(RetryLaterError):
    """HTTP 429 after the bounded retries. Zoho does not say whether credits or concurrency ran out."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        # A 429 is refused before the request runs (connector/retry.py): never applied.
        kwargs["not_applied"] = True
        super().__init__(message, **kwargs)


class CreditsExhaustedError(RetryLaterError):
    """The CRM refused a call because the org's API credits are used up (Zoho: a 429 with
    ``X-API-CREDITS-REMAINING: 0``). Not retried: they come back as the rolling 24 hours pass."""


class TokenRefreshLimitedError(RetryLaterError):
    """Zoho allows 10 access tokens per refresh token per 10 minutes; that quota is used up.

    ``retry_at``: when the next token can be had (the oldest refresh of the window plus 10
    minutes where this connection made them all, otherwise 10 minutes after the refusal).
    """

    def __init__(self, message: str, *, retry_at: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_at = retry_at


class UnavailableError(RetryLaterError):
    """Connection failures, timeouts and 5xx responses that outlasted the retries."""


class CreditBudgetExceededError(RetryLaterError):
    """The connection's daily credit budget would be exceeded: stop before the call, not after."""


# --- Skip this record ----------------------------------------------------------------------
class RecordError(ConnectorError):
    """One record was refused or could not be read; the others proceed."""


def certainly_not_applied(exc: BaseException) -> bool:
    """Whether a failed call provably did nothing in the CRM, so its write may be sent again."""
    return isinstance(exc, ConnectorError) and exc.not_applied


def trim_body(body: str | bytes | None, limit: int = BODY_EXCERPT_CHARS) -> str:
    """Return a short, single-line excerpt of a response body for error messages."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_crm_error(payload: Any) -> tuple[str | None, str | None, str]:
    """Pull (code, field, message) out of a Zoho-style error object, tolerating odd shapes."""
    if not isinstance(payload, dict):
        return None, None, trim_body(str(payload))
    raw_details = payload.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    field = details.get("api_name") or details.get("param_name")
    return payload.get("code"), field, str(payload.get("message") or "")
