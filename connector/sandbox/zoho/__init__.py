"""The Zoho CRM v8 sandbox: a local HTTP imitation of the documented API (research/zoho.md)."""

from __future__ import annotations

from .server import SANDBOX_BANNER, SANDBOX_CLOCK_PATH, SandboxCRM

__all__ = ["SANDBOX_BANNER", "SANDBOX_CLOCK_PATH", "SandboxCRM"]
