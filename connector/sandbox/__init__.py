"""Sandbox CRMs: local imitations of the Zoho CRM v8 and Odoo APIs for demos, tests, benchmarks.

One package per CRM (``zoho/``, ``odoo/``); ``serving.py`` and ``faults.py`` are shared.
"""

from __future__ import annotations

from .odoo import ODOO_SANDBOX_BANNER, OdooSandbox
from .zoho import SANDBOX_BANNER, SandboxCRM

__all__ = ["ODOO_SANDBOX_BANNER", "SANDBOX_BANNER", "OdooSandbox", "SandboxCRM"]
