"""A Fxiaoke client against the Fxiaoke sandbox over real HTTP, time injected."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from connector.fxiaoke import FxiaokeClient, FxiaokeCredentials, FxiaokeTokenManager
from connector.http import HttpTransport
from connector.kept_tokens import TokenCache
from connector.retry import RetryPolicy
from connector.sandbox.fxiaoke import FxiaokeSandbox
from tests.conftest import FakeClock


def make_client(
    fx: FxiaokeSandbox,
    clock: FakeClock,
    *,
    style: str = "legacy",
    app_secret: str | None = None,
    permanent_code: str | None = None,
    open_user_id: str | None = None,
    admin_mobile: str | None = "default",
    cache: TokenCache | None = None,
    observer: Callable[[str, str, int | None], None] | None = None,
    policy: RetryPolicy | None = None,
) -> FxiaokeClient:
    policy = policy or RetryPolicy(sleep=lambda _: None)
    transport = HttpTransport(policy=policy, observer=observer)
    credentials = FxiaokeCredentials(
        fx.url,
        fx.app_id,
        SecretStr(app_secret or fx.app_secret),
        SecretStr(permanent_code or fx.permanent_code),
        style,  # type: ignore[arg-type]
    )
    return FxiaokeClient(
        FxiaokeTokenManager(credentials, transport, clock=clock, cache=cache),
        transport,
        open_user_id=open_user_id,
        admin_mobile=fx.admin["mobile"] if admin_mobile == "default" else admin_mobile,
        clock=clock,
        # Waiting for the per-endpoint window moves the test's clock, not the wall clock.
        sleep=lambda seconds: clock.advance(seconds=seconds),
    )
