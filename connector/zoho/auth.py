"""Zoho OAuth: one access token per credential, kept between processes, refreshed by one at a time.

Zoho grants at most 10 access tokens per refresh token per 10 minutes, and an access token lives
an hour (research/zoho.md §1 [TV]). A token fetched per process would lock an admin out after
ten commands, so the token (with its api_domain and expiry) is kept in a ``TokenCache`` until it
expires, and a new one is fetched only under the cache's exclusive lock, which other processes
on the same cache respect: the process that takes the lock second finds the token the first one
fetched. Fifty commands in ten minutes cost one refresh.

What is kept, per (accounts_url, client_id, fingerprint of the refresh token), so that a changed
credential never reuses a stale token:

- the access token, **sealed** (AES-GCM) with a key derived from the client secret and the
  refresh token, which come from the environment only. The cache (the store, shared by a team
  on PostgreSQL, backed up, exported) never holds a usable secret: someone who can read it but
  lacks the environment's secrets cannot use the token, and a changed secret simply cannot
  unseal the old one. (Relying on database permissions alone would put a live credential into
  every backup; a 0600 file would not be shared by processes on other machines of the team.)
- whether this connection has ever worked (a token was issued): before that, an unreachable or
  wrong accounts server is a configuration error naming ``crm.zoho.accounts_url``; after it, an
  outage is transient.
- the times of this connection's refreshes in the last 10 minutes and, after Zoho refused one
  for the quota, until when: so that a refusal says when the next token can be had, and no
  process asks again before then.

The keeping, sealing and one-refresh-at-a-time are ``connector/kept_tokens.py``'s (shared with
Fxiaoke); this module says how Zoho issues a token, what it carries, and Zoho's quota rules.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from connector.errors import (
    AuthenticationError,
    ConnectionSetupError,
    TokenRefreshLimitedError,
    UnavailableError,
    trim_body,
)
from connector.http import HttpTransport, safe_url
from connector.kept_tokens import KeptToken, TokenCache, TokenKeeper, TokenKey, TokenSlot
from connector.redact import register_secret

log = logging.getLogger(__name__)

#: Refresh this long before the token's stated expiry, so no call goes out with a dying token.
REFRESH_MARGIN = timedelta(seconds=60)
#: §1 [TV]: at most 10 access tokens per refresh token per 10 minutes.
REFRESHES_PER_WINDOW = 10
REFRESH_WINDOW = timedelta(minutes=10)
#: The configuration key every accounts-server error names.
ACCOUNTS_URL_KEY = "crm.zoho.accounts_url"
_DC_EXAMPLES = "https://accounts.zoho.com (US), https://accounts.zoho.eu (EU), …"
_SEAL_CONTEXT = b"engage/zoho-access-token/v1"


@dataclass(frozen=True)
class ZohoCredentials:
    """Where and how to get tokens. The accounts host differs per data centre (US, EU, CN, …)."""

    accounts_url: str
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr


def token_key(credentials: ZohoCredentials) -> TokenKey:
    """The cache key of a Zoho credential: the refresh token enters only as a fingerprint."""
    secret = credentials.refresh_token.get_secret_value().encode("utf-8")
    return TokenKey(
        accounts_url=credentials.accounts_url.rstrip("/"),
        client_id=credentials.client_id,
        fingerprint=hashlib.sha256(secret).hexdigest()[:32],
    )


@dataclass(frozen=True)
class _AccessToken:
    value: str
    expires_at: datetime
    api_domain: str | None
    generation: int


class ZohoTokenManager(TokenKeeper[_AccessToken]):
    """Hands out a valid access token; thread-safe; one refresh per expiry across processes."""

    def __init__(
        self,
        credentials: ZohoCredentials,
        transport: HttpTransport,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache: TokenCache | None = None,
    ) -> None:
        super().__init__(
            key=token_key(credentials),
            cache=cache,
            clock=clock,
            refresh_margin=REFRESH_MARGIN,
            seal_context=_SEAL_CONTEXT,
            seal_key=credentials.refresh_token.get_secret_value(),
            seal_secret=credentials.client_secret.get_secret_value(),
        )
        self._credentials = credentials
        self._transport = transport

    @property
    def api_domain(self) -> str | None:
        """The API domain named by the last token response (Zoho tells each org where it lives)."""
        return self._token.api_domain if self._token else None

    def current(self) -> tuple[str, int]:
        """A valid token and its generation, refreshing first if it is missing or about to expire."""
        token = self.valid_token()
        return token.value, token.generation

    # --- internals ----------------------------------------------------------------------------
    def _opened(self, opened: str, kept: KeptToken, generation: int) -> _AccessToken | None:
        assert kept.expires_at is not None  # only an unexpired entry is opened
        return _AccessToken(
            value=opened,
            expires_at=kept.expires_at,
            api_domain=kept.api_domain,
            generation=generation,
        )

    def _obtain(
        self, kept: KeptToken, now: datetime, slot: TokenSlot
    ) -> tuple[_AccessToken, KeptToken]:
        recent = tuple(t for t in kept.refreshes if now - t < REFRESH_WINDOW)
        if kept.refused_until is not None and now < kept.refused_until:
            raise self._quota_error(kept.refused_until, asked=False)
        if len(recent) >= REFRESHES_PER_WINDOW:
            # This connection alone used the quota: asking would only be refused.
            raise self._quota_error(recent[0] + REFRESH_WINDOW, asked=False)
        payload, status = self._request_token(worked=kept.worked_at is not None)
        error = payload.get("error")
        if error == "Access Denied":
            # §1 [TV]: the quota, answered in HTTP 200. Zoho does not say when it frees.
            # This connection made fewer than 10 of the window's refreshes (it checks that
            # above), so another tool shares the refresh token: every token of the window
            # was issued before now, so ten minutes from now is the latest it can be.
            retry_at = now + REFRESH_WINDOW
            slot.write(replace(kept, refreshes=recent, refused_until=retry_at))
            raise self._quota_error(retry_at, asked=True, status=status)
        if error:
            raise self._token_error(str(error), status)
        token = self._accept(payload, status, worked=kept.worked_at is not None)
        entry = KeptToken(
            sealed=self._seal(token.value),
            api_domain=token.api_domain,
            expires_at=token.expires_at,
            worked_at=kept.worked_at or now,
            refreshes=(*recent, now),
            refused_until=None,
        )
        return token, entry

    def _request_token(self, *, worked: bool) -> tuple[dict[str, Any], int]:
        """POST the refresh; (JSON object, HTTP status). Unreachable or not a Zoho accounts
        server: a configuration error naming the key on a connection that never worked, an
        outage (retry later) on one that has."""
        creds = self._credentials
        url = creds.accounts_url.rstrip("/") + "/oauth/v2/token"
        try:
            response = self._transport.request(
                "POST",
                url,
                # Safe to resend: a duplicate only costs one token of the 10-per-10-minutes quota.
                idempotent=True,
                # First contact: a failure means a wrong address far more often than an outage,
                # so it is reported at once rather than after the backoff.
                retry_transient=worked,
                data={
                    "grant_type": "refresh_token",
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret.get_secret_value(),
                    "refresh_token": creds.refresh_token.get_secret_value(),
                },
            )
        except UnavailableError as exc:
            if worked:
                raise UnavailableError(
                    f"the Zoho accounts server {safe_url(url)} could not be reached "
                    f"({exc.message.rsplit(': ', 1)[-1]}); it worked before, so this is taken "
                    "as an outage",
                    http_status=exc.http_status,
                ) from None
            answer = f"HTTP {exc.http_status}" if exc.http_status else exc.message.rsplit(": ")[-1]
            raise self._not_accounts_server(f"could not be reached ({answer})") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or (
            response.status_code != 200 and not payload.get("error")
        ):
            # Zoho answers token requests with JSON, errors included, in HTTP 200 (Kaizen #43):
            # anything else (a 404 page, a proxy) means this is not an accounts server.
            detail = f"answered HTTP {response.status_code} without a token response"
            if worked:
                raise UnavailableError(
                    f"the Zoho accounts server {safe_url(url)} {detail}; it worked before, so "
                    "this is taken as an outage",
                    http_status=response.status_code,
                    body_excerpt=trim_body(response.content),
                )
            raise self._not_accounts_server(detail, status=response.status_code)
        return payload, response.status_code

    def _accept(self, payload: dict[str, Any], status: int, *, worked: bool) -> _AccessToken:
        value = payload.get("access_token")
        if not isinstance(value, str) or not value:
            detail = "answered without an access_token (keys: " + ", ".join(sorted(payload)) + ")"
            if worked:
                raise UnavailableError(
                    f"the Zoho accounts server {detail}; it worked before", http_status=status
                )
            raise self._not_accounts_server(detail, status=status)
        register_secret(value)
        expires_in = int(payload.get("expires_in") or 3600)
        log.info("obtained a Zoho access token (valid %s s)", expires_in)
        return _AccessToken(
            value=value,
            expires_at=self._clock() + timedelta(seconds=expires_in),
            api_domain=payload.get("api_domain"),
            generation=self._next_generation(),
        )

    def _not_accounts_server(self, detail: str, status: int | None = None) -> Exception:
        url = self._credentials.accounts_url.rstrip("/")
        return ConnectionSetupError(
            f"{ACCOUNTS_URL_KEY} ({url}) {detail}: it is not a reachable Zoho accounts server; "
            f"set it to your data centre's, e.g. {_DC_EXAMPLES}",
            http_status=status,
        )

    def _quota_error(
        self, retry_at: datetime, *, asked: bool, status: int | None = None
    ) -> TokenRefreshLimitedError:
        when = retry_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        how = "Zoho refused a new access token" if asked else "no new access token was asked for"
        return TokenRefreshLimitedError(
            f"{how}: Zoho issues at most {REFRESHES_PER_WINDOW} per refresh token per 10 "
            f"minutes; the next can be had at {when}",
            retry_at=retry_at,
            crm_code="Access Denied" if asked else None,
            http_status=status,
        )

    def _token_error(self, error: str, status: int) -> Exception:
        url = self._credentials.accounts_url.rstrip("/")
        if error == "invalid_client_secret":
            return AuthenticationError(
                "Zoho rejected the client secret; check ENGAGE_ZOHO_CLIENT_SECRET",
                crm_code=error,
                http_status=status,
            )
        if error == "invalid_client":
            # Zoho answers the same for a wrong client id or secret and for a client registered
            # in another data centre (research/zoho.md §1; no distinct DC error is documented),
            # so the possible causes are listed together.
            return AuthenticationError(
                f"Zoho rejected the client id or secret at {ACCOUNTS_URL_KEY} ({url}): either "
                "ENGAGE_ZOHO_CLIENT_ID / ENGAGE_ZOHO_CLIENT_SECRET is wrong, or the client is "
                f"registered in another data centre (set {ACCOUNTS_URL_KEY} to that one's "
                f"accounts server, e.g. {_DC_EXAMPLES})",
                crm_code=error,
                http_status=status,
            )
        if error in {"invalid_code", "invalid_grant"}:
            # §1: a revoked refresh token gives invalid_code; one issued by another data
            # centre's accounts server is unknown here too.
            return AuthenticationError(
                "Zoho rejected ENGAGE_ZOHO_REFRESH_TOKEN: it was revoked, or issued by another "
                f"data centre than {ACCOUNTS_URL_KEY} ({url}); generate a new one with "
                "access_type=offline",
                crm_code=error,
                http_status=status,
            )
        return ConnectionSetupError(
            f"Zoho refused to issue a token at {ACCOUNTS_URL_KEY} ({url})",
            crm_code=error,
            http_status=status,
        )
