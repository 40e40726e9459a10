"""Tokens (both styles), 20016 mid-run, and bad input as one line without a secret."""

from __future__ import annotations

import uuid

import pytest

from connector.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionSetupError,
    ConnectorError,
    CreditsExhaustedError,
)
from connector.kept_tokens import MemoryTokenCache
from connector.sandbox.fxiaoke import FxiaokeSandbox
from tests.conftest import FakeClock
from tests.fxiaoke.conftest import make_client


def _secrets(fx: FxiaokeSandbox) -> list[str]:
    return [fx.app_secret, fx.permanent_code, fx.other_tenant_permanent_code]


@pytest.mark.parametrize("style", ["legacy", "oauth2"])
def test_a_token_expiring_mid_run_is_refreshed_once_and_the_read_completes(
    clock: FakeClock, style: str
) -> None:
    with FxiaokeSandbox(clock=clock, deals=450) as fx:
        client = make_client(fx, clock, style=style)
        pages = client.iter_pages("opportunity", ["name"])
        first = next(pages)
        fx.expire_tokens()  # e.g. the app's secret was reset in the console
        rest = list(pages)
        ids = [r["id"] for p in [first, *rest] for r in p.records]
        assert set(ids) == set(fx.records("opportunity"))
        assert fx.tokens_issued == 2 and client.tokens.refresh_count == 2


def test_the_legacy_token_is_the_same_until_6600_seconds_then_a_new_one(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(fx, clock)
        first = client.tokens.current()
        clock.advance(seconds=6_000)
        assert client.tokens.current().value == first.value  # still fresh: no call
        clock.advance(seconds=700)  # 6,700 s after issue: fetched anew, and Fxiaoke gives a new one
        second = client.tokens.current()
        assert second.value != first.value
        token_calls = [p for p, _s, _b in fx.calls if p == "/cgi/corpAccessToken/get/V2"]
        assert len(token_calls) == 2


def test_tokens_are_shared_between_processes_through_the_cache(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        cache = MemoryTokenCache()  # the store-backed cache is tested with the CLI below
        one = make_client(fx, clock, cache=cache)
        two = make_client(fx, clock, cache=cache)
        list(one.iter_pages("AccountObj", ["name"]))
        list(two.iter_pages("AccountObj", ["name"]))
        assert fx.tokens_issued == 1
        assert two.tokens.refresh_count == 0


def test_every_oauth2_request_carries_a_fresh_uuid4_trace_id(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        seen: list[str] = []
        client = make_client(fx, clock, style="oauth2", observer=lambda m, u, s: seen.append(u))
        list(client.iter_pages("AccountObj", ["name"]))
        client.get_fields("AccountObj")
        assert all(c[1] == "oauth2" for c in fx.calls)
        # The sandbox refuses a missing, non-v4 or reused thirdTraceId: every call passed.
        assert len(fx.calls) >= 4
        reused = fx.answer("/oauth2.0/token", {"thirdTraceId": [str(uuid.uuid1())]}, {}, {})
        assert reused["errorCode"] != 0


def _one_line_without_secret(exc: ConnectorError, fx: FxiaokeSandbox) -> str:
    text = str(exc)
    assert "\n" not in text
    assert not any(secret in text for secret in _secrets(fx))
    return text


def test_a_wrong_app_secret_is_one_line_naming_what_to_check(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(fx, clock, app_secret="not-the-secret-at-all")
        with pytest.raises(AuthenticationError) as caught:
            client.get_fields("AccountObj")
        text = _one_line_without_secret(caught.value, fx)
        assert "appSecret" in text and "ENGAGE_FXIAOKE_APP_SECRET" in text


def test_a_permanent_code_of_another_tenant_is_one_line(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(fx, clock, permanent_code=fx.other_tenant_permanent_code)
        with pytest.raises(AuthenticationError) as caught:
            client.get_fields("AccountObj")
        text = _one_line_without_secret(caught.value, fx)
        assert "permanentCode" in text and "ENGAGE_FXIAOKE_PERMANENT_CODE" in text


def test_a_user_without_data_permission_is_one_line_naming_the_setting(
    clock: FakeClock,
) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(fx, clock, admin_mobile=fx.no_permission_user["mobile"])
        with pytest.raises(ConfigurationError) as caught:
            list(client.iter_pages("AccountObj", ["name"]))
        text = _one_line_without_secret(caught.value, fx)
        assert "无此操作的数据权限" in text
        assert "crm.fxiaoke.open_user_id" in text and fx.no_permission_user["openUserId"] in text


def test_the_user_is_looked_up_by_mobile_once(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10) as fx:
        client = make_client(fx, clock)
        list(client.iter_pages("AccountObj", ["name"]))
        list(client.iter_pages("ContactObj", ["name"]))
        lookups = [b for p, _s, b in fx.calls if p == "/cgi/user/getByMobile"]
        assert lookups == [{"corpId": fx.corp_id, "mobile": fx.admin["mobile"]}]
        queries = [b for p, _s, b in fx.calls if p.endswith("/data/query")]
        assert {b["currentOpenUserId"] for b in queries} == {fx.admin["openUserId"]}


def test_the_daily_quota_used_up_stops_with_the_reason(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=450, daily_quota=4) as fx:
        client = make_client(fx, clock, open_user_id=fx.admin["openUserId"])
        with pytest.raises(CreditsExhaustedError) as caught:
            list(client.iter_pages("opportunity", ["name"]))
        text = _one_line_without_secret(caught.value, fx)
        assert caught.value.crm_code == "30002" and "daily OpenAPI quota" in text
        assert "midnight" in text


def test_no_openapi_quota_bought_is_a_setup_error(clock: FakeClock) -> None:
    with FxiaokeSandbox(clock=clock, deals=10, quota_purchased=False) as fx:
        client = make_client(fx, clock, open_user_id=fx.admin["openUserId"])
        with pytest.raises(ConnectionSetupError) as caught:
            client.get_fields("AccountObj")
        assert caught.value.crm_code == "30003" and "OpenAPI" in str(caught.value)
