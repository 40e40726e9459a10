"""The Odoo sandbox: a local imitation of Odoo's JSON-2 and JSON-RPC APIs (research/odoo.md)."""

from __future__ import annotations

from .server import ODOO_SANDBOX_BANNER, OdooSandbox

__all__ = ["ODOO_SANDBOX_BANNER", "OdooSandbox"]
