"""A short-lived bearer token from a client-credentials call (Entra ID, Worktile), kept in
memory until a minute before it expires and fetched again when the tool refuses it.

These tokens live an hour or two and their endpoints have no quota worth sharing between
processes (unlike Zoho's or PingCode's), so they are not kept in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from connector.redact import register_secret

#: A token this close to its expiry is replaced before use, not after a refusal.
EXPIRY_MARGIN = timedelta(seconds=60)


class ShortLivedToken:
    """``fetch`` returns (token, lifetime in seconds); ``value`` gives a valid one."""

    def __init__(
        self, fetch: Callable[[], tuple[str, float]], clock: Callable[[], datetime]
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._value: str | None = None
        self._expires: datetime | None = None
        #: Tokens fetched so far (a test counts them).
        self.fetched = 0

    def value(self) -> str:
        now = self._clock()
        if self._value is None or self._expires is None or now >= self._expires - EXPIRY_MARGIN:
            token, lifetime = self._fetch()
            register_secret(token)
            self.fetched += 1
            self._value, self._expires = token, now + timedelta(seconds=lifetime)
        return self._value

    def refused(self) -> None:
        """The tool said the token is invalid: the next ``value`` fetches a new one."""
        self._value = None


def bearer_headers(token: str) -> Callable[[], dict[str, str]]:
    """The ``headers`` callable of one request (connector/http.py): this token, as a bearer."""

    def headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return headers
