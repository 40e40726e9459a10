"""RetryPolicy and parse_retry_after on their own: delays, jitter, and what is retried (no HTTP)."""

from __future__ import annotations

import pytest

from connector.retry import RetryPolicy, parse_retry_after


def no_jitter_policy() -> RetryPolicy:
    """Default settings, with random() always 1.0 so every delay equals its ceiling."""
    return RetryPolicy(sleep=lambda _: None, random=lambda: 1.0)


# --- delays -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        pytest.param(1, 0.5, id="attempt-1"),
        pytest.param(2, 1.0, id="attempt-2"),
        pytest.param(3, 2.0, id="attempt-3"),
        pytest.param(4, 4.0, id="attempt-4"),
        pytest.param(5, 8.0, id="attempt-5-reaches-max"),
        pytest.param(6, 8.0, id="attempt-6-capped"),
        pytest.param(10, 8.0, id="attempt-10-capped"),
    ],
)
def test_backoff_doubles_from_initial_delay_and_is_capped_at_max(
    attempt: int, expected: float
) -> None:
    assert no_jitter_policy().delay_seconds(attempt) == expected


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        pytest.param(1, 0.125, id="quarter-of-0.5"),
        pytest.param(3, 0.5, id="quarter-of-2"),
        pytest.param(7, 2.0, id="quarter-of-max"),
    ],
)
def test_full_jitter_scales_the_ceiling_by_the_injected_random(
    attempt: int, expected: float
) -> None:
    policy = RetryPolicy(sleep=lambda _: None, random=lambda: 0.25)

    assert policy.delay_seconds(attempt) == expected


def test_full_jitter_can_be_zero() -> None:
    policy = RetryPolicy(sleep=lambda _: None, random=lambda: 0.0)

    assert policy.delay_seconds(4) == 0.0


def test_wait_sleeps_for_the_computed_delay() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(sleep=sleeps.append, random=lambda: 1.0)

    policy.wait(1)
    policy.wait(2)
    policy.wait(3, retry_after="3")

    assert sleeps == [0.5, 1.0, 3.0]


# --- Retry-After --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param("3", 3.0, id="seconds"),
        pytest.param(" 3 ", 3.0, id="seconds-with-spaces"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("30", 8.0, id="capped-at-max"),
    ],
)
def test_retry_after_overrides_backoff_and_is_capped(retry_after: str, expected: float) -> None:
    # Attempt 4 would back off 4.0 s: the server's value wins over it.
    assert no_jitter_policy().delay_seconds(4, retry_after) == expected


def test_retry_after_is_not_jittered() -> None:
    policy = RetryPolicy(sleep=lambda _: None, random=lambda: 0.25)

    assert policy.delay_seconds(1, "3") == 3.0


@pytest.mark.parametrize(
    "retry_after",
    [
        pytest.param(None, id="absent"),
        pytest.param("", id="empty"),
        pytest.param("soon", id="garbage"),
        pytest.param("-1", id="negative"),
        pytest.param("1.5", id="fraction"),
    ],
)
def test_unusable_retry_after_falls_back_to_backoff(retry_after: str | None) -> None:
    assert parse_retry_after(retry_after) is None
    assert no_jitter_policy().delay_seconds(3, retry_after) == 2.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("3", 3.0, id="seconds"),
        pytest.param("120", 120.0, id="large-seconds-uncapped"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", 0.0, id="http-date-in-the-past"),
    ],
)
def test_parse_retry_after(value: str, expected: float) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_future_is_positive() -> None:
    seconds = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT")

    assert seconds is not None
    assert seconds > 0
    assert no_jitter_policy().delay_seconds(1, "Fri, 31 Dec 9999 23:59:59 GMT") == 8.0


# --- what is retried ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attempt", "retried"),
    [
        pytest.param(1, True, id="attempt-1"),
        pytest.param(2, True, id="attempt-2"),
        pytest.param(3, False, id="attempt-3-gives-up"),
        pytest.param(4, False, id="attempt-4"),
    ],
)
@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "insert"])
def test_429_is_retried_up_to_max_rate_limited_attempts(
    attempt: int, retried: bool, idempotent: bool
) -> None:
    policy = no_jitter_policy()
    assert policy.max_rate_limited_attempts == 3

    assert policy.should_retry_status(429, attempt, idempotent=idempotent) is retried


def test_429_bound_follows_the_setting() -> None:
    policy = RetryPolicy(max_rate_limited_attempts=1, sleep=lambda _: None)

    assert policy.should_retry_status(429, 1, idempotent=True) is False


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize(
    ("attempt", "retried"),
    [
        pytest.param(1, True, id="attempt-1"),
        pytest.param(3, True, id="attempt-3"),
        pytest.param(4, False, id="attempt-4-is-max"),
    ],
)
def test_5xx_is_retried_when_idempotent_until_max_attempts(
    status: int, attempt: int, retried: bool
) -> None:
    policy = no_jitter_policy()
    assert policy.max_attempts == 4

    assert policy.should_retry_status(status, attempt, idempotent=True) is retried


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_never_retried_when_not_idempotent(status: int) -> None:
    assert no_jitter_policy().should_retry_status(status, 1, idempotent=False) is False


@pytest.mark.parametrize(
    "status",
    [
        pytest.param(200, id="ok"),
        pytest.param(204, id="no-content"),
        pytest.param(400, id="bad-request"),
        pytest.param(401, id="unauthorised"),
        pytest.param(404, id="not-found"),
        pytest.param(501, id="not-implemented"),
    ],
)
@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "insert"])
def test_other_statuses_are_never_retried(status: int, idempotent: bool) -> None:
    assert no_jitter_policy().should_retry_status(status, 1, idempotent=idempotent) is False


@pytest.mark.parametrize(
    ("attempt", "idempotent", "retried"),
    [
        pytest.param(1, True, True, id="idempotent-attempt-1"),
        pytest.param(3, True, True, id="idempotent-attempt-3"),
        pytest.param(4, True, False, id="idempotent-attempt-4-is-max"),
        pytest.param(1, False, False, id="insert-never"),
    ],
)
def test_connection_errors_are_retried_only_when_idempotent(
    attempt: int, idempotent: bool, retried: bool
) -> None:
    policy = no_jitter_policy()

    assert policy.should_retry_connection_error(attempt, idempotent=idempotent) is retried
