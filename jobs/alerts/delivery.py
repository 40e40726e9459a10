"""What a failed delivery means for the outbox, whatever the channel; and a webhook POST under
the one retry policy (connector/retry.py).

- ``Revoked``: the destination is gone (a webhook deleted: 404/410, or refused for good:
  401/403): the route is disabled and reported; its alerts wait, nothing is lost.
- ``NotDelivered``: certainly not delivered now (5xx or 429 after the policy's retries, no
  connection): back to the queue with the row backoff; failed after ``row_max_attempts``.
- ``Unsendable``: this message is refused as it is (400: a payload the service rejects):
  failed for that one, with the reason.
- ``Uncertain``: the request went out and no answer came back: it may have been posted. Never
  resent automatically; `engage alerts status` lists it for a person.

No message here ever carries the webhook URL: it is a secret (the path or the query holds the
credential). Messages name the route instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from connector.errors import trim_body
from connector.http import never_connected
from connector.redact import redact
from connector.retry import RetryPolicy

#: Seconds to wait for a webhook's answer.
WEBHOOK_TIMEOUT_SECONDS = 20.0
#: Statuses that say the webhook no longer exists or no longer accepts us (revoked).
REVOKED_STATUSES = frozenset({401, 403, 404, 410})


class DeliveryError(Exception):
    """A delivery that did not certainly succeed; the subclass says what the outbox does."""


class Revoked(DeliveryError):
    pass


class NotDelivered(DeliveryError):
    pass


class Unsendable(DeliveryError):
    pass


class Uncertain(DeliveryError):
    pass


def post_json(
    session: requests.Session,
    url: str,
    payload: Any,
    *,
    what: str,
    policy: RetryPolicy,
    timeout_seconds: float = WEBHOOK_TIMEOUT_SECONDS,
) -> None:
    """POST ``payload`` to the webhook ``url``; return when it was accepted (2xx).

    Retries 429 and 5xx as the policy says, obeying Retry-After (capped by the policy). A
    webhook answering 5xx did not take the message (Slack and Power Automate answer 5xx when
    the post failed), so those are retried as idempotent; an answer that never came is not.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            response = session.post(url, json=payload, timeout=timeout_seconds)
        except requests.ConnectionError as exc:
            if not never_connected(exc):
                raise Uncertain(
                    f"{what}: the connection broke after the message was sent "
                    f"({type(exc).__name__}); it may have been posted"
                ) from None
            if policy.should_retry_connection_error(attempt, idempotent=True):
                policy.wait(attempt)
                continue
            raise NotDelivered(f"{what}: cannot connect ({type(exc).__name__})") from None
        except requests.Timeout:
            raise Uncertain(
                f"{what}: no answer within {timeout_seconds:g} s; it may have been posted"
            ) from None
        except requests.RequestException as exc:
            raise NotDelivered(
                f"{what}: the request could not be sent ({type(exc).__name__})"
            ) from None
        status = response.status_code
        if status < 300:
            return
        body = redact(trim_body(response.content) or "")
        said = f"{status} {body}".strip()
        if status in REVOKED_STATUSES:
            raise Revoked(
                f"{what} answered {said}: the webhook was deleted or no longer accepts posts"
            )
        if policy.should_retry_status(status, attempt, idempotent=True):
            policy.wait(attempt, response.headers.get("Retry-After"))
            continue
        if status == 429 or status >= 500:
            raise NotDelivered(f"{what} answered {said} after {attempt} attempt(s)")
        raise Unsendable(f"{what} refused the message: {said}")


class WebhookChannel:
    """One route's webhook (Slack or Teams): each view becomes that service's payload.
    ``seconds_between_posts``: the service's posting rate (the sleep is injected)."""

    def __init__(
        self,
        url: str,
        payload_of: Callable[[Any], Any],
        *,
        what: str,
        session: requests.Session,
        policy: RetryPolicy,
        seconds_between_posts: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._payload_of = payload_of
        self._what = what
        self._session = session
        self._policy = policy
        self._between = seconds_between_posts
        self._sleep = sleep
        self._posted = False

    def deliver(self, view: Any) -> None:
        if self._posted and self._between:
            self._sleep(self._between)
        self._posted = True
        post_json(
            self._session, self._url, self._payload_of(view), what=self._what, policy=self._policy
        )
