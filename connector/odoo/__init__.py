"""Odoo 16–19+ client: JSON-2 on 19+, JSON-RPC on older servers (research/odoo.md)."""

from __future__ import annotations

from connector.odoo.client import OdooClient, parse_module
from connector.odoo.rpc import OdooSite, detect_api

__all__ = ["OdooClient", "OdooSite", "detect_api", "parse_module"]
