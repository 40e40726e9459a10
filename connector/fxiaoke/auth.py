"""Fxiaoke access tokens, in either of the two documented styles, shared between processes.

research/fxiaoke_and_tools.md A1:

- ``legacy``: ``POST /cgi/corpAccessToken/get/V2 {appId, appSecret, permanentCode}`` returns
  ``corpAccessToken``, ``corpId``, ``expiresIn`` (≤ 7200 s). Asked again within 6,600 s of issue
  it returns the same token; between 6,600 and 7,200 s a new one. Business calls carry
  ``corpAccessToken``, ``corpId`` and ``currentOpenUserId`` at the top of the JSON body.
- ``oauth2``: ``POST /oauth2.0/token?thirdTraceId=<uuid4> {appId, appSecret, permanentCode,
  grantType: "app_secret"}`` returns ``accessToken`` (2 h), ``expiresIn``, ``ea``,
  ``openUserId``. Business calls carry ``authorization: Bearer``, ``x-fs-ea``, ``x-fs-userid``
  headers and a fresh ``thirdTraceId`` each.

Both: keep the token ≥ 6,600 s, fetch anew between 6,650 and 7,200 s, refresh once on 20016.
The token endpoint allows 10 calls a minute and no concurrent calls [2nd, UNCONFIRMED]; either
way one cache serves every thread and process of a connection (connector/kept_tokens.py, the
protocol Zoho's tokens follow too, so the store-backed cache in jobs/store/kept_tokens.py serves both).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import requests
from pydantic import SecretStr

from connector.errors import AuthenticationError, ConnectionSetupError
from connector.http import HttpTransport
from connector.kept_tokens import KeptToken, TokenCache, TokenKeeper, TokenKey, TokenSlot
from connector.redact import register_secret

from .errors import SECTION, error_code, message_of

TokenStyle = Literal["legacy", "oauth2"]
LEGACY_TOKEN_PATH = "/cgi/corpAccessToken/get/V2"
OAUTH2_TOKEN_PATH = "/oauth2.0/token"
#: Fetch a new token this long before the answer's expiry: 7,200 − 550 = 6,650 s after issue,
#: inside the window where the legacy endpoint hands out a new token rather than the same one.
REFRESH_MARGIN = timedelta(seconds=550)
_SEAL_CONTEXT = b"engage/fxiaoke-access-token/v1"
SECRET_HINT = "ENGAGE_FXIAOKE_APP_SECRET and ENGAGE_FXIAOKE_PERMANENT_CODE"


def new_trace_id() -> str:
    """A fresh RFC 4122 UUIDv4, as every new-style request must carry (A1)."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class FxiaokeCredentials:
    base_url: str
    app_id: str
    app_secret: SecretStr
    permanent_code: SecretStr
    style: TokenStyle = "legacy"


@dataclass(frozen=True)
class FxiaokeToken:
    value: str
    #: ``corpId`` (legacy) or ``ea`` (oauth2): which tenant the token is for.
    corp_id: str
    #: The ``openUserId`` the oauth2 answer names (the app's own user); None in legacy style.
    open_user_id: str | None
    expires_at: datetime
    generation: int


class FxiaokeTokenManager(TokenKeeper[FxiaokeToken]):
    """Hands out a valid token; thread-safe; one fetch per expiry across processes."""

    def __init__(
        self,
        credentials: FxiaokeCredentials,
        transport: HttpTransport,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache: TokenCache | None = None,
        trace_id: Callable[[], str] = new_trace_id,
    ) -> None:
        secret = credentials.app_secret.get_secret_value()
        code = credentials.permanent_code.get_secret_value()
        super().__init__(
            key=TokenKey(
                # The style is part of the key: a legacy token is no bearer token.
                accounts_url=f"fxiaoke:{credentials.style}:{credentials.base_url.rstrip('/')}",
                client_id=credentials.app_id,
                fingerprint=hashlib.sha256(f"{code}\0{secret}".encode()).hexdigest()[:32],
            ),
            cache=cache,
            clock=clock,
            refresh_margin=REFRESH_MARGIN,
            seal_context=_SEAL_CONTEXT,
            seal_key=code,
            seal_secret=secret,
        )
        self.credentials = credentials
        self._transport = transport
        self.trace_id = trace_id

    def current(self) -> FxiaokeToken:
        return self.valid_token()

    # --- internals ----------------------------------------------------------------------------
    def _opened(self, opened: str, kept: KeptToken, generation: int) -> FxiaokeToken | None:
        # The tenant and user travel with the token, sealed as JSON: KeptToken's fields are
        # the cache table's columns, which name none of Fxiaoke's.
        try:
            parts = json.loads(opened)
        except ValueError:
            return None
        assert kept.expires_at is not None  # only an unexpired entry is opened
        return FxiaokeToken(
            value=parts["token"],
            corp_id=parts["corp"],
            open_user_id=parts.get("user"),
            expires_at=kept.expires_at,
            generation=generation,
        )

    def _obtain(
        self, kept: KeptToken, now: datetime, slot: TokenSlot
    ) -> tuple[FxiaokeToken, KeptToken]:
        token = self._accept(self._request_token(), now)
        sealed = json.dumps(
            {"token": token.value, "corp": token.corp_id, "user": token.open_user_id}
        )
        entry = KeptToken(
            sealed=self._seal(sealed), expires_at=token.expires_at, worked_at=kept.worked_at or now
        )
        return token, entry

    def _request_token(self) -> dict[str, Any]:
        c = self.credentials
        body: dict[str, Any] = {
            "appId": c.app_id,
            "appSecret": c.app_secret.get_secret_value(),
            "permanentCode": c.permanent_code.get_secret_value(),
        }
        base = c.base_url.rstrip("/")
        if c.style == "oauth2":
            url, params = base + OAUTH2_TOKEN_PATH, {"thirdTraceId": self.trace_id()}
            body["grantType"] = "app_secret"
        else:
            url, params = base + LEGACY_TOKEN_PATH, None
        # Idempotent: asking again for a token changes nothing in the tenant.
        response = self._transport.request(
            "POST", url, idempotent=True, params=params, json=body, retry_transient=False
        )
        try:
            payload = response.json()
        except requests.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or error_code(payload) is None and response.ok is False:
            raise ConnectionSetupError(
                f"{SECTION}.base_url does not answer as Fxiaoke's API gateway (HTTP "
                f"{response.status_code}); use https://open.fxiaoke.com or your cloud's open host, "
                "not www.fxiaoke.com",
                http_status=response.status_code,
            )
        return payload

    def _accept(self, payload: dict[str, Any], now: datetime) -> FxiaokeToken:
        code = error_code(payload)
        legacy = self.credentials.style == "legacy"
        value = payload.get("corpAccessToken" if legacy else "accessToken")
        corp = payload.get("corpId" if legacy else "ea")
        if code not in (0, None) or not value or not corp:
            # The token endpoint's codes for a wrong secret or a foreign permanentCode are not
            # documented: the answer's own message says which, and the hint names both keys.
            raise AuthenticationError(
                f"Fxiaoke refused the app's credentials ({message_of(payload) or 'no token'}): "
                f"check {SECTION}.app_id, {SECRET_HINT}",
                crm_code=str(code) if code is not None else None,
            )
        register_secret(str(value))
        try:
            seconds = int(payload.get("expiresIn") or 7200)
        except (TypeError, ValueError):
            seconds = 7200
        user = payload.get("openUserId")
        return FxiaokeToken(
            value=str(value),
            corp_id=str(corp),
            open_user_id=str(user) if user else None,
            expires_at=now + timedelta(seconds=seconds),
            generation=self._next_generation(),
        )
