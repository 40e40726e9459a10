"""Sandbox CRM: a local imitation of the Zoho CRM v8 API for demos, tests and benchmarks."""

from __future__ import annotations

from .server import SANDBOX_BANNER, SandboxCRM

__all__ = ["SANDBOX_BANNER", "SandboxCRM"]
