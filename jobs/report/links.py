"""Signed per-recipient links to `/report` (`engage report link`).

The survey links' signer (jobs/surveys/tokens.py) with its own purpose, so neither kind of
link opens the other: ``<recipient key>.<expiry>.<MAC>``, the recipient key being the first
32 hex digits of SHA-256 of the lower-cased address (the link names no one in clear). A link
is refused once expired (410); one that was not minted with this secret, or is not a link at
all, is 403. Why links rather than a login: the people who read the report (directors) live
in their mail and chat, where a link opens with no account to create or password to keep;
each link is per recipient and expires (default 14 days).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from jobs.surveys.tokens import REPORT_LINK, TokenError, sign, verify

DEFAULT_DAYS = 14
#: The query parameter that carries the link's token.
PARAMETER = "link"


def recipient_key(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]


def mint(base_url: str, address: str, secret: str, expires_at: datetime, language: str) -> str:
    token = sign(recipient_key(address), expires_at, secret, REPORT_LINK)
    return f"{base_url.rstrip('/')}/report?{PARAMETER}={token}&lang={language}"


def expiry(now: datetime, days: int = DEFAULT_DAYS) -> datetime:
    return now + timedelta(days=days)


def check(token: str | None, secret: str, now: datetime) -> int | None:
    """None for a genuine, unexpired link; else the HTTP status to refuse it with."""
    if not token:
        return 403
    try:
        verify(token, secret, now, REPORT_LINK)
    except TokenError as exc:
        return 410 if exc.reason == "expired" else 403
    return None
