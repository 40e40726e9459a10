"""The sandbox's fault injection, seen from the connector: each fault arrives as configured and
the one retry policy answers it (sleeps are recorded, never slept)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from connector.errors import RateLimitedError, UnavailableError
from connector.retry import RetryPolicy
from connector.sandbox import SandboxCRM
from connector.sandbox.faults import FaultInjector, FaultKind, FaultPlan
from jobs.demo.run import sandbox_settings
from jobs.runner import Job, connect, run_job
from tests.conftest import FakeClock


def quiet_policy(sleeps: list[float]) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps.append, random=lambda: 1.0)


def test_the_same_seed_injects_the_same_faults_in_the_same_order() -> None:
    plan = FaultPlan(seed=11, rate_429=0.1, rate_5xx=0.1, rate_reset=0.1)
    first, second = FaultInjector(plan), FaultInjector(plan)
    one = [first.on_api_call(lambda: None) for _ in range(200)]
    two = [second.on_api_call(lambda: None) for _ in range(200)]
    assert one == two
    kinds = {f.kind for f in one if f is not None}
    assert kinds == {FaultKind.RATE_LIMITED, FaultKind.SERVER_ERROR, FaultKind.RESET}
    # Roughly the configured 30 %: not an exact figure, the draws are random.
    assert 30 <= sum(f is not None for f in one) <= 90


def test_rates_that_add_up_to_more_than_everything_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        FaultPlan(rate_429=0.6, rate_5xx=0.6)


def test_every_call_rate_limited_stops_the_job_cleanly_after_three_tries(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    sandbox.install_faults(FaultPlan(rate_429=1.0))
    sleeps: list[float] = []
    conn = connect(
        sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"),
        clock=clock,
        policy=quiet_policy(sleeps),
    )
    result = run_job(conn, Job.SYNC)
    assert result.status == "stopped"
    assert result.message is not None and "next run resumes" in result.message
    # One call, tried three times: the first sync's first call reads the deals' field metadata
    # (what the stages mean, which optional fields exist).
    assert sandbox.count("fields") == 3 and sandbox.count("get_records") == 0
    assert sleeps == [0.5, 1.0]  # backoff between the tries, on the injected sleep
    conn.close()


def test_a_reset_after_the_write_landed_is_retried_and_the_values_are_right(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    conn = connect(
        sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"),
        clock=clock,
        policy=quiet_policy([]),
    )
    assert run_job(conn, Job.SYNC).status == "ok"
    assert run_job(conn, Job.SCORE).status == "ok"
    # Every write call's first attempt runs, then its answer is lost.
    injector = sandbox.install_faults(FaultPlan(seed=3, rate_reset=1.0, after_share=1.0))
    with pytest.raises(UnavailableError):
        conn.client.update_records("Deals", [{"id": "missing", "Engagement_NPS": 1}])
    assert injector.counts.by_kind == {"reset": 4}  # four attempts, all reset
    conn.close()


def test_a_timeout_shorter_than_the_held_answer_is_retried_then_reported(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    sandbox.install_faults(FaultPlan(rate_timeout=1.0, timeout_hold_seconds=0.3))
    sleeps: list[float] = []
    conn = connect(
        sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"),
        clock=clock,
        policy=RetryPolicy(max_attempts=2, sleep=sleeps.append, random=lambda: 1.0),
        timeout_seconds=0.05,
    )
    result = run_job(conn, Job.SYNC)
    assert result.status == "stopped"
    assert result.message is not None and "ReadTimeout" in result.message
    assert sandbox.count("fields") == 2  # the first call (deal metadata), tried twice
    assert sleeps == [0.5]
    conn.close()


def test_tokens_expire_every_n_calls_and_are_refreshed_once_each_time(
    clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxCRM(deals=1000, accounts=200, clock=clock) as crm:
        injector = crm.install_faults(FaultPlan(token_expiry_every=4))
        conn = connect(sandbox_settings(crm, sqlite_url, tmp_path / "engage.toml"), clock=clock)
        assert run_job(conn, Job.SYNC).status == "ok"
        api_calls = len(crm.calls) - crm.count("token")
        assert injector.counts.tokens_expired == api_calls // 4
        # One token at the start, one more after each expiry that a later call ran into.
        assert crm.count("token") == 1 + injector.counts.tokens_expired - (api_calls % 4 == 0)
        conn.close()


def test_injected_5xx_and_429_reach_the_client_over_http(sandbox: SandboxCRM) -> None:
    sandbox.install_faults(FaultPlan(rate_5xx=1.0, after_share=0.0))
    token = requests.post(
        f"{sandbox.url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "refresh_token": sandbox.refresh_token,
        },
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    reply = requests.get(
        f"{sandbox.url}/crm/v8/Deals?fields=Deal_Name", headers=headers, timeout=10
    )
    assert reply.status_code == 502
    sandbox.install_faults(FaultPlan(rate_429=1.0))
    reply = requests.get(
        f"{sandbox.url}/crm/v8/Deals?fields=Deal_Name", headers=headers, timeout=10
    )
    assert reply.status_code == 429
    assert reply.json()["code"] == "TOO_MANY_REQUESTS"
    assert "Retry-After" not in reply.headers


def test_rate_limited_error_is_what_a_client_sees_after_the_bounded_retries(
    sandbox: SandboxCRM, clock: FakeClock, sqlite_url: str, tmp_path: Path
) -> None:
    sandbox.install_faults(FaultPlan(rate_429=1.0))
    conn = connect(
        sandbox_settings(sandbox, sqlite_url, tmp_path / "engage.toml"),
        clock=clock,
        policy=quiet_policy([]),
    )
    with pytest.raises(RateLimitedError):
        conn.client.get_fields("Deals")
    conn.close()
