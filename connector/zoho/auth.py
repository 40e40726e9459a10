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
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from connector.errors import (
    AuthenticationError,
    ConnectionSetupError,
    TokenRefreshLimitedError,
    UnavailableError,
    trim_body,
)
from connector.http import HttpTransport, safe_url
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


@dataclass(frozen=True)
class TokenKey:
    """Which credential a kept token belongs to. Holds no secret: the refresh token enters only
    as a SHA-256 fingerprint (refresh tokens are long random strings, so it cannot be guessed
    back)."""

    accounts_url: str
    client_id: str
    fingerprint: str

    @classmethod
    def of(cls, credentials: ZohoCredentials) -> TokenKey:
        secret = credentials.refresh_token.get_secret_value().encode("utf-8")
        return cls(
            accounts_url=credentials.accounts_url.rstrip("/"),
            client_id=credentials.client_id,
            fingerprint=hashlib.sha256(secret).hexdigest()[:32],
        )


@dataclass(frozen=True)
class KeptToken:
    """What a cache holds for one credential. ``sealed`` is the access token encrypted."""

    sealed: str | None = None
    api_domain: str | None = None
    expires_at: datetime | None = None
    #: When a token was first issued for this credential (the connection has worked).
    worked_at: datetime | None = None
    #: This connection's refreshes of the last 10 minutes, oldest first.
    refreshes: tuple[datetime, ...] = ()
    #: Zoho refused a refresh for the quota; no refresh is asked for before this.
    refused_until: datetime | None = None


class TokenSlot(Protocol):
    """One credential's entry, while the cache's exclusive lock is held."""

    def read(self) -> KeptToken | None: ...

    def write(self, kept: KeptToken) -> None: ...


class TokenCache(Protocol):
    """Keeps tokens between processes. ``exclusive`` must exclude every other process using the
    same cache (a row or advisory lock, ``BEGIN IMMEDIATE``, a file lock) until it exits."""

    def peek(self, key: TokenKey) -> KeptToken | None:
        """The entry as it is now, without the lock (a fast path; may be stale)."""
        ...

    def exclusive(self, key: TokenKey) -> AbstractContextManager[TokenSlot]: ...


class MemoryTokenCache:
    """A cache for one process only (tests, one-off scripts): nothing survives the process."""

    def __init__(self) -> None:
        self._entries: dict[TokenKey, KeptToken] = {}
        self._lock = threading.Lock()

    def peek(self, key: TokenKey) -> KeptToken | None:
        return self._entries.get(key)

    @contextmanager
    def exclusive(self, key: TokenKey) -> Iterator[TokenSlot]:
        with self._lock:
            yield _MemorySlot(self._entries, key)


@dataclass
class _MemorySlot:
    entries: dict[TokenKey, KeptToken]
    key: TokenKey

    def read(self) -> KeptToken | None:
        return self.entries.get(self.key)

    def write(self, kept: KeptToken) -> None:
        self.entries[self.key] = kept


@dataclass(frozen=True)
class _AccessToken:
    value: str
    expires_at: datetime
    api_domain: str | None
    generation: int


@dataclass
class _Sealer:
    """AES-GCM under a key derived from the environment's secrets; the token key is the AAD, so
    a sealed token cannot be moved to another credential's entry."""

    key: bytes
    aad: bytes
    _aes: AESGCM = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._aes = AESGCM(self.key)

    def seal(self, token: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aes.encrypt(nonce, token.encode("utf-8"), self.aad)
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def unseal(self, text: str) -> str | None:
        try:
            raw = base64.urlsafe_b64decode(text.encode("ascii"))
            return self._aes.decrypt(raw[:12], raw[12:], self.aad).decode("utf-8")
        except (InvalidTag, ValueError, UnicodeError):
            return None  # another secret sealed it, or it was tampered with: fetch a new one


class ZohoTokenManager:
    """Hands out a valid access token; thread-safe; one refresh per expiry across processes."""

    def __init__(
        self,
        credentials: ZohoCredentials,
        transport: HttpTransport,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache: TokenCache | None = None,
    ) -> None:
        self._credentials = credentials
        self._transport = transport
        self._clock = clock
        self._cache: TokenCache = cache if cache is not None else MemoryTokenCache()
        self._key = TokenKey.of(credentials)
        secret = credentials.client_secret.get_secret_value()
        refresh = credentials.refresh_token.get_secret_value()
        register_secret(secret)
        register_secret(refresh)
        derived = hmac.new(
            refresh.encode("utf-8"), _SEAL_CONTEXT + b"\0" + secret.encode("utf-8"), "sha256"
        ).digest()
        aad = f"{self._key.accounts_url}\x00{self._key.client_id}\x00{self._key.fingerprint}"
        self._sealer = _Sealer(derived, aad.encode("utf-8"))
        self._lock = threading.Lock()
        self._token: _AccessToken | None = None
        #: Tokens this process obtained from Zoho (not those it found kept by another process).
        self.refresh_count = 0

    @property
    def api_domain(self) -> str | None:
        """The API domain named by the last token response (Zoho tells each org where it lives)."""
        return self._token.api_domain if self._token else None

    def current(self) -> tuple[str, int]:
        """A valid token and its generation, refreshing first if it is missing or about to expire."""
        with self._lock:
            token = self._token
            if token is not None and self._fresh(token.expires_at):
                return token.value, token.generation
            kept = self._adoptable(self._cache.peek(self._key), stale=None)
            if kept is None:
                kept = self._refresh_locked(stale=token.value if token else None)
            return kept.value, kept.generation

    def refused(self, generation: int) -> None:
        """The CRM refused the token of ``generation`` (401): refresh unless another did."""
        with self._lock:
            if self._token is not None and self._token.generation == generation:
                self._refresh_locked(stale=self._token.value)

    # --- internals ----------------------------------------------------------------------------
    def _fresh(self, expires_at: datetime | None) -> bool:
        return expires_at is not None and self._clock() < expires_at - REFRESH_MARGIN

    def _adoptable(self, kept: KeptToken | None, stale: str | None) -> _AccessToken | None:
        """Take a kept token as this process's if it is unexpired and not the refused one."""
        if kept is None or kept.sealed is None or not self._fresh(kept.expires_at):
            return None
        value = self._sealer.unseal(kept.sealed)
        if value is None or value == stale:
            return None
        assert kept.expires_at is not None
        register_secret(value)
        self._token = _AccessToken(
            value=value,
            expires_at=kept.expires_at,
            api_domain=kept.api_domain,
            generation=(self._token.generation + 1) if self._token else 1,
        )
        return self._token

    def _refresh_locked(self, stale: str | None) -> _AccessToken:
        with self._cache.exclusive(self._key) as slot:
            kept = slot.read() or KeptToken()
            # Another process may have fetched one while this one waited for the lock.
            adopted = self._adoptable(kept, stale)
            if adopted is not None:
                return adopted
            now = self._clock()
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
            slot.write(
                KeptToken(
                    sealed=self._sealer.seal(token.value),
                    api_domain=token.api_domain,
                    expires_at=token.expires_at,
                    worked_at=kept.worked_at or now,
                    refreshes=(*recent, now),
                    refused_until=None,
                )
            )
            return token

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
        self._token = _AccessToken(
            value=value,
            expires_at=self._clock() + timedelta(seconds=expires_in),
            api_domain=payload.get("api_domain"),
            generation=(self._token.generation + 1) if self._token else 1,
        )
        self.refresh_count += 1
        log.info("obtained a Zoho access token (valid %s s)", expires_in)
        return self._token

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
