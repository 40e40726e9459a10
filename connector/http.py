"""The request path shared by every client: session, timeout, the retry policy, error mapping.

Nothing here knows a CRM's body shapes; clients interpret responses. What this layer guarantees:
no ``requests`` exception escapes, retries follow ``RetryPolicy``, and no header (where tokens
live) or query string is ever put into an error message or a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from connector.errors import CreditsExhaustedError, RateLimitedError, UnavailableError, trim_body
from connector.retry import AdaptiveConcurrency, RetryPolicy, credits_exhausted

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60.0
#: Calls in flight per connection before any 429 (Zoho's Ultimate edition allows 25, §6; the
#: push's threads are bounded lower by ``write_concurrency``). 429s bring it down (AIMD).
DEFAULT_MAX_IN_FLIGHT = 25
#: A call's 429 retries that use up no attempt (each halves the limit, so few are needed).
MAX_CONCURRENCY_RETRIES = 8

#: Called once per HTTP request actually sent: (method, url without query, status or None).
CallObserver = Callable[[str, str, int | None], None]


def safe_url(url: str) -> str:
    """The URL without its query string, which may carry tokens or codes."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


#: Server errors that say the request was not processed. UNCONFIRMED for Zoho and Odoo (their docs
#: do not say): 503 means the server could not take the request at all (RFC 9110 §15.6.4: overload
#: or maintenance; load balancers send it when no backend is there). 502 and 504 are answered by a
#: gateway whose backend may have done the work before failing, and 500 may come after a partial
#: write, so those stay "may have happened".
NOT_PROCESSED_STATUSES = frozenset({503})


def never_connected(exc: requests.RequestException) -> bool:
    """Whether the request failed before a connection existed (refused, DNS, connect timeout):
    then nothing reached the server. A read timeout or a reset may come after the server got it."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class HttpTransport:
    """Sends requests with one retry policy and reports every attempt to an observer."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        observer: CallObserver | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        retry_after_header: str = "Retry-After",
    ) -> None:
        self.session = session or requests.Session()
        self.policy = policy or RetryPolicy()
        self.timeout_seconds = timeout_seconds
        self.observer = observer
        #: The connection's calls in flight, halved on a 429 and grown back on successes.
        self.concurrency = AdaptiveConcurrency(max_in_flight)
        #: Where a 429 says how long to wait (PingCode: ``x-pc-retry-after``).
        self.retry_after_header = retry_after_header

    def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        headers: Callable[[], Mapping[str, str]] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | bytes | None = None,  # bytes: a raw body (XML-RPC)
        retry_transient: bool = True,
    ) -> requests.Response:
        """Send one logical request, retrying per policy; return the final response.

        One loop on purpose: every attempt's outcome (answer, status, transport error) meets
        the one retry policy in one place, which is what keeps retries bounded and auditable.

        ``headers`` is a callable so that each attempt carries the current access token.
        Raises ``RateLimitedError`` or ``UnavailableError`` when retries run out.
        ``retry_transient=False``: connection errors and 5xx are not retried (first contact with
        a host that never answered, where a failure is more likely a wrong address than an
        outage and the caller reports it at once); 429 still is.
        """
        attempt = 0
        free_retries = 0
        while True:
            attempt += 1
            beside = self.concurrency.acquire()
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=dict(headers()) if headers else None,
                    params=params,
                    json=json,
                    data=data,
                    timeout=self.timeout_seconds,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.concurrency.release(outcome=None)
                self._observe(method, url, None)
                if retry_transient and self.policy.should_retry_connection_error(
                    attempt, idempotent=idempotent
                ):
                    # INFO, not WARNING: a retry that works is no news to the user, and one that
                    # does not ends in the command's one error line (`-v` shows every retry).
                    log.info(
                        "%s %s failed (%s), retrying", method, safe_url(url), type(exc).__name__
                    )
                    self.policy.wait(attempt)
                    continue
                raise UnavailableError(
                    f"{method} {safe_url(url)} failed after {attempt} attempt(s): "
                    f"{type(exc).__name__}",
                    not_applied=never_connected(exc),
                ) from None
            except requests.RequestException as exc:
                self.concurrency.release(outcome=None)
                self._observe(method, url, None)
                raise UnavailableError(
                    f"{method} {safe_url(url)} could not be sent: {type(exc).__name__}"
                ) from None
            rate_limited = response.status_code == 429
            self.concurrency.release(outcome=not rate_limited)
            self._observe(method, url, response.status_code)
            status = response.status_code
            if rate_limited and credits_exhausted(response.headers):
                raise CreditsExhaustedError(
                    f"the org's Zoho API credits are used up ({method} {safe_url(url)} refused "
                    "with 429 and X-API-CREDITS-REMAINING: 0)",
                    http_status=status,
                    body_excerpt=trim_body(response.content),
                )
            if rate_limited and beside > 0 and free_retries < MAX_CONCURRENCY_RETRIES:
                # Other calls of ours were in flight: the org's concurrency refused this one.
                # The limit is halved (above); try again once a slot frees, no attempt used.
                free_retries += 1
                attempt -= 1
                log.info(
                    "%s %s: 429 with %s other call(s) in flight; now at most %s at once",
                    method,
                    safe_url(url),
                    beside,
                    self.concurrency.limit,
                )
                self.policy.wait(1)
                continue
            if (retry_transient or status == 429) and self.policy.should_retry_status(
                status, attempt, idempotent=idempotent
            ):
                log.info("%s %s returned %s, retrying", method, safe_url(url), status)
                self.policy.wait(attempt, response.headers.get(self.retry_after_header))
                continue
            if status == 429:
                raise RateLimitedError(
                    f"{method} {safe_url(url)} still rate limited after {attempt} attempt(s)",
                    http_status=status,
                    body_excerpt=trim_body(response.content),
                )
            if status >= 500:
                raise UnavailableError(
                    f"{method} {safe_url(url)} failed with a server error",
                    http_status=status,
                    body_excerpt=trim_body(response.content),
                    not_applied=status in NOT_PROCESSED_STATUSES,
                )
            return response

    def _observe(self, method: str, url: str, status: int | None) -> None:
        if self.observer is not None:
            self.observer(method, safe_url(url), status)
