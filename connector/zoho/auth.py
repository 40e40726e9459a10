"""Zoho OAuth: one shared access token, refreshed before it expires, by one thread at a time.

Zoho grants at most 10 access tokens per refresh token per 10 minutes (research/zoho.md §1), so
parallel refreshes would burn the quota: every refresh goes through one lock, and a thread whose
call was refused with an old token reuses the token another thread already fetched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    TokenRefreshLimitedError,
    trim_body,
)
from connector.http import HttpTransport
from connector.redact import register_secret

log = logging.getLogger(__name__)

#: Refresh this long before the token's stated expiry, so no call goes out with a dying token.
REFRESH_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class ZohoCredentials:
    """Where and how to get tokens. The accounts host differs per data centre (US, EU, CN, …)."""

    accounts_url: str
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr


@dataclass(frozen=True)
class _AccessToken:
    value: str
    expires_at: datetime
    api_domain: str | None
    generation: int


class ZohoTokenManager:
    """Hands out a valid access token; thread-safe; refreshes at most once per expiry."""

    def __init__(
        self,
        credentials: ZohoCredentials,
        transport: HttpTransport,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._credentials = credentials
        self._transport = transport
        self._clock = clock
        register_secret(credentials.client_secret.get_secret_value())
        register_secret(credentials.refresh_token.get_secret_value())
        self._lock = threading.Lock()
        self._token: _AccessToken | None = None
        self.refresh_count = 0

    @property
    def api_domain(self) -> str | None:
        """The API domain named by the last token response (Zoho tells each org where it lives)."""
        return self._token.api_domain if self._token else None

    def current(self) -> tuple[str, int]:
        """A valid token and its generation, refreshing first if it is missing or about to expire."""
        with self._lock:
            token = self._token
            if token is None or self._clock() >= token.expires_at - REFRESH_MARGIN:
                token = self._refresh_locked()
            return token.value, token.generation

    def refused(self, generation: int) -> None:
        """The CRM refused the token of ``generation`` (401): refresh unless another thread did."""
        with self._lock:
            if self._token is not None and self._token.generation == generation:
                self._refresh_locked()

    def _refresh_locked(self) -> _AccessToken:
        creds = self._credentials
        url = creds.accounts_url.rstrip("/") + "/oauth/v2/token"
        response = self._transport.request(
            "POST",
            url,
            # Safe to resend: a duplicate only costs one token of the 10-per-10-minutes quota.
            idempotent=True,
            data={
                "grant_type": "refresh_token",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret.get_secret_value(),
                "refresh_token": creds.refresh_token.get_secret_value(),
            },
        )
        try:
            payload = response.json()
        except ValueError:
            raise AuthenticationError(
                "the Zoho accounts server did not return JSON; check accounts_url",
                http_status=response.status_code,
            ) from None
        # Zoho reports token errors inside HTTP 200 (Kaizen #43), so check the body, not the status.
        error = payload.get("error") if isinstance(payload, dict) else "unexpected response"
        if error:
            raise self._token_error(str(error), response.status_code)
        if not isinstance(payload.get("access_token"), str):
            raise AuthenticationError(
                "the token response has no access_token",
                http_status=response.status_code,
                body_excerpt=trim_body(", ".join(sorted(payload))),
            )
        register_secret(payload["access_token"])
        expires_in = int(payload.get("expires_in") or 3600)
        generation = (self._token.generation + 1) if self._token else 1
        self._token = _AccessToken(
            value=payload["access_token"],
            expires_at=self._clock() + timedelta(seconds=expires_in),
            api_domain=payload.get("api_domain"),
            generation=generation,
        )
        self.refresh_count += 1
        log.info("obtained a Zoho access token (valid %s s)", expires_in)
        return self._token

    @staticmethod
    def _token_error(error: str, status: int) -> Exception:
        if error == "Access Denied":
            return TokenRefreshLimitedError(
                "Zoho refused a new access token: at most 10 per 10 minutes; the next run resumes",
                crm_code=error,
                http_status=status,
            )
        if error in {"invalid_client", "invalid_client_secret"}:
            return AuthenticationError(
                "Zoho rejected the client id or secret; check ENGAGE_ZOHO_CLIENT_ID/_SECRET "
                "and that accounts_url is the data centre where the client was registered",
                crm_code=error,
                http_status=status,
            )
        if error in {"invalid_code", "invalid_grant"}:
            return AuthenticationError(
                "Zoho rejected the refresh token (revoked or from another data centre); "
                "generate a new one with access_type=offline",
                crm_code=error,
                http_status=status,
            )
        return ConfigurationError(
            "Zoho refused to issue a token", crm_code=error, http_status=status
        )
