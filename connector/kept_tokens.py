"""Access tokens kept between processes: one cache, one seal, one refresh at a time.

Every CRM here hands out short-lived access tokens from an endpoint with a small quota (Zoho:
10 per refresh token per 10 minutes, research/zoho.md §1; Fxiaoke: 10 calls a minute,
research/fxiaoke_and_tools.md A1), so a token fetched per process would soon lock an admin out.
A token is therefore kept in a ``TokenCache`` until it is about to expire, and a new one is
fetched only under the cache's exclusive lock, which other processes on the same cache respect:
the process that takes the lock second finds the token the first one fetched.

The kept token is **sealed** (AES-GCM) under a key derived from two of the credential's secrets,
which come from the environment only: the cache (the store, shared, backed up, exported) never
holds a usable secret, and a changed secret simply cannot unseal the old token.

``TokenKeeper`` is that protocol once; each CRM's manager says how a token is fetched, what it
carries and how it is sealed (``_obtain``, ``_opened``), and keeps its own quota rules.
"""

from __future__ import annotations

import base64
import hmac
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connector.redact import register_secret


@dataclass(frozen=True)
class TokenKey:
    """Which credential a kept token belongs to. Holds no secret: secrets enter only as a
    SHA-256 fingerprint of long random strings, which cannot be guessed back."""

    accounts_url: str
    client_id: str
    fingerprint: str


@dataclass(frozen=True)
class KeptToken:
    """What a cache holds for one credential. ``sealed`` is the access token encrypted."""

    sealed: str | None = None
    #: Zoho only: the API domain its token response names (Fxiaoke seals its extras instead).
    api_domain: str | None = None
    expires_at: datetime | None = None
    #: When a token was first issued for this credential (the connection has worked).
    worked_at: datetime | None = None
    #: Zoho only: this connection's refreshes of the last 10 minutes, oldest first.
    refreshes: tuple[datetime, ...] = ()
    #: Zoho only: Zoho refused a refresh for the quota; no refresh is asked for before this.
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


class IssuedToken(Protocol):
    """What every CRM's access token has in common."""

    @property
    def value(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...

    #: Counts this process's tokens, so that a refusal of an old one does not refresh again.
    @property
    def generation(self) -> int: ...


T = TypeVar("T", bound=IssuedToken)


class TokenKeeper(ABC, Generic[T]):
    """Hands out a valid token of type ``T``; thread-safe; one fetch per expiry across processes.

    ``seal_key`` and ``seal_secret`` are the two environment secrets the seal is derived from
    (with ``seal_context`` naming the CRM, so one CRM's seal never opens another's)."""

    def __init__(
        self,
        *,
        key: TokenKey,
        cache: TokenCache | None,
        clock: Callable[[], datetime],
        refresh_margin: timedelta,
        seal_context: bytes,
        seal_key: str,
        seal_secret: str,
    ) -> None:
        self._key = key
        self._cache: TokenCache = cache if cache is not None else MemoryTokenCache()
        self._clock = clock
        self._refresh_margin = refresh_margin
        register_secret(seal_secret)
        register_secret(seal_key)
        derived = hmac.new(
            seal_key.encode("utf-8"), seal_context + b"\0" + seal_secret.encode("utf-8"), "sha256"
        ).digest()
        aad = f"{key.accounts_url}\x00{key.client_id}\x00{key.fingerprint}"
        self._sealer = _Sealer(derived, aad.encode("utf-8"))
        self._lock = threading.Lock()
        self._token: T | None = None
        #: Tokens this process obtained from the CRM (not those found kept by another process).
        self.refresh_count = 0

    # --- what each CRM says -------------------------------------------------------------------
    @abstractmethod
    def _obtain(self, kept: KeptToken, now: datetime, slot: TokenSlot) -> tuple[T, KeptToken]:
        """Fetch a new token from the CRM, under the lock; the token and the entry to keep.
        ``kept`` is the entry as found; ``slot`` is for recording a refusal before raising."""

    @abstractmethod
    def _opened(self, opened: str, kept: KeptToken, generation: int) -> T | None:
        """The token an unsealed entry holds, or None if it cannot be read."""

    # --- the protocol -------------------------------------------------------------------------
    def valid_token(self) -> T:
        """A valid token, fetched first if it is missing or about to expire."""
        with self._lock:
            token = self._token
            if token is not None and self._fresh(token.expires_at):
                return token
            adopted = self._adoptable(self._cache.peek(self._key), stale=None)
            return adopted or self._refresh_locked(stale=token.value if token else None)

    def refused(self, generation: int) -> None:
        """The CRM refused the token of ``generation``: fetch anew unless another did."""
        with self._lock:
            if self._token is not None and self._token.generation == generation:
                self._refresh_locked(stale=self._token.value)

    def _next_generation(self) -> int:
        return (self._token.generation + 1) if self._token else 1

    def _seal(self, text: str) -> str:
        return self._sealer.seal(text)

    def _fresh(self, expires_at: datetime | None) -> bool:
        return expires_at is not None and self._clock() < expires_at - self._refresh_margin

    def _adoptable(self, kept: KeptToken | None, stale: str | None) -> T | None:
        """Take a kept token as this process's if it is unexpired and not the refused one."""
        if kept is None or kept.sealed is None or not self._fresh(kept.expires_at):
            return None
        opened = self._sealer.unseal(kept.sealed)
        if opened is None:
            return None
        token = self._opened(opened, kept, self._next_generation())
        if token is None or token.value == stale:
            return None
        register_secret(token.value)
        self._token = token
        return token

    def _refresh_locked(self, stale: str | None) -> T:
        with self._cache.exclusive(self._key) as slot:
            kept = slot.read() or KeptToken()
            # Another process may have fetched one while this one waited for the lock.
            adopted = self._adoptable(kept, stale)
            if adopted is not None:
                return adopted
            token, entry = self._obtain(kept, self._clock(), slot)
            self._token = token
            self.refresh_count += 1
            slot.write(entry)
            return token
