"""Fxiaoke (纷享销客 / ShareCRM) OpenAPI client (research/fxiaoke_and_tools.md Part A)."""

from __future__ import annotations

from .auth import FxiaokeCredentials, FxiaokeTokenManager, TokenStyle
from .client import OPPORTUNITY, FxiaokeClient

__all__ = [
    "OPPORTUNITY",
    "FxiaokeClient",
    "FxiaokeCredentials",
    "FxiaokeTokenManager",
    "TokenStyle",
]
