"""Signed survey links: ``<invitation id>.<expiry, unix seconds>.<HMAC-SHA256>``.

HMAC (stdlib) rather than itsdangerous: the expiry is checked against the injected clock, so
tests control it. The link carries no personal data, only the invitation id. Single use is not
the token's job: the store keeps one response per invitation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from jobs.surveys.config import SURVEY_SECRET_ENV

#: Matched whole (``fullmatch``): ``$`` alone would also accept a trailing newline (``%0A``).
_SHAPE = re.compile(r"([0-9a-f]{32})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})")
#: The anti-forgery cookie: ``<random nonce>.<HMAC of it>``, so a value the server did not mint
#: (planted by another site or a subdomain) is recognised and replaced.
_NONCE = re.compile(r"([A-Za-z0-9_-]{32})\.([A-Za-z0-9_-]{22})")
#: Secrets shorter than this are refused: a link must not be forgeable by guessing.
MIN_SECRET_LENGTH = 16


class TokenError(Exception):
    """A link that cannot be used. ``reason``: malformed, forged or expired."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MissingSecret(Exception):
    """ENGAGE_SURVEY_SECRET is not set (or too short): fix the environment."""


def survey_secret(env: Mapping[str, str]) -> str:
    secret = env.get(SURVEY_SECRET_ENV, "")
    if len(secret) < MIN_SECRET_LENGTH:
        raise MissingSecret(
            f"set the environment variable {SURVEY_SECRET_ENV} "
            f"(at least {MIN_SECRET_LENGTH} characters) to sign survey links"
        )
    return secret


def _mac(secret: str, purpose: str, message: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


#: What a link opens: the MAC covers it, so a survey link never opens the report, nor the
#: reverse, though both are signed with the same secret.
SURVEY_LINK = "survey-link"
REPORT_LINK = "report-link"


def sign(invitation_id: str, expires_at: datetime, secret: str, purpose: str = SURVEY_LINK) -> str:
    """`invitation_id`: 32 hex digits (a survey invitation, or a report link's recipient)."""
    payload = f"{invitation_id}.{int(expires_at.timestamp())}"
    return f"{payload}.{_mac(secret, purpose, payload)}"


def verify(token: str, secret: str, now: datetime, purpose: str = SURVEY_LINK) -> str:
    """The invitation id of a genuine, unexpired token; raises ``TokenError`` otherwise."""
    match = _SHAPE.fullmatch(token)
    if match is None:
        raise TokenError("malformed")
    invitation_id, expiry, mac = match.groups()
    if not hmac.compare_digest(mac, _mac(secret, purpose, f"{invitation_id}.{expiry}")):
        raise TokenError("forged")
    if now >= datetime.fromtimestamp(int(expiry), UTC):
        raise TokenError("expired")
    return invitation_id


def mint_nonce(secret: str) -> str:
    """A new anti-forgery cookie value, minted here and signed (see ``_NONCE``)."""
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_mac(secret, 'csrf-nonce', nonce)}"


def minted_nonce(secret: str, cookie: str | None) -> str | None:
    """The cookie's value if this server minted it, else None (never trust a client's value)."""
    match = _NONCE.fullmatch(cookie or "")
    if match is None:
        return None
    nonce, mac = match.groups()
    if not hmac.compare_digest(mac, _mac(secret, "csrf-nonce", nonce)):
        return None
    return cookie


def csrf_token(secret: str, survey_token: str, cookie_nonce: str) -> str:
    """The form's anti-forgery value: bound to this survey link and this browser's cookie."""
    return _mac(secret, "csrf", f"{survey_token}:{cookie_nonce}")


def csrf_valid(secret: str, survey_token: str, cookie_nonce: str, submitted: str) -> bool:
    nonce = minted_nonce(secret, cookie_nonce)
    if nonce is None or not submitted or not submitted.isascii():
        return False
    return hmac.compare_digest(submitted, csrf_token(secret, survey_token, nonce))
