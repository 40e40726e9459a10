"""Sandbox Fxiaoke (纷享销客): a local imitation of Fxiaoke's OpenAPI for demos and tests."""

from __future__ import annotations

from .server import FXIAOKE_SANDBOX_BANNER, FxiaokeSandbox

__all__ = ["FXIAOKE_SANDBOX_BANNER", "FxiaokeSandbox"]
